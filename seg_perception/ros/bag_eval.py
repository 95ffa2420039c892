"""``seg-bag-eval BAG --checkpoint CKPT [--live] --out DIR``: score a checkpoint on a rosbag2 with ground truth.

Offline (default) every image of the bag goes through the deployment
Segmenter; ``--live`` replays the bag into a seg_node (started for the run,
or one already running) and scores what it publishes. When the bag has a
camera_info topic, both masks are also projected onto the drivable grid and
compared cell by cell. Offline, with a model that has a confidence floor,
frames are sampled as seg_node samples them, and the report says where along
the recording the node would have called its input degraded. Both modes write
``DIR/metrics.json``, ``DIR/report.md``, ``DIR/confusion.png``,
``DIR/samples.png`` (and ``DIR/grid.png`` with a grid, ``DIR/confidence.png``
with samples), only once everything succeeded; bad input exits 1 with
one ``seg-bag-eval: error: ...`` line and leaves no metrics.json in DIR.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from tqdm import tqdm

from ..bags.confidence_timeline import ConfidenceTimeline
from ..bags.evaluation import BagEvaluation
from ..bags.grids import BagGrids
from ..bags.ground_truth import check_stamps, resolve_image_topic, resolve_topics
from ..bags.messages import CAMERA_INFO
from ..bags.output_bag import OutputBag
from ..bags.pictures import confidence_plot, confusion_plot, grid_picture, sample_strip
from ..bags.reader import BagError, BagReader
from ..bags.replay import AnswerBook, LiveScoring
from ..bags.scoring import SegmenterPredictor, answer_predictor, score_bag
from ..checkpoint import CheckpointError, load_checkpoint
from ..inference import BackendUnavailable, InputSizeError, Segmenter
from ..navigation import CameraMount, GridSpec
from ..inference.aspect import stretch_summary
from ..inference.backend_table import TEST_TIME_FLIP_HELP, backend_help
from ..inference.preprocess import INPUT_FILTER_HELP, INPUT_FILTERS
from ..labels import check_drivable_classes
from ..node.confidence_watch import DEGRADED_FILTER, FROM_CHECKPOINT, WHEN_DEGRADED, effective_floor, gated_filter
from ..node.contract import NodeStatus, camera_info_beside
from ..node.params import geometry_from_params_file, validate_changes
from ..reports import METRICS_FILE, REPORT_FILE, write_metrics
from ..size import Size, size_arg

DEFAULT_IMAGE_TOPIC = "/camera/image_raw"
DEFAULT_GT_TOPIC = "/camera/semantic_gt"
CONFUSION_FILE = "confusion.png"
SAMPLES_FILE = "samples.png"
GRID_FILE = "grid.png"
CONFIDENCE_FILE = "confidence.png"
NODE_LOG_FILE = "seg_node.log"  # --live: the log of the node started for the run
#: node parameters given by our own options (which the report records), not by --node-param
OWN_OPTIONS = {"input_filter": "--input-filter", "test_time_flip": "--test-time-flip"}
#: Results of a previous run in --out, removed before this one starts so none of them passes for its output.
OUTPUT_FILES = (METRICS_FILE, REPORT_FILE, CONFUSION_FILE, SAMPLES_FILE, GRID_FILE, CONFIDENCE_FILE, NODE_LOG_FILE)


class CliError(Exception):
    """Bad arguments or a failed live replay: one line on stderr, exit status 1."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seg-bag-eval", description=__doc__.split("\n")[0].split(": ", 1)[1])
    parser.add_argument("bag", type=Path, help="rosbag2 directory (mcap or sqlite3) or a .mcap / .db3 file")
    parser.add_argument("--checkpoint", type=Path, required=True, help="model checkpoint (.pt)")
    parser.add_argument("--out", type=Path, required=True, help="output directory for metrics.json and report.md")
    parser.add_argument("--image-topic", default=DEFAULT_IMAGE_TOPIC,
                        help=f"camera topic, Image or CompressedImage (default {DEFAULT_IMAGE_TOPIC}, or its "
                             "/compressed when only that exists)")
    parser.add_argument("--gt-topic",
                        help=f"mono8 ground-truth topic, same stamps as the images (default {DEFAULT_GT_TOPIC} "
                             "when the bag has it; '' or a bag without it: speed, drops and pictures only, no "
                             "accuracy)")
    parser.add_argument("--gt-label-ids", action="store_true",
                        help="the ground truth holds Cityscapes labelIds (default: trainIds)")
    parser.add_argument("--backend", default="cpu", help=backend_help("cpu"))
    parser.add_argument("--input-size", type=size_arg(), metavar="WxH",
                        help="model input size (default: the checkpoint's)")
    parser.add_argument("--input-filter", choices=(*INPUT_FILTERS, WHEN_DEGRADED), default="none",
                        help=f"{INPUT_FILTER_HELP}; or {WHEN_DEGRADED}: {DEGRADED_FILTER} while the input looks "
                             "degraded, judged along the recording as seg_node judges its camera (offline: needs "
                             "a confidence floor), and on frames of a strong colour cast")
    parser.add_argument("--test-time-flip", action="store_true", help=TEST_TIME_FLIP_HELP)
    parser.add_argument("--drivable-classes", metavar="A,B",
                        help="comma-separated drivable class names (default: the checkpoint's)")
    parser.add_argument("--pictures", type=int, default=4, help="sample frames in the strip (default 4)")
    parser.add_argument("--out-bag", type=Path, metavar="PATH",
                        help="also write an MCAP bag: the input topics plus /segmentation/{labels,drivable_mask,color} "
                             "and, with a grid, /segmentation/{drivable_grid,obstacle_points}")
    parser.add_argument("--camera-info-topic", metavar="TOPIC",
                        help="CameraInfo for the drivable grid (default: beside the image topic, e.g. "
                             "/camera/camera_info; no grid when the bag has none there)")
    parser.add_argument("--params-file", type=Path, metavar="YAML",
                        help="seg_node parameter file whose grid.* and camera.* place the grid and the camera "
                             "(default: config/seg.yaml's values)")
    parser.add_argument("--confidence-floor", type=_floor, default=FROM_CHECKPOINT, metavar="X",
                        help="offline: the frame mean confidence below which the input counts as degraded, as "
                             "seg_node's confidence_floor: -1 the checkpoint's (default), 0 off, or a value in "
                             "(0, 1]")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    live = parser.add_argument_group("live mode")
    live.add_argument("--live", action="store_true", help="replay the bag into seg_node instead of running the model here")
    live.add_argument("--rate", type=float, metavar="HZ", help="frames per second (default: the recorded spacing)")
    live.add_argument("--speed", type=float, default=1.0, metavar="X",
                      help="play the recorded spacing X times faster, like `ros2 bag play --rate X` (default 1)")
    live.add_argument("--use-running-node", action="store_true",
                      help="use the seg_node already running in --node-namespace instead of starting one")
    live.add_argument("--node-namespace", help="namespace of the node (default: a private one, or / with "
                                               "--use-running-node)")
    live.add_argument("--timeout", type=float, default=120.0,
                      help="seconds to wait for the node to come up and to answer (default 120)")
    live.add_argument("--node-param", type=_node_param, action="append", default=[], metavar="NAME:=VALUE",
                      help="a further parameter of the node started for the run, as after seg_node's -p "
                           "(repeatable), e.g. min_confidence:=0.5 or publish_color:=true")
    return parser


