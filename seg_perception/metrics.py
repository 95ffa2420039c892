"""Confusion matrix, per-class IoU, mIoU and pixel accuracy: the numbers every report uses.

numpy only (no torch, no ROS), so the node and the rosbag evaluation can use it cheaply.

Conventions, chosen to match ``cityscapesscripts``' ``evalPixelLevelSemanticLabeling``:

* Pixels whose ground truth is ``ignore_index`` are skipped entirely: they are
  neither false negatives nor false positives of any class.
* A pixel with valid ground truth whose prediction is ``ignore_index`` or any
  other id outside ``0..num_classes-1`` is a false negative of the ground-truth
  class and a false positive of no class (the official tool does the same with
  predicted labelIds that are ignored in evaluation). Those pixels are kept in
  an extra last column, so the matrix is ``num_classes x (num_classes + 1)``:
  rows = ground truth, columns = prediction, column ``num_classes`` = "no valid class".
* A class's IoU is undefined (``None`` in results, NaN in arrays) when it has no
  ground-truth pixel and is never predicted on a pixel with valid ground truth;
  mIoU averages the defined IoUs only. A class predicted but absent from the
  ground truth therefore scores 0 and counts.
* Pixel accuracy = correctly labelled pixels / pixels with valid ground truth.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from .labels import CLASS_NAMES, IGNORE_ID, NUM_CLASSES


def confusion_matrix(pred, gt, num_classes: int = NUM_CLASSES, ignore_index: int = IGNORE_ID) -> np.ndarray:
    """int64 ``num_classes x (num_classes + 1)`` counts of (gt row, pred column) over same-shaped id arrays.

    The last column counts valid-gt pixels predicted as ignore or an out-of-range id.
    Ground-truth values other than ``0..num_classes-1`` and ``ignore_index`` raise ValueError.
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} != ground-truth shape {gt.shape}")
    valid = gt != ignore_index
    g = gt[valid].astype(np.int64)
    if g.size and (g.min() < 0 or g.max() >= num_classes):
        bad = g[(g < 0) | (g >= num_classes)][0]
        raise ValueError(f"ground truth has id {bad}: neither a class (0..{num_classes - 1}) nor {ignore_index}")
    p = pred[valid].astype(np.int64)
    p[(p < 0) | (p >= num_classes)] = num_classes
    counts = np.bincount(g * (num_classes + 1) + p, minlength=num_classes * (num_classes + 1))
    return counts.reshape(num_classes, num_classes + 1)


def iou_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Per-class IoU (float64, NaN where undefined) from a C x C or C x (C + 1) confusion matrix."""
    cm = np.asarray(cm)
    num_classes = cm.shape[0]
    if cm.ndim != 2 or cm.shape[1] not in (num_classes, num_classes + 1):
        raise ValueError(f"expected a C x C or C x (C + 1) confusion matrix, got shape {cm.shape}")
    tp = np.diagonal(cm).astype(np.float64)
    fn = cm.sum(axis=1) - tp
    fp = cm[:, :num_classes].sum(axis=0) - tp
    denom = tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, tp / denom, np.nan)


@dataclasses.dataclass(frozen=True)
class SegMetrics:
    """Evaluation summary; ``None`` marks values that are undefined (no pixels to score)."""

    miou: float | None
    pixel_accuracy: float | None
    per_class_iou: dict[str, float | None]

    def to_dict(self) -> dict:
        """Plain dict in the stable ``metrics.json`` key order (valid JSON: null, never NaN)."""
        return dataclasses.asdict(self)


class ConfusionMatrix:
    """Accumulates a confusion matrix over images (``update``) or workers (``merge``); ``compute`` scores it."""

    def __init__(
        self,
        num_classes: int = NUM_CLASSES,
        ignore_index: int = IGNORE_ID,
        class_names: Sequence[str] | None = None,
    ):
        if class_names is None:
            class_names = CLASS_NAMES if num_classes == NUM_CLASSES else [str(i) for i in range(num_classes)]
        if len(class_names) != num_classes:
            raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.class_names = tuple(class_names)
        self.matrix = np.zeros((num_classes, num_classes + 1), dtype=np.int64)

    def update(self, pred, gt) -> None:
        """Add one prediction / ground-truth pair (any matching shape, e.g. H x W or N x H x W)."""
        self.matrix += confusion_matrix(pred, gt, self.num_classes, self.ignore_index)

    def drivable_counts(self, drivable_classes: Sequence[str]) -> tuple[int, int, int, int]:
        """(tp, fp, fn, tn) pixels of the drivable area (the union of ``drivable_classes``) from the class
        confusion; a pixel predicted unknown counts as not drivable."""
        drivable = np.isin(np.arange(self.num_classes + 1), [self.class_names.index(c) for c in drivable_classes])
        gt_rows, pred_columns = drivable[:self.num_classes], drivable
        tp = int(self.matrix[np.ix_(gt_rows, pred_columns)].sum())
        fn = int(self.matrix[gt_rows].sum()) - tp
        fp = int(self.matrix[:, pred_columns].sum()) - tp
        return tp, fp, fn, int(self.matrix.sum()) - tp - fp - fn

    def drivable_iou(self, drivable_classes: Sequence[str]) -> float | None:
        """IoU of the drivable area (``drivable_counts``); None when neither side has any drivable pixel."""
        tp, fp, fn, _ = self.drivable_counts(drivable_classes)
        return tp / (tp + fp + fn) if tp + fp + fn else None

    def merge(self, other: ConfusionMatrix | np.ndarray) -> ConfusionMatrix:
        """Add another accumulator or a same-shaped raw matrix (e.g. all-reduced across ranks); returns self."""
        counts = other.matrix if isinstance(other, ConfusionMatrix) else np.asarray(other)
        if counts.shape != self.matrix.shape:
            raise ValueError(f"cannot merge a {counts.shape} confusion matrix into {self.matrix.shape}")
        self.matrix += counts.astype(np.int64)
        return self

    def compute(self) -> SegMetrics:
        """mIoU over the classes with a defined IoU, per-class IoU by name, pixel accuracy."""
        iou = iou_from_confusion(self.matrix)
        defined = iou[~np.isnan(iou)]
        total = int(self.matrix.sum())
        return SegMetrics(
            miou=float(defined.mean()) if defined.size else None,
            pixel_accuracy=float(np.trace(self.matrix) / total) if total else None,
            per_class_iou={
                name: None if math.isnan(value) else float(value)
                for name, value in zip(self.class_names, iou, strict=True)
            },
        )
