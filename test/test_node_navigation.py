"""seg_node's navigation outputs on a real ROS 2 graph: camera_info in and out, label_info, grid, points.

The node is the real SegNode on the tiny model. Its grid must equal, cell for cell,
the offline GroundProjection (tested against OpenCV in test_navigation_projection.py)
of a reference Segmenter's labels for the same frame; bad camera_info and bad
parameters must give an all-unknown grid or a refusal with a reason, never a crash.
"""

import itertools
import os

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from nav_msgs.msg import OccupancyGrid
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

import ros_helpers as rh
from seg_perception.inference import Segmenter
from seg_perception.labels import CLASS_NAMES
from seg_perception.navigation import CameraMount, GridSpec
from seg_perception.ros.node import SegNode, StartupError
from test_node_inprocess import camera_for, connect, wait_answers, wait_status

pytestmark = pytest.mark.ros

WIDTH, HEIGHT, FOCAL = 96, 48, 60.0
MOUNT = CameraMount(x=0.3, y=-0.2, z=1.5, roll=2.0, pitch=12.0, yaw=5.0)
GRID = GridSpec(frame_id="base_footprint", resolution=0.2, x_min=0.5, x_max=12.0, y_min=-6.0, y_max=6.0)
#: half the classes drivable, so the tiny model's labels give free and occupied cells alike
DRIVABLE = list(CLASS_NAMES[::2])
NAV = {"segmentation/labels": Image, "segmentation/camera_info": CameraInfo,
       "segmentation/drivable_grid": OccupancyGrid, "segmentation/obstacle_points": PointCloud2}
_namespaces = itertools.count()


def geometry_parameters(grid: GridSpec = GRID, mount: CameraMount = MOUNT) -> dict:
    return {**{f"grid.{k}": getattr(grid, k) for k in GridSpec.__dataclass_fields__},
            **{f"camera.{k}": float(getattr(mount, k)) for k in CameraMount.__dataclass_fields__}}


@pytest.fixture
def start_node(graph, tiny_checkpoint):
    """start_node(**parameters) -> a SegNode with this module's grid and mount, in a namespace of its own."""
    started = []

    def start(**parameters):
        values = {"model_path": str(tiny_checkpoint), "drivable_classes": DRIVABLE, **geometry_parameters(),
                  **parameters}
        node = SegNode(context=graph.context, namespace=f"/nav{os.getpid()}_{next(_namespaces)}",
                       parameter_overrides=[Parameter(name, value=value) for name, value in values.items()])
        started.append(graph.add(node))
        return node

    yield start
    for node in started:
        graph.remove(node)


@pytest.fixture(scope="module")
def reference(tiny_checkpoint):
    return Segmenter.from_checkpoint(tiny_checkpoint)


def camera_info_for(graph, node):
    """A reliable camera_info publisher on the node's input (the node subscribes best effort), once matched."""
    _, publisher = rh.make_camera(graph, node.get_namespace(), "camera_info", CameraInfo, name="camera_info_pub")
    assert rh.wait_for(lambda: publisher.get_subscription_count() > 0, 10), "seg_node did not match camera_info"
    return publisher


def send_info(node, publisher, msg) -> None:
    """Publish ``msg`` on camera_info until the node has it (best effort may drop a message)."""
    def arrived():
        publisher.publish(msg)
        got = node.navigation.camera_info
        return got is not None and got.width == msg.width and np.array_equal(got.k, msg.k, equal_nan=True)
    assert rh.wait_for(arrived, 10, interval=0.1), "camera_info never reached the node"


def expected_grid(reference, rgb, grid=GRID, mount=MOUNT):
    """The offline grid and points for ``rgb``: the reference labels projected with the same camera and mount."""
    return rh.projected_grid(reference.segment(rgb).model_labels, rh.camera_info_msg(WIDTH, HEIGHT, FOCAL), mount,
                             grid, DRIVABLE)


def send_frame(collector, camera, index, topics=tuple(NAV)):
    rgb = rh.make_frame(index, WIDTH, HEIGHT)
    msg = rh.image_msg(rgb, index=index)
    camera.publish(msg)
    return rgb, msg.header, wait_answers(collector, index, topics)


