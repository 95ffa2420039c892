"""ROS-free logic of live bag replay: when to publish each recorded message, and which answer is whose.

``seg_perception.ros.live_replay`` publishes a bag's camera topics into a
running ``seg_node`` and collects its outputs; the timing rule
(``PlaybackSchedule``), the bookkeeping that matches outputs to replayed
frames by header stamp and hands each to a scorer as soon as it is known
(``AnswerBook``, giving a ``LiveReplay``), and the scoring thread beside the
replay (``LiveScoring``) live here so they are tested without a ROS graph.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from ..node.contract import NodeStatus
from ..node.frames import FrameError

#: The node's outputs a frame needs to count as answered (``contract.LABELS``, ``contract.DRIVABLE_MASK``).
OUTPUTS = ("labels", "drivable")
#: Without new outputs for this long (or 3 x the slowest answer, if longer), the node is idle.
MIN_SETTLE_S = 1.0
T = TypeVar("T")


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
    """The node's outputs for one replayed frame."""

    labels: np.ndarray  # H x W uint8 trainIds (segmentation/labels)
    drivable: np.ndarray  # H x W uint8, non-zero = drivable (segmentation/drivable_mask)
    latency_ms: float  # publish of the input -> receipt of its labels

    @classmethod
    def of(cls, labels: np.ndarray, drivable: np.ndarray, latency_ms: float) -> "LiveAnswer":
        """An answer from the node's labels and drivable mask (H x W uint8 each)."""
        if labels.shape != drivable.shape:
            raise FrameError(f"its labels ({labels.shape[1]}x{labels.shape[0]}) and drivable mask "
                             f"({drivable.shape[1]}x{drivable.shape[0]}) differ in size")
        return cls(labels, drivable, latency_ms)


@dataclass(frozen=True)
class LiveReplay:
    """What a live replay gave: every published image stamp, which were answered and how fast.

    A frame counts as answered when both its labels and its drivable mask came back;
    the others are ``dropped`` (the node is latest-frame-wins: under a replay faster
    than the model it skips frames, which is information, not an error).
    """

    stamps_ns: tuple[int, ...]  # published images, in publish order
    answers: Mapping[int, LiveAnswer]  # stamp_ns -> answer, of the answered frames nobody took (AnswerBook.take)
    latency_by_stamp: Mapping[int, float]  # stamp_ns -> end-to-end latency in ms, every answered frame
    elapsed_s: float  # first publish to the last answer
    unexpected: int  # outputs whose stamp was never replayed (another source on the input topic)
    node_log: Path | None = None  # the started node's log, when the replay started one
    node_status: NodeStatus | None = None  # the node's last /diagnostics (backend, model, ...)
    late: int = 0  # answers that came after ``take`` had given their frame up as dropped (not counted answered)

    @property
    def published(self) -> int:
        """Images published."""
        return len(self.stamps_ns)

    @property
    def answered(self) -> int:
        """Images with labels and a drivable mask back."""
        return len(self.latency_by_stamp)

    @property
    def dropped(self) -> int:
        """Images the node never answered."""
        return self.published - self.answered

    def answer(self, stamp_ns: int) -> LiveAnswer | None:
        """The node's answer to the image stamped ``stamp_ns``; None when it never answered, or when the
        answer was taken (and scored) during the replay."""
        return self.answers.get(stamp_ns)

    @property
    def latencies_ms(self) -> list[float]:
        """End-to-end latency of every answered frame, in publish order."""
        return [self.latency_by_stamp[s] for s in self.stamps_ns if s in self.latency_by_stamp]


class ReplayStopped(RuntimeError):
    """The replay ended before it could say what became of a frame (it failed or was interrupted)."""


