"""The confidence floor seg-train measures, the node's watch over frames that stay below it, and seg-bag-eval's
timeline of the same rule along a recording (ROS-free)."""

from types import SimpleNamespace

import numpy as np
import pytest

from seg_perception.bags.confidence_timeline import ConfidenceTimeline
from seg_perception.bags.scoring import SegmenterPredictor
from seg_perception.frame_confidence import BINS, ConfidenceHistogram, mean_confidence
from seg_perception.inference.samples import synthetic_frame
from seg_perception.node.confidence_watch import (
    DEGRADED_FILTER, FROM_CHECKPOINT, MIN_SAMPLES, SAMPLE_PERIOD_S, WHEN_DEGRADED, WINDOW_S, ConfidenceWatch,
    effective_floor, gated_filter)
from street_lights import sodium_lit
from test_health import Clock


def test_the_floor_has_fewer_than_five_percent_of_the_frames_below_it():
    values = np.arange(1, 101) / 100.0  # 0.01 .. 1.00
    histogram = ConfidenceHistogram()
    histogram.add(values)
    assert histogram.floor() == 0.05 and (values < histogram.floor()).sum() == 4
    assert histogram.floor(50.0) == 0.5
    rng = np.random.default_rng(0)
    noisy = rng.uniform(0.4, 0.95, 333)
    histogram = ConfidenceHistogram()
    histogram.add(noisy)
    floor = histogram.floor()
    assert (noisy < floor).mean() < 0.05 <= (noisy < floor + 1.0 / BINS).mean()


def test_histograms_from_several_processes_add_up_to_one_over_all_frames():
    values = np.linspace(0.3, 0.9, 40)
    whole, first, second = ConfidenceHistogram(), ConfidenceHistogram(), ConfidenceHistogram()
    whole.add(values)
    first.add(values[::2])
    second.add(values[1::2])
    first.counts = first.counts + second.counts  # what all_reduce_sum does across ranks
    assert np.array_equal(first.counts, whole.counts) and first.floor() == whole.floor()


def test_no_frames_no_floor_a_diverged_frame_is_not_counted_and_full_confidence_stays_in_range():
    histogram = ConfidenceHistogram()
    assert histogram.floor() is None
    histogram.add([float("nan")])
    assert histogram.floor() is None
    histogram.add([1.0])
    assert histogram.floor() == (BINS - 1) / BINS


def test_a_frames_mean_confidence_is_its_maps_mean_over_255():
    confidence_map = np.array([[255, 0], [128, 127]], dtype=np.uint8)
    assert mean_confidence(confidence_map) == pytest.approx(0.5)


@pytest.mark.parametrize(("parameter", "checkpoint", "expected"), [
    (FROM_CHECKPOINT, 0.74, 0.74), (FROM_CHECKPOINT, None, None), (0.0, 0.74, None), (0.6, 0.74, 0.6),
    (0.6, None, 0.6)])
def test_the_parameter_overrides_the_checkpoints_floor_and_zero_turns_the_warning_off(parameter, checkpoint,
                                                                                      expected):
    assert effective_floor(parameter, checkpoint) == expected


def test_one_sample_a_period_and_nothing_said_before_enough_samples():
    clock = Clock()
    watch = ConfidenceWatch(clock)
    assert watch.due()
    watch.add(0.2)
    clock.now += SAMPLE_PERIOD_S / 2
    assert not watch.due()
    clock.now += SAMPLE_PERIOD_S / 2
    assert watch.due()
    for _ in range(MIN_SAMPLES - 2):
        watch.add(0.2)
        clock.now += SAMPLE_PERIOD_S
    assert watch.mean() is None and watch.problem(watch.mean(), 0.8) == ""
    watch.add(0.5)
    assert watch.mean() == pytest.approx((0.2 * (MIN_SAMPLES - 1) + 0.5) / MIN_SAMPLES)


def test_frames_that_stay_below_the_floor_warn_and_the_warning_ends_when_they_recover():
    clock = Clock()
    watch = ConfidenceWatch(clock)
    for _ in range(int(WINDOW_S)):
        watch.add(0.55)
        clock.now += SAMPLE_PERIOD_S
    message = watch.problem(watch.mean(), 0.75)
    assert message.startswith("input looks degraded: mean confidence 0.550 over the last 5 s is below the "
                              "model's floor 0.750 (fog, darkness")
    assert watch.problem(watch.mean(), 0.5) == "" and watch.problem(watch.mean(), None) == ""
    for _ in range(int(WINDOW_S) + 1):  # the foggy samples leave the window
        watch.add(0.9)
        clock.now += SAMPLE_PERIOD_S
    assert watch.mean() == pytest.approx(0.9) and watch.problem(watch.mean(), 0.75) == ""
    clock.now += 2 * WINDOW_S  # no frames: no samples, nothing said
    assert watch.mean() is None and watch.problem(None, 0.75) == ""
    watch.add(0.3)
    watch.clear()  # the floor turned off: the samples are forgotten and the next frame is sampled
    assert watch.due() and watch.mean() is None


