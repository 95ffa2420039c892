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


def train(config: Path, seed: int, data: Path, run_dir: Path, overrides: list[str]) -> dict:
    """``seg-train`` one (config, seed) into ``run_dir`` unless its ``last.pt`` exists; returns its wall time and load."""
    timing_file = run_dir / "timing.json"
    if (run_dir / "last.pt").exists() and timing_file.exists():
        return json.loads(timing_file.read_text())
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "training.train", "--config", str(config), "--data", str(data),
                    "--out", str(run_dir), f"train.seed={seed}", *overrides], check=True)
    timing = {"train_seconds": time.perf_counter() - started, "load": [load_before, os.getloadavg()[0]]}
    timing_file.write_text(json.dumps(timing) + "\n")
    return timing


def score(checkpoint: Path, data: Path, split: str, out: Path, input_size: str | None = None,
          input_filter: str = "none") -> dict:
    """``seg-eval`` of ``checkpoint`` on ``data``/``split`` (at ``input_size`` WxH, default the checkpoint's,
    with ``input_filter``), reused when ``out`` holds its metrics; returns mIoU, rare-5, drivable IoU, pixel
    accuracy and per-class IoU."""
    metrics_file = out / "metrics.json"
    if not metrics_file.exists():
        size = ["--input-size", input_size] if input_size else []
        subprocess.run([sys.executable, "-m", "training.evaluate", "--checkpoint", str(checkpoint), "--data", str(data),
                        "--split", split, "--pictures", "0", "--out", str(out), "--input-filter", input_filter,
                        *size], check=True)
    metrics = json.loads(metrics_file.read_text())
    rare = [metrics["per_class_iou"][name] for name in RARE_5]
    return {"miou": metrics["miou"], "rare5_miou": sum(v or 0.0 for v in rare) / len(rare),
            "drivable_iou": metrics["drivable_iou"], "pixel_accuracy": metrics["pixel_accuracy"],
            "per_class_iou": metrics["per_class_iou"]}


def run_one(config: Path, seed: int, data: Path, out: Path, overrides: list[str]) -> dict:
    """Train and score one (config, seed) on the val split; returns its figures."""
    timing = train(config, seed, data, out / "run", overrides)
    figures = score(out / "run" / "last.pt", data, "val", out / "eval")
    return {"config": config.name, "seed": seed, **figures, **timing}


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def mean_std_text(values: list[float], digits: int = 3) -> str:
    """``mean +- sample std``, or the value alone for one run (a std of one run would read as no spread)."""
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} +- {std:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


def table(results: list[dict]) -> str:
    """Markdown: one row per config, mean +- std of each figure over its seeds."""
    lines = ["| config | seeds | " + " | ".join(FIGURES) + " |", "|---|---|" + "---|" * len(FIGURES)]
    for config in dict.fromkeys(r["config"] for r in results):
        runs = [r for r in results if r["config"] == config]
        cells = []
        for figure in FIGURES:
            cells.append(mean_std_text([r[figure] for r in runs], 0 if figure == "train_seconds" else 3))
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
