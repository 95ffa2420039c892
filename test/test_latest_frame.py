"""Latest-frame-wins worker and rolling statistics, without ROS."""

import math
import threading
import time

import pytest
from ros_helpers import wait_for

from seg_perception.node.frame_stats import FrameStats
from seg_perception.node.latest_frame import LatestFrameWorker


class Gate:
    """A process function that blocks until released, recording what it processed."""

    def __init__(self):
        self.started = threading.Event()
        self.release = threading.Event()
        self.seen = []

    def __call__(self, item):
        self.seen.append(item)
        self.started.set()
        assert self.release.wait(10)


@pytest.fixture
def gated():
    gate = Gate()
    worker = LatestFrameWorker(gate)
    yield gate, worker
    gate.release.set()
    worker.stop()


def test_only_the_newest_waiting_frame_is_processed_and_the_rest_are_counted_as_dropped(gated):
    gate, worker = gated
    worker.submit(0)
    assert gate.started.wait(5)  # frame 0 in flight
    replaced = [worker.submit(i) for i in range(1, 6)]
    assert replaced == [False, True, True, True, True]
    assert worker.pending == 1 and worker.busy
    gate.release.set()
    assert worker.wait_idle(5)
    assert gate.seen == [0, 5]
    assert (worker.submitted, worker.processed, worker.dropped) == (6, 2, 4)


def test_queue_stays_bounded_under_a_producer_much_faster_than_the_consumer():
    processed = []
    worker = LatestFrameWorker(lambda item: (time.sleep(0.02), processed.append(item)))
    try:
        for i in range(500):
            worker.submit(i)
            assert worker.pending <= 1
            time.sleep(0.0005)
        assert worker.wait_idle(5)
    finally:
        worker.stop()
    assert processed[-1] == 499  # the last frame is never lost
    assert processed == sorted(processed)
    assert worker.processed + worker.dropped == worker.submitted == 500
    assert worker.dropped > 300


def test_errors_are_reported_and_the_next_frame_is_processed():
    errors = []
    done = []

    def process(item):
        if item == "bad":
            raise ValueError("broken frame")
        done.append(item)

    worker = LatestFrameWorker(process, on_error=lambda item, exc: errors.append((item, str(exc))))
    try:
        worker.submit("bad")
        assert worker.wait_idle(5)
        worker.submit("good")
        assert worker.wait_idle(5)
    finally:
        worker.stop()
    assert errors == [("bad", "broken frame")]
    assert done == ["good"]
    assert (worker.processed, worker.failed) == (1, 1)


