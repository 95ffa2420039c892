"""seg_node in this process on a real ROS 2 graph: outputs, bad frames, overload, parameters, QoS, diagnostics.

The node is the real SegNode with the real Segmenter on the tiny model; frames come
from publishers in this process or in a separate one (test/ros_helpers.py), and every
output is compared value for value with a reference Segmenter run on the same frame.
"""

import itertools
import json
import os
import time

import cv2

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import Log, Parameter as ParameterMsg, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image

import ros_helpers as rh
from seg_perception import labels
from seg_perception.inference import Segmenter, colorize, colorize_overlay
from seg_perception.inference.preprocess import strong_colour_cast
from seg_perception.node import contract
from seg_perception.node.params import PARAMS
from seg_perception.ros import node as node_module
from seg_perception.ros.bag_eval import main as bag_eval
from seg_perception.ros.node import SegNode
from seg_perception.ros.seg_node import main
from seg_perception.size import Size
from street_lights import sodium_lit
from test_live_replay import write_bag
from tiny_models import write_tiny_checkpoint

pytestmark = pytest.mark.ros

OUTPUTS = {"segmentation/labels": Image, "segmentation/drivable_mask": Image, "segmentation/color": Image,
           "segmentation/confidence": Image}
TIMEOUT = 30.0
_namespaces = itertools.count()


@pytest.fixture(scope="module")
def module_graph():
    graph = rh.RosGraph()
    yield graph
    graph.close()


@pytest.fixture
def graph(module_graph):
    """The module's ROS graph; nodes a test adds are destroyed after it."""
    before = set(map(id, module_graph.nodes))
    yield module_graph
    for node in [n for n in module_graph.nodes if id(n) not in before]:
        module_graph.remove(node)


@pytest.fixture(scope="module")
def reference(tiny_checkpoint):
    """A Segmenter of our own on the node's checkpoint: what every output must equal."""
    return Segmenter.from_checkpoint(tiny_checkpoint, with_confidence=True)


@pytest.fixture
def start_node(graph, tiny_checkpoint):
    """start_node(**parameters) -> a SegNode spinning in ``graph`` under a namespace of its own."""

    def start(**parameters):
        values = {"model_path": str(tiny_checkpoint), **parameters}
        node = SegNode(context=graph.context, namespace=f"/inproc{os.getpid()}_{next(_namespaces)}",
                       parameter_overrides=[Parameter(name, value=value) for name, value in values.items()])
        return graph.add(node)

    return start


def expected_outputs(reference, rgb, alpha=0.5, drivable_classes=("road",), min_confidence=0.0):
    """labels, drivable, overlay colour and confidence the node must publish for ``rgb``."""
    reference.drivable_classes = drivable_classes
    reference.min_confidence = min_confidence
    result = reference.segment(rgb)
    assert len(np.unique(result.labels)) > 2, "the test frame should show several classes"
    return {"segmentation/labels": result.labels.copy(), "segmentation/drivable_mask": result.drivable.copy(),
            "segmentation/color": colorize_overlay(rgb, result.labels, alpha=alpha),
            "segmentation/confidence": result.confidence.copy()}


def answer(collector, topic, index):
    """The message on ``topic`` answering frame ``index``, or None."""
    return next((msg for msg in collector.received(topic) if rh.frame_index(msg.header) == index), None)


def wait_answers(collector, index, topics=tuple(OUTPUTS), timeout=TIMEOUT):
    assert rh.wait_for(lambda: all(answer(collector, topic, index) for topic in topics), timeout), \
        f"frame {index} not answered on {[t for t in topics if not answer(collector, t, index)]}"
    return {topic: answer(collector, topic, index) for topic in topics}


def assert_outputs_equal(answers, expected, header=None):
    for topic, msg in answers.items():
        assert (msg.encoding, msg.is_bigendian) == ("rgb8" if topic.endswith("color") else "mono8", 0)
        if header is not None:
            assert msg.header == header
        np.testing.assert_array_equal(rh.as_array(msg), expected[topic], err_msg=topic)


def connect(graph, node, reliability="reliable", topics=OUTPUTS, name="collector"):
    """A collector of ``topics`` under ``node``'s namespace, once the node sees its subscriptions."""
    collector = rh.make_collector(graph, node.get_namespace(), topics, reliability, name=name)
    assert rh.wait_for(lambda: all(node.count_subscribers(f"{node.get_namespace()}/{t}") > 0 for t in topics), 10)
    return collector


def camera_for(graph, node, msg_type=Image, reliability="reliable", topic="image"):
    """A publisher on ``node``'s input, once the node has matched it."""
    _, publisher = rh.make_camera(graph, node.get_namespace(), topic, msg_type, reliability)
    assert rh.wait_for(lambda: publisher.get_subscription_count() > 0, 10), "seg_node did not match the camera"
    # With qos_reliability auto the node re-checks its publishers once a second and may
    # re-create its subscription; a frame sent during that swap is lost (seen once under load).
    time.sleep(1.5)
    assert rh.wait_for(lambda: publisher.get_subscription_count() > 0, 10), "seg_node did not re-match the camera"
    return publisher


def publish_and_wait(node, publisher, msg):
    """Publish ``msg`` and wait until the node has finished with it (answered, rejected or failed)."""
    before = node.worker.processed + node.worker.failed + node.worker.dropped
    publisher.publish(msg)
    assert rh.wait_for(lambda: node.worker.processed + node.worker.failed + node.worker.dropped > before
                       and node.worker.wait_idle(0), TIMEOUT)


# --- outputs --------------------------------------------------------------------------------------