class AnswerBook:
    """Matches the node's outputs to replayed frames by header stamp (thread-safe), and hands them over.

    The publishing thread calls ``starting`` once, before the first frame, then ``publishing``
    right before it publishes each frame; the executor thread hands in each output with
    ``receive``. ``drained`` says when the replay can stop waiting; ``result`` closes the book
    and freezes everything into a ``LiveReplay``.

    A consumer on a third thread scores the answers while the replay runs: ``wait_start``
    gives the answering node's status, ``take`` each frame's answer as soon as it is known
    (and forgets it: answers are held only until taken, so memory stays bounded however long
    the replay). ``stop`` ends a replay whose consumer failed, or a consumer whose replay failed.
    Answers nobody takes are kept for ``result`` (``replay_live`` without a consumer).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._changed = threading.Condition()  # guards everything below; notified on every change
        self._published: dict[int, tuple[int, float]] = {}  # stamp -> (publish index, publish time)
        self._partial: dict[int, dict[str, np.ndarray]] = {}
        self._label_at: dict[int, float] = {}
        self._waiting: dict[int, LiveAnswer] = {}  # answered, not yet taken
        self._latency_ms: dict[int, float] = {}  # every answered frame
        self._given_up: set[int] = set()  # frames ``take`` reported unanswered
        self._newest_answered = -1  # publish index of the newest answered frame
        self._slowest_ms = 0.0
        self._unexpected = 0
        self._late = 0
        self._last_activity = -math.inf
        self._last_answer = -math.inf
        self._started = False
        self._node_status: NodeStatus | None = None
        self._closed = False  # no answer comes any more (result was called)
        self._stopped: str | None = None  # why the replay or its consumer gave up

    def starting(self, node_status: NodeStatus | None) -> None:
        """The replay is about to publish its first frame, to the node that last reported ``node_status``
        (None: it reported nothing yet)."""
        with self._changed:
            self._started, self._node_status = True, node_status
            self._changed.notify_all()

    def wait_start(self) -> NodeStatus | None:
        """Block until the replay starts; the answering node's status then. ReplayStopped if it never starts."""
        with self._changed:
            self._changed.wait_for(lambda: self._started or self._closed or self._stopped)
            self._raise_if_stopped()
            return self._node_status

    def publishing(self, stamp_ns: int) -> None:
        """Frame ``stamp_ns`` is published now; a stamp published twice raises ValueError (ambiguous answers)."""
        with self._changed:
            if stamp_ns in self._published:
                raise ValueError(f"two images share the header stamp {stamp_ns} ns; live replay matches the "
                                 "node's outputs to frames by stamp, so every image needs its own")
            self._last_activity = self._clock()
            self._published[stamp_ns] = (len(self._published), self._last_activity)

    def receive(self, output: str, stamp_ns: int, array: np.ndarray) -> None:
        """The node sent ``output`` (one of OUTPUTS) for the frame stamped ``stamp_ns``."""
        now = self._clock()
        with self._changed:
            if self._closed or self._stopped:
                return
            if stamp_ns not in self._published or stamp_ns in self._latency_ms:
                # Not ours (or a repeat): no activity either, so a busy foreign source cannot keep a replay open.
                self._unexpected += 1
                return
            self._last_activity = now
            parts = self._partial.setdefault(stamp_ns, {})
            parts[output] = array
            if output == "labels":
                self._label_at[stamp_ns] = now
            if len(parts) < len(OUTPUTS):
                return
            del self._partial[stamp_ns]
            index, published_at = self._published[stamp_ns]
            latency_ms = (self._label_at.pop(stamp_ns) - published_at) * 1e3
            # A FrameError (sizes differ) leaves the frame unanswered; the caller reports it.
            answer = LiveAnswer.of(parts["labels"], parts["drivable"], latency_ms)
            if stamp_ns in self._given_up:
                self._late += 1
                return
            self._latency_ms[stamp_ns] = latency_ms
            self._waiting[stamp_ns] = answer
            self._newest_answered = max(self._newest_answered, index)
            self._slowest_ms = max(self._slowest_ms, latency_ms)
            self._last_answer = now
            self._changed.notify_all()

    def take(self, stamp_ns: int) -> LiveAnswer | None:
        """The answer to frame ``stamp_ns`` (the book forgets it), blocking until it is known; None when the
        frame will not be answered: a frame published after it has been answered (seg_node answers frames
        in the order they came and never goes back to one it skipped), or the book is closed.
        ReplayStopped when the replay is stopped first."""
        with self._changed:
            while True:
                self._raise_if_stopped()
                answer = self._waiting.pop(stamp_ns, None)
                if answer is not None:
                    return answer
                published = self._published.get(stamp_ns)
                if self._closed or (published is not None and published[0] < self._newest_answered):
                    self._given_up.add(stamp_ns)
                    return None
                self._changed.wait()

    def stop(self, reason: str) -> None:
        """Give up: the publishing thread sees ``stopped`` and ends the replay, ``take`` and ``wait_start``
        raise ReplayStopped, answers still held are dropped."""
        with self._changed:
            self._stopped = self._stopped or reason
            self._waiting.clear()
            self._changed.notify_all()

    @property
    def stopped(self) -> str | None:
        """Why the replay was stopped (``stop``), or None."""
        with self._changed:
            return self._stopped

    def _raise_if_stopped(self) -> None:
        if self._stopped:
            raise ReplayStopped(self._stopped)

    @property
    def answered(self) -> int:
        """Frames answered so far."""
        with self._changed:
            return len(self._latency_ms)

    @property
    def held(self) -> int:
        """Answers received and not yet taken."""
        with self._changed:
            return len(self._waiting)

    def drained(self) -> bool:
        """True once every published frame is answered, or, after at least one answer, once no output has
        come for the settle time: MIN_SETTLE_S or 3 x the slowest answer so far, whichever is longer
        (the node holds at most one frame in flight and one waiting)."""
        with self._changed:
            if len(self._latency_ms) == len(self._published):
                return True
            if not self._latency_ms:
                return False
            return self._clock() - self._last_activity > max(MIN_SETTLE_S, 3 * self._slowest_ms / 1e3)

    def close(self) -> None:
        """No answer comes any more: ``take`` gives None for every frame still unanswered."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def result(self, node_log: Path | None = None, node_status: NodeStatus | None = None) -> LiveReplay:
        """Close the book; everything collected, in publish order."""
        self.close()
        with self._changed:
            stamps = tuple(self._published)
            first = min((at for _, at in self._published.values()), default=0.0)
            elapsed = self._last_answer - first if self._latency_ms else 0.0
            return LiveReplay(stamps, dict(self._waiting), dict(self._latency_ms), elapsed, self._unexpected,
                              node_log, node_status, self._late)


class LiveScoring(Generic[T]):
    """Runs ``score()`` on its own thread while a live replay fills ``book`` (use as a context manager
    around the replay); ``result`` is what ``score`` returned.

    Why a thread beside the replay rather than scoring after it: a frame's answer is only
    small once scored (a confusion matrix, some counts), while holding answers until the end
    costs 2-4 MB each at 2048x1024 (about 1.2 GB for a 500-frame replay). The scorer reads the
    bag itself, a second reader streaming in the bag's order (rosbags' readers are not shared
    across threads), and ``take``s each frame's answer: the ground truth thus comes one frame
    at a time and is never indexed (500 2048x1024 label images are 1 GB too), only the answers
    that arrived before the scorer reached their frame are held, and the publishing thread's
    timing is not disturbed by the scoring. A failed scoring stops the replay (``book.stop``)
    and is raised on leaving the block, where it explains the replay's stop; a failed replay
    stops the scoring.
    """

    def __init__(self, book: AnswerBook, score: Callable[[], T]):
        self._book = book
        self._score = score
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-scoring", daemon=True)

    def _run(self) -> None:
        try:
            self._result = self._score()
        except BaseException as error:  # handed to the thread that leaves the block
            self._error = error
            self._book.stop(f"scoring failed: {error}")

    def __enter__(self) -> LiveScoring[T]:
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if exc_type is None:
            self._book.close()  # normally closed by its result() already
        else:
            self._book.stop(f"the replay failed: {exc_type.__name__}")
        self._thread.join()
        interrupted = exc_type is not None and not issubclass(exc_type, Exception)  # Ctrl-C stays Ctrl-C
        if self._error is not None and not isinstance(self._error, ReplayStopped) and not interrupted:
            raise self._error
        return False

    def result(self) -> T:
        """What ``score`` returned (after the block)."""
        if self._thread.is_alive() or self._error is not None:
            raise RuntimeError("LiveScoring.result() before a successful end of its block")
        return self._result
