"""/diagnostics levels: frames that go unanswered warn, a stall is an error, last_error ages out; precedence."""

import math

from seg_perception.node.health import (
    ERROR_QUIET_S, STALL_S, WINDOW_S, AnswerWatch, FrameCounts, Level, Problems, assess, error_report)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def run(watch, clock, seconds, arrive_per_s, answer_per_s, publishers=1, model_ms=20.0, best_effort=False,
        start=(0, 0)):
    """Feed ``seconds`` of once-a-second samples; returns (the last finding, the counts reached)."""
    arrived, answered = start
    finding = None
    for _ in range(seconds):
        clock.now += 1.0
        arrived, answered = arrived + arrive_per_s, answered + answer_per_s
        finding = watch.update(FrameCounts(arrived, answered, publishers), model_ms, best_effort)
    return finding, (arrived, answered)


def test_frames_answered_keep_it_quiet():
    clock = Clock()
    assert run(AnswerWatch(clock), clock, 20, arrive_per_s=30, answer_per_s=10)[0] is None  # 33 %: a slow model


def test_a_lossy_best_effort_camera_warns_naming_the_fast_dds_profile():
    clock = Clock()
    watch = AnswerWatch(clock)
    finding, counts = run(watch, clock, int(WINDOW_S), arrive_per_s=20, answer_per_s=1, best_effort=True)
    assert finding is None  # not a whole window yet
    level, message = run(watch, clock, 3, arrive_per_s=20, answer_per_s=1, best_effort=True, start=counts)[0]
    assert level == Level.WARN and message.startswith("only 5 of 100 frames answered in 5 s")
    assert "best-effort camera" in message and "fastdds_large_frames.xml" in message


def test_a_model_slower_than_the_camera_warns_so():
    clock = Clock()
    level, message = run(AnswerWatch(clock), clock, 8, arrive_per_s=30, answer_per_s=2, model_ms=450.0)[0]
    assert level == Level.WARN and "the model is slower than the camera (30.0 frames/s arrive" in message
    assert "450 ms" in message


def test_a_publisher_sending_nothing_warns_then_is_an_error_after_the_stall_time():
    clock = Clock()
    watch = AnswerWatch(clock)
    level, message = run(watch, clock, int(WINDOW_S) + 1, arrive_per_s=0, answer_per_s=0)[0]
    assert level == Level.WARN and message.startswith("no frame arrived in 5 s from 1 publisher on the input")
    level, message = run(watch, clock, int(STALL_S - WINDOW_S), arrive_per_s=0, answer_per_s=0)[0]
    assert level == Level.ERROR and message.startswith(f"no frame answered for {STALL_S:.0f} s with 1 publisher")


def test_frames_arriving_but_never_processed_are_an_error():
    clock = Clock()
    level, message = run(AnswerWatch(clock), clock, int(STALL_S) + 1, arrive_per_s=10, answer_per_s=0)[0]
    assert level == Level.ERROR and "frames arrive but none is processed" in message


def test_no_publisher_means_no_finding_and_a_new_one_gets_the_full_stall_time():
    clock = Clock()
    watch = AnswerWatch(clock)
    assert run(watch, clock, 30, 0, 0, publishers=0)[0] is None
    level, _ = run(watch, clock, int(STALL_S) - 1, 0, 0, publishers=1)[0]
    assert level == Level.WARN  # not yet an error: the camera appeared STALL_S - 1 s ago


def test_last_error_shows_its_age_and_clears_after_a_quiet_period():
    assert error_report("rejected frame: bad encoding", 3.2) == "rejected frame: bad encoding (3 s ago)"
    assert error_report("rejected frame: bad encoding", ERROR_QUIET_S) == ""
    assert error_report("", 1.0) == "" and error_report("", math.inf) == ""


def test_precedence_errors_then_rejections_then_unanswered_frames_then_the_grid():
    warn = (Level.WARN, "only 1 of 50 frames answered")
    error = (Level.ERROR, "no frame answered for 10 s")
    everything = Problems(incompatible="QoS", failed="ValueError: x", rejected="rejected frame: y", answers=error,
                          grid="camera looks at the sky")
    assert assess(everything, 5, 1.0) == (Level.ERROR, "QoS")
    assert assess(Problems(failed="ValueError: x", answers=error), 5, 1.0) == (
        Level.ERROR, "frames failed: ValueError: x")
    assert assess(Problems(rejected="rejected frame: y", answers=error), 5, 1.0) == error
    assert assess(Problems(rejected="rejected frame: y", answers=warn), 5, 1.0) == (Level.WARN, "rejected frame: y")
    assert assess(Problems(answers=warn, grid="sky"), 5, 1.0) == warn
    assert assess(Problems(grid="sky"), 5, 1.0) == (Level.WARN, "drivable grid all unknown: sky")
    assert assess(Problems(), 0, 0.0) == (Level.OK, "waiting for frames")
    assert assess(Problems(), 5, 2.0) == (Level.OK, "2.0 frames/s")


def test_degraded_frames_warn_after_lost_frames_and_before_an_all_unknown_grid():
    degraded = "input looks degraded: ..."
    warn = (Level.WARN, "only 1 of 50 frames answered")
    assert assess(Problems(answers=warn, degraded=degraded), 5, 1.0) == warn
    assert assess(Problems(rejected="rejected frame: y", degraded=degraded), 5, 1.0) == (
        Level.WARN, "rejected frame: y")
    assert assess(Problems(degraded=degraded, grid="sky"), 5, 1.0) == (Level.WARN, degraded)


def test_a_stretched_camera_warns_last_of_all():
    stretched = "camera frames of 24x24 (aspect 1.00) are stretched to the model input 64x32 ..."
    assert assess(Problems(grid="sky", stretched=stretched), 5, 1.0) == (Level.WARN, "drivable grid all unknown: sky")
    assert assess(Problems(degraded="input looks degraded", stretched=stretched), 5, 1.0) == (
        Level.WARN, "input looks degraded")
    assert assess(Problems(stretched=stretched), 5, 1.0) == (Level.WARN, stretched)
