"""ROS-free logic of live bag replay: when to publish each recorded message, and which answer is whose.

``seg_perception.ros.live_replay`` publishes a bag's camera topics into a
running ``seg_node`` and collects its outputs; the timing rule
(``PlaybackSchedule``) and the bookkeeping that matches outputs to replayed
frames by header stamp (``AnswerBook``, giving a ``LiveReplay``) live here so
they are tested without a ROS graph.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..node.contract import NodeStatus
from ..node.frames import FrameError

#: The node's outputs a frame needs to count as answered (``contract.LABELS``, ``contract.DRIVABLE_MASK``).
OUTPUTS = ("labels", "drivable")
#: Without new outputs for this long (or 3 x the slowest answer, if longer), the node is idle.
MIN_SETTLE_S = 1.0


class PlaybackSchedule:
    """Publish times of a bag's messages, in seconds after the first one, like ``ros2 bag play``.

    By default messages keep their recorded spacing (log time), divided by ``speed``
    (``ros2 bag play --rate``). With ``rate_hz``, image k goes out at k / ``rate_hz``,
    and every other message (camera_info) just before the image that follows it.
    Call ``offset_s`` for every message in log order.
    """

    def __init__(self, rate_hz: float | None = None, speed: float = 1.0):
        for name, value in (("rate", rate_hz), ("speed", speed)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        self.rate_hz = rate_hz
        self.speed = speed
        self._first_ns: int | None = None
        self._images = 0

    def offset_s(self, log_time_ns: int, is_image: bool) -> float:
        """When to publish the next message (recorded at ``log_time_ns``), relative to the first."""
        if self._first_ns is None:
            self._first_ns = log_time_ns
        if self.rate_hz is None:
            offset = (log_time_ns - self._first_ns) / 1e9 / self.speed
        else:
            offset = self._images / self.rate_hz
        self._images += is_image
        return offset


@dataclass(frozen=True)
class LiveAnswer:
    """The node's outputs for one replayed frame.

    Answers are held until the replay ends, so the drivable mask is kept as one bit per
    pixel (non-zero = drivable, as it is scored): a 2048x1024 answer takes 2.25 MB, not 4.
    """

    labels: np.ndarray  # H x W uint8 trainIds (segmentation/labels)
    drivable_bits: np.ndarray  # np.packbits of segmentation/drivable_mask != 0
    latency_ms: float  # publish of the input -> receipt of its labels

    @classmethod
    def of(cls, labels: np.ndarray, drivable: np.ndarray, latency_ms: float) -> "LiveAnswer":
        """An answer from the node's labels and drivable mask (H x W uint8 each)."""
        if labels.shape != drivable.shape:
            raise FrameError(f"its labels ({labels.shape[1]}x{labels.shape[0]}) and drivable mask "
                             f"({drivable.shape[1]}x{drivable.shape[0]}) differ in size")
        return cls(labels, np.packbits(drivable != 0), latency_ms)

    @property
    def drivable(self) -> np.ndarray:
        """The drivable mask as the node publishes it: H x W uint8, 255 drivable, 0 not."""
        bits = np.unpackbits(self.drivable_bits, count=self.labels.size)
        return (bits * np.uint8(255)).reshape(self.labels.shape)