def test_the_window_holds_the_samples_of_the_last_window_s_not_one_more():
    clock = Clock()
    watch = ConfidenceWatch(clock)
    watch.add(0.0)  # at t=0: WINDOW_S old at t=WINDOW_S, so out of the window then
    for _ in range(int(WINDOW_S)):
        clock.now += SAMPLE_PERIOD_S
        watch.add(0.9)
    assert watch.mean() == pytest.approx(0.9)  # read at the sample, as seg-bag-eval does
    clock.now += 0.5
    assert watch.mean() == pytest.approx(0.9)  # read half a second later, as the node's timer may


# --- seg-bag-eval's timeline: the node's rule along a recording's header stamps --------------------------

LATENCY_NS = 30_000_000  # header stamp to the recorder's log time


def _drive(timeline, confidence_at, seconds, hz=10, start_ns=1_700_000_000 * 10**9, stamps=True):
    """Frames at ``hz`` for ``seconds`` (header stamps zero unless ``stamps``, logged ``LATENCY_NS``
    after the time they stand for); the sampled ones get ``confidence_at(t)``."""
    sampled = []
    for index in range(int(seconds * hz) + 1):
        t = index / hz
        stamp = start_ns + round(t * 1e9)
        if timeline.due(stamp if stamps else 0, stamp + LATENCY_NS):
            timeline.add(confidence_at(t))
            sampled.append(t)
    return sampled


def test_the_timeline_warns_where_the_window_mean_of_the_samples_falls_below_the_floor():
    timeline = ConfidenceTimeline(0.75)
    fog = lambda t: 0.5 if 10 <= t < 20 else 0.9  # noqa: E731
    sampled = _drive(timeline, fog, 29.9)
    assert sampled == pytest.approx(list(range(30)))  # one sample a second of header time, not of frames
    result = timeline.result()
    # By hand, windows of 5 samples (t-4 .. t): at t=11 two 0.5s give 0.74 < 0.75, the first warning;
    # after the fog, t=22 still has two (0.74), t=23 one (0.82): the warning ends there.
    assert result["degraded_spans"] == [[11.0, 23.0]] and result["degraded_s"] == 12.0
    assert result["samples"] == 30 and result["samples_below_floor"] == 10 and result["samples_judged"] == 28
    assert result["median_confidence"] == 0.9 and result["floor"] == 0.75 and result["clock"] == "header stamp"
    assert [mean for _, _, mean in timeline.samples[:3]] == [None, None, pytest.approx(0.9)]  # MIN_SAMPLES


def test_a_stretch_still_degraded_at_the_end_closes_at_the_last_frame_and_stamps_going_back_hold_the_clock():
    timeline = ConfidenceTimeline(0.8)
    _drive(timeline, lambda t: 0.3, 4.95)  # degraded from the start: warned from the third sample, t=2
    assert timeline.result()["degraded_spans"] == [[2.0, 4.9]]
    start = 1_700_000_000 * 10**9
    # A frame stamped back at t=1, logged next (a camera that resends an old frame): the clock stays at 4.9.
    assert not timeline.due(start + 1_000_000_000, start + 5_000_000_000 + LATENCY_NS)
    assert timeline.result()["degraded_spans"] == [[2.0, 4.9]]
    assert timeline.due(start + 5_900_000_000, start + 5_900_000_000 + LATENCY_NS)
    timeline.add(0.3)
    assert timeline.samples[-1][0] == pytest.approx(5.9) and timeline.result()["degraded_spans"] == [[2.0, 5.9]]
    clean = ConfidenceTimeline(0.8)
    _drive(clean, lambda t: 0.95, 9.9)
    assert clean.result()["degraded_spans"] == [] and clean.result()["degraded_s"] == 0
    short = ConfidenceTimeline(0.8)
    _drive(short, lambda t: 0.3, 1.5)  # two samples: never judged, which is not the same as clean
    assert short.result()["samples_judged"] == 0 and short.result()["samples"] == 2


