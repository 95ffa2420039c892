"""Latest-frame-wins processing on a worker thread (ROS-free).

A camera that outpaces the model must not build a queue: latency would grow
with time. ``LatestFrameWorker`` keeps a single slot. ``submit`` puts a frame
in it (replacing, and counting as dropped, a frame that was still waiting) and
returns at once; one worker thread takes frames from the slot and processes
them. So at most one frame is in flight and one waits. ``max_rate_hz`` caps how
often processing starts; frames arriving faster replace each other in the slot
until the next start is due, so the one processed is always the newest.

``ready`` and ``on_ready`` let a producer that can hold frames back cheaply
offer one only when it would start at once: the node leaves frames in the
middleware while the model runs (taking a 6 MB message costs far more than
receiving it, see docs/BENCHMARKS.md), so it takes only frames it processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestFrameWorker(Generic[T]):
    """Single-slot worker: ``process(item)`` runs on its own thread for the newest submitted item."""

    def __init__(self, process: Callable[[T], None], *, max_rate_hz: float = 0.0,
                 on_error: Callable[[T, Exception], None] | None = None,
                 on_ready: Callable[[], None] | None = None, name: str = "latest-frame-worker"):
        if max_rate_hz < 0:
            raise ValueError(f"max_rate_hz must be >= 0, got {max_rate_hz}")
        self._process = process
        self._on_error = on_error
        self._on_ready = on_ready
        self._max_rate_hz = max_rate_hz
        self._cond = threading.Condition()
        self._slot: T | None = None
        self._has_item = False
        self._busy = False
        self._stopping = False
        self._last_start = -float("inf")
        self.submitted = 0
        self.processed = 0
        self.dropped = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def max_rate_hz(self) -> float:
        """Upper bound on processing starts per second; 0 means unbounded."""
        return self._max_rate_hz

    @max_rate_hz.setter
    def max_rate_hz(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"max_rate_hz must be >= 0, got {value}")
        with self._cond:
            self._max_rate_hz = value
            self._cond.notify_all()  # a worker waiting for the old period re-plans

    @property
    def pending(self) -> int:
        """Frames waiting in the slot (0 or 1)."""
        with self._cond:
            return int(self._has_item)

    @property
    def busy(self) -> bool:
        """Whether a frame is being processed right now."""
        with self._cond:
            return self._busy

    @property
    def ready(self) -> bool:
        """Whether a frame submitted now would start at once: none runs or waits, and max_rate_hz allows it.

        A producer that can hold frames back cheaply (a subscription leaving
        them in the middleware) offers one only when ready, so every frame it
        hands over is processed and is the newest it had.
        """
        with self._cond:
            return self._ready_locked()

    def _ready_locked(self) -> bool:
        return (not self._stopping and not self._busy and not self._has_item
                and time.monotonic() >= self._last_start + self._period())

    def submit(self, item: T) -> bool:
        """Offer ``item``; returns True when it replaced a waiting frame (which is then counted as dropped)."""
        with self._cond:
            if self._stopping:
                raise RuntimeError("worker is stopped")
            replaced = self._has_item
            self._slot, self._has_item = item, True
            self.submitted += 1
            self.dropped += replaced
            self._cond.notify_all()
            return replaced

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing waits or runs (True) or ``timeout`` seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._has_item and not self._busy, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the frame in flight; a waiting frame is discarded. Idempotent."""
        with self._cond:
            self._stopping = True
            self._slot, self._has_item = None, False
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _next_item(self) -> tuple[bool, T | None]:
        announced = False
        while True:
            with self._cond:
                if self._stopping:
                    return False, None
                delay = self._last_start + self._period() - time.monotonic()
                if self._has_item and delay <= 0:
                    item, self._slot, self._has_item = self._slot, None, False
                    self._busy = True
                    self._last_start = time.monotonic()
                    return True, item
                ready = self._ready_locked()
                announced = announced and ready  # readiness lost (a new rate) is announced again when it returns
                announce = ready and not announced and self._on_ready is not None
                if not announce:
                    # newer frames may replace a waiting one meanwhile; a rate wait ends in an announcement
                    self._cond.wait(delay if delay > 0 else None)
                    continue
            announced = True
            self._on_ready()  # outside the lock: the callback may submit at once

    def _period(self) -> float:
        return 1.0 / self._max_rate_hz if self._max_rate_hz > 0 else 0.0

    def _run(self) -> None:
        while True:
            running, item = self._next_item()
            if not running:
                return
            failed = False
            try:
                self._process(item)
            except Exception as exc:  # one bad frame must not stop the worker
                failed = True
                if self._on_error is not None:
                    self._on_error(item, exc)
            finally:
                with self._cond:
                    self._busy = False
                    self.processed += not failed
                    self.failed += failed
                    self._cond.notify_all()
