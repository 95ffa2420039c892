"""``seg-eval``: score segmentations against Cityscapes ground truth; writes ``DIR/metrics.json`` and ``DIR/report.md``.

Two mutually exclusive modes:

* ``--pred-dir P --gt-dir G --out DIR``: labelId PNGs already on disk. Every
  ``*_gtFine_labelIds.png`` under G (recursively) is paired with the one PNG under P
  whose name starts with the same ``{city}_{seq}_{frame}``, as cityscapesscripts'
  ``evalPixelLevelSemanticLabeling`` pairs them, and the numbers agree with that tool.
* ``--checkpoint C --data D --split val --out DIR``: run a checkpoint over a split.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from seg_perception.frame_confidence import mean_confidence
from seg_perception.inference.backend_table import TEST_TIME_FLIP_HELP, backend_help
from seg_perception.inference.preprocess import INPUT_FILTER_HELP, INPUT_FILTERS
from seg_perception.labels import DEFAULT_DRIVABLE_CLASSES, LABEL_ID_TO_TRAIN_ID, colorize
from seg_perception.metrics import ConfusionMatrix
from seg_perception.node.confidence_watch import DEGRADED_FILTER, WHEN_DEGRADED, gated_filter
from seg_perception.reports import write_metrics
from seg_perception.size import size_arg

GT_SUFFIX = "_gtFine_labelIds.png"
LABEL_IDS_SUFFIX = "_labelIds.png"


class EvalError(Exception):
    """Bad input (missing, unreadable or mismatched files): reported on stderr with exit status 1."""


def frame_key(path: str | Path) -> str | None:
    """``{city}_{seq}_{frame}`` of a Cityscapes-style file name, or None for other names."""
    parts = Path(path).stem.split("_")
    return "_".join(parts[:3]) if len(parts) >= 3 else None


def match_predictions(pred_dir: Path, gt_dir: Path) -> list[tuple[Path, Path]]:
    """(prediction, ground truth) pairs for every GT labelId file under ``gt_dir``; EvalError if one has none."""
    for what, directory in (("prediction", pred_dir), ("ground-truth", gt_dir)):
        if not directory.is_dir():
            raise EvalError(f"{what} directory {directory} does not exist")
    gt_files = sorted(gt_dir.rglob(f"*{GT_SUFFIX}"))
    if not gt_files:
        raise EvalError(f"no *{GT_SUFFIX} files under {gt_dir}")
    # A ground-truth file is never its own prediction (--pred-dir equal to or containing --gt-dir).
    gt_resolved = {path.resolve() for path in gt_files}
    candidates: dict[str, list[Path]] = {}
    for path in sorted(pred_dir.rglob("*.png")):
        key = frame_key(path)
        if key is not None and path.resolve() not in gt_resolved:
            candidates.setdefault(key, []).append(path)

    pairs, missing = [], []
    for gt in gt_files:
        found = candidates.get(frame_key(gt), [])
        label_ids = [p for p in found if p.name.endswith(LABEL_IDS_SUFFIX)]
        if len(found) > 1 and len(label_ids) == 1:
            found = label_ids  # e.g. a colour visualisation saved next to the labelId prediction
        if len(found) > 1:
            raise EvalError(f"several predictions for {gt}: {', '.join(map(str, found))}")
        if found:
            pairs.append((found[0], gt))
        else:
            missing.append(gt)
    if missing:
        more = f" (and {len(missing) - 1} more ground-truth files)" if len(missing) > 1 else ""
        raise EvalError(f"no prediction under {pred_dir} for {missing[0]}{more}")
    return pairs


def read_label_png(path: Path) -> np.ndarray:
    """Single-channel 8-bit PNG as an H x W uint8 array (palette images give their indices, as in cityscapesscripts)."""
    try:
        with Image.open(path) as image:
            mode = image.mode
            array = np.array(image)
    except (OSError, ValueError) as error:
        raise EvalError(f"cannot read {path}: {error}") from None
    if array.ndim != 2 or array.dtype != np.uint8:
        raise EvalError(f"{path} is not a single-channel 8-bit labelId PNG (PIL mode {mode})")
    return array


def score_pairs(pairs: list[tuple[Path, Path]]) -> ConfusionMatrix:
    """Accumulate the trainId confusion matrix of labelId prediction / ground-truth PNG pairs."""
    matrix = ConfusionMatrix()
    for pred_path, gt_path in tqdm(pairs, desc="seg-eval", unit="image"):
        pred, gt = read_label_png(pred_path), read_label_png(gt_path)
        if pred.shape != gt.shape:
            raise EvalError(
                f"{pred_path} is {pred.shape[1]}x{pred.shape[0]} but {gt_path} is {gt.shape[1]}x{gt.shape[0]}"
            )
        matrix.update(LABEL_ID_TO_TRAIN_ID[pred], LABEL_ID_TO_TRAIN_ID[gt])
    return matrix


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seg-eval",
        description="Score segmentations against Cityscapes ground truth; writes OUT/metrics.json and OUT/report.md.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--pred-dir", type=Path, help="labelId prediction PNGs (Cityscapes names), searched recursively")
    mode.add_argument("--checkpoint", type=Path, help="checkpoint to run over --data")
    parser.add_argument("--gt-dir", type=Path, help="with --pred-dir: ground truth, *_gtFine_labelIds.png recursively")
    parser.add_argument("--data", type=Path, help="with --checkpoint: dataset root in the Cityscapes layout")
    parser.add_argument("--split", help="with --checkpoint: split to evaluate (default: val)")
    parser.add_argument("--backend", default="cpu", help="with --checkpoint: " + backend_help("cpu"))
    parser.add_argument("--input-size", type=size_arg(), default=None, metavar="WxH",
                        help="with --checkpoint: network input size (default: the checkpoint's), e.g. to score "
                             "a model at other scales")
    parser.add_argument("--test-time-flip", action="store_true", help="with --checkpoint: " + TEST_TIME_FLIP_HELP)
    parser.add_argument("--input-filter", choices=(*INPUT_FILTERS, WHEN_DEGRADED), default="none",
                        help=f"with --checkpoint: {INPUT_FILTER_HELP}; or {WHEN_DEGRADED}: {DEGRADED_FILTER} on the "
                             "frames whose mean confidence is below the checkpoint's floor (frame by frame; "
                             "seg_node judges the last seconds) or whose colours are strongly cast")
    parser.add_argument("--pictures", type=int, default=4,
                        help="with --checkpoint: input | prediction | truth PNGs to write (default: 4)")
    parser.add_argument("--out", type=Path, required=True, help="output directory for metrics.json and report.md")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``seg-eval``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.checkpoint is not None:
        if args.data is None or args.gt_dir is not None:
            parser.error("--checkpoint needs --data (and takes no --gt-dir)")
        args.split = args.split or "val"
        return evaluate_checkpoint(args)
    if args.gt_dir is None or args.data is not None or args.split is not None:
        parser.error("--pred-dir needs --gt-dir (and takes no --data or --split)")
    try:
        pairs = match_predictions(args.pred_dir, args.gt_dir)
        matrix = score_pairs(pairs)
        metrics = matrix.compute()
    except EvalError as error:
        print(f"seg-eval: error: {error}", file=sys.stderr)
        return 1
    extra = {"drivable_iou": matrix.drivable_iou(DEFAULT_DRIVABLE_CLASSES), "frames": len(pairs),
             "drivable_classes": list(DEFAULT_DRIVABLE_CLASSES), "pred_dir": str(args.pred_dir),
             "gt_dir": str(args.gt_dir)}
    json_path, _ = write_metrics(args.out, metrics, extra, title=f"seg-eval: {args.pred_dir}")
    miou = "n/a" if metrics.miou is None else f"{metrics.miou:.4f}"
    print(f"mIoU {miou} over {len(pairs)} images -> {json_path}")
    return 0


# --- --checkpoint mode ---------------------------------------------------------------------------


def evaluate_checkpoint(args: argparse.Namespace) -> int:
    """Run ``args.checkpoint`` through the deployment Segmenter over ``args.data``/``args.split``.

    Frames go through exactly what the node does (resize to the model input,
    argmax, nearest resize back to full size), so the numbers are the
    deployed model's. A few input | prediction | ground truth PNGs go beside the report.
    A bad checkpoint, backend or dataset file (also one met halfway) is one error line and exit 1.
    """
    from seg_perception.checkpoint import CheckpointError
    from seg_perception.inference import BackendUnavailable, InputSizeError, Segmenter
    from seg_perception.inference.aspect import StretchCheck, stretch_summary

    from .data import CityscapesDataset, DatasetError

    gated = args.input_filter == WHEN_DEGRADED
    try:
        segmenter = Segmenter.from_checkpoint(args.checkpoint, backend=args.backend, input_size=args.input_size,
                                              input_filter=gated_filter(args.input_filter, False, False, None),
                                              test_time_flip=args.test_time_flip)
        floor = segmenter.spec.confidence_floor
        if gated and floor is None:
            raise CheckpointError(f"{args.checkpoint}: --input-filter {WHEN_DEGRADED} needs the checkpoint's "
                                  "confidence floor, and it has none (trained before seg-train measured one)")
        dataset = CityscapesDataset(args.data, args.split)
        args.out.mkdir(parents=True, exist_ok=True)
        if floor is not None:  # count the frames the node would call degraded (ROS_NODE.md)
            segmenter.with_confidence = True
            segmenter.prepare_variants()  # the confidence graph now, not inside the first frame's time
        stretch_check = StretchCheck(segmenter.input_size)
        run = _segment_dataset(segmenter, dataset, args.out, args.pictures, stretch_check,
                               gate_floor=floor if gated else None)
    except (CheckpointError, BackendUnavailable, InputSizeError, DatasetError) as error:
        print(f"seg-eval: error: {error}", file=sys.stderr)
        return 1
    metrics = run.matrix.compute()
    confidence = run.confidence
    extra = {"drivable_iou": run.matrix.drivable_iou(segmenter.drivable_classes), "frames": len(dataset),
             "drivable_classes": list(segmenter.drivable_classes), "checkpoint": str(args.checkpoint),
             "data": str(args.data), "split": args.split, "backend": segmenter.backend_name,
             "input_size": list(segmenter.input_size), "test_time_flip": args.test_time_flip,
             "input_filter": args.input_filter,
             "frames_filtered": run.filtered if gated else len(dataset) * (args.input_filter != "none"),
             "median_frame_ms": float(np.median(run.total_ms)), "confidence_floor": floor,
             "median_frame_confidence": float(np.median(confidence)) if confidence else None,
             "frames_below_confidence_floor": sum(c < floor for c in confidence) if confidence else None,
             "stretch": stretch_summary(stretch_check.stretched_sizes, segmenter.input_size)}
    json_path, _ = write_metrics(args.out, metrics, extra, title=f"seg-eval: {args.checkpoint}", images=run.pictures)
    below = "" if floor is None else (f"; {extra['frames_below_confidence_floor']} below the model's confidence "
                                      f"floor {floor:.3f}")
    print(f"mIoU {metrics.miou:.4f}, pixel accuracy {metrics.pixel_accuracy:.4f} over {len(dataset)} images "
          f"({segmenter.backend_name}{below}) -> {json_path}")
    return 0


@dataclass
class DatasetRun:
    """What ``_segment_dataset`` measured over a split."""

    matrix: ConfusionMatrix = field(default_factory=ConfusionMatrix)
    pictures: list[Path] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)  # per frame, both passes of a gated frame
    confidence: list[float] = field(default_factory=list)  # per frame mean confidence (unfiltered), if computed
    filtered: int = 0  # frames the gate filtered


def _segment_dataset(segmenter, dataset, out: Path, picture_count: int, stretch_check,
                     gate_floor: float | None = None) -> DatasetRun:
    """``segmenter`` over ``dataset``; the first ``picture_count`` frames are also written to ``out`` as
    input | prediction | truth strips. ``stretch_check`` sees every frame's size and warns once per stretched
    size. With ``gate_floor`` a frame whose mean confidence is below it, or whose colours are strongly cast,
    is segmented again with DEGRADED_FILTER, whose labels count (``input_filter`` WHEN_DEGRADED, frame by
    frame: ``gated_filter``)."""
    import cv2

    from seg_perception.inference import colorize_overlay
    from seg_perception.size import Size

    run = DatasetRun()
    for index in tqdm(range(len(dataset)), desc="seg-eval", unit="image"):
        image, label = dataset[index]
        stretched = stretch_check(Size.of(image))
        if stretched:
            tqdm.write(f"seg-eval: warning: {stretched}", file=sys.stderr)
        result = segmenter.segment(image)
        frame_ms = result.timings["total_ms"]
        if result.confidence is not None:
            run.confidence.append(mean_confidence(result.confidence))
        if gate_floor is not None and gated_filter(
                WHEN_DEGRADED, run.confidence[-1] < gate_floor, sample=False, image=image) != "none":
            segmenter.input_filter = DEGRADED_FILTER
            result = segmenter.segment(image)
            segmenter.input_filter = "none"
            frame_ms += result.timings["total_ms"]
            run.filtered += 1
        run.matrix.update(result.labels, label)
        run.total_ms.append(frame_ms)
        if len(run.pictures) < picture_count:
            strip = np.concatenate([image, colorize_overlay(image, result.labels, 0.6), colorize(label)], axis=1)
            path = out / f"sample_{len(run.pictures):02d}.png"
            cv2.imwrite(str(path), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
            run.pictures.append(path)
    return run


if __name__ == "__main__":
    sys.exit(main())