def test_a_gap_in_the_stamps_longer_than_the_window_ends_a_warned_stretch_at_the_frame_before_it():
    timeline = ConfidenceTimeline(0.8)
    _drive(timeline, lambda t: 0.3, 4.0)  # warned from t=2
    _drive(timeline, lambda t: 0.3, 4.0, start_ns=1_700_000_000 * 10**9 + 60 * 10**9)  # a minute later
    # The node stops warning once its samples expire: the minute without frames is not counted; after the
    # gap the window fills again and the warning returns from the third sample.
    assert timeline.result()["degraded_spans"] == [[2.0, 4.0], [62.0, 64.0]]
    assert timeline.result()["degraded_s"] == 4.0 and timeline.result()["log_timed_steps"] == 0


def _foggy_drive(stamp_s, log_s=lambda index, t: t):
    """30 s at 10 Hz, fog from 10 to 20 s; frame ``index`` at ``t`` seconds is stamped ``stamp_s(index, t)``
    and logged at ``log_s(index, t)`` seconds (plus ``LATENCY_NS``)."""
    fog = lambda t: 0.5 if 10 <= t < 20 else 0.9  # noqa: E731
    start = 1_700_000_000 * 10**9
    timeline = ConfidenceTimeline(0.75)
    for index in range(300):
        t = index / 10
        stamp = stamp_s(index, t)
        if timeline.due(0 if stamp is None else start + round(stamp * 1e9),
                        start + round(log_s(index, t) * 1e9) + LATENCY_NS):
            timeline.add(fog(t))
    return timeline.result()


DAY = 86_400.0


@pytest.mark.parametrize("stamp_s, log_s, log_timed", [
    (lambda i, t: t, lambda i, t: t, 0),
    # corrupt stamps a day ahead: the first frame (every later one would have been before it); two frames
    # in a row, then one alone (each goes out and comes back)
    (lambda i, t: t + DAY if i == 0 else t, lambda i, t: t, 1),
    (lambda i, t: t + DAY if i in (50, 51, 150) else t, lambda i, t: t, 4),
    # stamps that stand still from 12 s: for 4 s, then on at the right time; or to the end; or drop to zero
    (lambda i, t: 12.0 if 12 <= t <= 16 else t, lambda i, t: t, 40),
    (lambda i, t: min(t, 12.0), lambda i, t: t, 179),
    (lambda i, t: None if t >= 25 else t, lambda i, t: t, 50),
    # the log times cannot judge: a stall of the recorder (5 to 11 s logged at once, the stamps honest), a
    # simulation at half real time recorded by wall clock, a converted recording logged at one instant
    (lambda i, t: t, lambda i, t: 11.0 if 5 <= t < 11 else t, 0),
    (lambda i, t: t, lambda i, t: 2 * t, 0),
    (lambda i, t: t, lambda i, t: 0.0, 0),
])
def test_the_stamps_set_the_clock_and_the_log_times_only_where_the_stamps_cannot(stamp_s, log_s, log_timed):
    # Before, one frame stamped a day ahead moved the clock there, and no later frame was sampled.
    result = _foggy_drive(stamp_s, log_s)
    assert result["samples"] == 30 and result["degraded_spans"] == [[11.0, 23.0]]
    assert result["log_timed_steps"] == log_timed


def test_a_recording_whose_header_stamps_are_zero_is_timed_by_its_log_times():
    # Camera drivers that leave header.stamp unset are common; the node times them by arrival, and so
    # does the timeline, by when the recorder received each frame.
    fog = lambda t: 0.5 if 10 <= t < 20 else 0.9  # noqa: E731
    unstamped = ConfidenceTimeline(0.75)
    assert _drive(unstamped, fog, 29.9, stamps=False) == pytest.approx(list(range(30)))
    assert unstamped.result()["degraded_spans"] == [[11.0, 23.0]]
    assert unstamped.result()["clock"] == "log time (the header stamps are zero)"


@pytest.mark.parametrize("setting, degraded, sample, expected", [
    ("none", True, False, "none"),  # a fixed setting is what it says, degraded or not
    ("denoise", False, False, "denoise"),
    ("denoise_white_balance", False, True, "denoise_white_balance"),
    (WHEN_DEGRADED, False, False, "none"),
    (WHEN_DEGRADED, True, False, DEGRADED_FILTER),
    (WHEN_DEGRADED, True, True, "none"),  # the sample is judged as the camera sends it
])
def test_when_degraded_filters_only_degraded_frames_and_never_the_samples(setting, degraded, sample, expected):
    assert gated_filter(setting, degraded, sample, None) == expected


