"""Live bag replay (``replay_live``) through real seg_node processes, fed from real bags written here.

One node runs for the module (started like a user would, in its own namespace, at a
512x256 model input so that it is slower than a 200 Hz replay); other tests let
``replay_live`` start its own node. Nothing is mocked: the bags are rosbag2 files,
the frames go through Fast DDS, and the answers are compared with the offline
Segmenter on the same frames.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image

import ros_helpers as rh
from seg_perception.bags import messages
from seg_perception.ros.bag_eval import main as bag_eval
from seg_perception.bags.reader import BagReader
from seg_perception.bags.writer import BagWriter
from seg_perception.checkpoint import load_checkpoint
from seg_perception.inference import Segmenter
from seg_perception.ros.live_replay import replay_live
from tiny_models import write_tiny_checkpoint

pytestmark = pytest.mark.ros

RUNNING = f"/running{os.getpid()}"  # the namespace of the module's node and of its camera topics
RUNNING_INPUT = (512, 256)
WIDTH, HEIGHT = 128, 64


def bag_stamp_ns(index: int) -> int:
    """Frame ``index`` of the test bags is stamped like ros_helpers' frames: STAMP_SEC + index seconds."""
    return (rh.STAMP_SEC + index) * 1_000_000_000


def write_bag(path: Path, *, count: int, camera: str = "/camera", encoding: str = "rgb8", pad: int = 0,
              hz: float = 10.0, storage: str = "mcap", size=(WIDTH, HEIGHT), bad_truth: int | None = None) -> Path:
    """A bag of ros_helpers.make_frame frames: ``camera``/image_raw (or /compressed for jpeg/png) and
    ``camera``/camera_info logged ``1 / hz`` apart, and a ground truth ``camera``/semantic_gt (whose frame
    ``bad_truth`` holds an id that is no trainId)."""
    compressed = encoding in rh.COMPRESSED_FORMATS
    image_topic = f"{camera}/image_raw" + ("/compressed" if compressed else "")
    with BagWriter(path, storage) as bag:
        bag.add_topic(f"{camera}/camera_info", messages.CAMERA_INFO)
        bag.add_topic(image_topic, messages.COMPRESSED_IMAGE if compressed else messages.IMAGE)
        bag.add_topic(f"{camera}/semantic_gt", messages.IMAGE)
        for index in range(count):
            header = messages.make_header(bag_stamp_ns(index), "camera")
            rgb = rh.make_frame(index, *size)
            log_ns = 5_000_000_000 + round(index * 1e9 / hz)
            bag.write(f"{camera}/camera_info", messages.camera_info_msg(*size, header), log_ns)
            bag.write(image_topic, messages.compressed_msg(rgb, encoding, header) if compressed
                      else messages.image_msg(rh.encode_pixels(rgb, encoding), encoding, header, pad), log_ns + 1000)
            truth = (rgb[..., 1] // 32).astype(np.uint8)  # trainIds 0..7, road (0) among them
            truth[0, 0] = 40 if index == bad_truth else truth[0, 0]
            bag.write(f"{camera}/semantic_gt", messages.image_msg(truth, "mono8", header), log_ns + 2000)
    return path


@pytest.fixture(scope="module")
def running_node(tiny_checkpoint, graph):
    """A seg_node the user started: namespace RUNNING, input remapped to RUNNING/camera/image_raw."""
    command = [str(rh.SEG_NODE), "--ros-args", "-r", f"__ns:={RUNNING}", "-r", f"image:={RUNNING}/camera/image_raw",
               "-p", f"model_path:={tiny_checkpoint}", "-p", "backend:=cpu",
               "-p", f"input_width:={RUNNING_INPUT[0]}", "-p", f"input_height:={RUNNING_INPUT[1]}"]
    process = subprocess.Popen(command, env=rh.large_frames_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    probe = rh.make_collector(graph, "/", {}, name="running_probe")
    up = rh.wait_for(lambda: process.poll() is not None or probe.count_publishers(
        f"{RUNNING}/segmentation/labels") > 0, 90)
    if process.poll() is not None or not up:
        code, out, err = rh.stop_process(process)
        pytest.fail(f"seg_node did not start (exit {code}):\n{out}\n{err}")
    yield process
    code, _, err = rh.stop_process(process)
    assert code == 0, err


def reference(checkpoint, input_size=None) -> Segmenter:
    return Segmenter.from_checkpoint(checkpoint, backend="cpu", input_size=input_size)


def assert_answers_match(result, segmenter, frames):
    """Every answered frame carries exactly what the offline Segmenter gives for that frame."""
    assert result.answered > 0
    for stamp, answer in result.answers.items():
        expected = segmenter.segment(frames[stamp].image, bgr=frames[stamp].bgr)
        np.testing.assert_array_equal(answer.labels, expected.labels, err_msg=f"labels of {stamp}")
        np.testing.assert_array_equal(answer.drivable, expected.drivable, err_msg=f"drivable mask of {stamp}")


def bag_frames(bag: Path, topic: str) -> dict:
    """{stamp_ns: decoded frame} of ``topic``, decoded the way the node decodes them."""
    with BagReader(bag) as reader:
        msgs = [(reader.deserialize(m), m.msgtype) for m in reader.messages([topic])]
    return {messages.stamp_ns(msg.header): messages.frame_of(msg, msgtype) for msg, msgtype in msgs}


def test_a_replay_at_the_recorded_rate_into_a_running_node_gets_every_frame_answered(
        running_node, graph, tiny_checkpoint, tmp_path):
    # 12 frames at 5 Hz: long enough that the camera_info subscriber below, which the replay does not wait
    # for, has matched before the end (Jazzy's discovery once took longer than a 6-frame replay)
    count = 12
    bag = write_bag(tmp_path / "bag", count=count, camera=f"{RUNNING}/camera", encoding="bgr8", pad=8, hz=5.0,
                    storage="sqlite3")
    info_topic = f"{RUNNING}/camera/camera_info"
    infos = rh.make_collector(graph, "/", {info_topic: CameraInfo}, name="info_sink")
    result = replay_live(bag, f"{RUNNING}/camera/image_raw", start_node=False, node_namespace=RUNNING,
                         timeout_s=10, progress=False)
    assert result.stamps_ns == tuple(bag_stamp_ns(i) for i in range(count))
    assert (result.published, result.answered, result.dropped, result.unexpected) == (count, count, 0, 0)
    assert result.node_log is None
    assert_answers_match(result, reference(tiny_checkpoint, RUNNING_INPUT),
                         bag_frames(bag, f"{RUNNING}/camera/image_raw"))
    assert all(0 < latency < 2000 for latency in result.latencies_ms), result.latencies_ms
    assert 2.15 < result.elapsed_s < 5.2, result.elapsed_s  # 11 recorded periods of 200 ms, plus one answer
    # camera_info is replayed beside the images, with their stamps. Like ros2 bag play, the replay waits
    # for the node only: a subscriber whose discovery is still under way misses the first ones.
    time.sleep(0.5)
    stamps = [messages.stamp_ns(m.header) for m in infos.received(info_topic)]
    assert stamps and stamps == list(result.stamps_ns[-len(stamps):]), stamps


def test_a_replay_faster_than_the_model_drops_frames_instead_of_blocking(running_node, tiny_checkpoint, tmp_path):
    count = 60
    bag = write_bag(tmp_path / "bag", count=count, camera=f"{RUNNING}/camera", hz=10.0)
    started = time.monotonic()
    result = replay_live(bag, f"{RUNNING}/camera/image_raw", rate=200.0, start_node=False, node_namespace=RUNNING,
                         timeout_s=10, progress=False)
    assert time.monotonic() - started < 10
    assert result.published == count == result.answered + result.dropped
    assert result.dropped > 0 and result.answered > 0, (result.answered, result.dropped)
    # what did come back belongs to the frame it is stamped with
    assert_answers_match(result, reference(tiny_checkpoint, RUNNING_INPUT),
                         bag_frames(bag, f"{RUNNING}/camera/image_raw"))


# --- seg-bag-eval --live --------------------------------------------------------------------------

SEG_BAG_EVAL = Path(sys.executable).parent / "seg-bag-eval"


def cli_args(bag: Path, checkpoint: Path, out: Path, *args: str) -> list[str]:
    return [str(bag), "--checkpoint", str(checkpoint), "--out", str(out), "--quiet", *args]


def metrics_of(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_live_seg_bag_eval_scores_what_the_node_answers_exactly_as_offline_scores_the_segmenter(
        tiny_checkpoint, tmp_path, capfd):
    # The live replay scores each answer as it comes (bags.replay.LiveScoring) where it used to hold them all
    # until the end; the offline path, unchanged, pins the figures, the pictures and the output bag.
    # Both with an input filter and the test-time flip: the node started for the replay gets them as parameters.
    # 5 Hz, not 10: on 2 busy cores a 10 Hz replay dropped one frame in one suite run, and the test needs all six.
    bag = write_bag(tmp_path / "bag", count=6, encoding="jpeg", hz=5.0)
    filtered = ["--input-filter", "denoise_white_balance", "--test-time-flip"]
    for mode, extra in (("live", ["--live", *filtered]), ("offline", filtered), ("unfiltered", [])):
        assert bag_eval(cli_args(bag, tiny_checkpoint, tmp_path / mode, "--out-bag", str(tmp_path / f"{mode}_bag"),
                                 "--pictures", "2", *extra)) == 0, capfd.readouterr().err
    off, on = metrics_of(tmp_path / "offline"), metrics_of(tmp_path / "live")
    assert on["mode"] == "live" and on["image_topic"] == "/camera/image_raw/compressed"
    assert on["per_class_iou"] == off["per_class_iou"] != metrics_of(tmp_path / "unfiltered")["per_class_iou"]
    assert on["input_filter"] == off["input_filter"] == "denoise_white_balance"
    assert on["test_time_flip"] is off["test_time_flip"] is True  # live: as the node's /diagnostics reports it
    for key in ("miou", "pixel_accuracy", "drivable_iou", "drivable_confusion", "frames", "dropped", "grid",
                "ground_truth", "drivable_classes"):
        assert on[key] == off[key], key
    assert on["grid"]["frames"] == 6 and on["grid"]["agreement"] is not None
    assert on["degraded_input"]["skipped"].startswith("offline only")  # the node judges its input itself
    assert (on["frames"], on["dropped"], on["published"], on["answered"], on["late"]) == (6, 0, 6, 6, 0)
    for picture in ("samples.png", "grid.png"):
        assert (tmp_path / "live" / picture).read_bytes() == (tmp_path / "offline" / picture).read_bytes(), picture
    outputs = ["/segmentation/labels", "/segmentation/drivable_mask", "/segmentation/drivable_grid"]
    with BagReader(tmp_path / "live_bag") as live_bag, BagReader(tmp_path / "offline_bag") as offline_bag:
        assert [(m.log_time_ns, bytes(m.rawdata)) for m in live_bag.messages(outputs)] == \
            [(m.log_time_ns, bytes(m.rawdata)) for m in offline_bag.messages(outputs)]
    latency = on["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] < 5000, latency
    assert 0.95 < on["wall_s"] < 6 and on["fps"] == pytest.approx(6 / on["wall_s"])
    log = tmp_path / "live" / "seg_node.log"
    assert on["node_log"] == str(log) and "segmenting /camera/image_raw/compressed" in log.read_text()
    assert "| dropped | 0 |" in (tmp_path / "live" / "report.md").read_text()


def test_a_bad_ground_truth_frame_stops_the_live_replay_with_the_bag_error_in_one_line(
        running_node, tiny_checkpoint, tmp_path, capfd):
    # scored during the replay, the bad frame stops it long before its 10 s end
    bag = write_bag(tmp_path / "bag", count=100, camera=f"{RUNNING}/camera", hz=10.0, bad_truth=2)
    started = time.monotonic()
    code = bag_eval(cli_args(bag, tiny_checkpoint, tmp_path / "out", "--live", "--use-running-node",
                             "--node-namespace", RUNNING, "--image-topic", f"{RUNNING}/camera/image_raw",
                             "--gt-topic", f"{RUNNING}/camera/semantic_gt", "--out-bag", str(tmp_path / "out_bag")))
    err = capfd.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"seg-bag-eval: error: {bag}: {RUNNING}/camera/semantic_gt at stamp "
                          f"{rh.STAMP_SEC + 2}.000000000: ground truth holds 40, not a trainId"), err
    assert time.monotonic() - started < 8
    assert not (tmp_path / "out" / "metrics.json").exists() and not (tmp_path / "out_bag").exists()
    assert running_node.poll() is None


def test_live_seg_bag_eval_uses_a_node_already_running_in_its_namespace(running_node, tiny_checkpoint, tmp_path, capfd):
    bag = write_bag(tmp_path / "bag", count=4, camera=f"{RUNNING}/camera", hz=10.0)
    code = bag_eval(cli_args(
        bag, tiny_checkpoint, tmp_path / "out", "--live", "--use-running-node", "--node-namespace", RUNNING,
        "--image-topic", f"{RUNNING}/camera/image_raw", "--gt-topic", f"{RUNNING}/camera/semantic_gt",
        "--speed", "0.5", "--timeout", "10"))
    out, err = capfd.readouterr()
    assert code == 0, err
    metrics = metrics_of(tmp_path / "out")
    assert (metrics["frames"], metrics["dropped"], metrics["published"], metrics["speed"]) == (4, 0, 4, 0.5)
    assert 0.55 < metrics["wall_s"] < 3  # 3 recorded periods of 100 ms at half speed, plus the last answer
    assert metrics["node_log"] is None and not (tmp_path / "out" / "seg_node.log").exists()
    assert "4 frames" in out and "0 dropped" in out
    # what answered is described by the node itself (its /diagnostics), not by this command's defaults
    assert metrics["input_size"] == list(RUNNING_INPUT) != list(load_checkpoint(tiny_checkpoint).spec.input_size)
    assert metrics["backend"] == "cpu" and metrics["node_model"].endswith(f"({tiny_checkpoint})")
    assert metrics["drivable_classes"] == ["road"]
    # the node's input size judges the bag's frames: 2:1 both, nothing stretched
    assert metrics["frame_sizes"] == {f"{WIDTH}x{HEIGHT}": 4} and metrics["stretch"] == "ok"


def test_live_seg_bag_eval_without_a_node_on_the_topic_fails_in_one_line(tiny_checkpoint, tmp_path, capfd):
    bag = write_bag(tmp_path / "bag", count=2)
    code = bag_eval(cli_args(bag, tiny_checkpoint, tmp_path / "out", "--live", "--use-running-node",
                             "--node-namespace", "/nobody", "--timeout", "1.5"))
    err = capfd.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"seg-bag-eval: error: live replay of {bag}: no seg_node subscribing to "
                          "/camera/image_raw and publishing /nobody/segmentation/labels"), err
    assert not (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.parametrize("namespace, reason", [("my_ns", "namespace must be absolute"),
                                               ("/my-ns", "namespace must not contain characters")])
def test_live_seg_bag_eval_refuses_a_bad_namespace_before_starting_a_node(tiny_checkpoint, tmp_path, capfd,
                                                                          namespace, reason):
    bag = write_bag(tmp_path / "bag", count=2)
    code = bag_eval(cli_args(bag, tiny_checkpoint, tmp_path / "out", "--live", "--node-namespace", namespace))
    err = capfd.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert f"bad node namespace {namespace!r}: {reason}" in err and "started seg_node" not in err, err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_live_seg_bag_eval_fails_in_one_line_with_the_reason_when_its_node_cannot_start(tmp_path, capfd):
    bag = write_bag(tmp_path / "bag", count=2)
    # the evaluation itself accepts any class table; seg_node publishes Cityscapes trainIds only
    three_classes = write_tiny_checkpoint(tmp_path / "three.pt", class_names=("road", "sidewalk", "building"))
    code = bag_eval(cli_args(bag, three_classes, tmp_path / "out", "--live"))
    err = capfd.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert "seg_node exited with code 1" in err and "model has 3 classes" in err, err
    assert not (tmp_path / "out" / "metrics.json").exists()


def node_processes(namespace: str) -> list[int]:
    """Pids of live processes whose command line remaps the node namespace to ``namespace``."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if f"__ns:={namespace}".encode() in cmdline.read_bytes().split(b"\0"):
                pids.append(int(cmdline.parent.name))
        except OSError:  # the process ended meanwhile
            pass
    return pids


@contextlib.contextmanager
def ctrl_c_when(ready, timeout: float = 60.0):
    """Within the block, press Ctrl-C once ``ready()`` holds: a real SIGINT to this process's main thread
    (the one running seg-bag-eval's main), sent from a watcher thread. Yields an Event set when sent."""
    running, sent = threading.Event(), threading.Event()
    running.set()

    def watch():
        if rh.wait_for(lambda: ready() or not running.is_set(), timeout) and running.is_set():
            sent.set()
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    # A shell starts background jobs with SIGINT ignored, and Python then installs no KeyboardInterrupt
    # handler: give the block the handler a terminal's Ctrl-C meets.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield sent
    finally:
        running.clear()
        watcher.join()
        signal.signal(signal.SIGINT, previous)


def assert_interrupted(code: int, sent, capfd, out: Path) -> None:
    err = capfd.readouterr().err
    assert sent.is_set() and code == 130, (code, err)
    assert err.strip().splitlines()[-1] == "seg-bag-eval: interrupted; no results written", err
    assert not (out / "metrics.json").exists()


def test_ctrl_c_while_the_node_it_started_comes_up_stops_that_node(tiny_checkpoint, tmp_path, capfd):
    namespace = f"/seg_bag_eval_{os.getpid()}"  # the private namespace of a node this process starts
    bag = write_bag(tmp_path / "bag", count=2)
    with ctrl_c_when(lambda: node_processes(namespace)) as sent:
        code = bag_eval(cli_args(bag, tiny_checkpoint, tmp_path / "out", "--live"))
    assert_interrupted(code, sent, capfd, tmp_path / "out")
    assert node_processes(namespace) == []


def test_ctrl_c_in_the_middle_of_a_replay_stops_it_and_writes_nothing(running_node, graph, tiny_checkpoint, tmp_path,
                                                                     capfd):
    bag = write_bag(tmp_path / "bag", count=100, camera=f"{RUNNING}/camera", hz=5.0)  # a 20 s replay
    answers = rh.make_collector(graph, "/", {f"{RUNNING}/segmentation/labels": Image}, name="ctrl_c_sink")
    started = time.monotonic()
    with ctrl_c_when(lambda: answers.received(f"{RUNNING}/segmentation/labels")) as sent:
        code = bag_eval(cli_args(bag, tiny_checkpoint, tmp_path / "out", "--live", "--use-running-node",
                                 "--node-namespace", RUNNING, "--image-topic", f"{RUNNING}/camera/image_raw",
                                 "--gt-topic", f"{RUNNING}/camera/semantic_gt"))
    assert_interrupted(code, sent, capfd, tmp_path / "out")
    assert time.monotonic() - started < 15  # well before the replay's end
    assert running_node.poll() is None  # a node the replay did not start is left running
