"""``seg-bench``: per-stage latency and FPS of every available backend, plus eager-torch CPU reference rows.

    seg-bench --checkpoint C | --model NAME [--camera-size 2048x1024] [--input-size 1024x512] [--json FILE]

Each row is a ``Segmenter`` on one backend segmenting the same synthetic
camera frame. Rows are measured interleaved (frame i of every backend before
frame i + 1 of any), so a noisy shared machine slows all rows alike and their
ratios stay comparable. Reported: median and p95 of pre-processing,
inference, post-processing and end-to-end, FPS (1000 / median end-to-end),
the share of pre- plus post-processing in the end-to-end median, and the
model's GFLOP per frame with the GFLOP/s each backend achieves; for CPU rows
also as a share of this machine's fp32 peak, measured in the same run by a
matrix-product probe (``flops``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import CheckpointError, ModelSpec, file_sha256, load_checkpoint
from ..size import Size, size_arg
from .backend_table import BACKENDS, PRECISIONS, REFERENCE_BACKENDS, TEST_TIME_FLIP_HELP
from .backends import BackendUnavailable, available_backends, cpu_threads
from .engine_cache import default_cache_dir
from .export import versions
from .flops import matmul_peak_gflops, model_gflop
from .preprocess import INPUT_FILTER_HELP, INPUT_FILTERS
from .samples import synthetic_frame
from .segmenter import Segmenter

STAGES = ("preprocess_ms", "inference_ms", "postprocess_ms", "total_ms")


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def summarize(timings: list[dict[str, float]]) -> dict:
    """Median and p95 of each stage, FPS from the median end-to-end time, pre+post share of it."""
    row = {stage: {"median": float(np.median([t[stage] for t in timings])),
                   "p95": float(np.percentile([t[stage] for t in timings], 95))} for stage in STAGES}
    total = row["total_ms"]["median"]
    row["fps"] = 1000.0 / total
    row["pre_post_share"] = (row["preprocess_ms"]["median"] + row["postprocess_ms"]["median"]) / total
    return row


def work_rate(row: dict, gflop: float, peak_gflops: float | None) -> dict:
    """GFLOP per frame, GFLOP/s achieved in ``row``'s median inference, and its share of ``peak_gflops``
    (None for a GPU row: the probe measured the CPU)."""
    achieved = gflop / (row["inference_ms"]["median"] / 1e3)
    return {"gflop_per_frame": gflop, "achieved_gflops": achieved,
            "peak_share": achieved / peak_gflops if peak_gflops else None}


def run_interleaved(segmenters: dict[str, Segmenter], frame: np.ndarray, frames: int, warmup: int,
                    pause_s: float = 0.05) -> dict[str, list[dict[str, float]]]:
    """Per backend, the timings of ``frames`` frames after ``warmup`` unmeasured ones, taken round-robin.

    The pause before each frame lets the previous backend's worker threads
    (OpenMP spins after each op) go idle, which would otherwise slow the next
    row by up to 50% here.
    """
    timings: dict[str, list[dict[str, float]]] = {name: [] for name in segmenters}
    for index in range(warmup + frames):
        for name, segmenter in segmenters.items():
            time.sleep(pause_s)
            result = segmenter.segment(frame)
            if index >= warmup:
                timings[name].append(result.timings)
    return timings


def format_table(rows: list[dict]) -> str:
    """Markdown table: one row per backend, median / p95 per stage."""
    header = ("| backend | precision | pre-process ms | inference ms | post-process ms | end-to-end ms | FPS "
              "| pre+post share | GFLOP/s (of CPU peak) |\n|---|---|---|---|---|---|---|---|---|")
    lines = [header]
    for row in rows:
        stages = " | ".join(f"{row[s]['median']:.1f} / {row[s]['p95']:.1f}" for s in STAGES)
        share = f" ({100 * row['peak_share']:.0f}%)" if row["peak_share"] is not None else ""
        lines.append(f"| {row['backend']} | {row['precision']} | {stages} | {row['fps']:.2f} "
                     f"| {100 * row['pre_post_share']:.1f}% | {row['achieved_gflops']:.0f}{share} |")
    return "\n".join(lines)


def load_model(args: argparse.Namespace) -> tuple[torch.nn.Module, ModelSpec, str]:
    """(model, spec, weights id) from --checkpoint, or an untrained --model with a fixed seed."""
    if args.checkpoint is not None:
        checkpoint = load_checkpoint(args.checkpoint)
        return checkpoint.build_model(), checkpoint.spec, file_sha256(args.checkpoint)
    spec = ModelSpec(args.model)
    torch.manual_seed(0)
    return spec.build().eval(), spec, ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seg-bench", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="seg_perception checkpoint (.pt)")
    source.add_argument("--model", help="benchmark an untrained model by registry name (no checkpoint needed)")
    parser.add_argument("--camera-size", type=size_arg(), default=Size(2048, 1024),
                        help="camera frame WxH (default 2048x1024)")
    parser.add_argument("--input-size", type=size_arg(), default=None,
                        help="model input WxH (default: the checkpoint's, or 512x256 with --model)")
    parser.add_argument("--backends", default=None,
                        help=f"comma-separated rows from {', '.join(BACKENDS)} "
                             f"(default: every available backend plus {', '.join(REFERENCE_BACKENDS)})")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp16", help="GPU backends' precision")
    parser.add_argument("--with-confidence", action="store_true", help="also compute the confidence map")
    parser.add_argument("--input-filter", choices=INPUT_FILTERS, default="none", help=INPUT_FILTER_HELP)
    parser.add_argument("--test-time-flip", action="store_true", help=TEST_TIME_FLIP_HELP)
    parser.add_argument("--frames", type=int, default=20, help="measured frames per backend (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured frames per backend first (default 3)")
    parser.add_argument("--pause-ms", type=float, default=50.0,
                        help="idle time before each frame so no backend's threads still spin (default 50)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="engine cache (default $SEG_PERCEPTION_CACHE or ~/.cache/seg_perception)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``seg-bench``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.frames < 1 or args.warmup < 0:
        parser.error("--frames must be >= 1 and --warmup >= 0")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = args.backends.split(",") if args.backends else available_backends() + list(REFERENCE_BACKENDS)
    try:
        model, spec, weights_id = load_model(args)
        input_size = args.input_size or spec.input_size
        segmenters = {
            name: Segmenter(model, spec, backend=name, precision=args.precision, input_size=input_size,
                            with_confidence=args.with_confidence, cache_dir=args.cache_dir or default_cache_dir(),
                            weights_sha256=weights_id or None, input_filter=args.input_filter,
                            test_time_flip=args.test_time_flip)
            for name in names}
    except (CheckpointError, BackendUnavailable, ValueError) as exc:
        print(f"seg-bench: error: {exc}", file=sys.stderr)
        return 1
    camera_width, camera_height = args.camera_size
    gflop = model_gflop(model, input_size) * (1 + args.test_time_flip)  # the flip runs the model twice
    peak = matmul_peak_gflops()
    timings = run_interleaved(segmenters, synthetic_frame(camera_width, camera_height), args.frames, args.warmup,
                              args.pause_ms / 1e3)
    rows = [{"backend": name, "precision": segmenters[name].precision, **summarize(timings[name])} for name in names]
    for row in rows:
        row.update(work_rate(row, gflop, None if BACKENDS[row["backend"]].gpu else peak))
    conditions = {
        "model": spec.name, "checkpoint": str(args.checkpoint) if args.checkpoint else None,
        "input_size": list(input_size), "camera_size": list(args.camera_size),
        "with_confidence": args.with_confidence, "input_filter": args.input_filter,
        "test_time_flip": args.test_time_flip, "frames": args.frames, "warmup": args.warmup,
        "pause_ms": args.pause_ms, "gflop_per_frame": gflop, "cpu_fp32_peak_gflops": peak,
        "cpu": cpu_model(), "cores": cpu_threads(), "load_average": os.getloadavg(),
        "torch_threads": torch.get_num_threads(), "versions": versions("onnxruntime", "opencv-python-headless"),
        "command": "seg-bench " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    print(f"{spec.name}, input {input_size[0]}x{input_size[1]} ({gflop:.2f} GFLOP/frame), camera "
          f"{camera_width}x{camera_height}, {args.frames} frames per backend (interleaved), {cpu_threads()} cores "
          f"(fp32 matmul peak {peak:.0f} GFLOP/s), input filter {args.input_filter}"
          f"{', test-time flip' if args.test_time_flip else ''}; median / p95")
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps({"conditions": conditions, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