def test_when_degraded_also_filters_a_frame_under_a_strong_colour_cast_but_never_a_sample():
    daylight = synthetic_frame(64, 32, 3)
    sodium = sodium_lit(daylight)
    assert gated_filter(WHEN_DEGRADED, False, False, sodium) == DEGRADED_FILTER  # however sure the model is
    assert gated_filter(WHEN_DEGRADED, False, False, daylight) == "none"
    assert gated_filter(WHEN_DEGRADED, False, True, sodium) == "none"  # the sample is judged as the camera sends it
    assert gated_filter(WHEN_DEGRADED, True, False, daylight) == DEGRADED_FILTER
    assert [gated_filter(setting, False, False, sodium) for setting in ("none", "denoise")] == ["none", "denoise"]


class ScriptedSegmenter:
    """A stand-in for the Segmenter whose confidence map says what ``confidence`` (frame index -> 0..1) says,
    noting the filter each frame was segmented with (the real one is tested in test_bag_eval_cli)."""

    input_size = (4, 2)

    def __init__(self, confidence):
        self.confidence, self.input_filter, self.with_confidence, self.filters = confidence, "none", False, []

    def segment(self, image, bgr=False):
        index = int(image[0, 0, 0])
        self.filters.append(self.input_filter)
        value = np.full((2, 4), round(255 * self.confidence(index)), np.uint8)
        return SimpleNamespace(labels=np.zeros((2, 4), np.uint8), drivable=np.zeros((2, 4), np.uint8),
                               confidence=value if self.with_confidence else None, timings={"total_ms": 1.0})


def test_offline_when_degraded_follows_the_nodes_window_through_recovery_and_a_gap():
    # 10 Hz: clear (0.9) for 3 s, degraded (0.2) until 9 s, clear until 15 s; then a 15 s gap in the recording
    # and 3 s degraded. Floor 0.5, a sample a second (the frames on whole seconds, never filtered).
    seconds = [i / 10 for i in range(151)] + [30 + i / 10 for i in range(31)]

    def confidence(index):
        t = seconds[index]
        return 0.2 if 3 <= t < 9 or t >= 30 else 0.9

    segmenter = ScriptedSegmenter(confidence)
    predictor = SegmenterPredictor(segmenter, ConfidenceTimeline(0.5), input_filter=WHEN_DEGRADED)
    for index, t in enumerate(seconds):
        stamp = round(t * 1e9)
        image = np.full((2, 4, 3), index % 256, np.uint8)
        predictor(SimpleNamespace(frame=SimpleNamespace(image=image, bgr=False), stamp_ns=stamp, log_time_ns=stamp))
    filtered = [round(seconds[i], 1) for i, name in enumerate(segmenter.filters) if name == DEGRADED_FILTER]
    # The window of the last 5 s falls below 0.5 after 5 s (samples 1-5: mean 0.48) and recovers after 11 s
    # (samples 7-11: 0.62); after the gap the old samples have expired, and the third new one (32 s) judges.
    expected = [t for t in seconds if (5 < t < 11 or 32 < t < 33) and t != int(t)]
    assert filtered == pytest.approx(expected) and len(filtered) == predictor.filtered == 54 + 9
    assert set(segmenter.filters) == {"none", DEGRADED_FILTER}


def test_offline_when_degraded_filters_the_frames_of_strong_colour_cast_on_a_clear_recording():
    # 10 Hz for 4 s, every frame sure of itself (0.9, floor 0.5); every third frame under a sodium lamp.
    # Frame i carries i in its first pixel, which the scripted Segmenter reads back.
    segmenter = ScriptedSegmenter(lambda index: 0.9)
    predictor = SegmenterPredictor(segmenter, ConfidenceTimeline(0.5), input_filter=WHEN_DEGRADED)
    daylight = synthetic_frame(64, 32, 3)
    cast = [index % 3 == 1 for index in range(40)]
    for index in range(40):
        image = sodium_lit(daylight) if cast[index] else daylight.copy()
        image[0, 0, 0] = index
        stamp = index * 100_000_000
        predictor(SimpleNamespace(frame=SimpleNamespace(image=image, bgr=False), stamp_ns=stamp, log_time_ns=stamp))
    filtered = [index for index, name in enumerate(segmenter.filters) if name == DEGRADED_FILTER]
    samples = set(range(0, 40, 10))  # a sample a second, judged unfiltered
    assert filtered == [index for index in range(40) if cast[index] and index not in samples]
    assert predictor.filtered == len(filtered) == 13 - 1  # frame 10 is a cast frame and a sample
