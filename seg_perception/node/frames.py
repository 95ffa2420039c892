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
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers (they carry the size): SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC)
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: JPEG markers without a length field: TEM and the restart markers
_JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})


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


def decode_raw(data, encoding: str, height: int, width: int, step: int, max_pixels: int | None = None) -> Frame:
    """Interpret a raw image buffer (bytes-like) as an H x W x 3 frame; bad metadata, or more than
    ``max_pixels`` pixels, raises FrameError."""
    check_pixels(width, height, max_pixels)
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


def check_pixels(width: int, height: int, max_pixels: int | None, what: str = "frame") -> None:
    """Raise FrameError when a ``width`` x ``height`` frame has more than ``max_pixels`` (None: no bound)."""
    if max_pixels is not None and width * height > max_pixels:
        raise FrameError(f"{what} of {width}x{height} = {width * height} pixels is over max_input_pixels "
                         f"{max_pixels}")


def encoded_size(buffer: np.ndarray) -> tuple[int, int] | None:
    """(width, height) read from a PNG's IHDR chunk or a JPEG's SOF marker without decoding; None for other
    data, or a header that ends early."""
    data = buffer[:65536].tobytes()  # the JPEG SOF follows the tables, within the first kilobytes
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not data.startswith(b"\xff\xd8"):
        return None
    position = 2
    while position + 9 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:  # a fill byte before the marker
            position += 1
        elif marker in _JPEG_FRAME_MARKERS:
            return (int.from_bytes(data[position + 7:position + 9], "big"),
                    int.from_bytes(data[position + 5:position + 7], "big"))
        elif marker in _JPEG_STANDALONE_MARKERS:
            position += 2
        else:
            position += 2 + int.from_bytes(data[position + 2:position + 4], "big")
    return None


def decode_compressed(data, max_pixels: int | None = None) -> Frame:
    """Decode JPEG/PNG/... bytes (any format OpenCV reads) into a BGR frame; undecodable data raises FrameError.

    With ``max_pixels`` only PNG and JPEG are taken, and their size is checked from the header first:
    a few kB of PNG can decode to gigabytes, and OpenCV tells the size only by decoding.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size == 0:
        raise FrameError("empty compressed frame")
    if max_pixels is not None:
        size = encoded_size(buffer)
        if size is None:
            raise FrameError(f"compressed frame ({buffer.size} bytes) is neither PNG nor JPEG with a readable "
                             "header, so its size cannot be checked before decoding")
        check_pixels(*size, max_pixels, "compressed frame")
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None:
        raise FrameError(f"undecodable compressed frame ({buffer.size} bytes)")
    return Frame(image, bgr=True)
