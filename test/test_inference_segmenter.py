"""Segmenter on the real CPU backends (ONNX Runtime and eager torch): values, sizes, flags, LUTs, bad input."""

import subprocess
import sys
import tracemalloc

import cv2
import numpy as np
import pytest
import torch

from seg_perception.checkpoint import load_checkpoint
from seg_perception.inference import SegmentationResult, Segmenter, colorize, colorize_overlay
from seg_perception.inference.samples import synthetic_frame
from seg_perception.labels import CLASS_NAMES, COLOR_LUT
from seg_perception.size import Size
from tiny_models import INPUT_SIZE

CAMERA = Size(301, 203)  # deliberately no multiple of the input size


@pytest.fixture(scope="module")
def cpu_segmenter(tiny_checkpoint, engine_cache):
    return Segmenter.from_checkpoint(tiny_checkpoint, backend="cpu", cache_dir=engine_cache)


def camera_image(seed=1):
    return synthetic_frame(*CAMERA, seed)


def eager_reference(checkpoint_path, image):
    """Labels and confidence computed the plain way: cv2 resize, numpy normalise, eager model, softmax, nearest resize."""
    checkpoint = load_checkpoint(checkpoint_path)
    spec = checkpoint.spec
    resized = cv2.resize(image, spec.input_size, interpolation=cv2.INTER_LINEAR)
    x = (resized / 255.0 - np.array(spec.mean)) / np.array(spec.std)
    with torch.no_grad():
        logits = checkpoint.build_model()(torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)[None])
    probs, labels = logits.softmax(1).max(1)
    size = image.shape[1], image.shape[0]
    labels = cv2.resize(labels[0].numpy().astype(np.uint8), size, interpolation=cv2.INTER_NEAREST_EXACT)
    confidence = cv2.resize(np.round(probs[0].numpy() * 255).astype(np.uint8), size,
                            interpolation=cv2.INTER_NEAREST_EXACT)
    return labels, confidence


@pytest.mark.parametrize("backend", ["cpu", "torch-cpu"])
def test_segment_matches_eager_argmax_at_camera_size(backend, tiny_checkpoint, engine_cache):
    segmenter = Segmenter.from_checkpoint(tiny_checkpoint, backend=backend, cache_dir=engine_cache)
    assert segmenter.backend_name == backend and segmenter.input_size == INPUT_SIZE
    image = camera_image()
    result = segmenter.segment(image)
    expected, _ = eager_reference(tiny_checkpoint, image)
    assert isinstance(result, SegmentationResult) and result.confidence is None
    assert result.labels.shape == result.drivable.shape == CAMERA.shape
    assert result.labels.dtype == result.drivable.dtype == np.uint8
    assert len(np.unique(expected)) >= 4  # the comparison means something
    assert np.mean(result.labels == expected) >= 0.999
    assert set(result.timings) == {"preprocess_ms", "inference_ms", "postprocess_ms", "total_ms"}
    assert all(value > 0 for value in result.timings.values())
    stages = sum(result.timings[k] for k in ("preprocess_ms", "inference_ms", "postprocess_ms"))
    assert stages <= result.timings["total_ms"] + 1e-6


def test_bgr_flag_equals_rgb_on_swapped_input(cpu_segmenter, tiny_checkpoint, engine_cache):
    image = camera_image(2)
    rgb = cpu_segmenter.segment(image)
    bgr = cpu_segmenter.segment(np.ascontiguousarray(image[..., ::-1]), bgr=True)
    np.testing.assert_array_equal(bgr.labels, rgb.labels)
    as_default = Segmenter.from_checkpoint(tiny_checkpoint, backend="cpu", cache_dir=engine_cache, bgr=True)
    np.testing.assert_array_equal(as_default.segment(image[..., ::-1]).labels, rgb.labels)


def test_rgba_and_padded_rows_are_accepted(cpu_segmenter):
    image = camera_image(3)
    expected = cpu_segmenter.segment(image).labels
    rgba = np.dstack([image, np.random.default_rng(0).integers(0, 256, CAMERA.shape, np.uint8)])
    np.testing.assert_array_equal(cpu_segmenter.segment(rgba).labels, expected)
    padded = np.zeros((CAMERA.height, CAMERA.width + 13, 3), np.uint8)  # a ROS image whose step exceeds width * 3
    padded[:, :CAMERA.width] = image
    np.testing.assert_array_equal(cpu_segmenter.segment(padded[:, :CAMERA.width]).labels, expected)


