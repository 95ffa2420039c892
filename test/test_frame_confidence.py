"""The confidence floor seg-train measures, and the node's watch over frames that stay below it (ROS-free)."""

import numpy as np
import pytest

from seg_perception.frame_confidence import BINS, ConfidenceHistogram, mean_confidence
from seg_perception.node.confidence_watch import (
    FROM_CHECKPOINT, MIN_SAMPLES, SAMPLE_PERIOD_S, WINDOW_S, ConfidenceWatch, effective_floor)
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
