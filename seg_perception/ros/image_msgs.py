"""sensor_msgs/Image and CompressedImage <-> numpy, through ``seg_perception.frames``.

Reading: rgb8/bgr8 frames are a view of ``msg.data`` (no copy), rgba8/bgra8/mono8
one copy. Encodings outside those are handed to ROS's cv_bridge when a ROS
install provides a working one (checked once by a round trip; the PyPI
``cv-bridge`` port fails on numpy 2 and is then skipped), else refused.

Writing: ``msg.data`` gets an ``array.array('B')`` filled straight from the
numpy buffer: one copy. Assigning ``bytes`` would copy twice (the message
setter builds an array.array from them) and, on Humble, check every byte in
Python; a ``memoryview`` is slower still.
"""

from __future__ import annotations

import array

import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from ..frames import SUPPORTED_ENCODINGS, Frame, FrameError, check_layout, decode_compressed, decode_raw


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


def image_to_frame(msg: Image) -> Frame:
    """An Image message as an H x W x 3 frame; malformed or unsupported frames raise FrameError."""
    if msg.encoding in SUPPORTED_ENCODINGS or _BRIDGE is None:
        return decode_raw(msg.data, msg.encoding, msg.height, msg.width, msg.step)
    check_layout(len(msg.data), msg.height, msg.width, msg.step, msg.width)
    try:
        return Frame(_BRIDGE.imgmsg_to_cv2(msg, "rgb8"), bgr=False)
    except Exception as exc:  # CvBridgeError and the numpy errors of odd layouts alike
        raise FrameError(f"cv_bridge cannot convert {msg.encoding!r} to rgb8: {exc}") from None


def compressed_to_frame(msg: CompressedImage) -> Frame:
    """A CompressedImage message as an H x W x 3 frame; undecodable data raises FrameError."""
    return decode_compressed(msg.data)


def array_to_image(image: np.ndarray, encoding: str, header: Header) -> Image:
    """An H x W (mono8) or H x W x 3 (rgb8/bgr8) uint8 array as an Image message with ``header``."""
    height, width = image.shape[:2]
    channels = image.shape[2] if image.ndim == 3 else 1
    data = array.array("B")
    data.frombytes(np.ascontiguousarray(image, dtype=np.uint8))
    msg = Image(header=header, height=height, width=width, encoding=encoding, is_bigendian=0,
                step=width * channels)
    msg.data = data
    return msg
