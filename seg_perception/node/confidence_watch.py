"""Whether seg_node's frames look degraded: the model's frame mean confidence against its floor (ROS-free).

The node takes one sample a SAMPLE_PERIOD_S (a frame's mean confidence; the confidence map is computed
for that frame only unless it is published anyway) and warns while the mean of the samples of the last
WINDOW_S lies below the floor: the checkpoint's ``confidence_floor`` (seg_perception.frame_confidence) or
the ``confidence_floor`` parameter. A window, not one frame: one clean frame in twenty lies below the
floor by its definition, fog or night lasts.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from ..inference.preprocess import strong_colour_cast

#: seconds between samples
SAMPLE_PERIOD_S = 1.0
#: seconds of samples averaged
WINDOW_S = 5.0
#: samples needed in the window before anything is said
MIN_SAMPLES = 3
#: the ``confidence_floor`` parameter's value that means "the checkpoint's"
FROM_CHECKPOINT = -1.0
#: the ``input_filter`` setting that filters only while the frames look degraded
WHEN_DEGRADED = "when_degraded"
#: the filter it applies then: on frames below the floor it kept the shifted split's gain of filtering every
#: frame without its cost on clear streets (docs/EXPERIMENTS.md, "Filtering only the frames that look degraded")
DEGRADED_FILTER = "denoise_white_balance"


def effective_floor(parameter: float, checkpoint_floor: float | None) -> float | None:
    """The floor in force: the parameter's when it is in [0, 1] (0 turns the warning off), the checkpoint's
    for FROM_CHECKPOINT; None when there is none or it is 0 (a floor of 0 could never warn)."""
    floor = checkpoint_floor if parameter == FROM_CHECKPOINT else parameter
    return floor or None


def gated_filter(setting: str, degraded: bool, sample: bool, image: np.ndarray | None) -> str:
    """The input filter for the next frame: ``setting`` itself, unless it is WHEN_DEGRADED; then
    DEGRADED_FILTER while the frames look ``degraded`` or when the frame ``image`` has a strong colour cast
    (``inference.preprocess.strong_colour_cast``: the confidence gate missed over half the frames under sodium
    street lights), but never on a ``sample`` frame: the watch judges the camera's frames as they come, or a
    filter that lifts their confidence would switch itself off. ``image`` None: no frame is judged (the
    setting in general, or no confidence floor in force, without which WHEN_DEGRADED never filters)."""
    if setting != WHEN_DEGRADED:
        return setting
    if sample:
        return "none"
    return DEGRADED_FILTER if degraded or (image is not None and strong_colour_cast(image)) else "none"


class ConfidenceWatch:
    """Samples of frame mean confidence (from the frame worker) and their recent mean (from the timer)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, float]] = deque()
        self._sampled_at = float("-inf")

    def due(self) -> bool:
        """Whether the next frame should be sampled (a sample period has passed since the last sample)."""
        with self._lock:
            return self._clock() - self._sampled_at >= SAMPLE_PERIOD_S

    def add(self, mean_confidence: float) -> None:
        """One frame's mean confidence, in [0, 1]."""
        now = self._clock()
        with self._lock:
            self._sampled_at = now
            self._samples.append((now, mean_confidence))
            self._expire(now)

    def mean(self) -> float | None:
        """The mean of the last WINDOW_S's samples; None with fewer than MIN_SAMPLES of them."""
        with self._lock:
            self._expire(self._clock())
            if len(self._samples) < MIN_SAMPLES:
                return None
            return sum(value for _, value in self._samples) / len(self._samples)

    def clear(self) -> None:
        """Forget the samples (the floor was turned off: what they said no longer applies)."""
        with self._lock:
            self._samples.clear()
            self._sampled_at = float("-inf")

    @staticmethod
    def problem(mean: float | None, floor: float | None) -> str:
        """Why frames of recent ``mean`` confidence look degraded against ``floor`` ('' when they do not, or
        without a floor or a mean)."""
        if floor is None or mean is None or mean >= floor:
            return ""
        return (f"input looks degraded: mean confidence {mean:.3f} over the last {WINDOW_S:.0f} s is below the "
                f"model's floor {floor:.3f} (fog, darkness, glare, noise, blur, a dirty lens, or streets unlike "
                "its training data); its labels and drivable area are less reliable")

    def _expire(self, now: float) -> None:
        # The window is (now - WINDOW_S, now]: at one sample a second it holds WINDOW_S samples, whenever
        # in the second the diagnostics timer reads it, and seg-bag-eval, reading at the sample, sees the same.
        while self._samples and now - self._samples[0][0] >= WINDOW_S:
            self._samples.popleft()
