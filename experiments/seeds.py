"""Training recipes repeated over seeds: mean and standard deviation of what each reaches.

For every config and seed: ``seg-train --config C train.seed=S`` (wall time
and load average recorded), then ``seg-eval --checkpoint last.pt`` on the val
split at the data's own resolution, so recipes trained and served at
different input sizes are scored against the same labels. ``last.pt``, not
``best.pt``: picking the best epoch on val would flatter the val figure.

    python experiments/seeds.py --data DATA --out DIR --configs A.yaml B.yaml [--seeds 0 1 2] [-- overrides]

Writes DIR/<config>_s<seed>/ per run, DIR/seeds.json and DIR/seeds.md (the
table, mean +- sample std). Runs whose metrics already exist are reused.
Run on a quiet machine: one competing process slows CPU training ~10x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RARE_5 = ("motorcycle", "train", "rider", "traffic light", "bus")
FIGURES = ("miou", "rare5_miou", "drivable_iou", "pixel_accuracy", "train_seconds")


def run_one(config: Path, seed: int, data: Path, out: Path, overrides: list[str]) -> dict:
    """Train and score one (config, seed); returns its figures."""
    result_file = out / "result.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "training.train", "--config", str(config), "--data", str(data), "--out", str(out / "run"),
                    f"train.seed={seed}", *overrides], check=True)
    seconds = time.perf_counter() - started
    load_after = os.getloadavg()[0]
    subprocess.run([sys.executable, "-m", "training.evaluate", "--checkpoint", str(out / "run" / "last.pt"), "--data", str(data),
                    "--split", "val", "--pictures", "0", "--out", str(out / "eval")], check=True)
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    rare = [metrics["per_class_iou"][name] for name in RARE_5]
    result = {"config": config.name, "seed": seed, "miou": metrics["miou"],
              "rare5_miou": sum(v or 0.0 for v in rare) / len(rare), "drivable_iou": metrics["drivable_iou"],
              "pixel_accuracy": metrics["pixel_accuracy"], "train_seconds": seconds,
              "load": [load_before, load_after], "per_class_iou": metrics["per_class_iou"]}
    result_file.write_text(json.dumps(result, indent=2) + "\n")
    return result


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table(results: list[dict]) -> str:
    """Markdown: one row per config, mean +- std of each figure over its seeds."""
    lines = ["| config | seeds | " + " | ".join(FIGURES) + " |", "|---|---|" + "---|" * len(FIGURES)]
    for config in dict.fromkeys(r["config"] for r in results):
        runs = [r for r in results if r["config"] == config]
        cells = []
        for figure in FIGURES:
            mean, std = mean_std([r[figure] for r in runs])
            cells.append(f"{mean:.0f} +- {std:.0f}" if figure == "train_seconds" else f"{mean:.3f} +- {std:.3f}")
        lines.append(f"| {config} | {', '.join(str(r['seed']) for r in runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--configs", type=Path, nargs="+", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("overrides", nargs="*", help="key=value overrides for every run (after --)")
    args = parser.parse_args(argv)
    jobs = [(config, seed) for seed in args.seeds for config in args.configs]
    results, started = [], time.perf_counter()
    for index, (config, seed) in enumerate(jobs):
        results.append(run_one(config, seed, args.data, args.out / f"{config.stem}_s{seed}", args.overrides))
        elapsed = time.perf_counter() - started
        eta = elapsed / (index + 1) * (len(jobs) - index - 1)
        print(f"[seeds] {index + 1}/{len(jobs)} {config.stem} seed {seed}: mIoU {results[-1]['miou']:.3f}, "
              f"{elapsed / 60:.1f} min elapsed, ETA {eta / 60:.1f} min", flush=True)
    (args.out / "seeds.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "seeds.md").write_text(table(results) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
