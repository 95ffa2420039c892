"""``ConfidenceTimeline``: where along a recording seg_node would call its input degraded (ROS-free).

Offline seg-bag-eval samples the recording as the node samples its camera: one frame's mean confidence
per ``SAMPLE_PERIOD_S``, judged by the node's own rule (``node.confidence_watch``: the mean of the last
``WINDOW_S`` of samples against the model's floor). Time is the frames' header stamps, so a recording
says where it was foggy, dark or smeared, whatever speed it is evaluated at; a recording whose camera
driver left the stamps at zero is timed by when the recorder received each frame (its log time), as
the node would time it by arrival. The result is what the node's /diagnostics would have said along
the drive: which stretches warned, and for how long.
"""

from __future__ import annotations

import statistics

from ..node.confidence_watch import SAMPLE_PERIOD_S, WINDOW_S, ConfidenceWatch


class ConfidenceTimeline:
    """Frame samples of one recording and the stretches whose window mean lies below ``floor``.

    Call ``due(stamp_ns, log_time_ns)`` for every frame in recording order; for the frames it says yes
    to, compute the confidence map and hand its mean to ``add``. Stamps that go back a little (jitter)
    hold the clock where it was. A gap in the recording longer than the window ends a warned stretch
    at the last frame before it: the node would have stopped warning as its samples expired. Where the
    stamps cannot time a step between frames and the log times can (they advance), the log time times
    it and ``log_timed_steps`` counts it: a stamp step of more than the window that the log step
    disagrees with by more than the window (a corrupt stamp, a camera clock reset, a recording that
    loops), or stamps that stop advancing. So one bad stamp neither stops nor stretches the clock,
    while a stall of the recorder (log times late, stamps honest) changes nothing.
    """

    def __init__(self, floor: float):
        self.floor = floor
        self._now_s = 0.0
        self._watch = ConfidenceWatch(clock=lambda: self._now_s)
        self._first_ns: int | None = None
        # the previous frame's (time, log time); how far the stamps jumped against the log times in the steps
        # the log times timed; and the log time the clock has moved on by while the stamps stand still
        self._previous: tuple[int, int] | None = None
        self._jumped_ns = 0
        self._frozen_ns = 0
        self._log_timed_steps = 0
        #: what the clock reads: the frames' header stamps, or their log times when the first stamp is zero
        self.clock: str | None = None
        #: (seconds since the first frame, the frame's mean confidence, the window mean or None)
        self.samples: list[tuple[float, float, float | None]] = []
        # [start, end] seconds of each stretch the node would have warned through; end None while open
        self._spans: list[list[float | None]] = []

    def due(self, stamp_ns: int, log_time_ns: int) -> bool:
        """Advance the clock to this frame (its header stamp, or its log time if the recording's first
        stamp is zero: an unset header); whether it is to be sampled."""
        if self.clock is None:
            self.clock = "header stamp" if stamp_ns else "log time (the header stamps are zero)"
            self._first_ns = stamp_ns if stamp_ns else log_time_ns
        time_ns = stamp_ns if self.clock == "header stamp" else log_time_ns
        if self._previous is not None:
            self._time_step(time_ns - self._previous[0], log_time_ns - self._previous[1])
        self._previous = (time_ns, log_time_ns)
        seconds = (time_ns - self._first_ns - self._jumped_ns + self._frozen_ns) / 1e9
        if seconds - self._now_s > WINDOW_S and self._open():
            self._spans[-1][1] = self._now_s
        self._now_s = max(self._now_s, seconds)
        return self._watch.due()

    def _time_step(self, step_ns: int, log_step_ns: int) -> None:
        """Let the log time time this step between frames where the stamps cannot and the log times can."""
        if step_ns == 0 and log_step_ns > 0:  # the stamps stand still: the log times carry the clock on
            self._frozen_ns += log_step_ns
            self._log_timed_steps += 1
            return
        # Moving again, the stamps time the stretch they stood still through themselves.
        log_step_ns += self._frozen_ns
        self._frozen_ns = 0
        window_ns = WINDOW_S * 1e9
        # Log times that do not advance (a converted recording) cannot vouch for a step.
        if log_step_ns > 0 and abs(step_ns) > window_ns and abs(step_ns - log_step_ns) > window_ns:
            self._jumped_ns += step_ns - log_step_ns
            self._log_timed_steps += 1

    def _open(self) -> bool:
        return bool(self._spans) and self._spans[-1][1] is None

    def add(self, mean_confidence: float) -> None:
        """The sampled frame's mean confidence (0..1): it joins the window, and the window is judged."""
        self._watch.add(mean_confidence)
        window = self._watch.mean()
        self.samples.append((self._now_s, mean_confidence, window))
        warned = bool(ConfidenceWatch.problem(window, self.floor))
        if warned and not self._open():
            self._spans.append([self._now_s, None])
        elif not warned and self._open():
            self._spans[-1][1] = self._now_s

    def degraded(self) -> bool:
        """Whether the node would now call its input degraded (the window mean, at the last ``due``'s time,
        below the floor): what ``input_filter: when_degraded`` filters by."""
        return bool(ConfidenceWatch.problem(self._watch.mean(), self.floor))

    def closed_spans(self) -> list[list[float]]:
        """The warned stretches; one still open at the end of the recording ends at its last frame."""
        return [[start, self._now_s if end is None else end] for start, end in self._spans]

    def result(self) -> dict:
        """``floor``, ``samples``, ``median_confidence``, ``samples_below_floor`` (single frames),
        ``samples_judged`` (samples with enough others in their window to be judged: 0 for a recording
        too short, or whose stamps do not advance, to say anything), ``degraded_s`` and ``degraded_spans``
        (seconds from the first frame; what the node warns by: the window mean), ``sample_period_s``,
        ``window_s``, ``clock`` (what the seconds are counted by) and ``log_timed_steps``."""
        values = [value for _, value, _ in self.samples]
        spans = [[round(start, 3), round(end, 3)] for start, end in self.closed_spans()]
        return {
            "floor": self.floor,
            "samples": len(values),
            "median_confidence": statistics.median(values) if values else None,
            "samples_below_floor": sum(value < self.floor for value in values),
            "samples_judged": sum(window is not None for _, _, window in self.samples),
            "degraded_s": round(sum(end - start for start, end in spans), 3),
            "degraded_spans": spans,
            "sample_period_s": SAMPLE_PERIOD_S,
            "window_s": WINDOW_S,
            "clock": self.clock,
            "log_timed_steps": self._log_timed_steps,
        }
