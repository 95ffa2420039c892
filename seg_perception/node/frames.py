"""Camera frames from raw message buffers and compressed bytes, validated, with at most one copy.

ROS-free: ``seg_perception.ros.image_msgs`` feeds it the fields of a
sensor_msgs/Image (or CompressedImage). rgb8/bgr8 frames, row padding
included, come back as a view of the message buffer; rgba8/bgra8/mono8 cost
exactly one copy (to 3 channels); compressed frames are decoded once.
Every malformed frame raises ``FrameError`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: encoding -> (channels, OpenCV conversion to 3 channels or None, channel order is BGR)
_ENCODINGS: dict[str, tuple[int, int | None, bool]] = {
    "rgb8": (3, None, False),
    "bgr8": (3, None, True),
    "rgba8": (4, cv2.COLOR_RGBA2RGB, False),
    "bgra8": (4, cv2.COLOR_BGRA2BGR, True),
    "mono8": (1, cv2.COLOR_GRAY2RGB, False),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_ENCODINGS)


class FrameError(ValueError):
    """A frame that cannot be used: wrong size, unsupported encoding, undecodable data."""


@dataclass(frozen=True)
class Frame:
    """An H x W x 3 uint8 image (possibly a row-strided view of the message) and its channel order."""

    image: np.ndarray
    bgr: bool


def check_layout(nbytes: int, height: int, width: int, step: int, row_bytes: int) -> None:
    """Raise FrameError unless a buffer of ``nbytes`` holds ``height`` rows of ``step`` >= ``row_bytes`` bytes."""
    if height <= 0 or width <= 0:
        raise FrameError(f"zero-size frame ({width}x{height})")
    if step < row_bytes:
        raise FrameError(f"step {step} is smaller than the {row_bytes} bytes of a {width}-pixel row")
    if nbytes < step * height:
        raise FrameError(f"data has {nbytes} bytes, shorter than step x height = {step * height}")


def decode_raw(data, encoding: str, height: int, width: int, step: int) -> Frame:
    """Interpret a raw image buffer (bytes-like) as an H x W x 3 frame; bad metadata raises FrameError."""
    if encoding not in _ENCODINGS:
        raise FrameError(f"unsupported encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    channels, conversion, bgr = _ENCODINGS[encoding]
    buffer = np.frombuffer(data, dtype=np.uint8)
    check_layout(buffer.size, height, width, step, width * channels)
    # A strided view skips the row padding without copying.
    view = np.lib.stride_tricks.as_strided(
        buffer, shape=(height, width, channels), strides=(step, channels, 1), writeable=False)
    if conversion is None:
        return Frame(view, bgr)
    source = view[..., 0] if channels == 1 else view
    return Frame(cv2.cvtColor(source, conversion), bgr)


def decode_compressed(data) -> Frame:
    """Decode JPEG/PNG/... bytes (any format OpenCV reads) into a BGR frame; undecodable data raises FrameError."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size == 0:
        raise FrameError("empty compressed frame")
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None:
        raise FrameError(f"undecodable compressed frame ({buffer.size} bytes)")
    return Frame(image, bgr=True)
