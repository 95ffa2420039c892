"""Frame decoding without ROS: every encoding, row padding, zero-copy views, and every rejection reason."""

import time
import zlib

import cv2
import numpy as np
import pytest

from seg_perception.node.frames import SUPPORTED_ENCODINGS, FrameError, decode_compressed, decode_raw, encoded_size

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


def png_bomb(width: int, height: int) -> bytes:
    """A real grey PNG of ``width`` x ``height`` zeros, written a row at a time: a few hundred kB that decode to
    width x height x 3 bytes."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return len(payload).to_bytes(4, "big") + kind + payload + zlib.crc32(kind + payload).to_bytes(4, "big")

    compressor, row = zlib.compressobj(9), bytes(width + 1)  # filter byte 0, then the row's pixels
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])  # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_the_size_of_png_and_jpeg_is_read_from_the_header_without_decoding():
    for extension, params in ((".png", []), (".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])):
        ok, encoded = cv2.imencode(extension, np.zeros((123, 457, 3), np.uint8), params)
        assert encoded_size(encoded) == (457, 123), (extension, params)
    ok, bmp = cv2.imencode(".bmp", np.zeros((5, 7, 3), np.uint8))
    assert encoded_size(bmp) is None and encoded_size(np.frombuffer(b"\xff\xd8\xff", np.uint8)) is None


def test_a_decompression_bomb_is_refused_from_its_header_before_decoding():
    bomb = png_bomb(12000, 12000)  # the issue's: decodes to 432 MB of BGR
    assert len(bomb) < 300_000 and encoded_size(np.frombuffer(bomb, np.uint8)) == (12000, 12000)
    start = time.perf_counter()
    with pytest.raises(FrameError, match="compressed frame of 12000x12000 = 144000000 pixels is over "
                                         "max_input_pixels 8294400"):
        decode_compressed(bomb, max_pixels=3840 * 2160)
    assert time.perf_counter() - start < 0.05  # decoding it takes seconds


def test_the_pixel_bound_takes_frames_up_to_it_and_refuses_raw_frames_over_it_and_unknown_formats():
    ok, png = cv2.imencode(".png", np.zeros((4, 6, 3), np.uint8))
    assert decode_compressed(png.tobytes(), max_pixels=24).image.shape == (4, 6, 3)  # exactly at the bound
    with pytest.raises(FrameError, match="compressed frame of 6x4 = 24 pixels is over max_input_pixels 23"):
        decode_compressed(png.tobytes(), max_pixels=23)
    assert decode_raw(bytes(72), "rgb8", 4, 6, 18, max_pixels=24).image.shape == (4, 6, 3)
    with pytest.raises(FrameError, match="frame of 6x4 = 24 pixels is over max_input_pixels 23"):
        decode_raw(bytes(72), "rgb8", 4, 6, 18, max_pixels=23)
    ok, bmp = cv2.imencode(".bmp", np.zeros((4, 6, 3), np.uint8))
    assert decode_compressed(bmp.tobytes()).image.shape == (4, 6, 3)  # without a bound (the bag tools)
    with pytest.raises(FrameError, match="neither PNG nor JPEG"):
        decode_compressed(bmp.tobytes(), max_pixels=24)