def _floor(text: str) -> float:
    """--confidence-floor, checked as seg_node checks its confidence_floor parameter."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    reason = validate_changes({"confidence_floor": value})
    if reason:
        raise argparse.ArgumentTypeError(reason)
    return value


def _node_param(text: str) -> tuple[str, str]:
    name, separator, value = text.partition(":=")
    if not name or not separator:
        raise argparse.ArgumentTypeError(f"expected NAME:=VALUE, got {text!r}")
    return name, value


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``seg-bag-eval``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.live and (args.rate is not None or args.speed != 1.0 or args.use_running_node or args.node_namespace):
        parser.error("--rate, --speed, --use-running-node and --node-namespace need --live")
    if args.node_param and (not args.live or args.use_running_node):
        parser.error("--node-param is for the node --live starts (not with --use-running-node)")
    for name, _ in args.node_param:
        if name in OWN_OPTIONS:
            parser.error(f"--node-param {name}: give it as {OWN_OPTIONS[name]} (the report records it)")
    for name, option in OWN_OPTIONS.items():
        if args.use_running_node and getattr(args, name) != parser.get_default(name):
            parser.error(f"{option} is for the node --live starts; a running node has its own {name}")
    if args.live and args.confidence_floor != FROM_CHECKPOINT:
        parser.error("--confidence-floor is offline only: live, the node judges its input itself "
                     "(--node-param confidence_floor:=X)")
    if args.rate is not None and args.speed != 1.0:
        parser.error("--rate and --speed exclude each other (a fixed rate ignores the recorded spacing)")
    try:
        for name in OUTPUT_FILES:
            (args.out / name).unlink(missing_ok=True)
        json_path, metrics = run(args)
    except (BagError, CheckpointError, BackendUnavailable, InputSizeError, CliError, OSError) as error:
        print(f"seg-bag-eval: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a live replay has stopped its node by now; nothing was written
        print("seg-bag-eval: interrupted; no results written", file=sys.stderr)
        return 130
    degraded = metrics["degraded_input"]
    degraded_text = "skipped" if "skipped" in degraded else f"{degraded['degraded_s']:.1f} s"
    print(f"mIoU {_fmt(metrics['miou'])}, drivable IoU {_fmt(metrics['drivable_iou'])}, "
          f"{metrics['frames']} frames, {_fmt(metrics['fps'], '.1f')} FPS, latency p50 "
          f"{_fmt(metrics['latency_ms']['p50'], '.1f')} ms, {metrics['dropped']} dropped, grid agreement "
          f"{_fmt(metrics['grid'].get('agreement'))}, degraded input {degraded_text} -> {json_path}")
    return 0


def _fmt(value, spec: str = ".4f") -> str:
    return "n/a" if value is None else format(value, spec)


def _drivable_classes(args: argparse.Namespace, class_names) -> tuple[str, ...] | None:
    """--drivable-classes, checked against the model's classes; None when not given."""
    if args.drivable_classes is None:
        return None
    try:
        return check_drivable_classes([name.strip() for name in args.drivable_classes.split(",") if name.strip()],
                                      class_names)
    except ValueError as error:
        raise CliError(f"--drivable-classes: {error}") from None


