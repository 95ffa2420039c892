"""The ROS-free logic of live bag replay: publish timing and matching the node's answers to frames by stamp."""

import numpy as np
import pytest

from seg_perception.node.frames import FrameError
from seg_perception.bags.replay import MIN_SETTLE_S, AnswerBook, LiveAnswer, PlaybackSchedule

MS = 1_000_000  # ns


class FakeClock:
    """A settable monotonic clock, so latencies and idle times are exact."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def offsets(schedule, messages):
    return [schedule.offset_s(log_ns, is_image) for log_ns, is_image in messages]


# camera_info 1 ms before each image, images 100 ms apart, a jittered one
RECORDED = [(0, False), (1 * MS, True), (100 * MS, False), (101 * MS, True), (230 * MS, False), (231 * MS, True)]


def test_recorded_spacing_is_kept_from_the_first_message():
    assert offsets(PlaybackSchedule(), RECORDED) == pytest.approx([0, 0.001, 0.1, 0.101, 0.23, 0.231])


def test_speed_scales_the_recorded_spacing_like_ros2_bag_play_rate():
    assert offsets(PlaybackSchedule(speed=2.0), RECORDED) == pytest.approx([0, 0.0005, 0.05, 0.0505, 0.115, 0.1155])


def test_a_fixed_rate_spaces_images_evenly_with_camera_info_just_before_its_image():
    # image k at k / 20 Hz; the camera_info recorded before image k goes out in the same slot, first
    assert offsets(PlaybackSchedule(rate_hz=20), RECORDED) == pytest.approx([0, 0, 0.05, 0.05, 0.1, 0.1])
    # without camera_info
    assert offsets(PlaybackSchedule(rate_hz=4), [(0, True), (5 * MS, True), (900 * MS, True)]) == \
        pytest.approx([0, 0.25, 0.5])


@pytest.mark.parametrize("kwargs", [{"rate_hz": 0}, {"rate_hz": -1}, {"speed": 0}, {"speed": float("nan")},
                                    {"rate_hz": float("inf")}])
def test_rate_and_speed_must_be_positive(kwargs):
    with pytest.raises(ValueError, match="must be a positive number"):
        PlaybackSchedule(**kwargs)


def labels(value, shape=(2, 3)):
    return np.full(shape, value, np.uint8)


def answer(book, stamp):
    """The node's two outputs for ``stamp``, labels first."""
    book.receive("labels", stamp, labels(0))
    book.receive("drivable", stamp, labels(0))


def test_a_frame_is_answered_once_labels_and_drivable_mask_are_back_and_latency_is_to_the_labels():
    clock = FakeClock()
    book = AnswerBook(clock)
    book.publishing(1000)
    clock.now += 0.040
    book.receive("labels", 1000, labels(7))
    assert book.answered == 0  # the mask is still missing
    clock.now += 0.005
    book.receive("drivable", 1000, labels(255))
    result = book.result()
    assert (result.published, result.answered, result.dropped) == (1, 1, 0)
    answer = result.answer(1000)
    assert answer.latency_ms == pytest.approx(40.0)
    np.testing.assert_array_equal(answer.labels, labels(7))
    np.testing.assert_array_equal(answer.drivable, labels(255))
    assert result.elapsed_s == pytest.approx(0.045)


def test_an_answer_keeps_the_drivable_mask_as_one_bit_per_pixel_and_gives_it_back_as_published():
    rng = np.random.default_rng(0)
    mask = np.where(rng.random((37, 61)) < 0.4, 255, 0).astype(np.uint8)  # a size not a multiple of 8
    answer = LiveAnswer.of(labels(3, (37, 61)), mask, 12.0)
    assert answer.drivable_bits.nbytes == -(-37 * 61 // 8)
    np.testing.assert_array_equal(answer.drivable, mask)


def test_labels_and_mask_of_different_sizes_leave_the_frame_unanswered_with_the_sizes_named():
    book = AnswerBook(FakeClock())
    book.publishing(5)
    book.receive("labels", 5, labels(1, (4, 6)))
    with pytest.raises(FrameError, match=r"labels \(6x4\) and drivable mask \(8x4\) differ"):
        book.receive("drivable", 5, labels(0, (4, 8)))
    assert book.result().dropped == 1


def test_unanswered_frames_are_dropped_and_foreign_or_repeated_outputs_are_counted_apart():
    clock = FakeClock()
    book = AnswerBook(clock)
    for stamp in (1, 2, 3):
        book.publishing(stamp)
        clock.now += 0.1
    book.receive("drivable", 3, labels(0))
    book.receive("labels", 3, labels(1))
    book.receive("labels", 2, labels(1))  # its mask never comes: not answered
    book.receive("labels", 99, labels(1))  # never replayed
    book.receive("labels", 3, labels(1))  # already answered
    result = book.result()
    assert result.stamps_ns == (1, 2, 3)
    assert (result.published, result.answered, result.dropped, result.unexpected) == (3, 1, 2, 2)
    assert result.answer(1) is None and result.answer(2) is None
    assert result.latencies_ms == pytest.approx([100.0])  # frame 3: published at +0.2 s, labels at +0.3 s


def test_latencies_come_in_publish_order():
    clock = FakeClock()
    book = AnswerBook(clock)
    book.publishing(20)
    book.publishing(10)
    for stamp, delay in ((10, 0.03), (20, 0.01)):
        clock.now += delay
        answer(book, stamp)
    assert book.result().latencies_ms == pytest.approx([40.0, 30.0])


def test_a_stamp_published_twice_is_refused():
    book = AnswerBook(FakeClock())
    book.publishing(5)
    with pytest.raises(ValueError, match="share the header stamp 5 ns"):
        book.publishing(5)


def two_frames_published():
    """(clock, book) with frames 1 and 2 published at the clock's start."""
    clock = FakeClock()
    book = AnswerBook(clock)
    book.publishing(1)
    book.publishing(2)
    return clock, book


def test_drained_when_all_answered_or_idle_for_the_settle_time_after_an_answer():
    clock, book = two_frames_published()
    clock.now += 10.0
    assert not book.drained()  # nothing answered yet: only the caller's timeout ends this
    clock.now += 0.6
    answer(book, 1)  # 10.6 s latency: settle time 3 x that
    clock.now += 3 * 10.6 - 0.1
    assert not book.drained()
    clock.now += 0.2
    assert book.drained()
    book.receive("labels", 99, labels(0))  # a foreign output does not count as activity
    assert book.drained()


def test_the_settle_time_is_at_least_the_minimum_and_completion_ends_at_once():
    clock, book = two_frames_published()
    clock.now += 0.01
    answer(book, 1)
    clock.now += MIN_SETTLE_S - 0.05
    assert not book.drained()
    answer(book, 2)
    assert book.drained()