def test_grid_points_and_camera_info_equal_the_offline_projection_of_the_frames_labels(start_node, graph,
                                                                                      reference):
    node = start_node()
    collector = connect(graph, node, topics=NAV)
    info = camera_info_for(graph, node)
    camera = camera_for(graph, node)
    sent_info = rh.camera_info_msg(WIDTH, HEIGHT, FOCAL)
    send_info(node, info, sent_info)
    for index in range(2):
        rgb, header, answers = send_frame(collector, camera, index)
        values, points = expected_grid(reference, rgb)
        grid_msg = answers["segmentation/drivable_grid"]
        assert (grid_msg.header.stamp, grid_msg.header.frame_id) == (header.stamp, "base_footprint")
        assert (grid_msg.info.width, grid_msg.info.height, grid_msg.info.resolution) == (58, 60, pytest.approx(0.2))
        origin = grid_msg.info.origin
        assert (origin.position.x, origin.position.y, origin.orientation.w) == (0.5, -6.0, 1.0)
        got = rh.grid_values(grid_msg)
        np.testing.assert_array_equal(got, values)
        assert {0, 100, -1} <= set(np.unique(got).tolist())  # a real mix, not a trivial grid
        points_msg = answers["segmentation/obstacle_points"]
        assert points_msg.header == grid_msg.header
        np.testing.assert_array_equal(rh.cloud_points(points_msg), points)
        out_info = answers["segmentation/camera_info"]
        assert out_info.header == header and (out_info.width, out_info.height) == (WIDTH, HEIGHT)
        assert list(out_info.k) == list(sent_info.k) and list(out_info.p) == list(sent_info.p)
    assert node.navigation.table_builds == 1  # built once, not per frame


def test_without_camera_info_frames_keep_working_and_diagnostics_say_why(start_node, graph):
    diagnostics = rh.make_collector(graph, "/", {"/diagnostics": DiagnosticArray}, name="diag_sink")
    node = start_node()
    collector = connect(graph, node, topics=NAV)
    camera = camera_for(graph, node)
    send_frame(collector, camera, 0, ["segmentation/labels"])
    status, values = wait_status(diagnostics, node, lambda values: values["published_frames"] == "1")
    assert status.level == DiagnosticStatus.OK
    assert values["navigation"].startswith("no camera_info received yet")
    assert values["camera_info_topic"] == f"{node.get_namespace()}/camera_info"
    assert all(not collector.received(topic) for topic in NAV if topic != "segmentation/labels")
    graph.remove(diagnostics)


@pytest.mark.parametrize(("bad", "problem"), [
    ("zeros", "focal lengths"),
    ("nan", "NaN or infinite values in K"),
    ("size", f"camera_info is {2 * WIDTH}x{2 * HEIGHT} but frames are {WIDTH}x{HEIGHT}"),
])
def test_bad_camera_info_gives_an_all_unknown_grid_and_a_warning_then_recovers(start_node, graph, reference, bad,
                                                                               problem):
    diagnostics = rh.make_collector(graph, "/", {"/diagnostics": DiagnosticArray}, name="diag_sink")
    node = start_node()
    collector = connect(graph, node, topics=NAV)
    info = camera_info_for(graph, node)
    camera = camera_for(graph, node)
    broken = rh.camera_info_msg(2 * WIDTH, 2 * HEIGHT, FOCAL) if bad == "size" else rh.camera_info_msg(
        WIDTH, HEIGHT, FOCAL)
    if bad == "zeros":
        broken.k = [0.0] * 9
    elif bad == "nan":
        broken.k[4] = float("nan")
    send_info(node, info, broken)
    _, _, answers = send_frame(collector, camera, 0)
    grid_msg = answers["segmentation/drivable_grid"]
    assert (grid_msg.info.width, grid_msg.info.height) == (58, 60) and set(grid_msg.data) == {-1}
    assert rh.cloud_points(answers["segmentation/obstacle_points"]).shape == (0, 3)
    status, values = wait_status(diagnostics, node, lambda values: values["published_frames"] == "1")
    assert status.level == DiagnosticStatus.WARN and problem in status.message and problem in values["navigation"]
    send_info(node, info, rh.camera_info_msg(WIDTH, HEIGHT, FOCAL))  # a good camera_info: the grid is back
    rgb, _, answers = send_frame(collector, camera, 1)
    np.testing.assert_array_equal(rh.grid_values(answers["segmentation/drivable_grid"]),
                                  expected_grid(reference, rgb)[0])
    _, values = wait_status(diagnostics, node, lambda values: values["published_frames"] == "2")
    assert values["navigation"] == "ok"
    graph.remove(diagnostics)


