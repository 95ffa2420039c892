"""Frame decoding without ROS: every encoding, row padding, zero-copy views, and every rejection reason."""

import cv2
import numpy as np
import pytest

from seg_perception.node.frames import SUPPORTED_ENCODINGS, FrameError, decode_compressed, decode_raw

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)


def _buffer(pixels: np.ndarray, pad: int) -> tuple[bytes, int]:
    """Rows of ``pixels`` with ``pad`` junk bytes after each, as a camera driver may send them."""
    rows = pixels.reshape(pixels.shape[0], -1)
    junk = np.full((rows.shape[0], pad), 0xAB, dtype=np.uint8)
    return np.hstack([rows, junk]).tobytes(), rows.shape[1] + pad


def _encode(encoding: str) -> np.ndarray:
    return {
        "rgb8": RGB,
        "bgr8": RGB[..., ::-1],
        "rgba8": np.dstack([RGB, np.full(RGB.shape[:2], 7, np.uint8)]),
        "bgra8": np.dstack([RGB[..., ::-1], np.full(RGB.shape[:2], 7, np.uint8)]),
        "mono8": RGB[..., 0],
    }[encoding]


@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_every_encoding_decodes_to_the_same_pixels_with_or_without_padding(encoding, pad):
    data, step = _buffer(np.ascontiguousarray(_encode(encoding)), pad)
    frame = decode_raw(data, encoding, 5, 7, step)
    assert frame.image.shape == (5, 7, 3) and frame.image.dtype == np.uint8
    rgb = frame.image[..., ::-1] if frame.bgr else frame.image
    expected = np.repeat(RGB[..., :1], 3, axis=2) if encoding == "mono8" else RGB
    np.testing.assert_array_equal(rgb, expected)
    assert frame.bgr == encoding.startswith("bgr")


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_three_channel_frames_are_views_of_the_message_buffer(encoding):
    data, step = _buffer(RGB, 5)
    buffer = bytearray(data)
    frame = decode_raw(buffer, encoding, 5, 7, step)
    assert np.shares_memory(frame.image, np.frombuffer(buffer, np.uint8))
    assert not frame.image.flags.writeable


@pytest.mark.parametrize("encoding", ["rgba8", "bgra8", "mono8"])
def test_other_encodings_copy_exactly_once_into_a_contiguous_frame(encoding):
    data, step = _buffer(np.ascontiguousarray(_encode(encoding)), 0)
    buffer = bytearray(data)
    frame = decode_raw(buffer, encoding, 5, 7, step)
    assert not np.shares_memory(frame.image, np.frombuffer(buffer, np.uint8))
    assert frame.image.flags.c_contiguous


def test_data_longer_than_needed_is_accepted():
    data, step = _buffer(RGB, 0)
    frame = decode_raw(data + b"\0" * 10, "rgb8", 5, 7, step)
    np.testing.assert_array_equal(frame.image, RGB)


@pytest.mark.parametrize(("encoding", "height", "width", "step", "size", "reason"), [
    ("rgb8", 5, 7, 21, 21 * 5 - 1, "shorter than step x height"),
    ("rgb8", 0, 7, 21, 0, "zero-size"),
    ("rgb8", 5, 0, 0, 0, "zero-size"),
    ("rgb8", 5, 7, 20, 21 * 5, "step 20 is smaller"),
    ("yuv422", 5, 7, 14, 14 * 5, "unsupported encoding 'yuv422'"),
    ("16UC1", 5, 7, 14, 14 * 5, "unsupported encoding"),
])
def test_bad_frames_raise_frame_error_with_the_reason(encoding, height, width, step, size, reason):
    with pytest.raises(FrameError, match=reason):
        decode_raw(bytes(size), encoding, height, width, step)


@pytest.mark.parametrize("extension", [".png", ".jpg"])
def test_compressed_frames_decode_to_bgr(extension):
    bgr = np.ascontiguousarray(RGB[..., ::-1])
    ok, encoded = cv2.imencode(extension, bgr)
    assert ok
    frame = decode_compressed(encoded.tobytes())
    assert frame.bgr and frame.image.shape == (5, 7, 3)
    if extension == ".png":  # lossless
        np.testing.assert_array_equal(frame.image, bgr)


def test_grayscale_png_becomes_three_channels():
    ok, encoded = cv2.imencode(".png", RGB[..., 0])
    frame = decode_compressed(encoded.tobytes())
    np.testing.assert_array_equal(frame.image, np.repeat(RGB[..., :1], 3, axis=2))


@pytest.mark.parametrize(("data", "reason"), [(b"", "empty"), (b"\xff\xd8 not a jpeg at all", "undecodable")])
def test_undecodable_compressed_frames_raise_frame_error(data, reason):
    with pytest.raises(FrameError, match=reason):
        decode_compressed(data)


def test_frame_error_is_a_value_error():
    assert issubclass(FrameError, ValueError)
