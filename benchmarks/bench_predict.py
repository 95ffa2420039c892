"""seg-predict's throughput on an image folder against seg-bench's end-to-end FPS for the same model and sizes.

    python benchmarks/bench_predict.py [--checkpoint C | --model unet_small] [--camera-size 2048x1024]
        [--input-size 512x256] [--frames 50] [--outputs KINDS ...] [--threads N] [--repeats 3] [--json FILE]

Target (issue 15, item 8): seg-predict FPS >= 0.9 x seg-bench end-to-end FPS.

- seg-bench: ``inference.bench.run_interleaved`` in this process, exactly as ``seg-bench`` measures a backend
  (a synthetic camera frame already in memory, a pause before each frame, FPS = 1000 / median end-to-end ms).
- seg-predict: ``predict.cli.run`` in this process on ``--frames`` generated scenes of ``--camera-size``
  (PNG files, so decoding is part of it), with ``--overwrite`` into a fresh directory: segmented frames per
  second of the whole pass, first frame read to last PNG written (the model's loading is not counted).
  By default twice: with seg-predict's default outputs (labelIds, trainIds, overlay) and with labelIds
  only (what an evaluation needs); a camera-size overlay PNG costs more to encode than the labels.

Runs alternate (seg-bench, then seg-predict for each ``--outputs``), ``--repeats`` times; medians are
reported, with where seg-predict's time went per frame: in the Segmenter, waiting for the reader thread,
waiting for the writer thread, and the two threads' own busy time (they run beside the model on the same
cores). Scenes and the untrained model's checkpoint are cached in ``--work``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

import torch

from seg_perception.checkpoint import ModelSpec, file_sha256, load_checkpoint, save_checkpoint
from seg_perception.inference import Segmenter
from seg_perception.inference.bench import cpu_model, run_interleaved, summarize
from seg_perception.inference.engine_cache import default_cache_dir
from seg_perception.inference.samples import synthetic_frame
from seg_perception.predict import cli
from seg_perception.predict.writer import DEFAULT_KINDS
from seg_perception.size import size_arg
from training.data.make_data import generate_split


def _scenes(work: Path, frames: int, size: tuple[int, int]) -> Path:
    """``frames`` generated scenes of ``size`` (made once per count and size)."""
    root = work / f"scenes_{frames}_{size[0]}x{size[1]}"
    if not (root / "done").exists():
        shutil.rmtree(root, ignore_errors=True)
        generate_split(root, "val", frames, *size, seed=0, progress=False)
        (root / "done").touch()
    return root / "leftImg8bit" / "val"


def _checkpoint(args: argparse.Namespace) -> Path:
    """--checkpoint, or an untrained --model (fixed seed) saved once in --work."""
    if args.checkpoint is not None:
        return args.checkpoint
    width, height = args.input_size or (512, 256)
    path = args.work / f"{args.model}_{width}x{height}_random.pt"
    if not path.exists():
        torch.manual_seed(0)
        spec = ModelSpec(args.model, input_size=(width, height))
        save_checkpoint(path, spec, spec.build().eval())
    return path


def bench_fps(checkpoint: Path, args: argparse.Namespace, input_size) -> float:
    """seg-bench's end-to-end FPS of this backend (its own measurement, in process)."""
    loaded = load_checkpoint(checkpoint)
    segmenter = Segmenter(loaded.build_model(), loaded.spec, backend=args.backend, input_size=input_size,
                          cache_dir=default_cache_dir(), weights_sha256=file_sha256(checkpoint))
    timings = run_interleaved({args.backend: segmenter}, synthetic_frame(*args.camera_size), args.bench_frames,
                              warmup=3)
    return summarize(timings[args.backend])["fps"]