def test_confidence_and_min_confidence(tiny_checkpoint, engine_cache):
    segmenter = Segmenter.from_checkpoint(tiny_checkpoint, backend="cpu", cache_dir=engine_cache,
                                          with_confidence=True)
    image = camera_image(4)
    plain = segmenter.segment(image)
    expected_labels, expected_confidence = eager_reference(tiny_checkpoint, image)
    assert np.mean(np.abs(plain.confidence.astype(int) - expected_confidence) <= 1) >= 0.999
    assert np.mean(plain.labels == expected_labels) >= 0.999

    threshold = float(np.median(plain.confidence)) / 255  # masks about half the pixels
    segmenter.min_confidence = threshold
    masked = segmenter.segment(image)
    low = plain.confidence < round(threshold * 255)
    assert 0.2 < low.mean() < 0.8
    assert np.all(masked.labels[low] == 255) and np.all(masked.drivable[low] == 0)
    np.testing.assert_array_equal(masked.labels[~low], plain.labels[~low])

    assert masked.model_labels.shape == INPUT_SIZE.shape  # the masked labels at model resolution, resized into labels
    np.testing.assert_array_equal(
        cv2.resize(masked.model_labels, CAMERA, interpolation=cv2.INTER_NEAREST_EXACT), masked.labels)

    segmenter.with_confidence = False  # the threshold still applies without publishing confidence
    hidden = segmenter.segment(image)
    assert hidden.confidence is None
    np.testing.assert_array_equal(hidden.labels, masked.labels)
    with pytest.raises(ValueError, match="min_confidence"):
        segmenter.min_confidence = 1.5


def test_drivable_mask_is_the_lut_of_labels_and_follows_live_changes(cpu_segmenter):
    image = camera_image(5)
    result = cpu_segmenter.segment(image)
    assert cpu_segmenter.drivable_classes == ("road",)
    np.testing.assert_array_equal(result.drivable, np.where(result.labels == CLASS_NAMES.index("road"), 255, 0))
    cpu_segmenter.drivable_classes = ("sidewalk", "building")
    result = cpu_segmenter.segment(image)
    drivable_ids = [CLASS_NAMES.index("sidewalk"), CLASS_NAMES.index("building")]
    assert result.drivable.any()
    np.testing.assert_array_equal(result.drivable, np.where(np.isin(result.labels, drivable_ids), 255, 0))
    with pytest.raises(ValueError, match="unknown drivable class 'lava'"):
        cpu_segmenter.drivable_classes = ("lava",)
    cpu_segmenter.drivable_classes = ("road",)


def test_results_are_not_overwritten_by_the_next_frame(cpu_segmenter):
    first = cpu_segmenter.segment(camera_image(6))
    kept, kept_model = first.labels.copy(), first.model_labels.copy()
    cpu_segmenter.segment(camera_image(7))
    np.testing.assert_array_equal(first.labels, kept)
    np.testing.assert_array_equal(first.model_labels, kept_model)


