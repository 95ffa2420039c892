"""How sure a model is of a whole frame, and the level below which its frames are unusually unsure (ROS-free).

A frame's mean confidence is the mean over its pixels of the top class probability. On frames unlike its
training data (fog, dusk, sensor noise, other streets) a model is less sure and more often wrong: over the
shifted split's frames the default model's mean confidence ranks with its pixel accuracy (docs/EXPERIMENTS.md,
"Knowing when the input is degraded"). seg-train records in the checkpoint the level that fewer than
FLOOR_PERCENTILE % of the model's own validation frames fall below (``ModelSpec.confidence_floor``); seg_node
warns in /diagnostics while its frames stay below it.
"""

from __future__ import annotations

import cv2
import numpy as np

#: the share (%) of the model's validation frames allowed below its floor: one clean frame in twenty
FLOOR_PERCENTILE = 5.0
#: histogram bins over [0, 1]: the floor's resolution
BINS = 1000


def mean_confidence(confidence_map: np.ndarray) -> float:
    """A frame's mean confidence (0..1) from its uint8 confidence map (top class probability x 255)."""
    return float(cv2.mean(confidence_map)[0]) / 255.0


class ConfidenceHistogram:
    """Frame mean confidences counted in BINS bins over [0, 1]; ``counts`` may be summed across processes."""

    def __init__(self):
        self.counts = np.zeros(BINS, dtype=np.int64)

    def add(self, values) -> None:
        """Count frame mean confidences (each in [0, 1]); a non-finite one (a diverged model) is not counted."""
        values = np.asarray(values, dtype=np.float64)
        bins = np.clip((values[np.isfinite(values)] * BINS).astype(np.int64), 0, BINS - 1)
        np.add.at(self.counts, bins, 1)

    def floor(self, percentile: float = FLOOR_PERCENTILE) -> float | None:
        """The lower edge of the bin holding the ``percentile``: fewer than ``percentile`` % of the frames lie
        below it. None without frames."""
        total = int(self.counts.sum())
        if not total:
            return None
        first = int(np.searchsorted(np.cumsum(self.counts), percentile / 100.0 * total, side="left"))
        return first / BINS