def run(args: argparse.Namespace) -> tuple[Path, dict]:
    """Evaluate as ``args`` say; returns (metrics.json path, metrics). Raises the errors ``main`` reports."""
    with BagReader(args.bag) as reader:
        gt_topic = _gt_topic(args, reader)
        if gt_topic is None:
            image_topic, _ = resolve_image_topic(reader, args.image_topic)
            frames = reader.topics[image_topic].count
        else:
            image_topic, _ = resolve_topics(reader, args.image_topic, gt_topic)
            frames = check_stamps(reader, image_topic, gt_topic)  # before any model is loaded
        spec = load_checkpoint(args.checkpoint).spec
        if args.input_filter == WHEN_DEGRADED:
            _require_floor(args, spec.confidence_floor)
        requested = _drivable_classes(args, spec.class_names)
        drivable = requested or spec.drivable_classes
        grid_place, grid_note = _grid_place(args, reader, image_topic)
        out_bag = OutputBag(args.out_bag, reader, with_grid=grid_place is not None) if args.out_bag else None
        context = {"mode": "live" if args.live else "offline", "bag": str(args.bag), "image_topic": image_topic,
                   "gt_topic": gt_topic, "gt_label_ids": args.gt_label_ids, "checkpoint": str(args.checkpoint)}

        def score(source: BagReader, predict, drivable: tuple[str, ...], progress: bool):
            """One pass over the bag, the same offline and live: (drivable classes, evaluation, grids)."""
            evaluation = BagEvaluation(spec.class_names, drivable, args.pictures, ground_truth=gt_topic is not None)
            grids = BagGrids(spec.class_names, drivable, *grid_place) if grid_place is not None else None
            with out_bag if out_bag is not None else nullcontext():
                score_bag(source, evaluation, predict, image_topic, gt_topic, frames, args.gt_label_ids, out_bag,
                          progress=progress, grids=grids)
            return drivable, evaluation, grids

        if args.live:
            book = AnswerBook()

            def score_live():
                # The answering node's drivable classes are known before its first answer (replay_live waits
                # for its /diagnostics); this thread reads the bag with a reader of its own.
                node_drivable = _answering_node_drivable(args, drivable, book.wait_start())
                with BagReader(args.bag) as own:
                    return score(own, answer_predictor(book), node_drivable, progress=False)

            with LiveScoring(book, score_live) as scoring:
                replay = _replay(args, image_topic, requested, book)
            drivable, evaluation, grids = scoring.result()
            if not args.use_running_node:
                context.update(input_filter=args.input_filter)
            context.update(published=replay.published, answered=replay.answered, unexpected=replay.unexpected,
                           late=replay.late, rate=args.rate, speed=args.speed, node_log=replay.node_log,
                           **_node_description(args, spec, replay.node_status))
            wall_s = replay.elapsed_s  # the replay itself
            timeline, degraded_note = None, "offline only: live, the node judges its input itself (its /diagnostics)"
        else:
            floor = effective_floor(args.confidence_floor, spec.confidence_floor)
            timeline = None if floor is None else ConfidenceTimeline(floor)
            degraded_note = _no_floor_reason(args.confidence_floor, spec.confidence_floor, live=False)
            segmenter = Segmenter.from_checkpoint(args.checkpoint, backend=args.backend, input_size=args.input_size,
                                                  drivable_classes=drivable,
                                                  input_filter=gated_filter(args.input_filter, False, False, None),
                                                  test_time_flip=args.test_time_flip)
            context.update(backend=segmenter.backend_name, input_size=list(segmenter.input_size),
                           input_filter=args.input_filter, test_time_flip=args.test_time_flip)
            if timeline is not None:
                segmenter.prepare_variants()  # the confidence graph now, not inside the first sample's time
            start = time.perf_counter()
            predictor = SegmenterPredictor(
                segmenter, timeline, warn=lambda line: tqdm.write(f"seg-bag-eval: warning: {line}", file=sys.stderr),
                input_filter=args.input_filter)
            drivable, evaluation, grids = score(reader, predictor, drivable, not args.quiet)
            wall_s = time.perf_counter() - start  # the pass over the bag: read, decode, segment, score
            context.update(frames_filtered=predictor.filtered)
        input_size = context["input_size"]  # None when a running node that sent no /diagnostics answered
        context.update(drivable_classes=list(drivable), wall_s=wall_s,
                       stretch=stretch_summary(evaluation.frame_sizes, Size(*input_size)) if input_size else None)
    metrics = evaluation.result(elapsed_s=replay.elapsed_s if args.live else None)
    metrics["grid"] = grids.result() if grids is not None else {"skipped": grid_note}
    metrics["degraded_input"] = timeline.result() if timeline is not None else {"skipped": degraded_note}
    if out_bag is not None:
        context["out_bag"] = str(out_bag.path)
    return _write_report(args.out, metrics, context, evaluation, grids, timeline), metrics