def test_steady_state_frames_allocate_only_their_results(cpu_segmenter):
    image = camera_image(8)
    cpu_segmenter.segment(image)  # first frame at this camera size sizes the buffers
    tracemalloc.start()
    try:
        cpu_segmenter.segment(image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    results = 2 * CAMERA.width * CAMERA.height  # labels + drivable
    model_input = 3 * INPUT_SIZE.width * INPUT_SIZE.height * 4
    assert peak < results + model_input // 4


@pytest.mark.parametrize("image, message", [
    (np.zeros((20, 30, 3), np.float32), "uint8"),
    (np.zeros((20, 30), np.uint8), "H x W x 3"),
    (np.zeros((20, 30, 5), np.uint8), "H x W x 3"),
    (np.zeros((0, 30, 3), np.uint8), "empty"),
    ([[1, 2, 3]], "numpy array"),
])
def test_bad_images_raise_value_error(cpu_segmenter, image, message):
    with pytest.raises(ValueError, match=message):
        cpu_segmenter.segment(image)


def test_bad_settings_raise_value_error(tiny_checkpoint, engine_cache):
    with pytest.raises(ValueError, match="precision"):
        Segmenter.from_checkpoint(tiny_checkpoint, backend="cpu", precision="int8", cache_dir=engine_cache)
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        Segmenter.from_checkpoint(tiny_checkpoint, backend="gpu", cache_dir=engine_cache)


def overlay_reference(image, labels, alpha):
    """The overlay computed the plain way, at camera resolution, unrounded: (1 - alpha) * image + alpha * colour."""
    blend = (1 - alpha) * image + alpha * COLOR_LUT[labels].astype(float)
    return np.where((labels == 255)[..., None], image, blend)


def test_overlay_maths():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 50, 3), np.uint8)
    labels = rng.integers(0, 19, (40, 50), np.uint8)
    labels[:5] = 255
    alpha = 0.3
    out = colorize_overlay(image, labels, alpha)
    known = labels != 255
    assert np.abs(out - overlay_reference(image, labels, alpha)).max() <= 0.5 + 1e-6  # rounded to nearest
    np.testing.assert_array_equal(out[~known], image[~known])
    np.testing.assert_array_equal(colorize(labels), COLOR_LUT[labels])
    # BGR in, RGB out (the colour topic is rgb8 whatever the camera sends)
    np.testing.assert_array_equal(colorize_overlay(image[..., ::-1], labels, alpha, bgr=True), out)
    np.testing.assert_array_equal(colorize_overlay(image, labels, 1.0)[known], COLOR_LUT[labels][known])
    np.testing.assert_array_equal(colorize_overlay(image, labels, 0.0), image)
    with pytest.raises(ValueError, match="alpha"):
        colorize_overlay(image, labels, 1.5)
    with pytest.raises(ValueError, match="labels must be"):
        colorize_overlay(image, labels.astype(np.int32), alpha)
    # at another size (seg_node's color_resolution: model): the image resized bilinearly, the labels as labels are
    small = Size(25, 20)
    shrunk = cv2.resize(image, small, interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(colorize_overlay(image, labels[::2, ::2], 0.0, size=small), shrunk)
    np.testing.assert_array_equal(colorize_overlay(image, labels[::2, ::2], alpha, size=small),
                                  colorize_overlay(shrunk, labels[::2, ::2], alpha))


@pytest.mark.parametrize("unknown", [False, True], ids=["classes only", "with unknown"])
@pytest.mark.parametrize("camera", [Size(301, 203), Size(48, 32), Size(192, 128)], ids=["odd ratio", "smaller", "2x"])
def test_colours_from_model_resolution_labels_are_those_of_the_resized_labels(unknown, camera):
    """The node colours the model's labels and resizes the colours; that must equal colouring the resized labels."""
    rng = np.random.default_rng(1)
    small = rng.integers(0, 19, (64, 96), np.uint8)
    if unknown:
        small[rng.random(small.shape) < 0.2] = 255
    big = cv2.resize(small, camera, interpolation=cv2.INTER_NEAREST_EXACT)  # what the labels topic carries
    image = rng.integers(0, 256, camera.shape + (3,), np.uint8)
    np.testing.assert_array_equal(colorize(small, camera), COLOR_LUT[big])
    for alpha in (0.5, 0.3):
        out = colorize_overlay(image, small, alpha)
        np.testing.assert_array_equal(out, colorize_overlay(image, big, alpha))
        assert np.abs(out - overlay_reference(image, big, alpha)).max() <= 0.5 + 1e-6
        np.testing.assert_array_equal(colorize_overlay(np.ascontiguousarray(image[..., ::-1]), small, alpha,
                                                       bgr=True), out)


def test_colours_are_written_into_a_given_buffer():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (60, 90, 3), np.uint8)
    small = rng.integers(0, 19, (20, 30), np.uint8)
    buffer = np.full((60, 90, 3), 7, np.uint8)
    assert colorize_overlay(image, small, 0.5, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, colorize_overlay(image, small, 0.5))
    assert colorize(small, Size(90, 60), out=buffer) is buffer
    np.testing.assert_array_equal(buffer, colorize(small, Size(90, 60)))
    with pytest.raises(ValueError, match="out must be a 60 x 90 x 3 uint8 array"):
        colorize_overlay(image, small, 0.5, out=np.zeros((60, 90), np.uint8))


def test_runtime_imports_neither_training_nor_ros():
    code = ("import sys, seg_perception.inference; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('training', 'rclpy', 'onnxruntime')); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
