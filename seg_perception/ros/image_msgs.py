"""sensor_msgs/Image and CompressedImage <-> numpy, through ``seg_perception.node.frames``.

Reading: rgb8/bgr8 frames are a view of ``msg.data`` (no copy), rgba8/bgra8/mono8
one copy. Encodings outside those are handed to ROS's cv_bridge when a ROS
install provides a working one (checked once by a round trip; the PyPI
``cv-bridge`` port fails on numpy 2 and is then skipped), else refused.

Writing: ``ImageOutput`` keeps one message per output topic whose
``data`` is an ``array.array('B')`` and hands out a writable numpy view of
it, so outputs are computed straight into the message (cv2 ``dst=``).
Publishing serialises the message before ``publish`` returns, so the same
buffer serves the next frame: no allocation and no page faults per frame.
Assigning ``bytes`` would copy twice and, on Humble, check every byte in
Python; a ``memoryview`` is slower still.
"""

from __future__ import annotations

import array

import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from ..node.frames import (SUPPORTED_ENCODINGS, Frame, FrameError, check_layout, check_pixels, decode_compressed,
                           decode_raw)


def _working_cv_bridge():
    """A CvBridge that round-trips a small frame correctly, or None."""
    try:
        from cv_bridge import CvBridge
    except ImportError:
        return None
    try:
        bridge = CvBridge()
        probe = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
        back = bridge.imgmsg_to_cv2(bridge.cv2_to_imgmsg(probe, "rgb8"), "rgb8")
        return bridge if np.array_equal(back, probe) else None
    except Exception:  # broken ports fail in many ways (numpy 2 API removals, wrong type tables)
        return None


_BRIDGE = _working_cv_bridge()


def converter_name() -> str:
    """Which converter handles encodings outside the built-in set (for the start-up log)."""
    return "cv_bridge" if _BRIDGE is not None else "built-in only"


def image_to_frame(msg: Image, max_pixels: int | None = None) -> Frame:
    """An Image message as an H x W x 3 frame; malformed or unsupported frames, or frames of more than
    ``max_pixels`` pixels, raise FrameError."""
    if msg.encoding in SUPPORTED_ENCODINGS or _BRIDGE is None:
        return decode_raw(msg.data, msg.encoding, msg.height, msg.width, msg.step, max_pixels)
    check_pixels(msg.width, msg.height, max_pixels)
    check_layout(len(msg.data), msg.height, msg.width, msg.step, msg.width)
    try:
        return Frame(_BRIDGE.imgmsg_to_cv2(msg, "rgb8"), bgr=False)
    except Exception as exc:  # CvBridgeError and the numpy errors of odd layouts alike
        raise FrameError(f"cv_bridge cannot convert {msg.encoding!r} to rgb8: {exc}") from None


def compressed_to_frame(msg: CompressedImage, max_pixels: int | None = None) -> Frame:
    """A CompressedImage message as an H x W x 3 frame; undecodable data, or a PNG/JPEG header saying more
    than ``max_pixels`` pixels (checked before decoding), raises FrameError."""
    return decode_compressed(msg.data, max_pixels)


class ImageOutput:
    """One output topic's Image message, built in place in a data buffer reused from frame to frame.

    ``pixels(header, height, width)`` stamps the message and returns its data
    as a writable H x W (mono8) or H x W x 3 (rgb8/bgr8) uint8 view; fill it,
    then publish ``message``. Only the thread that publishes may use it, and
    only between publishes: the next ``pixels`` call overwrites the buffer.
    """

    _CHANNELS = {"mono8": 1, "rgb8": 3, "bgr8": 3}

    def __init__(self, encoding: str):
        if encoding not in self._CHANNELS:
            raise ValueError(f"output encoding must be one of {', '.join(self._CHANNELS)}, got {encoding!r}")
        self._channels = self._CHANNELS[encoding]
        self.message = Image(encoding=encoding, is_bigendian=0)
        self._view = np.empty((0, 0, self._channels), np.uint8)

    def pixels(self, header: Header, height: int, width: int) -> np.ndarray:
        """The message's data as a writable view for a ``height`` x ``width`` image stamped with ``header``."""
        if self._view.shape[:2] != (height, width):
            self.message.data = array.array("B", [0]) * (height * width * self._channels)
            # The view is of the buffer the message holds: depending on the rosidl version and
            # ROS_PYTHON_CHECK_FIELDS, the setter keeps the array.array or copies it (once, here).
            self._view = np.frombuffer(self.message.data, np.uint8).reshape(height, width, self._channels)
            self.message.height, self.message.width, self.message.step = height, width, width * self._channels
        self.message.header = header
        return self._view[..., 0] if self._channels == 1 else self._view


def array_to_image(image: np.ndarray, encoding: str, header: Header) -> Image:
    """An H x W (mono8) or H x W x 3 (rgb8/bgr8) uint8 array copied into a new Image message with ``header``
    (for one-off messages; a topic published every frame reuses an ``ImageOutput``)."""
    height, width = image.shape[:2]
    channels = image.shape[2] if image.ndim == 3 else 1
    data = array.array("B")
    data.frombytes(np.ascontiguousarray(image, dtype=np.uint8))
    msg = Image(header=header, height=height, width=width, encoding=encoding, is_bigendian=0,
                step=width * channels)
    msg.data = data
    return msg