def _require_floor(args: argparse.Namespace, checkpoint_floor: float | None) -> None:
    """``--input-filter when_degraded`` filters while the frames' confidence stays below the floor: CliError
    when no floor is in force (the checkpoint has none, or offline ``--confidence-floor``, live the node's
    ``confidence_floor``, turns it off), where the filter would never run."""
    node_floor = dict(args.node_param).get("confidence_floor") if args.live else None
    try:
        parameter = args.confidence_floor if node_floor is None else _floor(node_floor)
    except argparse.ArgumentTypeError as error:
        raise CliError(f"--node-param confidence_floor: {error}") from None
    if effective_floor(parameter, checkpoint_floor) is None:
        raise CliError(f"--input-filter {WHEN_DEGRADED} filters while the input looks degraded, which needs a "
                       f"confidence floor: {_no_floor_reason(parameter, checkpoint_floor, args.live)}")


def _no_floor_reason(parameter: float, checkpoint_floor: float | None, live: bool) -> str:
    """Why no confidence floor is in force (``effective_floor`` gave None), naming the setting that gives one."""
    if parameter == 0:
        return "turned off (confidence_floor:=0)" if live else "turned off (--confidence-floor 0)"
    if checkpoint_floor is None:
        option = "--node-param confidence_floor:=X" if live else "--confidence-floor"
        return f"the checkpoint has no confidence floor (trained before seg-train measured one); give one with {option}"
    return "the checkpoint's confidence floor is 0: no frame can fall below it"


def _gt_topic(args: argparse.Namespace, reader: BagReader) -> str | None:
    """The ground-truth topic to score against, or None for a run without ground truth: ``--gt-topic ''``,
    or no ``--gt-topic`` and no default topic in the bag. A topic named on purpose must exist."""
    if args.gt_topic == "":
        return None
    if args.gt_topic is None:
        if DEFAULT_GT_TOPIC not in reader.topics:
            print(f"seg-bag-eval: {reader.path} has no {DEFAULT_GT_TOPIC}: measuring speed and drops only "
                  "(no ground truth, no accuracy)", file=sys.stderr)
            return None
        return DEFAULT_GT_TOPIC
    return args.gt_topic