def test_grid_and_mount_change_at_run_time_and_impossible_ones_are_refused_with_a_reason(start_node, graph,
                                                                                        reference):
    node = start_node()
    collector = connect(graph, node, topics=NAV)
    send_info(node, camera_info_for(graph, node), rh.camera_info_msg(WIDTH, HEIGHT, FOCAL))
    camera = camera_for(graph, node)
    # an integer for a float parameter, as `ros2 param set /seg_node camera.pitch 15` sends it
    result = node.set_parameters([Parameter("grid.resolution", value=0.25), Parameter("camera.pitch", value=15),
                                  Parameter("grid.frame_id", value="odom")])
    assert all(r.successful for r in result)
    rgb, _, answers = send_frame(collector, camera, 0)
    grid = GridSpec(frame_id="odom", resolution=0.25, x_min=0.5, x_max=12.0, y_min=-6.0, y_max=6.0)
    mount = CameraMount(x=0.3, y=-0.2, z=1.5, roll=2.0, pitch=15.0, yaw=5.0)
    grid_msg = answers["segmentation/drivable_grid"]
    assert (grid_msg.header.frame_id, grid_msg.info.width, grid_msg.info.height) == ("odom", 46, 48)
    np.testing.assert_array_equal(rh.grid_values(grid_msg),
                                  expected_grid(reference, rgb, grid, mount)[0])
    for parameter, reason in [(Parameter("grid.x_min", value=15.0), "grid extent is empty: x 15..12"),
                              (Parameter("camera.z", value=0.0), "the camera must be above the ground"),
                              (Parameter("grid.frame_id", value=""), "grid.frame_id must not be empty"),
                              (Parameter("grid.resolution", value=0.001), "grid.resolution")]:
        (refused,) = node.set_parameters([parameter])
        assert not refused.successful and reason in refused.reason
    assert node.get_parameter("grid.resolution").value == 0.25  # nothing of a refused change stayed


@pytest.mark.parametrize(("parameters", "message"), [
    ({"grid.x_max": 0.2}, "grid extent is empty"),
    ({"camera.z": 0.0}, "the camera must be above the ground"),
    ({"camera.z": -1}, r"camera.z must be in 0.0 .. 100.0; got -1.0"),  # an integer is range-checked too
])
def test_impossible_geometry_stops_start_up_with_the_reason(graph, tiny_checkpoint, parameters, message):
    overrides = [Parameter(name, value=value) for name, value in {"model_path": str(tiny_checkpoint), **parameters}.items()]
    with pytest.raises(StartupError, match=message):
        SegNode(context=graph.context, namespace=f"/nav_bad{os.getpid()}", parameter_overrides=overrides)


def test_integers_are_taken_for_float_parameters_at_start_up(start_node):
    node = start_node(**{"camera.z": 2, "grid.x_max": 10, "max_rate_hz": 5})
    assert (node.navigation.mount.z, node.navigation.grid.x_max) == (2.0, 10.0)
    assert isinstance(node.navigation.mount.z, float) and node.worker.max_rate_hz == 5.0


def test_label_info_is_latched_for_late_joiners_and_follows_min_confidence(start_node, graph):
    from vision_msgs.msg import LabelInfo

    node = start_node(min_confidence=0.25)
    profile = rh.qos("reliable", depth=1)
    profile.durability = DurabilityPolicy.TRANSIENT_LOCAL
    late = graph.add(Node("late_joiner", context=graph.context))  # joins after the node published
    received = []
    late.create_subscription(LabelInfo, f"{node.get_namespace()}/label_info", received.append, profile)
    assert rh.wait_for(lambda: len(received) == 1, 10), "the late joiner got no label_info"
    assert [(c.class_id, c.class_name) for c in received[0].class_map] == list(enumerate(CLASS_NAMES))
    assert received[0].threshold == 0.25
    assert node.set_parameters([Parameter("min_confidence", value=0.5)])[0].successful
    assert rh.wait_for(lambda: len(received) == 2, 10) and received[1].threshold == 0.5