def test_every_encoding_and_row_padding_gives_the_segmenters_outputs_with_the_input_header(start_node, graph,
                                                                                          reference):
    node = start_node(publish_confidence=True)
    collector = connect(graph, node)
    camera = camera_for(graph, node)
    # The size changes between frames too: the reused output buffers must follow it.
    for index, (encoding, pad, size) in enumerate([("rgb8", 0, (96, 48)), ("bgr8", 7, (96, 48)),
                                                   ("rgba8", 4, (80, 56)), ("bgra8", 0, (96, 48)),
                                                   ("mono8", 3, (96, 48))]):
        rgb = rh.make_frame(index, *size)
        msg = rh.image_msg(rgb, encoding, pad, index)
        camera.publish(msg)
        answers = wait_answers(collector, index)
        assert_outputs_equal(answers, expected_outputs(reference, rh.decoded_rgb(rgb, encoding)), msg.header)
        assert {(m.width, m.height) for m in answers.values()} == {size}


def test_compressed_frames_from_another_process_reach_best_effort_and_reliable_subscribers(start_node, graph,
                                                                                          reference):
    node = start_node(image_transport="compressed", publish_confidence=True)
    reliable = connect(graph, node, "reliable", name="reliable_sink")
    best_effort = connect(graph, node, "best_effort", name="best_effort_sink")
    camera = rh.start_publisher(f"{node.get_namespace()}/image/compressed", 640, 320, encoding="png", count=3,
                                rate=5, reliability="best_effort")
    sent = rh.published_frames(camera)
    assert node.input_reliability == "best_effort"  # auto matched the best-effort camera
    sinks = (reliable, best_effort)
    assert rh.wait_for(lambda: rh.answered_everywhere(sinks, OUTPUTS), TIMEOUT)
    index = max(rh.answered_everywhere(sinks, OUTPUTS))
    expected = expected_outputs(reference, rh.make_frame(index, 640, 320))
    for collector in sinks:
        assert_outputs_equal({topic: answer(collector, topic, index) for topic in OUTPUTS}, expected)
        for topic in OUTPUTS:
            indices = [rh.frame_index(m.header) for m in collector.received(topic)]
            assert set(indices) <= set(sent) and indices == sorted(indices)
            assert all((m.width, m.height) == (640, 320) for m in collector.received(topic))


def test_jpeg_frames_are_decoded(start_node, graph, reference):
    node = start_node(image_transport="compressed")
    collector = connect(graph, node, topics={"segmentation/labels": Image})
    camera = camera_for(graph, node, CompressedImage, topic="image/compressed")
    msg = rh.compressed_msg(rh.make_frame(4, 128, 64), "jpeg", index=4)
    camera.publish(msg)
    label_msg = wait_answers(collector, 4, ["segmentation/labels"])["segmentation/labels"]
    decoded = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    np.testing.assert_array_equal(rh.as_array(label_msg), reference.segment(np.ascontiguousarray(decoded)).labels)


# --- bad frames -----------------------------------------------------------------------------------

def bad_raw_frames():
    good = rh.image_msg(rh.make_frame(0, 32, 16), "rgb8", 0, 100)
    short = rh.image_msg(rh.make_frame(0, 32, 16), "rgb8", 0, 101)
    short.data = bytes(good.data[:-1])
    empty = rh.image_msg(rh.make_frame(0, 32, 16), "rgb8", 0, 102)
    empty.height = empty.width = 0
    unsupported = rh.image_msg(rh.make_frame(0, 32, 16), "rgb8", 0, 103)
    unsupported.encoding = "32FC1"
    return [short, empty, unsupported], ["shorter than step x height", "zero-size", "unsupported encoding"]


def test_bad_frames_are_rejected_counted_and_the_next_good_frame_is_answered(start_node, graph):
    node = start_node()
    collector = connect(graph, node, topics={"segmentation/labels": Image})
    diagnostics = rh.make_collector(graph, "/", {"/diagnostics": DiagnosticArray}, name="diag_sink")
    camera = camera_for(graph, node)
    bad, reasons = bad_raw_frames()
    for count, (msg, reason) in enumerate(zip(bad, reasons), start=1):
        publish_and_wait(node, camera, msg)
        snapshot = node.stats.snapshot()
        assert snapshot.rejected == count and reason in snapshot.last_error
    good = rh.image_msg(rh.make_frame(1, 32, 16), "rgb8", 0, 104)
    camera.publish(good)
    assert wait_answers(collector, 104, ["segmentation/labels"])
    assert not any(rh.frame_index(m.header) in (101, 102, 103) for m in collector.received("segmentation/labels"))
    _, values = wait_status(diagnostics, node, lambda values: values["published_frames"] == "1")
    assert values["rejected_frames"] == "3" and "unsupported encoding" in values["last_error"]
    assert values["last_error"].endswith(" s ago)")  # its age; it clears after health.ERROR_QUIET_S
    messages = [status.message for array in diagnostics.received("/diagnostics") for status in array.status
                if status.level == DiagnosticStatus.WARN and status.name.startswith(node.get_fully_qualified_name())]
    assert messages and all(m.startswith("rejected frame: ") for m in messages), messages  # no doubled prefix


def test_a_camera_whose_frames_never_arrive_makes_the_diagnostics_warn_naming_the_likely_cause(start_node, graph):
    # As a best-effort camera of large frames without the Fast DDS profile: a publisher, no frame. Before: OK.
    diagnostics = rh.make_collector(graph, "/", {"/diagnostics": DiagnosticArray}, name="diag_sink")
    node = start_node()
    camera_for(graph, node)
    name = f"{node.get_fully_qualified_name()}: segmentation"

    def warning():
        return next((status for array in reversed(diagnostics.received("/diagnostics")) for status in array.status
                     if status.name == name and status.level == DiagnosticStatus.WARN), None)

    assert rh.wait_for(lambda: warning() is not None, 15), "no WARN"
    assert warning().message.startswith("no frame arrived in 5 s from 1 publisher on the input: ")
    assert "fastdds_large_frames.xml" in warning().message