def _grid_place(args: argparse.Namespace, reader: BagReader, image_topic: str):
    """((grid, mount, camera_info topic), None) for ``BagGrids`` when the bag has the camera_info to project
    with, else (None, why not)."""
    topic = args.camera_info_topic or camera_info_beside(image_topic)
    if topic not in reader.topics:
        if args.camera_info_topic:  # asked for by name: a typo must not pass silently
            reader.require(topic, (CAMERA_INFO,))
        return None, f"no camera_info: the bag has no {topic}"
    reader.require(topic, (CAMERA_INFO,))
    try:
        grid, mount = geometry_from_params_file(args.params_file) if args.params_file else (GridSpec(), CameraMount())
    except ValueError as error:
        raise CliError(f"--params-file: {error}") from None
    return (grid, mount, topic), None


def _replay(args: argparse.Namespace, image_topic: str, drivable: tuple[str, ...] | None, book: AnswerBook):
    # Imported here: only --live needs rclpy.
    from .live_replay import LiveReplayError, replay_live

    try:
        return replay_live(args.bag, image_topic, rate=args.rate, speed=args.speed,
                           start_node=not args.use_running_node, node_namespace=args.node_namespace,
                           checkpoint=args.checkpoint, backend=args.backend, input_size=args.input_size,
                           drivable_classes=drivable,
                           node_params={**{name: getattr(args, name) for name in OWN_OPTIONS},
                                        **dict(args.node_param)},
                           timeout_s=args.timeout,
                           node_log=args.out / NODE_LOG_FILE, progress=not args.quiet, book=book)
    except (LiveReplayError, ValueError) as error:
        raise CliError(f"live replay of {args.bag}: {error}") from None


def _node_description(args: argparse.Namespace, spec, status: NodeStatus | None) -> dict:
    """backend, input_size, test_time_flip and model of the node that answered: from its /diagnostics when
    heard (null when a node already running sent none), else what this run started it with."""
    if status is None and args.use_running_node:
        return {"backend": None, "input_size": None, "test_time_flip": None, "node_model": None}
    if status is None:
        return {"backend": args.backend, "input_size": list(args.input_size or spec.input_size),
                "test_time_flip": args.test_time_flip, "node_model": None}
    return {"backend": status.backend, "input_size": list(status.input_size), "test_time_flip": status.test_time_flip,
            "node_model": status.model}


def _answering_node_drivable(args: argparse.Namespace, drivable: tuple[str, ...],
                             status: NodeStatus | None) -> tuple[str, ...]:
    """The classes the answering node marks drivable (its drivable mask is scored against them)."""
    if status is None or not status.drivable_classes:
        return drivable
    node_drivable = status.drivable_classes
    if args.drivable_classes is not None and node_drivable != drivable:
        print(f"seg-bag-eval: warning: the node marks {', '.join(node_drivable)} drivable, not "
              f"{', '.join(drivable)} (--drivable-classes); its drivable mask is scored against its own classes",
              file=sys.stderr)
    return node_drivable


def _write_report(out: Path, metrics: dict, context: dict, evaluation: BagEvaluation,
                  grids: BagGrids | None, timeline: ConfidenceTimeline | None) -> Path:
    """confusion.png, samples.png, grid.png, confidence.png, then metrics.json and report.md (last, so they
    exist only on success)."""
    out.mkdir(parents=True, exist_ok=True)
    images = [confusion_plot(evaluation.classes, out / CONFUSION_FILE)]
    strip = sample_strip(evaluation, out / SAMPLES_FILE)
    images += [strip] if strip else []
    if grids is not None and grids.example is not None:
        images.append(grid_picture(*grids.example, out / GRID_FILE))
    if timeline is not None and timeline.samples:
        images.append(confidence_plot(timeline, out / CONFIDENCE_FILE))
    core = {key: metrics[key] for key in ("miou", "pixel_accuracy", "per_class_iou")}
    extra = {key: value for key, value in metrics.items() if key not in core} | context
    json_path, _ = write_metrics(out, core, extra, title=f"seg-bag-eval ({context['mode']}): {context['bag']}",
                                 images=images)
    return json_path


if __name__ == "__main__":
    sys.exit(main())
