"""Scene generator throughput at 512x256, writing all four PNGs per scene, with 1 and 2 workers.

    python benchmarks/bench_generator.py [--num 200] [--repeats 3] [--size 512x256] [--profiles default plain shifted]

Prints, per randomisation profile, the median scenes/s of ``--repeats`` runs per worker count (the
machine is shared, so single runs are noisy), and the generation-only rate of one process (no PNG
encoding).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from seg_perception.size import Size, size_arg
from training.data.make_data import MIN_SIDE, generate_split, scene_rng
from training.data.profiles import PROFILES, Profile
from training.data.scene_generator import generate_scene


def write_rate(num: int, width: int, height: int, workers: int, profile: Profile) -> float:
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        generate_split(root, "train", num, width, height, seed=0, workers=workers, progress=False, profile=profile)
        return num / (time.perf_counter() - start)


def generate_rate(num: int, width: int, height: int, profile: Profile) -> float:
    start = time.perf_counter()
    for index in range(num):
        generate_scene(scene_rng(0, "train", index), width, height, profile)
    return num / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=size_arg(MIN_SIDE), default=Size(512, 256), metavar="WxH")
    parser.add_argument("--profiles", nargs="+", choices=list(PROFILES), default=["default", "plain"])
    args = parser.parse_args()
    width, height = args.size
    print(f"{args.num} scenes at {width}x{height}, median of {args.repeats} runs")
    for name in args.profiles:
        profile = PROFILES[name]
        runs = [generate_rate(args.num, width, height, profile) for _ in range(args.repeats)]
        print(f"[{name}] generate only, 1 process: {statistics.median(runs):6.1f} scenes/s  (runs: "
              + ", ".join(f"{r:.1f}" for r in runs) + ")")
        for workers in (1, 2):
            runs = [write_rate(args.num, width, height, workers, profile) for _ in range(args.repeats)]
            print(f"[{name}] generate + write 4 PNGs, {workers} worker(s): {statistics.median(runs):6.1f} scenes/s  "
                  "(runs: " + ", ".join(f"{r:.1f}" for r in runs) + ")")


if __name__ == "__main__":
    main()