def test_undecodable_compressed_frames_are_rejected(start_node, graph):
    node = start_node(image_transport="compressed")
    collector = connect(graph, node, topics={"segmentation/labels": Image})
    camera = camera_for(graph, node, CompressedImage, topic="image/compressed")
    garbage = rh.compressed_msg(rh.make_frame(0, 32, 16), "png", index=200)
    garbage.data = b"\x89PNG but not really"
    publish_and_wait(node, camera, garbage)
    assert node.stats.snapshot().rejected == 1
    camera.publish(rh.compressed_msg(rh.make_frame(0, 32, 16), "png", index=201))
    assert wait_answers(collector, 201, ["segmentation/labels"])



def test_switching_confidence_on_at_run_time_builds_nothing_while_frames_flow(start_node, graph, tmp_path,
                                                                             monkeypatch):
    # Before: the confidence graph was exported on the first frame that wanted it (about 8 s for a real model).
    monkeypatch.setenv("SEG_PERCEPTION_CACHE", str(tmp_path / "cache"))
    node = start_node(publish_confidence=False)
    graphs = sorted(p.name for p in (tmp_path / "cache").rglob("*.onnx"))
    assert len(graphs) == 2, graphs  # both variants, with and without confidence, built at start-up
    collector = connect(graph, node, topics={"segmentation/labels": Image, "segmentation/confidence": Image})
    camera = camera_for(graph, node)
    assert node.set_parameters([Parameter("publish_confidence", value=True)])[0].successful
    camera.publish(rh.image_msg(rh.make_frame(0, 64, 32), index=230))
    assert wait_answers(collector, 230, ["segmentation/labels", "segmentation/confidence"])
    assert sorted(p.name for p in (tmp_path / "cache").rglob("*.onnx")) == graphs


def test_a_decompression_bomb_is_rejected_from_its_header_and_counted(start_node, graph):
    # Before: a 140 kB PNG decoding to 12000x12000 took the node from 0.8 to 1.9 GB and was segmented.
    from test_frames import png_bomb

    node = start_node(image_transport="compressed")
    collector = connect(graph, node, topics={"segmentation/labels": Image})
    camera = camera_for(graph, node, CompressedImage, topic="image/compressed")
    bomb = rh.compressed_msg(rh.make_frame(0, 32, 16), "png", index=210)
    bomb.data = png_bomb(12000, 12000)
    publish_and_wait(node, camera, bomb)
    snapshot = node.stats.snapshot()
    assert snapshot.rejected == 1 and "12000x12000 = 144000000 pixels is over max_input_pixels 8294400" in \
        snapshot.last_error
    camera.publish(rh.compressed_msg(rh.make_frame(0, 32, 16), "png", index=211))
    assert wait_answers(collector, 211, ["segmentation/labels"])
    assert not any(rh.frame_index(m.header) == 210 for m in collector.received("segmentation/labels"))


def test_raw_frames_over_max_input_pixels_are_rejected_and_the_bound_changes_at_run_time(start_node, graph):
    node = start_node(max_input_pixels=32 * 16 - 1)
    collector = connect(graph, node, topics={"segmentation/labels": Image})
    camera = camera_for(graph, node)
    publish_and_wait(node, camera, rh.image_msg(rh.make_frame(0, 32, 16), index=220))
    assert node.stats.snapshot().rejected == 1 and "over max_input_pixels 511" in node.stats.snapshot().last_error
    assert node.set_parameters([Parameter("max_input_pixels", value=32 * 16)])[0].successful
    camera.publish(rh.image_msg(rh.make_frame(0, 32, 16), index=221))
    assert wait_answers(collector, 221, ["segmentation/labels"])


