"""``BagEvaluation``: the accumulator behind ``seg-bag-eval``, shared by the offline and the live mode.

numpy only (no torch, no ROS). The caller decodes frames and obtains
predictions however it likes (the Segmenter offline, the node's published
topics live) and hands each scored frame to ``add``; ``result()`` gives the
metrics dict that ``metrics.json`` holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..inference.aspect import MAX_SIZES
from ..labels import CLASS_NAMES, DEFAULT_DRIVABLE_CLASSES, IGNORE_ID, check_drivable_classes
from ..metrics import ConfusionMatrix
from ..size import Size

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Sample:
    """One frame kept for the report's picture strip (arrays are private copies)."""

    stamp_ns: int
    image: np.ndarray  # H x W x 3 uint8 RGB
    labels: np.ndarray  # H x W uint8 predicted trainIds
    drivable: np.ndarray  # H x W uint8, non-zero = predicted drivable
    gt: np.ndarray | None  # H x W uint8 ground-truth trainIds, 255 ignore; None without ground truth


class BagEvaluation:
    """Accumulates class and drivable-area confusion, latencies and sample frames over a replay.

    Usage (the same in both modes)::

        evaluation = BagEvaluation(class_names, drivable_classes, pictures=4)
        for each frame that has ground truth and a prediction:
            evaluation.add(stamp_ns, image_rgb, pred_labels, drivable_mask, gt_train_ids, latency_ms)
        for each frame that got no prediction (live mode):
            evaluation.add_dropped(stamp_ns)
        metrics = evaluation.result()                 # or result(elapsed_s=wall-clock seconds of the replay)

    ``add`` arguments, all for one frame and all of the same H x W:

    * ``stamp_ns``: the frame's header stamp in nanoseconds (sec * 10**9 + nanosec).
    * ``image_rgb``: H x W x 3 uint8 RGB input (any strides, e.g. a view of a message); only
      copied when the frame is kept as a sample.
    * ``pred_labels``: H x W uint8 predicted trainIds (255 or any id >= ``len(class_names)`` =
      unknown, scored as a miss), e.g. ``/segmentation/labels``.
    * ``drivable_mask``: H x W uint8, non-zero = predicted drivable, e.g. ``/segmentation/drivable_mask``.
    * ``gt_train_ids``: H x W uint8 ground-truth trainIds, 255 = ignored (labelIds must be mapped
      before, with ``labels.LABEL_ID_TO_TRAIN_ID``).
    * ``latency_ms``: the frame's latency (offline: Segmenter time; live: publish to answer), or None.

    Mismatched shapes or ground-truth ids outside ``0..len(class_names)-1`` and 255 raise ValueError
    naming the stamp. Drivable ground truth is "gt class in ``drivable_classes``"; pixels whose gt is
    255 count in neither the class nor the drivable confusion.

    ``pictures`` samples are kept spread over the whole run (not just its first frames) while
    holding at most ``2 * pictures`` frames in memory.
    """

    def __init__(self, class_names: Sequence[str] = CLASS_NAMES,
                 drivable_classes: Sequence[str] = DEFAULT_DRIVABLE_CLASSES, pictures: int = 4,
                 ground_truth: bool = True):
        self.class_names = tuple(class_names)
        if isinstance(drivable_classes, str):
            drivable_classes = (drivable_classes,)
        self.drivable_classes = check_drivable_classes(drivable_classes, self.class_names)
        self._drivable_ids = np.array([self.class_names.index(name) for name in self.drivable_classes], np.int64)
        self.classes = ConfusionMatrix(len(self.class_names), IGNORE_ID, self.class_names)
        #: rows = gt (not drivable, drivable), columns = prediction (not drivable, drivable)
        self.drivable = np.zeros((2, 2), np.int64)
        self.latencies_ms: list[float] = []
        self.frames = 0
        self.dropped = 0
        self.first_dropped_ns: int | None = None
        self.pictures = max(0, int(pictures))
        #: False for a bag without ground truth: only speed, drops and pictures are recorded
        self.ground_truth = ground_truth
        #: frames scored per camera size (the first MAX_SIZES sizes: a bag of ever new sizes cannot grow it)
        self.frame_sizes: dict[Size, int] = {}
        self._kept: list[Sample] = []
        self._stride = 1

    def add(self, stamp_ns: int, image_rgb: np.ndarray, pred_labels: np.ndarray, drivable_mask: np.ndarray,
            gt_train_ids: np.ndarray | None, latency_ms: float | None = None) -> None:
        """Score one frame (see the class docstring for the arguments); ``gt_train_ids`` is None, and only
        the latency and the pictures count, when the evaluation has no ground truth."""
        if (gt_train_ids is not None) != self.ground_truth:
            raise ValueError(f"frame {stamp_ns} ns: ground truth {'missing' if self.ground_truth else 'given'} in "
                             f"an evaluation {'with' if self.ground_truth else 'without'} ground truth")
        shapes = {"image": image_rgb.shape[:2], "labels": pred_labels.shape, "drivable mask": drivable_mask.shape}
        if gt_train_ids is not None:
            shapes["ground truth"] = gt_train_ids.shape
        if len(set(shapes.values())) != 1 or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
            sizes = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
            raise ValueError(f"frame {stamp_ns} ns: arrays differ in size ({sizes}; image is {image_rgb.shape})")
        if gt_train_ids is not None:
            self._score(stamp_ns, pred_labels, drivable_mask, gt_train_ids)
        if latency_ms is not None:
            self.latencies_ms.append(float(latency_ms))
        size = Size.of(image_rgb)
        if size in self.frame_sizes or len(self.frame_sizes) < MAX_SIZES:
            self.frame_sizes[size] = self.frame_sizes.get(size, 0) + 1
        if self.pictures and self.frames % self._stride == 0:
            self._keep(Sample(stamp_ns, np.array(image_rgb), np.array(pred_labels), np.array(drivable_mask),
                              None if gt_train_ids is None else np.array(gt_train_ids)))
        self.frames += 1

    def _score(self, stamp_ns: int, pred_labels: np.ndarray, drivable_mask: np.ndarray,
               gt_train_ids: np.ndarray) -> None:
        try:
            self.classes.update(pred_labels, gt_train_ids)
        except ValueError as error:
            raise ValueError(f"frame {stamp_ns} ns: {error}") from None
        valid = gt_train_ids != IGNORE_ID
        gt_drivable = self.gt_drivable(gt_train_ids[valid])
        pred_drivable = drivable_mask[valid] != 0
        self.drivable += np.bincount(2 * gt_drivable + pred_drivable, minlength=4).reshape(2, 2)

    def gt_drivable(self, gt_train_ids: np.ndarray) -> np.ndarray:
        """Boolean mask of the ground-truth pixels whose class is drivable."""
        return np.isin(gt_train_ids, self._drivable_ids)

    def add_dropped(self, stamp_ns: int) -> None:
        """Count a frame that got no prediction (live mode); it is not scored."""
        self.dropped += 1
        if self.first_dropped_ns is None:
            self.first_dropped_ns = stamp_ns

    def _keep(self, sample: Sample) -> None:
        # Keep every stride-th frame; when twice the wanted number are held, halve them and double the
        # stride, so the kept frames always span the run evenly whatever its length.
        self._kept.append(sample)
        if len(self._kept) >= 2 * self.pictures:
            self._kept = self._kept[::2]
            self._stride *= 2

    @property
    def samples(self) -> list[Sample]:
        """Up to ``pictures`` frames spread evenly over the frames added so far."""
        if len(self._kept) <= self.pictures:
            return list(self._kept)
        picks = np.linspace(0, len(self._kept) - 1, self.pictures).round().astype(int)
        return [self._kept[i] for i in picks]

    @property
    def drivable_iou(self) -> float | None:
        """TP / (TP + FP + FN) of the drivable area; None when neither gt nor prediction has any."""
        tp, fp, fn = self.drivable[1, 1], self.drivable[0, 1], self.drivable[1, 0]
        denominator = tp + fp + fn
        return float(tp / denominator) if denominator else None

    def latency_percentiles(self) -> dict[str, float | None]:
        """{"p50", "p90", "p99"} of the latencies added, in ms (None without any)."""
        if not self.latencies_ms:
            return {f"p{p}": None for p in PERCENTILES}
        values = np.percentile(self.latencies_ms, PERCENTILES)
        return {f"p{p}": float(v) for p, v in zip(PERCENTILES, values, strict=True)}

    def result(self, elapsed_s: float | None = None) -> dict:
        """The metrics dict in ``metrics.json``'s stable key order.

        ``miou``, ``per_class_iou``, ``pixel_accuracy`` (as ``metrics.ConfusionMatrix`` scores them),
        ``drivable_iou``, ``frames`` (scored), ``fps``, ``latency_ms`` {p50, p90, p99}, ``dropped``,
        ``drivable_confusion`` [[tn, fp], [fn, tp]] in pixels, ``ground_truth`` (False: the accuracy
        figures are null and only speed and drops were measured), ``frame_sizes`` {"WxH": frames}. ``fps`` is ``frames / elapsed_s`` when
        given (live: the replay's wall-clock time), else frames per second of summed latency
        (offline: the Segmenter's throughput); None when neither is known.
        """
        scores = self.classes.compute()
        if elapsed_s is not None:
            fps = self.frames / elapsed_s if elapsed_s > 0 else None
        else:
            total_s = math.fsum(self.latencies_ms) / 1e3
            fps = len(self.latencies_ms) / total_s if total_s > 0 else None
        return {
            "miou": scores.miou,
            "per_class_iou": scores.per_class_iou,
            "pixel_accuracy": scores.pixel_accuracy,
            "drivable_iou": self.drivable_iou,
            "frames": self.frames,
            "fps": fps,
            "latency_ms": self.latency_percentiles(),
            "dropped": self.dropped,
            "drivable_confusion": self.drivable.tolist(),
            "ground_truth": self.ground_truth,
            "frame_sizes": {str(size): count for size, count in self.frame_sizes.items()},
        }
