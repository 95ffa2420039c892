"""What ``input_filter: when_degraded`` adds per frame to judge its colour cast (``strong_colour_cast``),
against the pre-process stage it precedes, at common camera sizes.

    python benchmarks/bench_colour_cast.py [--frames 200] [--cameras 640x480 1280x720 1920x1080 2048x1024]

Frames are generated street scenes at each camera size. Prints the median and p90 milliseconds of
``strong_colour_cast`` and, for scale, of the Preprocessor at the default's 448x224 input unfiltered,
with the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np

from seg_perception.checkpoint import IMAGENET_MEAN, IMAGENET_STD
from seg_perception.inference.preprocess import Preprocessor, strong_colour_cast
from seg_perception.size import size_arg
from training.data.make_data import scene_rng
from training.data.scene_generator import generate_scene

INPUT_SIZE = (448, 224)


def timed(function, frames: list[np.ndarray]) -> tuple[float, float]:
    """Median and 90th-percentile milliseconds of ``function`` over ``frames``, after one warm-up call."""
    function(frames[0])
    times = []
    for frame in frames:
        started = time.perf_counter()
        function(frame)
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times), statistics.quantiles(times, n=10)[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--cameras", type=size_arg(), nargs="+",
                        default=[size_arg()(size) for size in ("640x480", "1280x720", "1920x1080", "2048x1024")])
    args = parser.parse_args(argv)
    print(f"load {os.getloadavg()[0]:.2f}")
    scenes = [generate_scene(scene_rng(0, "val", index), 512, 256)[0] for index in range(8)]
    out = np.empty((1, 3, INPUT_SIZE[1], INPUT_SIZE[0]), np.float32)
    preprocess = Preprocessor(INPUT_SIZE, IMAGENET_MEAN, IMAGENET_STD)
    print("| camera | strong_colour_cast median / p90 ms | pre-process (448x224, no filter) median / p90 ms |")
    print("|---|---|---|")
    for width, height in args.cameras:
        frames = [cv2.resize(scenes[index % len(scenes)], (width, height), interpolation=cv2.INTER_LINEAR)
                  for index in range(args.frames)]
        cast = timed(strong_colour_cast, frames)
        pre = timed(lambda frame: preprocess(frame, out), frames)
        print(f"| {width}x{height} | {cast[0]:.2f} / {cast[1]:.2f} | {pre[0]:.2f} / {pre[1]:.2f} |")
    print(f"load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