def test_max_rate_spaces_processing_starts_and_keeps_the_newest_frame():
    starts = []
    worker = LatestFrameWorker(lambda item: starts.append((time.monotonic(), item)), max_rate_hz=20.0)
    try:
        deadline = time.monotonic() + 0.5
        i = 0
        while time.monotonic() < deadline:
            worker.submit(i)
            i += 1
            time.sleep(0.002)
        assert worker.wait_idle(5)
    finally:
        worker.stop()
    gaps = [b[0] - a[0] for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 0.05 - 0.005
    assert 7 <= len(starts) <= 12  # about 0.5 s x 20 Hz
    assert starts[-1][1] == i - 1
    assert worker.dropped == i - len(starts)


def test_max_rate_can_change_while_running():
    starts = []
    worker = LatestFrameWorker(lambda item: starts.append(time.monotonic()), max_rate_hz=1.0)
    try:
        worker.submit(0)
        assert worker.wait_idle(5)
        worker.submit(1)  # due only 1 s after the first start
        time.sleep(0.1)
        assert worker.pending == 1
        worker.max_rate_hz = 0.0
        assert worker.wait_idle(1)
    finally:
        worker.stop()
    assert len(starts) == 2 and starts[1] - starts[0] < 0.5


def test_a_producer_offering_frames_only_when_ready_loses_none_to_the_slot():
    """The node's gated intake: a frame is handed over only on ``on_ready``, so each one is processed."""
    ready = threading.Event()
    processed = []
    worker = LatestFrameWorker(lambda item: (time.sleep(0.02), processed.append(item)), on_ready=ready.set)
    try:
        offered = 0
        for newest in range(200):  # a camera 10x faster than the worker; frames it may not hand over are skipped
            if ready.is_set():
                assert worker.ready and not worker.busy and worker.pending == 0
                ready.clear()
                worker.submit(newest)
                offered += 1
                assert not worker.ready  # one waits or runs: closed until the worker is done
            time.sleep(0.002)
        assert worker.wait_idle(5)
    finally:
        worker.stop()
    assert worker.dropped == 0 and processed == sorted(processed) and len(processed) == offered
    assert 5 <= offered <= 40  # about 0.4 s of camera / 20 ms per frame


def test_ready_waits_for_the_rate_period_and_is_announced_when_it_ends():
    announced = []
    worker = LatestFrameWorker(lambda item: None, max_rate_hz=5.0, on_ready=lambda: announced.append(time.monotonic()))
    try:
        assert wait_for(lambda: announced, 5)  # ready at start, announced once
        worker.submit(0)
        started = time.monotonic()
        assert wait_for(lambda: len(announced) == 2, 2)
        assert announced[1] - started >= 0.2 - 0.01  # not before the next start is due
        assert worker.ready
        time.sleep(0.3)
        assert len(announced) == 2  # once per readiness, however long nobody submits
        worker.max_rate_hz = 1.0  # the next start is now due 1 s after the last: not ready until then
        assert not worker.ready
        assert wait_for(lambda: len(announced) == 3, 2) and announced[2] - started >= 1.0 - 0.01
    finally:
        worker.stop()


def test_stop_discards_the_waiting_frame_and_refuses_new_ones(gated):
    gate, worker = gated
    worker.submit(1)
    assert gate.started.wait(5)
    worker.submit(2)
    gate.release.set()
    worker.stop()
    assert gate.seen == [1]
    with pytest.raises(RuntimeError):
        worker.submit(3)


def test_negative_rate_is_refused():
    with pytest.raises(ValueError):
        LatestFrameWorker(lambda item: None, max_rate_hz=-1)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_stats_percentiles_fps_and_counters():
    clock = FakeClock()
    stats = FrameStats(window=100, fps_window_s=5.0, clock=clock)
    empty = stats.snapshot()
    assert empty.fps == 0 and math.isnan(empty.latency_p50_ms) and empty.published == 0
    for i in range(100):  # 10 frames/s for 10 s, latency 10..109 ms
        clock.now += 0.1
        stats.record_frame((10 + i) / 1000, model_ms=5.0)
    snap = stats.snapshot()
    assert snap.fps == pytest.approx(10.0, rel=0.05)
    assert snap.latency_p50_ms == pytest.approx(59.5)
    assert snap.latency_p95_ms == pytest.approx(104.05)
    assert snap.model_p50_ms == 5.0 and snap.published == 100
    assert snap.overhead_p50_ms == pytest.approx(54.5) and snap.overhead_p95_ms == pytest.approx(99.05)
    clock.now += 10  # stream stopped: the rate decays to zero, the totals stay
    assert stats.snapshot().fps == 0 and stats.snapshot().published == 100


def test_stats_latency_window_forgets_old_frames():
    stats = FrameStats(window=10)
    for _ in range(10):
        stats.record_frame(1.0, 1.0)
    for _ in range(10):
        stats.record_frame(0.001, 1.0)
    assert stats.snapshot().latency_p95_ms == pytest.approx(1.0)


def test_stats_early_rate_is_over_the_time_since_the_first_frame():
    clock = FakeClock()
    stats = FrameStats(fps_window_s=5.0, clock=clock)
    for _ in range(40):  # 20 frames/s for 2 s, then 1 s of silence
        clock.now += 0.05
        stats.record_frame(0.01, 1.0)
    clock.now += 1
    assert stats.snapshot().fps == pytest.approx(40 / 2.95)


def test_stats_count_the_frames_missing_from_each_publishers_sequence():
    stats = FrameStats()
    for publisher, sequence in [("a", 10), ("a", 11), ("a", 15), ("b", 3), ("a", 16), ("b", 7), ("a", 20)]:
        stats.note_sequence(publisher, sequence)
    assert stats.snapshot().missed == 3 + 3 + 3  # a: 12-14, 17-19; b: 4-6
    stats.note_sequence("a", 1)  # restarted: counts afresh
    stats.note_sequence("a", 2)
    stats.note_sequence("c", None)  # no sequence numbers from this middleware
    stats.note_sequence("c", None)
    assert stats.snapshot().missed == 9
    stats.note_sequence("a", None)  # a number that cannot be attributed: forget a's last (2)
    stats.note_sequence("a", 40)
    stats.note_sequence("a", 42)
    assert stats.snapshot().missed == 10


def test_stats_errors():
    stats = FrameStats()
    stats.record_rejected("zero-size frame (0x0)")
    stats.record_failure("RuntimeError: boom")
    stats.note_error("QoS mismatch")
    snap = stats.snapshot()
    assert (snap.rejected, snap.failed, snap.last_error) == (1, 1, "QoS mismatch")
