"""Rolling frame-rate and latency statistics plus counters for the node's diagnostics (ROS-free, thread-safe)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StatsSnapshot:
    """What diagnostics report; latencies in milliseconds, NaN before the first frame."""

    fps: float
    latency_p50_ms: float
    latency_p95_ms: float
    model_p50_ms: float
    overhead_p50_ms: float  # latency minus the Segmenter's time: what the node itself adds
    overhead_p95_ms: float
    published: int
    rejected: int
    failed: int
    missed: int  # frames a publisher sent that never reached the node (gaps in its sequence numbers)
    last_error: str
    last_error_age_s: float  # seconds since last_error was noted; infinite when there is none


class FrameStats:
    """Latency percentiles over the last ``window`` frames; fps over the last ``fps_window_s`` seconds."""

    def __init__(self, window: int = 300, fps_window_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._clock = clock
        self._fps_window_s = fps_window_s
        self._latency_ms: deque[float] = deque(maxlen=window)
        self._model_ms: deque[float] = deque(maxlen=window)
        self._overhead_ms: deque[float] = deque(maxlen=window)
        self._done_at: deque[float] = deque()
        self._first_at = float("inf")
        self._published = 0
        self._rejected = 0
        self._failed = 0
        self._missed = 0
        self._last_sequence: dict[object, int] = {}
        self._last_error = ""
        self._last_error_at = float("-inf")

    def record_frame(self, latency_s: float, model_ms: float) -> None:
        """One frame published, ``latency_s`` after it was received; ``model_ms`` of it was the Segmenter."""
        now = self._clock()
        with self._lock:
            self._latency_ms.append(latency_s * 1000.0)
            self._model_ms.append(model_ms)
            self._overhead_ms.append(latency_s * 1000.0 - model_ms)
            self._done_at.append(now)
            self._first_at = min(self._first_at, now)
            self._published += 1
            self._expire(now)

    def record_rejected(self, reason: str) -> None:
        """A malformed input frame was refused."""
        with self._lock:
            self._rejected += 1
            self._note(f"rejected frame: {reason}")

    def record_failure(self, error: str) -> None:
        """Processing a valid frame failed."""
        with self._lock:
            self._failed += 1
            self._note(error)

    def note_sequence(self, publisher, sequence: int | None) -> None:
        """A frame numbered ``sequence`` by ``publisher`` (any hashable key) arrived; count the ones skipped
        since the last from it. None (no usable number) counts nothing and forgets the last number, so
        counting starts afresh; so does a number that does not increase (the publisher restarted)."""
        with self._lock:
            if sequence is None:
                self._last_sequence.pop(publisher, None)
                return
            last = self._last_sequence.get(publisher)
            if last is not None and sequence > last:
                self._missed += sequence - last - 1
            self._last_sequence[publisher] = sequence

    def note_error(self, error: str) -> None:
        """Remember ``error`` as the last error without counting a frame."""
        with self._lock:
            self._note(error)

    def _note(self, error: str) -> None:
        """Remember ``error`` and when (the lock held)."""
        self._last_error, self._last_error_at = error, self._clock()

    def snapshot(self) -> StatsSnapshot:
        """Current figures."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            latency = np.asarray(self._latency_ms, dtype=np.float64)
            model = np.asarray(self._model_ms, dtype=np.float64)
            overhead = np.asarray(self._overhead_ms, dtype=np.float64)
            # Frames per second over the window, or over the time since the first frame while that is
            # shorter (at least 1 s, so one early frame does not read as a huge rate).
            span = min(self._fps_window_s, max(now - self._first_at, 1.0))
            fps = len(self._done_at) / span
            return StatsSnapshot(
                fps=fps,
                latency_p50_ms=_percentile(latency, 50),
                latency_p95_ms=_percentile(latency, 95),
                model_p50_ms=_percentile(model, 50),
                overhead_p50_ms=_percentile(overhead, 50),
                overhead_p95_ms=_percentile(overhead, 95),
                published=self._published,
                rejected=self._rejected,
                failed=self._failed,
                missed=self._missed,
                last_error=self._last_error,
                last_error_age_s=now - self._last_error_at,
            )

    def _expire(self, now: float) -> None:
        while self._done_at and now - self._done_at[0] > self._fps_window_s:
            self._done_at.popleft()


def _percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else float("nan")
