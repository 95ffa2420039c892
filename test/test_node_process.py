"""The installed seg_node executable in its own process, fed 2048x1024 frames by a third process.

As deployed: ``seg_node`` with config/seg.yaml and the shipped Fast DDS profile (what
the launch file gives it), a camera process, and reliable and best-effort subscribers
in this process. Frames of 6 MB exceed Fast DDS's default 512 KB shared-memory
segment, which is what this exercises.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import OccupancyGrid
from sensor_msgs.msg import Image, PointCloud2

import ros_helpers as rh
from seg_perception.inference import Segmenter, colorize_overlay
from seg_perception.labels import CLASS_NAMES
from seg_perception.navigation import CameraMount, GridSpec

pytestmark = pytest.mark.ros

NAMESPACE = f"/proc{os.getpid()}"
CAMERA_TOPIC = f"{NAMESPACE}/camera/image_raw"
CAMERA_INFO_TOPIC = f"{NAMESPACE}/camera/camera_info"
GRID_TOPIC, POINTS_TOPIC = f"{NAMESPACE}/segmentation/drivable_grid", f"{NAMESPACE}/segmentation/obstacle_points"
MOUNT = CameraMount(z=1.6, pitch=6.0)
OUTPUTS = {f"{NAMESPACE}/segmentation/{name}": Image for name in ("labels", "drivable_mask", "color", "confidence")}
WIDTH, HEIGHT = 2048, 1024


@pytest.fixture(scope="module")
def corrupt_model_run(tmp_path_factory):
    """(model path, process): the executable started on a corrupt model; started before the good node
    so that their (slow) torch imports overlap."""
    corrupt = tmp_path_factory.mktemp("corrupt") / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    process = subprocess.Popen([str(rh.SEG_NODE), "--ros-args", "-p", f"model_path:={corrupt}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield corrupt, process
    rh.stop_process(process)


@pytest.fixture(scope="module")
def seg_node(tiny_checkpoint, graph, corrupt_model_run):
    """The seg_node process, remapped onto the camera topic; yields the Popen once its outputs exist."""
    assert rh.SEG_NODE.is_file(), f"{rh.SEG_NODE} missing: pip install -e . to install the console script"
    command = [str(rh.SEG_NODE), "--ros-args", "-r", f"__ns:={NAMESPACE}", "-r", f"image:={CAMERA_TOPIC}",
               "-r", f"camera_info:={CAMERA_INFO_TOPIC}",
               "--params-file", str(rh.ROOT / "config" / "seg.yaml"),
               "-p", f"model_path:={tiny_checkpoint}", "-p", "publish_confidence:=true",
               "-p", f"camera.z:={MOUNT.z}", "-p", f"camera.pitch:={MOUNT.pitch}"]  # after the file, which they override
    process = subprocess.Popen(command, env=rh.large_frames_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    probe = rh.make_collector(graph, "/", {}, name="probe")
    started = rh.wait_for(lambda: process.poll() is not None or all(
        probe.count_publishers(topic) for topic in OUTPUTS), 90)
    if process.poll() is not None or not started:
        code, out, err = rh.stop_process(process)
        pytest.fail(f"seg_node did not start (exit {code}):\n{out}\n{err}")
    yield process
    rh.stop_process(process)


@pytest.fixture(scope="module")
def reference(tiny_checkpoint):
    return Segmenter.from_checkpoint(tiny_checkpoint, with_confidence=True)


@pytest.mark.parametrize("camera_reliability", ["reliable", "best_effort"])
def test_2048x1024_frames_come_back_on_every_output_to_reliable_and_best_effort_subscribers(
        seg_node, graph, reference, camera_reliability):
    sinks = [rh.make_collector(graph, "/", OUTPUTS, reliability, name=f"{reliability}_sink")
             for reliability in ("reliable", "best_effort")]
    first = 10 if camera_reliability == "best_effort" else 0
    camera = rh.start_publisher(CAMERA_TOPIC, WIDTH, HEIGHT, pad=64, count=3, rate=4, first_index=first,
                                reliability=camera_reliability)
    sent = rh.published_frames(camera)
    assert rh.wait_for(lambda: rh.answered_everywhere(sinks, OUTPUTS), 30), \
        [{topic: [rh.frame_index(m.header) for m in sink.received(topic)] for topic in OUTPUTS} for sink in sinks]
    index = max(rh.answered_everywhere(sinks, OUTPUTS))
    frame = rh.make_frame(index, WIDTH, HEIGHT)
    expected = reference.segment(frame)
    overlay = colorize_overlay(frame, expected.labels, alpha=0.5)
    wanted = dict(zip(OUTPUTS, (expected.labels, expected.drivable, overlay, expected.confidence)))
    for sink in sinks:
        for topic, value in wanted.items():
            received = sink.received(topic)
            assert {rh.frame_index(m.header) for m in received} <= set(sent)
            assert all((m.width, m.height) == (WIDTH, HEIGHT) for m in received)
            msg = next(m for m in received if rh.frame_index(m.header) == index)
            np.testing.assert_array_equal(rh.as_array(msg), value, err_msg=topic)


def test_diagnostics_of_the_node_process(seg_node, graph):
    sink = rh.make_collector(graph, "/", {"/diagnostics": DiagnosticArray}, name="diagnostics_sink")
    name = f"{NAMESPACE}/seg_node: segmentation"

    def values():
        for array in reversed(sink.received("/diagnostics")):
            for status in array.status:
                if status.name == name:
                    return {kv.key: kv.value for kv in status.values}
        return None

    assert rh.wait_for(lambda: values() is not None, 10)
    report = values()
    assert report["backend"] == "cpu" and report["input_size"] == "64x32"
    assert report["input_topic"] == CAMERA_TOPIC
    assert int(report["published_frames"]) >= 2 and float(report["latency_p95_ms"]) > 0
    assert report["rejected_frames"] == "0"


def test_the_node_process_projects_a_cameras_frames_onto_the_grid_and_latches_label_info(seg_node, graph,
                                                                                         reference):
    sink = rh.make_collector(graph, "/", {GRID_TOPIC: OccupancyGrid, POINTS_TOPIC: PointCloud2}, name="grid_sink")
    # the camera process publishes its camera_info with every frame, as drivers do
    camera = rh.start_publisher(CAMERA_TOPIC, WIDTH, HEIGHT, count=4, rate=2, first_index=20,
                                camera_info=CAMERA_INFO_TOPIC)
    rh.published_frames(camera)
    assert rh.wait_for(lambda: sink.received(GRID_TOPIC) and sink.received(POINTS_TOPIC), 30), "no grid came"
    grid_msg = sink.received(GRID_TOPIC)[-1]
    index = rh.frame_index(grid_msg.header)
    model_labels = reference.segment(rh.make_frame(index, WIDTH, HEIGHT)).model_labels
    info = rh.camera_info_msg(WIDTH, HEIGHT, focal=1.1 * WIDTH)
    values, points = rh.projected_grid(model_labels, info, MOUNT, GridSpec(), ["road"])  # config/seg.yaml's grid
    assert grid_msg.header.frame_id == "base_link" and (grid_msg.info.width, grid_msg.info.height) == (195, 200)
    np.testing.assert_array_equal(rh.grid_values(grid_msg), values)
    points_msg = next(m for m in sink.received(POINTS_TOPIC) if rh.frame_index(m.header) == index)
    np.testing.assert_array_equal(rh.cloud_points(points_msg), points)
    assert (values == 100).any() and (values == -1).any()
    late = rh.late_label_info(f"{NAMESPACE}/label_info")  # a process joining long after the node published
    assert late["class_map"] == [[i, name] for i, name in enumerate(CLASS_NAMES)] and late["threshold"] == 0.0
    graph.remove(sink)


def test_two_sigints_end_the_node_process_cleanly_and_fast_on_a_loaded_machine(seg_node):
    # What a terminal's Ctrl-C under ros2 launch delivers: one from the terminal, one forwarded by launch.
    # Before: exit code -2, or a KeyboardInterrupt traceback from destroy_node().
    load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    camera = rh.start_publisher(CAMERA_TOPIC, WIDTH, HEIGHT, count=0, rate=10, first_index=40)
    try:
        time.sleep(1.0)  # frames flowing
        start = time.monotonic()
        seg_node.send_signal(signal.SIGINT)
        time.sleep(0.1)
        seg_node.send_signal(signal.SIGINT)
        out, err = seg_node.communicate(timeout=5.0)
        elapsed = time.monotonic() - start
    finally:
        for process in load + [camera]:
            process.kill()
            process.wait()
    assert seg_node.returncode == 0 and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert elapsed < 5.0


def test_two_sigints_while_the_node_process_starts_end_it_quietly(tiny_checkpoint):
    process = subprocess.Popen([str(rh.SEG_NODE), "--ros-args", "-r", f"__ns:={NAMESPACE}/starting", "-p",
                                f"model_path:={tiny_checkpoint}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    time.sleep(1.5)  # importing torch, or loading the model
    process.send_signal(signal.SIGINT)
    time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=5.0)
    finally:
        rh.stop_process(process)
    assert process.returncode == 0 and "Traceback" not in err, err


def test_a_corrupt_model_stops_the_executable_with_one_error_line(corrupt_model_run):
    corrupt, process = corrupt_model_run
    out, err = process.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip()]
    assert process.returncode == 1
    assert len(lines) == 1 and "cannot start" in lines[0] and str(corrupt) in lines[0], err
