"""The ROS-free logic of live bag replay: publish timing, matching the node's answers to frames by stamp, and
scoring them while the replay runs."""

import threading
import time

import numpy as np
import pytest

from seg_perception.bags import messages
from seg_perception.bags.evaluation import BagEvaluation
from seg_perception.bags.grids import BagGrids
from seg_perception.bags.reader import BagError, BagReader
from seg_perception.bags.replay import (
    MIN_SETTLE_S, AnswerBook, LiveScoring, PlaybackSchedule, ReplayStopped)
from seg_perception.bags.scoring import Prediction, answer_predictor, score_bag
from seg_perception.bags.writer import BagWriter
from seg_perception.labels import CLASS_NAMES
from seg_perception.navigation import CameraMount, GridSpec
from seg_perception.node.frames import FrameError

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


# --- handing answers to a scorer while the replay runs ------------------------------------------------

def test_take_gives_an_answer_once_and_gives_up_on_a_frame_a_later_answer_overtook():
    clock = FakeClock()
    book = AnswerBook(clock)
    for stamp in (1, 2, 3):
        book.publishing(stamp)
    answer(book, 2)  # seg_node answers in publish order: frame 1 was skipped
    assert book.held == 1
    assert book.take(1) is None
    assert book.take(2).labels.shape == (2, 3) and book.held == 0
    answer(book, 1)  # an answer after its frame was given up: late, not answered
    result = book.result()  # closes the book: nothing more comes
    assert book.take(3) is None
    assert (result.published, result.answered, result.dropped, result.late, result.unexpected) == (3, 1, 2, 1, 0)
    assert result.answers == {} and result.latencies_ms == [0.0]  # taken answers are not kept


def run_in_thread(function):
    """Start ``function`` on a thread; returns (thread, box) where box[0] is its result or exception."""
    box = []

    def run():
        try:
            box.append(function())
        except BaseException as error:
            box.append(error)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def test_take_waits_for_the_answer_and_a_stop_ends_the_wait():
    book = AnswerBook(FakeClock())
    book.publishing(1)
    thread, box = run_in_thread(lambda: book.take(1))
    time.sleep(0.05)
    assert thread.is_alive()  # neither answered nor given up yet
    answer(book, 1)
    thread.join(5)
    assert box[0].latency_ms == 0.0
    book.publishing(2)
    thread, box = run_in_thread(lambda: book.take(2))
    book.stop("the replay failed")
    thread.join(5)
    assert isinstance(box[0], ReplayStopped) and book.stopped == "the replay failed"
    with pytest.raises(ReplayStopped):
        book.wait_start()


SIZE = (64, 32)


def write_scored_bag(path, count: int = 9):
    """A bag of ``count`` frames with camera_info and ground truth; the ground truth of frame 0 is logged after
    the image of frame 2, so the scorer meets frames in another order than they are published."""
    with BagWriter(path) as bag:
        for topic, msgtype in (("/camera/camera_info", messages.CAMERA_INFO), ("/camera/image_raw", messages.IMAGE),
                               ("/camera/semantic_gt", messages.IMAGE)):
            bag.add_topic(topic, msgtype)
        rng = np.random.default_rng(7)
        for index in range(count):
            header = messages.make_header(10**18 + index * 10**8, "camera")
            rgb = rng.integers(0, 256, (SIZE[1], SIZE[0], 3), np.uint8)
            log = 10**9 * (index + 1)
            bag.write("/camera/camera_info", messages.camera_info_msg(*SIZE, header), log)
            bag.write("/camera/image_raw", messages.image_msg(rgb, "rgb8", header), log + 1)
            truth = np.where(rng.random(rgb.shape[:2]) < 0.1, 255, rgb[..., 1] % 19).astype(np.uint8)
            bag.write("/camera/semantic_gt", messages.image_msg(truth, "mono8", header), log + (2 if index else 3 * 10**9))
    return path


def node_answer(stamp: int) -> Prediction:
    """What the pretend node answers to frame ``stamp``: any labels, the drivable mask of its road."""
    labels = np.random.default_rng(stamp % 1000).integers(0, 20, (SIZE[1], SIZE[0]), np.uint8)  # 19 = unknown
    return Prediction(labels, np.where(labels == 0, 255, 0).astype(np.uint8), float(stamp % 97))


