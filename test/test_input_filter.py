"""The Segmenter's optional input filter (bilateral denoising, then grey-world white balance), without ROS."""

import cv2
import numpy as np
import pytest

from seg_perception.inference import Segmenter
from seg_perception.inference.preprocess import BILATERAL, Preprocessor
from seg_perception.inference.samples import synthetic_frame
from tiny_models import INPUT_SIZE

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
FILTER = "denoise_white_balance"
SIZE = (256, 128)  # the Preprocessor alone: large enough for noise statistics


def degraded(size=SIZE, noise_seed=3):
    """A synthetic frame of ``size`` with a colour cast (more red, less blue) and noise drawn from ``noise_seed``."""
    clean = synthetic_frame(*size, 3).astype(np.float32)
    noise = np.random.default_rng(noise_seed).normal(0.0, 10.0, clean.shape)
    return np.clip(clean * (1.25, 1.0, 0.7) + noise, 0, 255).astype(np.uint8)


def model_input(image, input_filter="none", bgr=False):
    out = np.empty((1, 3, SIZE[1], SIZE[0]), np.float32)
    Preprocessor(SIZE, MEAN, STD, input_filter)(image, out, bgr)
    return out


def grey_levels(normalised):
    """The H x W x 3 uint8-scale RGB image a normalised model input came from."""
    return normalised[0].transpose(1, 2, 0) * (255.0 * np.array(STD)) + 255.0 * np.array(MEAN)


def test_the_filter_is_a_bilateral_filter_then_a_saturating_grey_world_balance():
    image = degraded()
    smoothed = cv2.bilateralFilter(image, *BILATERAL).astype(np.float64)
    means = smoothed.reshape(-1, 3).mean(axis=0)
    expected = np.clip(np.round(smoothed * (means.mean() / means)), 0, 255)
    got = grey_levels(model_input(image, FILTER))
    assert np.abs(got - expected).max() < 1.01  # a grey level of rounding at most
    assert np.mean(np.abs(got - expected) > 0.01) < 0.01


def test_denoise_is_the_bilateral_filter_alone_after_the_resize():
    image = degraded()
    expected = cv2.bilateralFilter(image, *BILATERAL).astype(np.float64)
    assert np.abs(grey_levels(model_input(image, "denoise")) - expected).max() < 1e-3
    large = cv2.resize(image, (3 * SIZE[0], 3 * SIZE[1]), interpolation=cv2.INTER_CUBIC)
    expected = cv2.bilateralFilter(cv2.resize(large, SIZE, interpolation=cv2.INTER_LINEAR), *BILATERAL)
    assert np.abs(grey_levels(model_input(large, "denoise")) - expected).max() < 1e-3


def test_one_preprocessor_gives_each_frame_what_a_fresh_one_gives():
    # buffers are reused between frames: sizes, channel counts and the filter change under them
    frames = [degraded(), degraded((300, 170), 5), np.dstack([degraded(), np.zeros(SIZE[::-1], np.uint8)]),
              degraded((300, 170), 6)]
    reused = Preprocessor(SIZE, MEAN, STD)
    for index, frame in enumerate(frames * 2):
        reused.input_filter = ("none", "denoise", "denoise_white_balance")[index % 3]
        got = np.empty((1, 3, SIZE[1], SIZE[0]), np.float32)
        reused(frame, got)
        np.testing.assert_array_equal(got, model_input(frame, reused.input_filter))


def test_the_filter_removes_the_noise_and_the_colour_cast_and_leaves_the_frame_alone():
    image = degraded()
    kept = image.copy()
    plain, filtered = grey_levels(model_input(image)), grey_levels(model_input(image, FILTER))
    assert np.array_equal(image, kept)
    channel_means = filtered.reshape(-1, 3).mean(axis=0)
    # equal up to what saturating the amplified channel at 255 leaves
    assert np.ptp(channel_means) < 0.1 * np.ptp(plain.reshape(-1, 3).mean(axis=0))
    # noise: two noise draws over the same scene differ far less once filtered
    other = degraded(noise_seed=4)
    plain_difference = np.std(plain - grey_levels(model_input(other)))
    filtered_difference = np.std(filtered - grey_levels(model_input(other, FILTER)))
    assert filtered_difference < 0.5 * plain_difference


def test_the_filter_treats_bgr_and_rgba_like_rgb():
    image = degraded()
    rgb = model_input(image, FILTER)
    np.testing.assert_allclose(model_input(np.ascontiguousarray(image[..., ::-1]), FILTER, bgr=True), rgb,
                               atol=1e-5)
    rgba = np.dstack([image, np.full(image.shape[:2], 7, np.uint8)])
    np.testing.assert_allclose(model_input(rgba, FILTER), rgb, atol=1e-5)
    np.testing.assert_allclose(model_input(image), model_input(rgba), atol=1e-5)  # off: alpha ignored as before


def test_the_segmenter_switches_the_filter_between_frames(tiny_checkpoint, engine_cache):
    image = degraded((3 * INPUT_SIZE[0], 3 * INPUT_SIZE[1]))  # resized to the input size first
    plain = Segmenter.from_checkpoint(tiny_checkpoint, backend="cpu", cache_dir=engine_cache)
    filtered = Segmenter.from_checkpoint(tiny_checkpoint, backend="cpu", cache_dir=engine_cache, input_filter=FILTER)
    assert (plain.input_filter, filtered.input_filter) == ("none", FILTER)
    without, with_filter = plain.segment(image).labels, filtered.segment(image).labels
    assert (without != with_filter).mean() > 0.01  # the filter changes what the model sees
    plain.input_filter = FILTER
    np.testing.assert_array_equal(plain.segment(image).labels, with_filter)
    plain.input_filter = "none"
    np.testing.assert_array_equal(plain.segment(image).labels, without)
    with pytest.raises(ValueError, match="input_filter must be one of: none, denoise, denoise_white_balance"):
        plain.input_filter = "sharpen"
    with pytest.raises(ValueError, match="input_filter"):
        Segmenter.from_checkpoint(tiny_checkpoint, backend="cpu", cache_dir=engine_cache, input_filter="blur")
