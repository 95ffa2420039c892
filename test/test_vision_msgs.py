"""vision_msgs as the node will use it: the upstream interface, and a LabelInfo that crosses processes.

Off ROS, ``make`` builds a test-only vision_msgs (test/msgs/vision_msgs) into .venv, since
vision_msgs is not on PyPI or Debian; on a ROS 2 install these tests run against the real one.
The class map is published once, reliable + transient-local, so a subscriber process that
starts after the publish (a late joiner, like a costmap layer started later) still receives it.
"""

import os

import pytest

import ros_helpers as rh  # isolates this run's ROS graph (domain id, localhost discovery)
from seg_perception.labels import CLASS_NAMES, NUM_CLASSES

try:
    from vision_msgs.msg import LabelInfo, VisionClass
except ImportError as error:  # pragma: no cover - a clear message instead of a bare ImportError
    raise ImportError("vision_msgs is missing: `make test` builds the test-only one into .venv "
                      "(test/msgs/vision_msgs); a ROS 2 install provides it through rosdep") from error

pytestmark = pytest.mark.ros

THRESHOLD = 0.25  # exact in float32

def label_info() -> LabelInfo:
    msg = LabelInfo(threshold=THRESHOLD)
    msg.class_map = [VisionClass(class_id=i, class_name=name) for i, name in enumerate(CLASS_NAMES)]
    msg.header.frame_id = "camera"
    msg.header.stamp.sec = 1234
    msg.header.stamp.nanosec = 5678
    return msg


def test_interface_is_upstream_vision_msgs_4_1():
    assert LabelInfo.get_fields_and_field_types() == {
        "header": "std_msgs/Header", "class_map": "sequence<vision_msgs/VisionClass>", "threshold": "float"}
    assert VisionClass.get_fields_and_field_types() == {"class_id": "uint16", "class_name": "string"}


def test_label_info_reaches_a_late_subscriber_in_another_process(graph):
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy

    topic = f"/proc{os.getpid()}/label_info"
    node = graph.add(Node("label_info_publisher", context=graph.context))
    profile = rh.qos("reliable", depth=1)
    profile.durability = DurabilityPolicy.TRANSIENT_LOCAL
    publisher = node.create_publisher(LabelInfo, topic, profile)
    sent = label_info()
    assert len(sent.class_map) == NUM_CLASSES == 19
    publisher.publish(sent)
    assert publisher.get_subscription_count() == 0  # nobody listened when it was published

    got = rh.late_label_info(topic)
    assert got["class_map"] == [[i, name] for i, name in enumerate(CLASS_NAMES)]
    assert got["class_map"][0] == [0, "road"] and got["class_map"][18] == [18, "bicycle"]
    assert got["threshold"] == THRESHOLD
    assert got["frame_id"] == "camera" and got["stamp"] == [1234, 5678]
    assert got["count"] == 1
    graph.remove(node)