@dataclass(frozen=True)
class LiveReplay:
    """What a live replay gave: every published image stamp and the answers the node sent back.

    A frame counts as answered when both its labels and its drivable mask came back;
    the others are ``dropped`` (the node is latest-frame-wins: under a replay faster
    than the model it skips frames, which is information, not an error).
    """

    stamps_ns: tuple[int, ...]  # published images, in publish order
    answers: Mapping[int, LiveAnswer]  # stamp_ns -> answer, answered frames only
    elapsed_s: float  # first publish to the last answer
    unexpected: int  # outputs whose stamp was never replayed (another source on the input topic)
    node_log: Path | None = None  # the started node's log, when the replay started one
    node_status: NodeStatus | None = None  # the node's last /diagnostics (backend, model, ...)

    @property
    def published(self) -> int:
        """Images published."""
        return len(self.stamps_ns)

    @property
    def answered(self) -> int:
        """Images with labels and a drivable mask back."""
        return len(self.answers)

    @property
    def dropped(self) -> int:
        """Images the node never answered."""
        return self.published - self.answered

    def answer(self, stamp_ns: int) -> LiveAnswer | None:
        """The node's answer to the image stamped ``stamp_ns``, or None when it never answered."""
        return self.answers.get(stamp_ns)

    @property
    def latencies_ms(self) -> list[float]:
        """End-to-end latency of every answered frame, in publish order."""
        return [self.answers[s].latency_ms for s in self.stamps_ns if s in self.answers]


class AnswerBook:
    """Matches the node's outputs to replayed frames by header stamp (thread-safe).

    The publishing thread calls ``publishing`` right before it publishes a frame; the
    executor thread hands in each output with ``receive``. ``drained`` says when the
    replay can stop waiting; ``result`` freezes everything into a ``LiveReplay``.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._published_at: dict[int, float] = {}
        self._partial: dict[int, dict[str, np.ndarray]] = {}
        self._label_at: dict[int, float] = {}
        self._answers: dict[int, LiveAnswer] = {}
        self._unexpected = 0
        self._last_activity = -math.inf
        self._last_answer = -math.inf

    def publishing(self, stamp_ns: int) -> None:
        """Frame ``stamp_ns`` is published now; a stamp published twice raises ValueError (ambiguous answers)."""
        with self._lock:
            if stamp_ns in self._published_at:
                raise ValueError(f"two images share the header stamp {stamp_ns} ns; live replay matches the "
                                 "node's outputs to frames by stamp, so every image needs its own")
            self._published_at[stamp_ns] = self._last_activity = self._clock()

    def receive(self, output: str, stamp_ns: int, array: np.ndarray) -> None:
        """The node sent ``output`` (one of OUTPUTS) for the frame stamped ``stamp_ns``."""
        now = self._clock()
        with self._lock:
            if stamp_ns not in self._published_at or stamp_ns in self._answers:
                # Not ours (or a repeat): no activity either, so a busy foreign source cannot keep a replay open.
                self._unexpected += 1
                return
            self._last_activity = now
            parts = self._partial.setdefault(stamp_ns, {})
            parts[output] = array
            if output == "labels":
                self._label_at[stamp_ns] = now
            if len(parts) == len(OUTPUTS):
                del self._partial[stamp_ns]
                latency_ms = (self._label_at.pop(stamp_ns) - self._published_at[stamp_ns]) * 1e3
                # A FrameError (sizes differ) leaves the frame unanswered; the caller reports it.
                self._answers[stamp_ns] = LiveAnswer.of(parts["labels"], parts["drivable"], latency_ms)
                self._last_answer = now

    @property
    def answered(self) -> int:
        """Frames answered so far."""
        with self._lock:
            return len(self._answers)

    def drained(self) -> bool:
        """True once every published frame is answered, or, after at least one answer, once no output has
        come for the settle time: MIN_SETTLE_S or 3 x the slowest answer so far, whichever is longer
        (the node holds at most one frame in flight and one waiting)."""
        with self._lock:
            if len(self._answers) == len(self._published_at):
                return True
            if not self._answers:
                return False
            slowest_s = max(answer.latency_ms for answer in self._answers.values()) / 1e3
            return self._clock() - self._last_activity > max(MIN_SETTLE_S, 3 * slowest_s)

    def result(self, node_log: Path | None = None, node_status: NodeStatus | None = None) -> LiveReplay:
        """Everything collected so far, in publish order."""
        with self._lock:
            stamps = tuple(self._published_at)
            first = min(self._published_at.values(), default=0.0)
            elapsed = self._last_answer - first if self._answers else 0.0
            return LiveReplay(stamps, dict(self._answers), elapsed, self._unexpected, node_log, node_status)
