"""Whether seg_node answers the frames it is sent: the level and message of its /diagnostics (ROS-free).

``FrameCounts`` are cumulative counters the node samples once a second; ``AnswerWatch``
compares them over a window and says when almost no frame is answered (WARN) or none
has been for a while although a camera is there (ERROR), naming the likely cause.
``assess`` puts these beside the node's other problems in one order of precedence
(docs/ROS_NODE.md, "Diagnostics").
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

#: seconds over which the share of answered frames is measured
WINDOW_S = 5.0
#: below this share of the frames that arrived (or were lost on the way) answered: WARN
MIN_ANSWERED_SHARE = 0.1
#: seconds without an answered frame, while a publisher is there, before ERROR
STALL_S = 10.0
#: seconds after which the last error is no longer reported
ERROR_QUIET_S = 60.0
#: the share of the window the model must have been busy for the model to be the bottleneck
BUSY_SHARE = 0.5
TRANSPORT_LOSS = ("frames are lost before they reach the node: a best-effort camera sending large frames needs "
                  "the Fast DDS profile with a large shared-memory segment (config/fastdds_large_frames.xml) "
                  "in the camera's process")


class Level(IntEnum):
    """diagnostic_msgs/DiagnosticStatus levels."""

    OK = 0
    WARN = 1
    ERROR = 2


@dataclass(frozen=True)
class FrameCounts:
    """The node's cumulative counters at one moment."""

    arrived: int  # frames that reached the node, plus those its publishers sent that never did
    answered: int  # frames processed (published, or skipped because nobody subscribes to any output)
    publishers: int  # publishers on the input topic now


class AnswerWatch:
    """WARN when under MIN_ANSWERED_SHARE of the frames of the last WINDOW_S were answered (or none arrived
    from a publisher that is there); ERROR when a publisher is there and nothing was answered for STALL_S."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._samples: deque[tuple[float, FrameCounts]] = deque()
        self._progress_at = clock()  # the last answer, or when a publisher appeared

    def update(self, counts: FrameCounts, model_ms: float, best_effort: bool) -> tuple[Level, str] | None:
        """Take this second's ``counts``; (level, message) when frames go unanswered, else None.
        ``model_ms``: the model's median time a frame (NaN before the first)."""
        now = self._clock()
        last = self._samples[-1][1] if self._samples else None
        if last is None or counts.answered > last.answered or (counts.publishers and not last.publishers):
            self._progress_at = now
        self._samples.append((now, counts))
        while len(self._samples) > 1 and now - self._samples[1][0] >= WINDOW_S:
            self._samples.popleft()
        if not counts.publishers:
            return None
        stalled_s = now - self._progress_at
        start_at, start = self._samples[0]
        arrived, answered = counts.arrived - start.arrived, counts.answered - start.answered
        if stalled_s >= STALL_S:
            cause = "frames arrive but none is processed" if arrived else f"no frame arrives ({TRANSPORT_LOSS}, " \
                "or the camera is not sending)"
            return Level.ERROR, f"no frame answered for {stalled_s:.0f} s with {_publishers(counts)}: {cause}"
        if now - start_at < WINDOW_S:
            return None  # not a whole window seen yet
        if not arrived:
            return Level.WARN, f"no frame arrived in {WINDOW_S:.0f} s from {_publishers(counts)}: {TRANSPORT_LOSS}, " \
                "or the camera is not sending"
        if answered >= MIN_ANSWERED_SHARE * arrived:
            return None
        busy = answered * model_ms / 1000.0 / WINDOW_S if model_ms == model_ms else 0.0  # NaN: no frame yet
        if busy >= BUSY_SHARE:
            cause = (f"the model is slower than the camera ({arrived / WINDOW_S:.1f} frames/s arrive, the model "
                     f"takes {model_ms:.0f} ms a frame): lower the camera rate or the input size, or use a faster "
                     "backend")
        else:
            cause = TRANSPORT_LOSS if best_effort else "frames are lost before they reach the node"
        return Level.WARN, f"only {answered} of {arrived} frames answered in {WINDOW_S:.0f} s: {cause}"


def _publishers(counts: FrameCounts) -> str:
    return f"{counts.publishers} publisher{'' if counts.publishers == 1 else 's'} on the input"


def error_report(last_error: str, age_s: float) -> str:
    """The ``last_error`` value: the error with its age, '' once ERROR_QUIET_S have passed without another."""
    return f"{last_error} ({age_s:.0f} s ago)" if last_error and age_s < ERROR_QUIET_S else ""


@dataclass(frozen=True)
class Problems:
    """What the node found this second, each '' (or None) when absent."""

    incompatible: str = ""  # the input's QoS cannot match a publisher
    failed: str = ""  # frames failed since the last report: the last error
    rejected: str = ""  # frames rejected since the last report: the last reason
    answers: tuple[Level, str] | None = None  # AnswerWatch's finding
    grid: str = ""  # why the drivable grid is all unknown
    degraded: str = ""  # why the frames look degraded (ConfidenceWatch)
    stretched: str = ""  # the camera's frames are stretched to the model input (inference.aspect)


def assess(problems: Problems, published: int, fps: float) -> tuple[Level, str]:
    """The /diagnostics level and message: the first problem in order of precedence, else OK."""
    answers_error = problems.answers if problems.answers and problems.answers[0] == Level.ERROR else None
    answers_warn = problems.answers if problems.answers and problems.answers[0] == Level.WARN else None
    for found in (
            problems.incompatible and (Level.ERROR, problems.incompatible),
            problems.failed and (Level.ERROR, f"frames failed: {problems.failed}"),
            answers_error,
            problems.rejected and (Level.WARN, problems.rejected),
            answers_warn,
            problems.degraded and (Level.WARN, problems.degraded),
            problems.grid and (Level.WARN, f"drivable grid all unknown: {problems.grid}"),
            problems.stretched and (Level.WARN, problems.stretched)):
        if found:
            return found
    return (Level.OK, "waiting for frames") if published == 0 else (Level.OK, f"{fps:.1f} frames/s")
