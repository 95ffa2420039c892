"""The Segmenter's optional input filter (bilateral denoising, then shades-of-grey white balance), without ROS."""

import cv2
import numpy as np
import pytest

from seg_perception.inference import Segmenter
from seg_perception.inference.preprocess import (BILATERAL, CAST_GAIN, SHADES_OF_GREY_P, Preprocessor,
                                                 strong_colour_cast, white_balance_gains)
from seg_perception.inference.samples import synthetic_frame
from street_lights import sodium_lit
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


def illuminant(image, p=SHADES_OF_GREY_P):
    """Each channel's p-norm of an H x W x 3 image in 0..1 (p=1: grey-world's channel means)."""
    return ((image.reshape(-1, 3).astype(np.float64) / 255.0) ** p).mean(axis=0) ** (1.0 / p)


def test_the_filter_is_a_bilateral_filter_then_a_saturating_shades_of_grey_balance():
    image = degraded()
    smoothed = cv2.bilateralFilter(image, *BILATERAL).astype(np.float64)
    norms = illuminant(smoothed)
    expected = np.clip(np.round(smoothed * (norms.mean() / norms)), 0, 255)
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
    # the channels' illuminant estimates equal up to what saturating the amplified channel at 255 leaves
    assert np.ptp(illuminant(filtered)) < 0.1 * np.ptp(illuminant(plain))
    # noise: two noise draws over the same scene differ far less once filtered
    other = degraded(noise_seed=4)
    plain_difference = np.std(plain - grey_levels(model_input(other)))
    filtered_difference = np.std(filtered - grey_levels(model_input(other, FILTER)))
    assert filtered_difference < 0.5 * plain_difference


def test_a_frame_filled_by_one_colour_keeps_more_of_it_than_grey_world_would_leave():
    # A hedge filling the view, with a little bright sky: grey-world would pull the frame's green mean to
    # grey; the 6-norm is led by the bright neutral pixels, so the hedge stays green (why the filter is not
    # grey-world: docs/EXPERIMENTS.md, "A white balance that spares frames of one colour").
    rng = np.random.default_rng(0)
    hedge = np.clip(rng.normal((60, 110, 50), 12, (SIZE[1], SIZE[0], 3)), 0, 255)
    hedge[: SIZE[1] // 10] = (215, 220, 225)
    hedge = hedge.astype(np.uint8)
    smoothed = cv2.bilateralFilter(hedge, *BILATERAL).astype(np.float64)
    means = illuminant(smoothed, 1)
    grey_world = smoothed * (means.mean() / means)
    filtered = grey_levels(model_input(hedge, FILTER))

    def green_excess(image):  # how much greener than red and blue the hedge is
        rgb = image[SIZE[1] // 5:].reshape(-1, 3).mean(axis=0)
        return rgb[1] - (rgb[0] + rgb[2]) / 2

    assert green_excess(filtered) > 0.8 * green_excess(smoothed)  # nearly all its green kept (0.95)
    assert green_excess(grey_world) < 0.3 * green_excess(smoothed)  # grey-world leaves a fifth


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


def test_a_strong_street_light_cast_is_balanced_in_full_not_capped():
    # Under a low-pressure sodium lamp the blue channel needs a gain of about 4.4; limiting the gains to 2 or 3
    # lost all or half of the balance's gain there (docs/EXPERIMENTS.md, "Street lights of one colour").
    sodium = sodium_lit(synthetic_frame(*SIZE, 3))
    smoothed = cv2.bilateralFilter(sodium, *BILATERAL)
    gains = white_balance_gains(cv2.split(smoothed))
    norms = illuminant(smoothed)
    np.testing.assert_allclose(gains, norms.mean() / norms, rtol=1e-6)
    assert max(gains) > 4.0
    filtered = grey_levels(model_input(sodium, FILTER))
    # equal to a grey level's rounding (0.0006); a limit of 4 would leave 0.06, of 3 0.2
    assert np.ptp(illuminant(filtered)) < 0.01 * np.ptp(illuminant(smoothed))


def test_a_strong_colour_cast_is_told_from_daylight_in_any_channel_order():
    daylight = synthetic_frame(2048, 1024, 3)  # a camera's full frame: judged at a small size
    sodium = sodium_lit(daylight)
    assert not strong_colour_cast(daylight) and strong_colour_cast(sodium)
    assert strong_colour_cast(np.ascontiguousarray(sodium[..., ::-1]))  # BGR
    assert strong_colour_cast(np.dstack([sodium, np.zeros(sodium.shape[:2], np.uint8)]))  # alpha ignored
    # the line is CAST_GAIN: a blue channel at 0.45 needs a gain of 1.7, one at 0.3 of 2.4
    frame = synthetic_frame(*SIZE, 3)

    def blue_scaled(factor):
        return np.clip(np.round(frame * (1.0, 1.0, factor)), 0, 255).astype(np.uint8)

    gains = {factor: max(white_balance_gains(cv2.split(blue_scaled(factor)))) for factor in (1.0, 0.45, 0.3)}
    assert gains[1.0] < 1.2 and gains[0.45] < CAST_GAIN < gains[0.3]
    assert not strong_colour_cast(blue_scaled(0.45)) and strong_colour_cast(blue_scaled(0.3))
