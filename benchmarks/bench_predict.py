"""seg-predict's throughput on an image folder against seg-bench's end-to-end FPS for the same model and sizes.

    python benchmarks/bench_predict.py [--checkpoint C | --model unet_small] [--camera-size 2048x1024]
        [--input-size 512x256] [--frames 50] [--outputs KINDS ...] [--streams N ...] [--threads N]
        [--repeats 3] [--profile FRAMES] [--json FILE]
    python benchmarks/bench_predict.py --decoders [--frames 8]

Target (issue 15, item 8): seg-predict FPS >= 0.9 x seg-bench end-to-end FPS.

- seg-bench: ``inference.bench.run_interleaved`` in this process, exactly as ``seg-bench`` measures a backend
  (a synthetic camera frame already in memory, a pause before each frame, FPS = 1000 / median end-to-end ms:
  one frame's latency on otherwise idle cores).
- seg-predict: ``predict.cli.run`` in this process on ``--frames`` generated scenes of ``--camera-size``
  (PNG files, so decoding is part of it), with ``--overwrite`` into a fresh directory: segmented frames per
  second of the whole pass, first frame read to last PNG written (the model's loading is not counted).
  By default with seg-predict's default outputs (labelIds, trainIds, overlay) and with labelIds only (what
  an evaluation needs), each with every ``--streams`` given (default: the command's).

A fair second yardstick: seg-bench's frame is decoded already, seg-predict must decode its files. The FPS
that seg-bench's own CPU time per frame plus the decoding of an input PNG allow on this machine's cores
(perfectly packed: an upper bound) is what any file-reading tool doing seg-bench's work could reach.

Runs alternate (seg-bench, then seg-predict for each variant), ``--repeats`` times; medians are reported,
with each variant's CPU time per frame (all threads; on a busy shared machine it moves far less than FPS)
and the FPS that CPU time allows on this machine's cores, and where seg-predict's time went per frame: in
the Segmenters (summed over the streams), the main thread waiting for the reader, the segmenting and the
writer threads, and the reader's and writer's busy time (they run beside the model on the same cores).

``--decoders`` only compares PNG decoders on the generated frames and exits: the median CPU ms to read and
decode one with OpenCV (what seg-predict uses), Pillow, and pyspng / imagecodecs when importable (``pip install
pyspng imagecodecs``; neither is a dependency), each with its ratio to OpenCV's. Decoding is the part of
seg-predict's frame that seg-bench never pays, so this asks whether a faster decoder would close the gap.

``--profile FRAMES`` first times each stage of a frame on its own, one after the other with a pause before
each frame (file read, PNG decode, pre-processing, inference with the cpu backend's threads as seg-bench and
as one of two streams, post-processing, and per output kind: drawing, PNG encoding, file writing), wall
and CPU ms. Scenes and the untrained model's checkpoint are cached in ``--work``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import torch
from PIL import Image

from seg_perception.checkpoint import ModelSpec, file_sha256, load_checkpoint, save_checkpoint
from seg_perception.inference import Segmenter
from seg_perception.inference.backends import cpu_threads
from seg_perception.inference.bench import cpu_model, run_interleaved, summarize
from seg_perception.inference.engine_cache import default_cache_dir
from seg_perception.inference.samples import synthetic_frame
from seg_perception.node.frames import Frame
from seg_perception.predict import cli
from seg_perception.predict.writer import (DEFAULT_KINDS, KINDS, WriteJob, encode_png, output_path, render,
                                           write_atomically)
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


def bench_fps(checkpoint: Path, args: argparse.Namespace, input_size) -> tuple[float, float]:
    """seg-bench's end-to-end FPS of this backend (its own measurement, in process), and its CPU ms per frame."""
    loaded = load_checkpoint(checkpoint)
    segmenter = Segmenter(loaded.build_model(), loaded.spec, backend=args.backend, input_size=input_size,
                          cache_dir=default_cache_dir(), weights_sha256=file_sha256(checkpoint))
    cpu = time.process_time()
    timings = run_interleaved({args.backend: segmenter}, synthetic_frame(*args.camera_size), args.bench_frames,
                              warmup=3)
    cpu_ms = 1e3 * (time.process_time() - cpu) / (args.bench_frames + 3)
    return summarize(timings[args.backend])["fps"], cpu_ms


def predict_stats(images: Path, checkpoint: Path, out: Path, variant: tuple[str, int], args: argparse.Namespace,
                  input_size):
    """One seg-predict pass (as the command runs it) over ``images``; its Stats."""
    outputs, streams = variant
    shutil.rmtree(out, ignore_errors=True)
    argv = [str(images), "--checkpoint", str(checkpoint), "--out", str(out), "--outputs", outputs,
            "--backend", args.backend, "--input-size", f"{input_size[0]}x{input_size[1]}", "--overwrite", "--quiet",
            "--threads", str(args.threads), "--streams", str(streams)]
    stats, _, _ = cli.run(cli.build_parser().parse_args(argv))
    return stats


