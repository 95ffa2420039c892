"""What ``min_confidence`` buys a navigation user on degraded frames: fewer false-drivable pixels, for how much
drivable area given up as unknown?

    python experiments/confidence_safety.py --checkpoints A.pt [B.pt ...] --data DATA [--out DIR]
        [--thresholds 0 0.5 0.6 0.7 0.8 0.9]

Each checkpoint runs once per split (``val``, ``val_shifted``) through the deployment Segmenter (cpu backend,
confidence on); each threshold then turns the pixels below it unknown (255), as the node's ``min_confidence``
does, and is scored against the labels. Per split and threshold:

- **false drivable**: the share of truly not-drivable labelled pixels that the mask calls drivable, the
  error a planner pays for (it drives into a car, a kerb, a wall);
- **drivable recall**: the share of truly drivable pixels the mask keeps;
- **drivable precision** and **drivable IoU** (unknown counts as not drivable, as in seg-eval);
- **unknown**: the share of labelled pixels the threshold turns unknown.

Then, per checkpoint, whether a frame's mean confidence tells degraded frames from clean ones (the node's
"input looks degraded" warning): its median on each split, the AUROC of "lower than val" for the shifted
frames, the share of shifted frames below the confidence floor (the checkpoint's; for a checkpoint without
one, the floor seg-train would store for these val frames), and the rank correlation of a frame's mean
confidence with its pixel accuracy over both splits.

Prints both markdown tables and writes ``confidence_safety.md`` and ``frame_confidence.md`` into ``--out``
when given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seg_perception.frame_confidence import ConfidenceHistogram, mean_confidence  # noqa: E402
from seg_perception.inference import Segmenter  # noqa: E402
from seg_perception.inference.postprocess import confidence_threshold  # noqa: E402
from seg_perception.labels import IGNORE_ID  # noqa: E402
from seg_perception.metrics import ConfusionMatrix  # noqa: E402
from training.data import CityscapesDataset  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from markdown_table import markdown_table, publish  # noqa: E402

SPLITS = ("val", "val_shifted")


def confusions(segmenter: Segmenter, dataset: CityscapesDataset,
               thresholds: list[float]) -> tuple[list[ConfusionMatrix], np.ndarray]:
    """One confusion matrix per threshold, the frame's pixels below it predicted unknown; and a 2 x frames
    array: each frame's mean confidence (0..1) and its pixel accuracy."""
    matrices = [ConfusionMatrix() for _ in thresholds]
    levels = [confidence_threshold(t) for t in thresholds]
    frame_confidence, frame_accuracy = [], []
    for index in range(len(dataset)):
        image, label = dataset[index]
        result = segmenter.segment(image)
        frame_confidence.append(mean_confidence(result.confidence))
        labelled = label != IGNORE_ID
        frame_accuracy.append((result.labels[labelled] == label[labelled]).mean())
        for matrix, level in zip(matrices, levels):
            matrix.update(np.where(result.confidence < level, IGNORE_ID, result.labels).astype(np.uint8), label)
    return matrices, np.array([frame_confidence, frame_accuracy])


def floor_of(clean: np.ndarray) -> float:
    """The floor seg-train would store for these val frames (for checkpoints written before it did)."""
    histogram = ConfidenceHistogram()
    histogram.add(clean)
    return histogram.floor()


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (no ties expected in continuous figures)."""
    return float(np.corrcoef(a.argsort().argsort(), b.argsort().argsort())[0, 1])


def separation(clean: np.ndarray, degraded: np.ndarray) -> float:
    """AUROC of "frame mean confidence lower" as a detector of degraded frames: the chance that a degraded
    frame scores below a clean one (ties count half)."""
    below = (degraded[:, None] < clean[None, :]).mean()
    ties = (degraded[:, None] == clean[None, :]).mean()
    return float(below + ties / 2)


def drivable_figures(matrix: ConfusionMatrix, drivable_classes) -> dict[str, float]:
    """False-drivable rate, recall, precision, IoU and unknown share of one confusion matrix."""
    tp, fp, fn, tn = matrix.drivable_counts(drivable_classes)
    return {"false drivable": fp / (fp + tn), "recall": tp / (tp + fn), "precision": tp / max(tp + fp, 1),
            "IoU": matrix.drivable_iou(drivable_classes), "unknown": matrix.matrix[:, -1].sum() / matrix.matrix.sum()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, nargs="+", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.0, 0.5, 0.6, 0.7, 0.8, 0.9])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    datasets = {split: CityscapesDataset(args.data, split) for split in SPLITS}
    rows, frames = [], []
    with tqdm(total=len(args.checkpoints) * len(SPLITS), desc="confidence", unit="split") as bar:
        for checkpoint in args.checkpoints:
            segmenter = Segmenter.from_checkpoint(checkpoint, backend="cpu", with_confidence=True)
            frame_confidence = {}
            for split, dataset in datasets.items():
                matrices, frame_confidence[split] = confusions(segmenter, dataset, args.thresholds)
                for threshold, matrix in zip(args.thresholds, matrices):
                    figures = drivable_figures(matrix, segmenter.drivable_classes)
                    rows.append(f"| {checkpoint} | {split} | {threshold:.2f} | {matrix.compute().miou:.3f} | "
                                + " | ".join(f"{value:.3f}" for value in figures.values()) + " |")
                bar.update()
            (clean, _), (degraded, _) = frame_confidence["val"], frame_confidence["val_shifted"]
            both = np.concatenate(list(frame_confidence.values()), axis=1)
            flag = segmenter.spec.confidence_floor or floor_of(clean)
            frames.append(f"| {checkpoint} | {np.median(clean):.3f} | {np.median(degraded):.3f} | "
                          f"{separation(clean, degraded):.3f} | {flag:.3f} | {(degraded < flag).mean():.2f} | "
                          f"{rank_correlation(*both):.2f} |")
    publish(markdown_table(["checkpoint", "split", "min_confidence", "mIoU", "false drivable", "drivable recall",
                            "drivable precision", "drivable IoU", "unknown"], rows), args.out,
            "confidence_safety.md")
    publish(markdown_table(["checkpoint", "median frame confidence, val", "median, shifted",
                            "AUROC (shifted below val)", "confidence floor", "shifted frames below it",
                            "rank correlation with frame accuracy (both splits)"],
                           frames), args.out, "frame_confidence.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
