"""Fixtures shared by the ROS test modules (each module gets its own instances)."""

import pytest


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny valid checkpoint (64x32 input, the 19 Cityscapes classes)."""
    import ros_helpers as rh  # imported here: it isolates the ROS graph, which only ROS tests need

    return rh.tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt")


@pytest.fixture(scope="module")
def graph():
    """A ROS graph (rclpy context + executor thread) for the module, closed after it."""
    import ros_helpers as rh

    graph = rh.RosGraph()
    yield graph
    graph.close()