def predict_stats(images: Path, checkpoint: Path, out: Path, outputs: str, args: argparse.Namespace, input_size):
    """One seg-predict pass (as the command runs it) over ``images``; its Stats."""
    shutil.rmtree(out, ignore_errors=True)
    argv = [str(images), "--checkpoint", str(checkpoint), "--out", str(out), "--outputs", outputs,
            "--backend", args.backend, "--input-size", f"{input_size[0]}x{input_size[1]}", "--overwrite", "--quiet"]
    stats, _, _ = cli.run(cli.build_parser().parse_args(argv + ["--threads", str(args.threads)]))
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--checkpoint", type=Path, help="seg_perception checkpoint (default: an untrained --model)")
    model.add_argument("--model", default="unet_small", help="untrained model by registry name (default unet_small)")
    parser.add_argument("--camera-size", type=size_arg(), default=(2048, 1024), help="frame WxH (default 2048x1024)")
    parser.add_argument("--input-size", type=size_arg(), help="model input WxH (default: the checkpoint's, or 512x256)")
    parser.add_argument("--backend", default="cpu", help="inference backend (default cpu)")
    parser.add_argument("--frames", type=int, default=50, help="scenes in the folder seg-predict reads (default 50)")
    parser.add_argument("--bench-frames", type=int, default=20, help="seg-bench's measured frames (default 20)")
    parser.add_argument("--outputs", action="append", metavar="KINDS",
                        help=f"seg-predict --outputs to measure, repeatable (default {','.join(DEFAULT_KINDS)} "
                             "and labelIds)")
    parser.add_argument("--threads", type=int, default=cli.default_threads(),
                        help=f"seg-predict --threads (default {cli.default_threads()}, as the command)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_predict"), help="scenes, model and outputs")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    outputs = args.outputs or [",".join(DEFAULT_KINDS), "labelIds"]
    args.work.mkdir(parents=True, exist_ok=True)

    checkpoint = _checkpoint(args)
    input_size = tuple(args.input_size or load_checkpoint(checkpoint).spec.input_size)
    images = _scenes(args.work, args.frames, args.camera_size)
    load_before = os.getloadavg()
    bench, runs = [], {kinds: [] for kinds in outputs}
    for _ in range(args.repeats):
        bench.append(bench_fps(checkpoint, args, input_size))
        for kinds in outputs:
            runs[kinds].append(predict_stats(images, checkpoint, args.work / "out", kinds, args, input_size))
    load_after = os.getloadavg()

    bench_median = statistics.median(bench)
    print(f"{load_checkpoint(checkpoint).spec.name}, input {input_size[0]}x{input_size[1]}, camera "
          f"{args.camera_size[0]}x{args.camera_size[1]}, backend {args.backend}, {args.frames} frames, "
          f"seg-predict --threads {args.threads}, "
          f"{args.repeats} rounds; {cpu_model()}, {os.cpu_count()} cores, load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after")
    print(f"seg-bench end-to-end: {bench_median:.2f} FPS (rounds: {', '.join(f'{f:.2f}' for f in bench)})")
    print("| seg-predict --outputs | FPS | ratio to seg-bench | per frame ms: segment / wait reader / wait writer "
          "| reader busy / writer busy |\n|---|---|---|---|---|")
    results = {"conditions": {"checkpoint": str(checkpoint), "input_size": list(input_size),
                              "camera_size": list(args.camera_size), "backend": args.backend, "frames": args.frames,
                              "threads": args.threads,
                              "repeats": args.repeats, "cpu": cpu_model(), "cores": os.cpu_count(),
                              "load_average": [load_before, load_after], "command": " ".join(sys.argv)},
               "seg_bench_fps": bench, "seg_predict": {}}
    for kinds, stats in runs.items():
        fps = statistics.median(s.fps or 0.0 for s in stats)

        def per_frame(attribute: str) -> float:
            return statistics.median(1e3 * getattr(s, attribute) / max(s.segmented, 1) for s in stats)

        parts = {name: per_frame(name) for name in ("segment_s", "wait_input_s", "wait_writer_s", "reader_busy_s",
                                                    "writer_busy_s")}
        print(f"| {kinds} | {fps:.2f} | {fps / bench_median:.2f} | {parts['segment_s']:.1f} / "
              f"{parts['wait_input_s']:.1f} / {parts['wait_writer_s']:.1f} | {parts['reader_busy_s']:.1f} / "
              f"{parts['writer_busy_s']:.1f} |")
        results["seg_predict"][kinds] = {"fps": [s.fps for s in stats], "ratio": fps / bench_median,
                                         "per_frame_ms": parts}
    print("target: ratio >= 0.90")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
