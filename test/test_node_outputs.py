"""The node's output messages: ImageOutput builds each in a data buffer it reuses from frame to frame."""

import numpy as np
import pytest
from sensor_msgs.msg import Image

import ros_helpers as rh
from seg_perception.ros.image_msgs import ImageOutput, array_to_image


def header(index):
    msg = Image()
    rh.stamp(msg, index)
    return msg.header


def test_pixels_are_a_writable_view_of_the_message_data_reused_while_the_size_stays():
    output = ImageOutput("rgb8")
    pixels = output.pixels(header(1), 4, 6)
    pixels[:] = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    msg = output.message
    assert (msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian) == ("rgb8", 4, 6, 18, 0)
    assert msg.header == header(1)
    np.testing.assert_array_equal(rh.as_array(msg), pixels)  # the view is the message's buffer
    data = msg.data
    again = output.pixels(header(2), 4, 6)
    assert output.message.data is data and np.shares_memory(again, pixels)  # same size: nothing allocated
    assert output.message.header == header(2)
    bigger = output.pixels(header(3), 5, 7)
    assert bigger.shape == (5, 7, 3) and output.message.data is not data and output.message.step == 21
    assert len(output.message.data) == 5 * 7 * 3


def test_mono8_pixels_are_two_dimensional():
    output = ImageOutput("mono8")
    pixels = output.pixels(header(0), 3, 5)
    assert pixels.shape == (3, 5)
    pixels[:] = 7
    assert output.message.step == 5 and bytes(output.message.data) == bytes([7]) * 15


def test_unsupported_output_encoding_is_refused():
    with pytest.raises(ValueError, match="output encoding must be one of mono8, rgb8, bgr8, got 'rgba8'"):
        ImageOutput("rgba8")


def test_array_to_image_copies_the_array():
    labels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    msg = array_to_image(labels, "mono8", header(5))
    labels[:] = 0
    np.testing.assert_array_equal(rh.as_array(msg), np.arange(12).reshape(3, 4))
    assert msg.header == header(5)


@pytest.mark.ros
def test_a_reused_buffer_may_be_overwritten_as_soon_as_publish_returns():
    """publish serialises the message before it returns: the next frame can be drawn into the same buffer."""
    graph = rh.RosGraph()
    try:
        collector = rh.make_collector(graph, "/outputs_test", {"out": Image})
        _, publisher = rh.make_camera(graph, "/outputs_test", "out")
        assert rh.wait_for(lambda: publisher.get_subscription_count() > 0, 10)
        output = ImageOutput("mono8")
        for index in range(3):
            output.pixels(header(index), 64, 32)[:] = index + 1
            publisher.publish(output.message)
        assert rh.wait_for(lambda: len(collector.received("out")) == 3, 10)
        for index, msg in enumerate(collector.received("out")):
            assert rh.frame_index(msg.header) == index
            assert set(np.unique(rh.as_array(msg))) == {index + 1}
    finally:
        graph.close()