def _median_ms(values) -> str:
    return f"{statistics.median(values):.1f}"


def _opencv_read(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def decode_cpu_ms(images: Path, read=_opencv_read) -> float:
    """Median CPU ms to read and decode one input PNG of the folder (what seg-bench's frame in memory skips)."""
    times = []
    for path in sorted(images.rglob("*.png")):
        cpu = time.process_time()
        image = read(path)
        times.append(1e3 * (time.process_time() - cpu))
        if image.ndim != 3 or image.shape[2] != 3:
            raise RuntimeError(f"{path}: decoded to shape {image.shape}, expected H x W x 3")
    return statistics.median(times)


def png_readers() -> dict:
    """Name -> read(path) -> H x W x 3 uint8: OpenCV first, then Pillow and the optional decoders importable here."""
    readers = {"OpenCV imread (seg-predict)": _opencv_read,
               "Pillow": lambda path: np.asarray(Image.open(path).convert("RGB"))}
    try:
        import pyspng
        readers["pyspng (libspng)"] = lambda path: pyspng.load(path.read_bytes())
    except ImportError:
        print("pyspng not installed: skipped")
    try:
        import imagecodecs
        readers["imagecodecs png_decode (libpng)"] = lambda path: imagecodecs.png_decode(path.read_bytes())
        readers["imagecodecs spng_decode (libspng)"] = lambda path: imagecodecs.spng_decode(path.read_bytes())
    except ImportError:
        print("imagecodecs not installed: skipped")
    return readers


def compare_decoders(images: Path) -> None:
    """Print each PNG reader's median CPU ms per frame of the folder, one thread, with its ratio to OpenCV's."""
    cv2.setNumThreads(1)
    print(f"reading and decoding {len(list(images.rglob('*.png')))} PNGs of {images}, median CPU ms, one thread")
    print("| decoder | CPU ms | vs OpenCV |\n|---|---|---|")
    reference = None
    for name, read in png_readers().items():
        ms = decode_cpu_ms(images, read)
        reference = reference or ms
        print(f"| {name} | {ms:.1f} | {ms / reference:.2f} |")


def profile(images: Path, checkpoint: Path, args: argparse.Namespace, input_size, frames: int) -> list[dict]:
    """Each stage of seg-predict's work on ``frames`` frames, alone and in order: wall and CPU ms (medians)."""
    paths = sorted(images.rglob("*.png"))[:frames]
    segmenters = {name: Segmenter.from_checkpoint(checkpoint, backend=args.backend, input_size=input_size,
                                                  threads=threads)
                  for name, threads in ((f"{cpu_threads()} threads, as seg-bench", None), ("1 thread", 1))}
    times: dict[str, list[tuple[float, float]]] = {}

    def timed(stage: str, work):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        times.setdefault(stage, []).append((1e3 * (time.perf_counter() - wall), 1e3 * (time.process_time() - cpu)))
        return result

    out = args.work / "profile"
    shutil.rmtree(out, ignore_errors=True)
    for path in paths:
        time.sleep(0.05)  # as seg-bench: no thread of the last stage still running
        data = timed("read the input file", lambda: np.fromfile(path, np.uint8))
        image = timed("decode the input PNG", lambda: cv2.imdecode(data, cv2.IMREAD_COLOR))
        for name, segmenter in segmenters.items():
            time.sleep(0.05)
            wall, cpu = time.perf_counter(), time.process_time()
            result = segmenter.segment(image, bgr=True)
            cpu = 1e3 * (time.process_time() - cpu)
            for stage in ("preprocess_ms", "inference_ms", "postprocess_ms"):
                times.setdefault(f"segment ({name}): {stage[:-3]}", []).append((result.timings[stage], float("nan")))
            times.setdefault(f"segment ({name}): end to end", []).append((result.timings["total_ms"], cpu))
        job = WriteJob(PurePosixPath(path.stem), result.labels, Frame(image, bgr=True), result.model_labels)
        for kind in KINDS:
            picture, params = timed(f"{kind}: draw", lambda: render(kind, job))
            data = timed(f"{kind}: PNG encode", lambda: encode_png(picture, params))
            target = output_path(out, kind, job.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            timed(f"{kind}: write the file", lambda: write_atomically(target, data))
    rows = [{"stage": stage, "wall_ms": statistics.median(w for w, _ in values),
             "cpu_ms": statistics.median(c for _, c in values)} for stage, values in times.items()]
    print(f"Stages of one frame, alone and in order, medians of {len(paths)} frames (CPU ms: all threads; "
          "n/a inside the Segmenter)")
    print("| stage | wall ms | CPU ms |\n|---|---|---|")
    for row in rows:
        cpu = "n/a" if row["cpu_ms"] != row["cpu_ms"] else f"{row['cpu_ms']:.1f}"
        print(f"| {row['stage']} | {row['wall_ms']:.1f} | {cpu} |")
    return rows


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
    parser.add_argument("--streams", action="append", type=int, metavar="N",
                        help="seg-predict --streams to measure, repeatable (default: the command's default)")
    parser.add_argument("--threads", type=int, default=cli.default_threads(),
                        help=f"seg-predict --threads (default {cli.default_threads()}, as the command)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--profile", type=int, default=0, metavar="FRAMES",
                        help="first time each stage alone on this many frames (default 0: no)")
    parser.add_argument("--decoders", action="store_true", help="only compare PNG decoders on the frames, then exit")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_predict"), help="scenes, model and outputs")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    variants = [(kinds, streams) for kinds in (args.outputs or [",".join(DEFAULT_KINDS), "labelIds"])
                for streams in (args.streams or [cli.stream_plan(args.backend, None)[0]])]
    args.work.mkdir(parents=True, exist_ok=True)
    if args.decoders:
        compare_decoders(_scenes(args.work, args.frames, args.camera_size))
        return 0

    checkpoint = _checkpoint(args)
    input_size = tuple(args.input_size or load_checkpoint(checkpoint).spec.input_size)
    images = _scenes(args.work, args.frames, args.camera_size)
    load_before = os.getloadavg()
    results = {"conditions": {"checkpoint": str(checkpoint), "input_size": list(input_size),
                              "camera_size": list(args.camera_size), "backend": args.backend, "frames": args.frames,
                              "threads": args.threads, "repeats": args.repeats, "cpu": cpu_model(),
                              "cores": cpu_threads(), "command": " ".join(sys.argv)}}
    if args.profile:
        results["profile"] = profile(images, checkpoint, args, input_size, args.profile)
    bench, bench_cpu, runs = [], [], {variant: [] for variant in variants}
    for _ in range(args.repeats):
        fps, cpu_ms = bench_fps(checkpoint, args, input_size)
        bench.append(fps)
        bench_cpu.append(cpu_ms)
        for variant in variants:
            runs[variant].append(predict_stats(images, checkpoint, args.work / "out", variant, args, input_size))
    load_after = os.getloadavg()
    results["conditions"]["load_average"] = [load_before, load_after]

    bench_median = statistics.median(bench)
    cores = cpu_threads()
    decode_ms = decode_cpu_ms(images)
    # A file-reading seg-bench: its own CPU per frame plus the input's decoding, packed on every core.
    bound = 1e3 * cores / (statistics.median(bench_cpu) + decode_ms)
    print(f"{load_checkpoint(checkpoint).spec.name}, input {input_size[0]}x{input_size[1]}, camera "
          f"{args.camera_size[0]}x{args.camera_size[1]}, backend {args.backend}, {args.frames} frames, "
          f"seg-predict --threads {args.threads}, {args.repeats} rounds; {cpu_model()}, {cores} cores, "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"seg-bench end-to-end: {bench_median:.2f} FPS (rounds: {', '.join(f'{f:.2f}' for f in bench)}), "
          f"{_median_ms(bench_cpu)} ms CPU per frame; reading and decoding an input PNG: {decode_ms:.1f} ms CPU; "
          f"both on {cores} cores at most: {bound:.2f} FPS")
    print("| seg-predict --outputs | --streams | FPS | ratio to seg-bench | ratio to seg-bench + decoding | CPU ms per "
          f"frame (FPS it allows on {cores} cores) | per frame ms: segment / wait reader / wait segment / wait "
          "writer | reader busy / writer busy |\n|---|---|---|---|---|---|---|---|")
    results["seg_bench"] = {"fps": bench, "cpu_ms": bench_cpu, "decode_cpu_ms": decode_ms,
                            "with_decoding_fps_bound": bound}
    results["seg_predict"] = []
    for (kinds, streams), stats in runs.items():
        fps = statistics.median(s.fps or 0.0 for s in stats)
        cpu_ms = statistics.median(1e3 * s.cpu_s / max(s.segmented, 1) for s in stats)

        def per_frame(attribute: str) -> float:
            return statistics.median(1e3 * getattr(s, attribute) / max(s.segmented, 1) for s in stats)

        parts = {name: per_frame(name) for name in ("segment_s", "wait_input_s", "wait_segment_s", "wait_writer_s",
                                                    "reader_busy_s", "writer_busy_s")}
        print(f"| {kinds} | {streams} | {fps:.2f} | {fps / bench_median:.2f} | {fps / bound:.2f} | {cpu_ms:.1f} "
              f"({1e3 * cores / cpu_ms:.1f}) | {parts['segment_s']:.1f} / {parts['wait_input_s']:.1f} / "
              f"{parts['wait_segment_s']:.1f} / {parts['wait_writer_s']:.1f} | {parts['reader_busy_s']:.1f} / "
              f"{parts['writer_busy_s']:.1f} |")
        results["seg_predict"].append({"outputs": kinds, "streams": streams, "fps": [s.fps for s in stats],
                                       "ratio": fps / bench_median, "ratio_with_decoding": fps / bound,
                                       "cpu_ms_per_frame": cpu_ms,
                                       "per_frame_ms": parts})
    print("target: ratio >= 0.90")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
