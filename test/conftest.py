"""Fixtures shared by the test modules."""

import pytest

from tiny_models import write_bad_checkpoints, write_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A checkpoint of the tiny model (tiny_models.py): 64x32 input, the 19 Cityscapes classes."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt")


@pytest.fixture(scope="session")
def bad_checkpoints(tmp_path_factory):
    """{case: (path, error fragment)}: checkpoints torch reads that describe no usable model, or are unsafe
    (tiny_models.BAD_CHECKPOINTS)."""
    return write_bad_checkpoints(tmp_path_factory.mktemp("bad_checkpoints"))


@pytest.fixture(scope="session")
def engine_cache(tmp_path_factory):
    """One engine cache for the session: each ONNX graph variant is exported once."""
    return tmp_path_factory.mktemp("engines")


@pytest.fixture(scope="module")
def graph():
    """A ROS graph (rclpy context + executor thread) for the module, closed after it."""
    import ros_helpers as rh  # imported here: it isolates the ROS graph, which only ROS tests need

    graph = rh.RosGraph()
    yield graph
    graph.close()
