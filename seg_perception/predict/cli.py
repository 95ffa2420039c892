"""``seg-predict INPUT --checkpoint C --out DIR``: a model over an image folder, a video or a bag's image topic.

Writes, per frame, PNGs of the kinds ``--outputs`` names under
``DIR/<kind>/``, mirroring the input's relative paths (see
``predict.writer``), and for a bag an MCAP output bag with the input's
topics plus ``/segmentation/{labels,drivable_mask,color}`` at the input's
stamps. A rerun skips frames whose outputs all exist (``--overwrite`` redoes
them); the output bag is rewritten whole by every run. Unreadable frames are
skipped with a warning; when no frame could be done at all, or INPUT, the
checkpoint or the bag is unusable, one ``seg-predict: error: ...`` line and
exit 1. Ctrl-C keeps every PNG written so far and exits 130.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from contextlib import nullcontext
from pathlib import Path

from tqdm import tqdm

from ..bags.output_bag import LABELS_TOPIC, OutputBag
from ..bags.reader import BagError, BagReader
from ..checkpoint import CheckpointError
from ..inference import BackendUnavailable, InputSizeError, Segmenter
from ..inference.backend_table import TEST_TIME_FLIP_HELP
from ..inference.backends import choose_backend, cpu_threads, probe_platform
from ..inference.preprocess import INPUT_FILTER_HELP, INPUT_FILTERS
from ..size import size_arg
from .pipeline import Predictor, Stats
from .sources import BagImages, InputError, open_input
from .writer import DEFAULT_KINDS, KINDS

DEFAULT_IMAGE_TOPIC = "/camera/image_raw"
PREDICTED_SUFFIX = "_predicted"  # DIR/<bag name>_predicted, the default output bag


class CliError(Exception):
    """Bad arguments for this input, or nothing could be done: one line on stderr, exit status 1."""


def outputs_arg(text: str) -> tuple[str, ...]:
    """argparse type of --outputs: comma-separated kinds, or ``none`` (a bag's output bag only)."""
    if text.strip().lower() == "none":
        return ()
    kinds = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"unknown output {unknown[0] if unknown else text!r}; choose from "
                                         f"{', '.join(KINDS)} (comma-separated), or none")
    return kinds