# --- load -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("message_info", [True, False], ids=["gated intake", "every frame taken (Humble)"])
def test_a_camera_faster_than_the_model_drops_old_frames_and_latency_stays_flat(start_node, graph, monkeypatch,
                                                                               message_info):
    if message_info and not node_module.MESSAGE_INFO:
        pytest.skip("this rclpy passes no message info to callbacks (Humble): intake cannot be gated")
    monkeypatch.setattr(node_module, "MESSAGE_INFO", message_info)
    # 1024x512 model input makes the tiny model (about 90 ms here; 22 ms at 512x256) slower than the 40 Hz camera.
    node = start_node(input_width=1024, input_height=512, publish_color=False)
    collector = connect(graph, node, topics={"segmentation/labels": Image})
    camera = rh.start_publisher(f"{node.get_namespace()}/image", 320, 160, count=80, rate=40)
    pending = []
    while camera.poll() is None:
        pending.append(node.worker.pending)
        time.sleep(0.01)
    sent = rh.published_frames(camera)
    assert node.worker.wait_idle(TIMEOUT)
    worker, stats = node.worker, node.stats.snapshot()
    assert max(pending) <= 1  # one frame waits at most: the queue is bounded
    assert node.dropped_frames > 0 and node.received_frames == worker.processed + node.dropped_frames + worker.failed
    assert node.received_frames <= len(sent) and stats.published == worker.processed
    if message_info:  # frames are taken only when the worker is free: the rest stay in the middleware
        assert worker.dropped == 0 and stats.missed > 0 and worker.submitted == worker.processed + worker.failed
    else:
        assert stats.missed == 0 and worker.dropped > 0
    answered = collector.received("segmentation/labels")
    indices = [rh.frame_index(m.header) for m in answered]
    assert indices == sorted(indices) and set(indices) <= set(sent) and max(sent) in indices  # the newest wins
    # Latency from publishing to the answer arriving: the last frames wait no longer than the first.
    latency = [at - sent[i] for i, at in zip(indices, collector.arrivals["segmentation/labels"])]
    quarter = max(len(latency) // 4, 1)
    assert np.median(latency[-quarter:]) <= 2 * np.median(latency[:quarter]) + 0.1, latency
    assert stats.model_p50_ms < stats.latency_p50_ms <= stats.latency_p95_ms <= 3 * stats.model_p50_ms + 100


@pytest.mark.skipif(not node_module.MESSAGE_INFO, reason="Humble passes no message info: no sequence numbers")
def test_sequence_numbers_are_counted_only_where_they_can_be_trusted(start_node, graph):
    """The message infos are written here to stand for middlewares and rclpy versions not installed:
    one without sequence numbers, and one without publisher ids (before Kilted) with two cameras."""
    node = start_node(publish_color=False)
    connect(graph, node, topics={"segmentation/labels": Image})
    msg = rh.image_msg(rh.make_frame(0, 64, 32))

    def frame(sequence, gid=None):
        info = {"publication_sequence_number": sequence, "received_timestamp": time.time_ns()}
        if gid is not None:
            info["publisher_gid"] = {"data": gid}
        node._on_frame(msg, info)
        assert node.worker.wait_idle(TIMEOUT)

    frame(10, b"a")
    frame(14, b"a")
    assert node.stats.snapshot().missed == 3 and node._numbered
    for sequence in (3, 50):  # publishers told apart by id: numbers from another one are no gap
        frame(sequence, b"b")
    frame(15, b"a")
    assert node.stats.snapshot().missed == 3 + 46
    # no publisher id, two cameras on the topic: nobody can say whose number it is, so nothing counts
    for name in ("camera_a", "camera_b"):
        rh.make_camera(graph, node.get_namespace(), name=name)
    assert rh.wait_for(lambda: node.count_publishers(node._input.topic_name) == 2, 10)
    for sequence in (100, 7, 101, 9):
        frame(sequence)
    assert node.stats.snapshot().missed == 49
    # a middleware without numbers (0): nothing counts and the gate stays open for every frame
    frame(0)
    frame(0)
    assert node.stats.snapshot().missed == 49 and not node._numbered


def test_no_subscriber_no_inference(start_node, graph):
    node = start_node()
    camera = camera_for(graph, node)
    publish_and_wait(node, camera, rh.image_msg(rh.make_frame(0, 32, 16), index=1))
    assert node.stats.snapshot().published == 0 and node.worker.processed == 1
    collector = connect(graph, node, topics={"segmentation/drivable_mask": Image})
    publish_and_wait(node, camera, rh.image_msg(rh.make_frame(0, 32, 16), index=2))
    assert wait_answers(collector, 2, ["segmentation/drivable_mask"])
    assert node.stats.snapshot().published == 1


# --- parameters -----------------------------------------------------------------------------------

def test_the_node_declares_exactly_the_documented_parameters_with_descriptors(start_node):
    node = start_node()
    ours = {spec.name: spec for spec in PARAMS}
    declared = set(node.list_parameters([], 0).names)
    assert set(ours) <= declared and declared - set(ours) <= {"use_sim_time", "start_type_description_service"}
    for descriptor in node.describe_parameters(list(ours)):
        spec = ours[descriptor.name]
        assert descriptor.description == spec.description
        assert descriptor.read_only == (not spec.runtime), spec.name
    ranges = {d.name: d for d in node.describe_parameters(["min_confidence", "input_width"])}
    assert ranges["min_confidence"].floating_point_range[0].to_value == 1.0
    assert ranges["input_width"].integer_range[0].to_value == 8192


def test_run_time_parameters_take_effect_on_the_next_frame(start_node, graph, reference):
    node = start_node()
    collector = connect(graph, node)
    camera = camera_for(graph, node)
    rgb = rh.make_frame(2, 96, 48)

    def frame(index):
        camera.publish(rh.image_msg(rgb, index=index))
        return wait_answers(collector, index, ["segmentation/labels", "segmentation/drivable_mask"])

    first = frame(0)
    assert "segmentation/confidence" not in collector.messages  # off by default
    drivable = ["sidewalk", "building", "vegetation"]
    assert all(r.successful for r in node.set_parameters([
        Parameter("drivable_classes", value=drivable), Parameter("min_confidence", value=0.15),
        Parameter("color_mode", value="palette"), Parameter("publish_confidence", value=True)]))
    second = frame(1)
    expected = expected_outputs(reference, rgb, drivable_classes=drivable, min_confidence=0.15)
    assert_outputs_equal(second, expected)
    assert (rh.as_array(second["segmentation/labels"]) == labels.IGNORE_ID).any()  # low confidence is unknown
    assert not np.array_equal(rh.as_array(first["segmentation/drivable_mask"]),
                              expected["segmentation/drivable_mask"])
    extra = wait_answers(collector, 1, ["segmentation/color", "segmentation/confidence"])
    np.testing.assert_array_equal(rh.as_array(extra["segmentation/color"]), colorize(expected["segmentation/labels"]))
    np.testing.assert_array_equal(rh.as_array(extra["segmentation/confidence"]), expected["segmentation/confidence"])
    assert all(r.successful for r in node.set_parameters([Parameter("color_mode", value="overlay"),
                                                          Parameter("overlay_alpha", value=0.7)]))
    frame(2)
    overlay = rh.as_array(wait_answers(collector, 2, ["segmentation/color"])["segmentation/color"])
    unknown = expected["segmentation/labels"] == labels.IGNORE_ID
    np.testing.assert_array_equal(overlay, colorize_overlay(rgb, expected["segmentation/labels"], alpha=0.7))
    np.testing.assert_array_equal(overlay[unknown], rgb[unknown])  # unknown pixels show the camera image
    # at model resolution: the overlay of the model's own labels on the frame resized as the model sees it
    assert all(r.successful for r in node.set_parameters([Parameter("color_resolution", value="model")]))
    frame(3)
    small = rh.as_array(wait_answers(collector, 3, ["segmentation/color"])["segmentation/color"])
    model_labels = reference.segment(rgb).model_labels
    assert small.shape[:2] == model_labels.shape != rgb.shape[:2]
    np.testing.assert_array_equal(small, colorize_overlay(rgb, model_labels, alpha=0.7, size=Size.of(model_labels)))
    # the input filter: what the reference gives with the same filter, which is not what it gives without
    assert all(r.successful for r in node.set_parameters([Parameter("input_filter", value="denoise_white_balance")]))
    reference.input_filter = "denoise_white_balance"
    try:
        filtered = expected_outputs(reference, rgb, drivable_classes=drivable, min_confidence=0.15)
    finally:
        reference.input_filter = "none"
    assert not np.array_equal(filtered["segmentation/labels"], expected["segmentation/labels"])
    assert_outputs_equal(frame(4), filtered)
    assert all(r.successful for r in node.set_parameters([Parameter("publish_color", value=False),
                                                          Parameter("max_rate_hz", value=2.5)]))
    frame(5)
    assert node.worker.wait_idle(TIMEOUT)
    time.sleep(0.3)  # a colour image, had one been published, would be here by now
    assert answer(collector, "segmentation/color", 5) is None
    assert node.worker.max_rate_hz == 2.5


@pytest.mark.parametrize(("parameter", "reason"), [
    (Parameter("drivable_classes", value=["road", "lava"]), "unknown drivable class 'lava'"),
    (Parameter("color_mode", value="rainbow"), "color_mode must be one of: palette, overlay"),
    (Parameter("min_confidence", value=1.5), "out of range"),
    (Parameter("backend", value="cuda"), "read-only"),
    (Parameter("image_transport", value="compressed"), "read-only"),
    (Parameter("overlay_alpha", value="half"), "overlay_alpha must be a number, got 'half'"),
    (Parameter("input_filter", value="sharpen"), "input_filter must be one of: none, denoise, denoise_white_balance"),
    (Parameter("max_rate_hz", value=-2), "max_rate_hz must be in 0.0 .. 1000.0; got -2.0"),  # integers checked too
])
def test_invalid_or_read_only_changes_are_refused_with_a_reason(start_node, parameter, reason):
    node = start_node()
    before = node.get_parameter(parameter.name).value
    result = node.set_parameters([parameter])[0]
    assert not result.successful and reason in result.reason
    assert node.get_parameter(parameter.name).value == before


def test_parameters_change_through_the_ros_parameter_service(start_node, graph):
    node = start_node()
    client_node = graph.add(Node("param_client", context=graph.context))
    client = client_node.create_client(SetParameters, f"{node.get_fully_qualified_name()}/set_parameters")
    assert client.wait_for_service(timeout_sec=10)

    def set_remote(name, array):
        value = ParameterValue(type=ParameterType.PARAMETER_STRING_ARRAY, string_array_value=array)
        future = client.call_async(SetParameters.Request(parameters=[ParameterMsg(name=name, value=value)]))
        assert rh.wait_for(future.done, 10)
        return future.result().results[0]

    assert set_remote("drivable_classes", ["road", "sidewalk"]).successful
    assert node.segmenter.drivable_classes == ("road", "sidewalk")
    refused = set_remote("drivable_classes", ["sky", "nowhere"])
    assert not refused.successful and "nowhere" in refused.reason
    assert node.segmenter.drivable_classes == ("road", "sidewalk")


# --- QoS and diagnostics --------------------------------------------------------------------------

def test_auto_reliability_follows_a_best_effort_camera(start_node, graph):
    node = start_node()
    assert node.input_reliability == "reliable"  # nobody publishes yet
    collector = connect(graph, node, topics={"segmentation/labels": Image})
    camera = camera_for(graph, node, reliability="best_effort")  # matches only once the node re-subscribed
    assert node.input_reliability == "best_effort"
    camera.publish(rh.image_msg(rh.make_frame(0, 32, 16), index=5))
    assert wait_answers(collector, 5, ["segmentation/labels"])


def test_incompatible_qos_is_logged_once_with_the_fixing_parameter_value(start_node, graph):
    rosout = rh.make_collector(graph, "/", {"/rosout": Log}, name="rosout_sink")
    diagnostics = rh.make_collector(graph, "/", {"/diagnostics": DiagnosticArray}, name="diag_sink")
    node = start_node(qos_reliability="reliable")
    for name in ("camera_a", "camera_b"):
        rh.make_camera(graph, node.get_namespace(), reliability="best_effort", name=name)

    def complaints():
        return [m for m in rosout.received("/rosout")
                if m.name == node.get_logger().name and "qos_reliability:=best_effort" in m.msg]

    assert rh.wait_for(lambda: complaints(), 10)
    time.sleep(1.5)  # the second camera's event arrives too, and must not log again
    assert len(complaints()) == 1 and complaints()[0].level == Log.ERROR
    status, _ = wait_status(diagnostics, node, lambda values: True)
    assert status.level == DiagnosticStatus.ERROR and "qos_reliability:=best_effort" in status.message


def test_a_camera_of_another_aspect_ratio_is_logged_once_and_warned_in_diagnostics_while_it_lasts(start_node, graph):
    rosout = rh.make_collector(graph, "/", {"/rosout": Log}, name="rosout_sink")
    diagnostics = rh.make_collector(graph, "/", {"/diagnostics": DiagnosticArray}, name="diag_sink")
    node = start_node()  # the tiny model's input is 64x32, aspect 2
    collector = connect(graph, node, topics={"segmentation/labels": Image})
    camera = camera_for(graph, node)

    def stretched():
        return [m for m in rosout.received("/rosout") if m.name == node.get_logger().name and "stretched" in m.msg]

    for index, (width, height) in enumerate([(32, 16), (40, 18), (24, 24), (24, 24), (32, 16)], start=1):
        camera.publish(rh.image_msg(rh.make_frame(index, width, height), index=index))
        assert wait_answers(collector, index, ["segmentation/labels"])  # a stretched frame is still answered
    # 2:1 and 2.2:1 (within the tolerance) are not reported; the square camera once, however often it comes
    assert rh.wait_for(lambda: stretched(), 10)
    time.sleep(0.5)
    assert len(stretched()) == 1 and stretched()[0].level == Log.WARN
    assert "24x24" in stretched()[0].msg and "input_width: 64, input_height: 64" in stretched()[0].msg
    # /diagnostics judge the latest frame: the 2:1 camera again is fine; the square one warns for as long as it lasts
    status, values = wait_status(diagnostics, node, lambda values: values["published_frames"] == "5")
    assert status.level == DiagnosticStatus.OK and values["camera_size"] == "32x16" and values["stretch"] == "ok"
    camera.publish(rh.image_msg(rh.make_frame(6, 24, 24), index=6))
    assert wait_answers(collector, 6, ["segmentation/labels"])
    status, values = wait_status(diagnostics, node, lambda values: values["published_frames"] == "6")
    assert status.level == DiagnosticStatus.WARN and status.message == values["stretch"]
    assert values["camera_size"] == "24x24" and "input_width: 64, input_height: 64" in values["stretch"]
    assert len(stretched()) == 1  # logged once, however long it lasts
    # once no frame has come for 5 s there is no stretch to warn of (the last size stays on show)
    status, _ = wait_status(diagnostics, node,
                            lambda values: values["stretch"] == "ok" and values["camera_size"] == "24x24")
    assert "stretched" not in status.message


def wait_status(diagnostics, node, predicate):
    """(status, {key: value}) of the newest diagnostics of ``node`` whose values satisfy ``predicate``."""
    name = f"{node.get_fully_qualified_name()}: segmentation"

    def find():
        for array in reversed(diagnostics.received("/diagnostics")):
            for status in array.status:
                values = {kv.key: kv.value for kv in status.values}
                if status.name == name and predicate(values):
                    return status, values
        return None

    assert rh.wait_for(lambda: find() is not None, 10), "no matching diagnostics"
    return find()


def test_diagnostics_report_backend_model_rate_and_latency(start_node, graph, tiny_checkpoint):
    diagnostics = rh.make_collector(graph, "/", {"/diagnostics": DiagnosticArray}, name="diag_sink")
    node = start_node()
    collector = connect(graph, node, topics={"segmentation/labels": Image})
    camera = camera_for(graph, node)
    for index in range(3):
        camera.publish(rh.image_msg(rh.make_frame(index, 64, 32), index=index))
        wait_answers(collector, index, ["segmentation/labels"])
    status, values = wait_status(diagnostics, node, lambda values: values["published_frames"] == "3")
    assert status.level == DiagnosticStatus.OK and status.hardware_id == "cpu"
    assert values["backend"] == "cpu" and values["model"] == f"unet ({tiny_checkpoint})"
    assert values["input_size"] == "64x32" and values["input_reliability"] == "reliable"
    assert values["test_time_flip"] == "false"
    assert float(values["fps"]) > 0 and 0 < float(values["latency_p50_ms"]) <= float(values["latency_p95_ms"])
    assert values["dropped_frames"] == "0" and values["rejected_frames"] == "0" and values["last_error"] == ""
    assert sorted(values) == sorted(contract.DIAGNOSTIC_KEYS)  # exactly the contract's keys
    read_back = contract.NodeStatus.parse(status.name, values)
    assert read_back.input_size == (64, 32) and read_back.drivable_classes == ("road",)
    assert read_back.test_time_flip is False
    assert read_back.input_topic == f"{node.get_namespace()}/image"


def test_frames_below_the_checkpoints_confidence_floor_warn_until_the_floor_is_turned_off(
        start_node, graph, tiny_checkpoint, engine_cache, tmp_path):
    payload = torch.load(tiny_checkpoint, weights_only=True)
    payload["model"]["confidence_floor"] = 0.999  # no frame of the tiny model is that sure
    floored = tmp_path / "floored.pt"
    torch.save(payload, floored)
    diagnostics = rh.make_collector(graph, "/", {"/diagnostics": DiagnosticArray}, name="diag_floor")
    node = start_node(model_path=str(floored))
    collector = connect(graph, node, topics={"segmentation/labels": Image})
    camera = camera_for(graph, node)
    rgb = rh.make_frame(0, 64, 32)
    reference = Segmenter.from_checkpoint(tiny_checkpoint, with_confidence=True,
                                          cache_dir=engine_cache).segment(rgb).confidence
    for index in range(9):  # 3.6 s of frames: the watch samples one a second and needs three samples
        camera.publish(rh.image_msg(rgb, index=index))
        wait_answers(collector, index, ["segmentation/labels"])
        time.sleep(0.4)
    status, values = wait_status(diagnostics, node, lambda values: values["mean_confidence"] != "")
    assert status.level == DiagnosticStatus.WARN and status.message.startswith(
        f"input looks degraded: mean confidence {values['mean_confidence']} over the last 5 s is below the "
        "model's floor 0.999")
    assert float(values["mean_confidence"]) == pytest.approx(reference.mean() / 255, abs=1e-3)
    assert values["confidence_floor"] == "0.999"
    assert node.set_parameters([Parameter("confidence_floor", value=0.0)])[0].successful
    status, values = wait_status(diagnostics, node, lambda values: values["confidence_floor"] == "")
    assert status.level == DiagnosticStatus.OK and values["mean_confidence"] == ""  # the samples are forgotten


def test_input_filter_when_degraded_filters_the_frames_while_they_look_degraded(
        start_node, graph, tiny_checkpoint, engine_cache, tmp_path):
    payload = torch.load(tiny_checkpoint, weights_only=True)
    payload["model"]["confidence_floor"] = 0.999  # no frame of the tiny model is that sure: degraded
    floored = tmp_path / "floored.pt"
    torch.save(payload, floored)
    diagnostics = rh.make_collector(graph, "/", {"/diagnostics": DiagnosticArray}, name="diag_gate")
    node = start_node(model_path=str(floored), input_filter="when_degraded")
    collector = connect(graph, node, topics={"segmentation/labels": Image})
    camera = camera_for(graph, node)
    noisy = np.clip(rh.make_frame(0, 64, 32).astype(np.int16)
                    + np.random.default_rng(0).normal(0, 40, (32, 64, 3)), 0, 255).astype(np.uint8)
    plain, filtered = (Segmenter.from_checkpoint(floored, input_filter=name, cache_dir=engine_cache).segment(noisy).labels
                       for name in ("none", "denoise_white_balance"))
    assert (plain != filtered).any()  # the filter changes this frame's labels, so the test can tell
    for index in range(9):  # 3.6 s of frames: three samples, and the watch calls the input degraded
        camera.publish(rh.image_msg(noisy, index=index))
        wait_answers(collector, index, ["segmentation/labels"])
        time.sleep(0.4)
    status, values = wait_status(diagnostics, node, lambda values: values["input_filter"] == "denoise_white_balance")
    assert status.level == DiagnosticStatus.WARN and status.message.startswith("input looks degraded")
    # Two frames back to back: at most one is the second's sample, which goes unfiltered.
    answers = []
    for index in (20, 21):
        camera.publish(rh.image_msg(noisy, index=index))
        answers.append(rh.as_array(wait_answers(collector, index, ["segmentation/labels"])["segmentation/labels"]))
    assert any(np.array_equal(labels, filtered) for labels in answers)
    assert all(np.array_equal(labels, filtered) or np.array_equal(labels, plain) for labels in answers)
    # No floor, nothing degraded: the frames go unfiltered again.
    assert node.set_parameters([Parameter("confidence_floor", value=0.0)])[0].successful
    status, values = wait_status(diagnostics, node, lambda values: values["confidence_floor"] == "")
    assert values["input_filter"] == "none"
    camera.publish(rh.image_msg(noisy, index=30))
    labels = rh.as_array(wait_answers(collector, 30, ["segmentation/labels"])["segmentation/labels"])
    np.testing.assert_array_equal(labels, plain)
    # A frame under a sodium street light: its colour cast alone says degraded, but only with a floor in force
    # (without one when_degraded never filters, as seg-eval and seg-bag-eval refuse it then).
    sodium = sodium_lit(rh.make_frame(0, 64, 32))
    assert strong_colour_cast(sodium)
    plain, filtered = (Segmenter.from_checkpoint(floored, input_filter=name, cache_dir=engine_cache)
                       .segment(sodium).labels for name in ("none", "denoise_white_balance"))
    assert (plain != filtered).any()
    camera.publish(rh.image_msg(sodium, index=31))
    labels = rh.as_array(wait_answers(collector, 31, ["segmentation/labels"])["segmentation/labels"])
    np.testing.assert_array_equal(labels, plain)
    assert node.set_parameters([Parameter("confidence_floor", value=0.001)])[0].successful  # in force, never below
    wait_status(diagnostics, node, lambda values: values["confidence_floor"] != "")
    answers = []
    for index in (32, 33):  # back to back: at most one is a sample, which goes unfiltered
        camera.publish(rh.image_msg(sodium, index=index))
        answers.append(rh.as_array(wait_answers(collector, index, ["segmentation/labels"])["segmentation/labels"]))
    assert any(np.array_equal(labels, filtered) for labels in answers)
    assert all(np.array_equal(labels, filtered) or np.array_equal(labels, plain) for labels in answers)


def test_the_node_and_seg_bag_eval_use_the_checkpoints_own_drivable_classes(start_node, graph, tmp_path):
    """With drivable_classes unset the node marks what the checkpoint names drivable, the classes
    seg-bag-eval scores a drivable mask against: the two agree on a checkpoint that is not road-only."""
    own = ("road", "sidewalk")
    model = write_tiny_checkpoint(tmp_path / "own_drivable.pt", drivable_classes=own)
    diagnostics = rh.make_collector(graph, "/", {"/diagnostics": DiagnosticArray}, name="diag_sink")
    node = start_node(model_path=str(model))
    assert node.get_parameter("drivable_classes").value == [] and node.segmenter.drivable_classes == own
    collector = connect(graph, node, topics={"segmentation/labels": Image, "segmentation/drivable_mask": Image})
    camera = camera_for(graph, node)
    camera.publish(rh.image_msg(rh.make_frame(0, 128, 64), index=0))
    answers = wait_answers(collector, 0, ["segmentation/labels", "segmentation/drivable_mask"])
    predicted = rh.as_array(answers["segmentation/labels"])
    own_ids = [labels.CLASS_NAMES.index(name) for name in own]
    assert set(own_ids) <= set(np.unique(predicted).tolist())  # both classes on the frame: the check means something
    np.testing.assert_array_equal(rh.as_array(answers["segmentation/drivable_mask"]),
                                  np.where(np.isin(predicted, own_ids), 255, 0))
    status, values = wait_status(diagnostics, node, lambda values: True)
    assert contract.NodeStatus.parse(status.name, values).drivable_classes == own
    bag = write_bag(tmp_path / "bag", count=2, size=(128, 64))
    assert bag_eval([str(bag), "--checkpoint", str(model), "--out", str(tmp_path / "eval"), "--quiet"]) == 0
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["drivable_classes"] == list(own)


# --- start-up failures ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bad_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    corrupt = root / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    five = write_tiny_checkpoint(root / "five.pt", class_names=("road", "sidewalk", "car", "person", "sky"))
    return {"missing": root / "missing.pt", "corrupt": corrupt, "five_classes": five}


@pytest.mark.parametrize(("case", "extra", "message"), [
    ("missing", [], "missing.pt: no such checkpoint file; check the path"),
    ("corrupt", [], "corrupt.pt: not a readable checkpoint"),
    ("five_classes", [], "model has 5 classes, but seg_node publishes Cityscapes trainIds; use a model of the 19 "
                         "Cityscapes classes"),
    ("good", ["-p", "image_transport:=theora"], "image_transport must be one of: raw, compressed"),
    ("good", ["-p", "input_width:=640"], "input_width and input_height must both be 0"),
    ("good", ["-p", "drivable_classes:=[lava]"], "unknown drivable class 'lava'"),
    ("good", ["-p", "overlay_alpha:=3.0"], "overlay_alpha"),
    ("good", ["-p", "backend:=tensorrt"], "torch-tensorrt"),
    ("good", ["-p", "grid.x_max:=0.2"], "grid extent is empty: x 0.5..0.2"),
])
def test_bad_set_ups_stop_start_up_with_one_error_line(bad_models, tiny_checkpoint, capfd, case, extra, message):
    model = tiny_checkpoint if case == "good" else bad_models[case]
    code = main(["seg_node", "--ros-args", "-r", f"__ns:=/startup{os.getpid()}", "-p", f"model_path:={model}",
                 *extra])
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1
    assert len(lines) == 1 and "cannot start" in lines[0] and message in lines[0], err


def test_a_misspelt_parameter_is_reported_with_the_name_meant(tiny_checkpoint, capfd):
    # rclpy ignores names the node does not declare; before, '-p model_pth:=...' said only that the model
    # path was missing.
    code = main(["seg_node", "--ros-args", "-r", f"__ns:=/startup{os.getpid()}", "-p", f"model_pth:={tiny_checkpoint}"])
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 2, lines
    assert "unknown parameter 'model_pth' is ignored; did you mean 'model_path'?" in lines[0]
    assert "cannot start" in lines[1] and "model_path" in lines[1]


def test_a_checkpoint_describing_no_usable_model_stops_start_up_with_one_line_and_no_half_built_node(
        bad_checkpoints, capfd):
    for case, (path, message) in bad_checkpoints.items():
        # Before: a traceback, then rclpy's shutdown destroyed the half-built node: a second one ('_worker').
        code = main(["seg_node", "--ros-args", "-r", f"__ns:=/startup{os.getpid()}", "-p", f"model_path:={path}"])
        lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
        assert code == 1 and len(lines) == 1, (case, lines)
        assert f"cannot start: {path}: " in lines[0] and message in lines[0], (case, lines)


def test_an_input_size_over_the_memory_bound_stops_start_up_with_one_line(tiny_checkpoint, capfd, monkeypatch):
    # Before: 8192x8192 (inside the parameter range) grew to 23 GB and was killed without a word.
    monkeypatch.setenv("SEG_PERCEPTION_MAX_MEMORY_MB", "50")
    code = main(["seg_node", "--ros-args", "-r", f"__ns:=/startup{os.getpid()}", "-p", f"model_path:={tiny_checkpoint}",
                 "-p", "input_width:=1024", "-p", "input_height:=512"])
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1, lines
    assert "cannot start: model input size 1024x512 needs about 0.20 GiB for 'unet', over the bound" in lines[0]


def test_a_failed_start_up_leaves_no_node_for_rclpy_shutdown_to_destroy(bad_checkpoints):
    import rclpy

    from seg_perception.checkpoint import CheckpointError

    path, _ = bad_checkpoints["unknown_architecture"]
    context = rclpy.Context()
    rclpy.init(args=["--ros-args", "-r", f"__ns:=/half{os.getpid()}", "-p", f"model_path:={path}"], context=context)
    # The traceback pytest keeps holds the failed node, as an exception on its way out of main() does.
    with pytest.raises(CheckpointError):
        SegNode(context=context)
    context.try_shutdown()  # before: AttributeError: 'SegNode' object has no attribute '_worker'