def scoring(path, predict):
    """One pass of seg-bag-eval's scoring over the bag: (evaluation, grids)."""
    evaluation = BagEvaluation(CLASS_NAMES, ("road",), pictures=2)
    grids = BagGrids(CLASS_NAMES, ("road",), GridSpec(), CameraMount(), "/camera/camera_info")
    with BagReader(path) as reader:
        score_bag(reader, evaluation, predict, "/camera/image_raw", "/camera/semantic_gt", 9, grids=grids,
                  progress=False)
    return evaluation, grids


def test_scoring_answers_as_they_come_gives_the_figures_of_scoring_them_all_after_the_replay(tmp_path):
    bag = write_scored_bag(tmp_path / "bag")
    with BagReader(bag) as reader:
        stamps = [messages.stamp_ns(reader.deserialize(m).header) for m in reader.messages(["/camera/image_raw"])]
    dropped = {stamps[1], stamps[2], stamps[5], stamps[-1]}
    # Before: every answer held until the replay ended, then looked up by stamp.
    held = {stamp: node_answer(stamp) for stamp in stamps if stamp not in dropped}
    before, before_grids = scoring(bag, lambda item: held.get(item.stamp_ns))

    clock = FakeClock()
    book = AnswerBook(clock)
    with LiveScoring(book, lambda: scoring(bag, answer_predictor(book))) as live:
        book.starting(None)
        for stamp in stamps:
            book.publishing(stamp)
            if stamp in dropped:
                continue
            clock.now += node_answer(stamp).latency_ms / 1e3
            book.receive("labels", stamp, node_answer(stamp).labels)
            book.receive("drivable", stamp, node_answer(stamp).drivable)
            # taken as soon as it is known, past the dropped frames before it: nothing piles up (frame 0
            # waits for its ground truth, logged after frame 2)
            deadline = time.monotonic() + 10
            while book.held > (stamp == stamps[0]) and time.monotonic() < deadline:
                time.sleep(0.005)
            assert book.held <= (stamp == stamps[0])
        replay = book.result()
    after, after_grids = live.result()

    assert (replay.published, replay.answered, replay.dropped, replay.late) == (9, 5, 4, 0)
    figures, expected = after.result(elapsed_s=2.0), before.result(elapsed_s=2.0)
    assert figures.pop("latency_ms") == pytest.approx(expected.pop("latency_ms"))
    assert figures == expected
    assert (after.frames, after.dropped) == (5, 4) and after.result()["miou"] is not None
    assert after_grids.result() == before_grids.result() and after_grids.agreement.frames == 5
    assert [s.stamp_ns for s in after.samples] == [s.stamp_ns for s in before.samples]
    for new, old in zip(after.samples, before.samples):
        for name in ("image", "labels", "drivable", "gt"):
            np.testing.assert_array_equal(getattr(new, name), getattr(old, name))


def test_a_failed_scoring_stops_the_replay_and_is_what_is_raised(tmp_path):
    book = AnswerBook()

    def fail():
        book.wait_start()
        raise BagError("bag: /camera/semantic_gt at stamp 1: bad ground truth")

    with pytest.raises(BagError, match="bad ground truth"):
        with LiveScoring(book, fail):
            book.starting(None)
            deadline = time.monotonic() + 10
            while not book.stopped and time.monotonic() < deadline:  # the replay polls this between frames
                time.sleep(0.005)
            assert book.stopped == "scoring failed: bag: /camera/semantic_gt at stamp 1: bad ground truth"
            raise RuntimeError("stopped")  # what the replay raises on seeing it


def test_a_failed_or_interrupted_replay_stops_the_scoring_and_keeps_its_own_error():
    for error in (RuntimeError("the node exited"), KeyboardInterrupt()):
        book = AnswerBook()
        scoring = LiveScoring(book, lambda: book.take(book.wait_start() or 1))
        with pytest.raises(type(error)):
            with scoring:
                book.starting(None)
                book.publishing(1)
                raise error
        assert book.stopped and not scoring._thread.is_alive()