def default_threads() -> int:
    """Half the cores, at least 2 and at most 4: the model needs the rest when it runs on the CPU, but one
    writing thread alone is what holds back the default outputs on 2 cores (an overlay PNG of 2048x1024 takes
    ~55 ms of CPU to draw and encode: 12.5 vs 11.2 FPS with 2 threads, BENCHMARKS.md)."""
    return max(2, min(4, (os.cpu_count() or 2) // 2))


def default_streams(backend: str) -> int:
    """Frames segmented at once: two on the cpu backend with two cores or more, else one.

    On the CPU one model run uses its threads less well than two runs one
    thread each (on this project's 2-core machine, unet_small at 512x256:
    51 ms of CPU per frame on one thread, 53-67 on two, and a two-thread run
    stalls while the reader or writer holds one of its cores), and a folder
    wants throughput, not one frame's latency.
    """
    return 2 if backend == "cpu" and cpu_threads() >= 2 else 1


def stream_plan(backend: str, streams: int | None) -> tuple[int, int | None]:
    """(streams, ONNX Runtime threads of each, None when not on the cpu backend) for ``--backend`` and
    ``--streams`` (None: the default); BackendUnavailable when that backend cannot run here."""
    backend, _ = choose_backend(backend, probe_platform())
    streams = streams or default_streams(backend)
    return streams, (max(1, cpu_threads() // streams) if backend == "cpu" else None)


def make_segmenters(args: argparse.Namespace) -> list[Segmenter]:
    """``--streams`` Segmenters of the checkpoint; on the cpu backend each gets its share of the cores."""
    streams, threads = stream_plan(args.backend, args.streams)
    return [Segmenter.from_checkpoint(args.checkpoint, backend=args.backend, input_size=args.input_size,
                                      threads=threads, input_filter=args.input_filter,
                                      test_time_flip=args.test_time_flip) for _ in range(streams)]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seg-predict", description="Run a checkpoint over an image folder, a video or a bag's image topic; "
                                        "write label, colour and overlay PNGs per frame (and an output bag for a bag).")
    parser.add_argument("input", type=Path, metavar="INPUT",
                        help="a folder of .png/.jpg/.jpeg images (searched recursively) or one image, a video "
                             "file, or a rosbag2 (directory, or a .mcap / .db3 file)")
    parser.add_argument("--checkpoint", type=Path, required=True, help="model checkpoint (.pt)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--outputs", type=outputs_arg, default=DEFAULT_KINDS, metavar="KINDS",
                        help=f"PNGs to write per frame, from {', '.join(KINDS)}, or none (bag input: the "
                             f"output bag only); default {','.join(DEFAULT_KINDS)}")
    parser.add_argument("--image-topic", default=DEFAULT_IMAGE_TOPIC,
                        help=f"bag input: Image or CompressedImage topic (default {DEFAULT_IMAGE_TOPIC}, or its "
                             "/compressed when only that exists)")
    parser.add_argument("--out-bag", type=Path, metavar="PATH",
                        help=f"bag input: the output bag (default DIR/<bag name>{PREDICTED_SUFFIX}); rewritten by "
                             "every run")
    parser.add_argument("--backend", default="cpu", help="inference backend: auto, tensorrt, cuda, cpu (default cpu)")
    parser.add_argument("--input-size", type=size_arg(), metavar="WxH", help="model input size (default: the checkpoint's)")
    parser.add_argument("--input-filter", choices=INPUT_FILTERS, default="none", help=INPUT_FILTER_HELP)
    parser.add_argument("--test-time-flip", action="store_true", help=TEST_TIME_FLIP_HELP)
    parser.add_argument("--threads", type=_positive, default=default_threads(), metavar="N",
                        help="threads decoding frames ahead and as many writing PNGs behind the model "
                             f"(default {default_threads()}: half the cores, at least 2, at most 4)")
    parser.add_argument("--streams", type=_positive, metavar="N",
                        help="frames segmented at once, each by its own copy of the model (on the cpu backend "
                             "with cores/N threads); default 2 on the cpu backend with 2 cores or more, else 1")
    parser.add_argument("--overwrite", action="store_true", help="redo frames whose outputs already exist")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``seg-predict``; returns the exit status."""
    args = build_parser().parse_args(argv)
    predictor: Predictor | None = None

    def started(p: Predictor) -> None:
        nonlocal predictor
        predictor = p

    try:
        stats, out_bag, backend = run(args, started)
    except (InputError, BagError, CheckpointError, BackendUnavailable, InputSizeError, CliError,
            OSError) as error:
        print(f"seg-predict: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        done = "nothing written" if predictor is None else _interrupted(predictor, args)
        print(f"seg-predict: interrupted; {done}", file=sys.stderr)
        return 130
    print(_summary(stats, args, out_bag, backend))
    return 0


def run(args: argparse.Namespace, started=lambda predictor: None) -> tuple[Stats, Path | None, str]:
    """Predict as ``args`` say; returns (stats, output bag or None, backend). Raises the errors ``main`` reports.
    ``started`` gets the Predictor before its pass begins (so Ctrl-C can report its progress)."""
    source = open_input(args.input, args.out, args.image_topic)
    is_bag = isinstance(source, BagImages)
    if not is_bag and args.out_bag is not None:
        raise CliError(f"--out-bag is for bag input; {args.input} is {source.kind}")
    if not is_bag and not args.outputs:
        raise CliError("--outputs none writes nothing for images or a video")
    bag_path = (args.out_bag or args.out / f"{source.name}{PREDICTED_SUFFIX}") if is_bag else None
    if bag_path is not None:
        _check_out_bag(bag_path, args.input)
    segmenters = make_segmenters(args)
    args.out.mkdir(parents=True, exist_ok=True)
    out_bag = None
    if bag_path is not None:
        if bag_path.exists():  # an earlier run's (checked above): bags cannot be appended to, so it is redone
            shutil.rmtree(bag_path)
        with BagReader(args.input) as reader:
            out_bag = OutputBag(bag_path, reader)
    warn = (lambda line: tqdm.write(line, file=sys.stderr))
    predictor = Predictor(source, segmenters, args.out, args.outputs, overwrite=args.overwrite, out_bag=out_bag,
                          progress=not args.quiet, warn=warn, threads=args.threads)
    started(predictor)
    with out_bag if out_bag is not None else nullcontext():  # the bag appears only if the pass completes
        stats = predictor.run()
        if not stats.segmented and not stats.skipped:
            if stats.unreadable:
                raise CliError(f"none of the {stats.unreadable} frames could be read; the first: "
                               f"{stats.first_unreadable}")
            raise CliError(f"{args.input}: no frames")
    return stats, bag_path, segmenters[0].backend_name


def _check_out_bag(path: Path, source: Path) -> None:
    """Refuse an output bag that is, holds or lies in the input, or an existing path that is not an earlier
    output bag (one with the predicted topics): replacing it must never destroy a recording."""
    resolved, source = path.resolve(), source.resolve()
    if resolved == source or resolved.is_relative_to(source) or source.is_relative_to(resolved):
        raise CliError(f"--out-bag {path} would overwrite the input {source}")
    if not path.exists() and not path.is_symlink():
        return
    try:
        with BagReader(path) as reader:
            ours = LABELS_TOPIC in reader.topics
    except BagError:
        ours = False
    if not ours or not path.is_dir():
        raise CliError(f"{path} already exists and is not an output bag (no {LABELS_TOPIC}); not replacing it "
                       "(remove it or choose another --out-bag)")


def _kinds(args: argparse.Namespace) -> str:
    return f"{args.out}/{{{','.join(args.outputs)}}}" if args.outputs else str(args.out)


def _summary(stats: Stats, args: argparse.Namespace, out_bag: Path | None, backend: str) -> str:
    fps = "n/a" if stats.fps is None else f"{stats.fps:.1f}"
    bag = f", bag {out_bag}" if out_bag is not None else ""
    frames = f"{stats.frames} frame{'' if stats.frames == 1 else 's'}"
    return (f"seg-predict: {frames} ({stats.segmented} segmented, {stats.skipped} already done, "
            f"{stats.unreadable} unreadable) in {stats.elapsed_s:.2f} s, {fps} FPS on {backend} -> "
            f"{_kinds(args)}{bag}")


def _interrupted(predictor: Predictor, args: argparse.Namespace) -> str:
    stats = predictor.stats
    bag = "; no output bag (a run writes it only when it gets through the whole bag)" \
        if predictor.out_bag is not None else ""
    return (f"outputs of {stats.written} newly segmented frames written ({stats.skipped} were already done) in "
            f"{_kinds(args)}{bag}; rerun to go on")


if __name__ == "__main__":
    sys.exit(main())
