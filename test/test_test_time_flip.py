"""Test-time flip: the engine averages the model's logits on a frame and on its mirror image, without ROS."""

import json

import numpy as np
import pytest
import torch

from seg_perception.checkpoint import load_checkpoint
from seg_perception.inference import InputSizeError, Segmenter
from seg_perception.inference.export import main as export_main
from seg_perception.inference.graph import FlipAveraged
from seg_perception.inference.memory import MEMORY_ENV, check_input_size, estimate_bytes
from seg_perception.inference.samples import synthetic_frame
from seg_perception.size import Size
from tiny_models import INPUT_SIZE, tiny_model, tiny_spec

FRAME = synthetic_frame(2 * INPUT_SIZE.width, 2 * INPUT_SIZE.height, 7)


def mirrored(image):
    return np.ascontiguousarray(image[:, ::-1])


def test_the_flip_averages_the_logits_of_the_frame_and_of_its_mirror_image_mirrored_back():
    model = tiny_model()
    x = torch.randn(3, 3, INPUT_SIZE.height, INPUT_SIZE.width)  # a batch: each frame is paired with its own mirror
    with torch.no_grad():
        expected = (model(x) + model(x.flip(3)).flip(3)) / 2
        got = FlipAveraged(model)(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got, model(x), atol=1e-3)  # the untrained model is not mirror-symmetric by itself


@pytest.mark.parametrize("backend", ["cpu", "torch-cpu"])
def test_flipped_labels_are_the_mirror_image_of_the_mirror_images_labels(tiny_checkpoint, engine_cache, backend):
    flipped = Segmenter.from_checkpoint(tiny_checkpoint, backend=backend, cache_dir=engine_cache,
                                        test_time_flip=True, with_confidence=True)
    plain = Segmenter.from_checkpoint(tiny_checkpoint, backend=backend, cache_dir=engine_cache)
    assert (flipped.test_time_flip, plain.test_time_flip) == (True, False)
    result, of_mirror = flipped.segment(FRAME), flipped.segment(mirrored(FRAME))
    np.testing.assert_array_equal(result.model_labels, mirrored(of_mirror.model_labels))
    np.testing.assert_array_equal(result.confidence, mirrored(of_mirror.confidence))
    # without the flip the tiny model's labels are not mirror-symmetric, and the flip changes them
    assert (plain.segment(FRAME).model_labels != mirrored(plain.segment(mirrored(FRAME)).model_labels)).mean() > 0.05
    assert (plain.segment(FRAME).model_labels != result.model_labels).mean() > 0.05


def test_the_onnx_engine_with_the_flip_agrees_with_eager_torch(tiny_checkpoint, engine_cache):
    engines = {backend: Segmenter.from_checkpoint(tiny_checkpoint, backend=backend, cache_dir=engine_cache,
                                                  test_time_flip=True) for backend in ("cpu", "torch-cpu")}
    labels = {backend: segmenter.segment(FRAME).labels for backend, segmenter in engines.items()}
    assert (labels["cpu"] == labels["torch-cpu"]).mean() > 0.999


def test_engines_with_and_without_the_flip_are_cached_apart(tiny_checkpoint, tmp_path):
    plain = Segmenter.from_checkpoint(tiny_checkpoint, backend="cpu", cache_dir=tmp_path)
    without = plain.segment(FRAME).model_labels
    # a flipped engine read from the cache of the plain one would give the plain labels
    flipped = Segmenter.from_checkpoint(tiny_checkpoint, backend="cpu", cache_dir=tmp_path, test_time_flip=True)
    assert (flipped.segment(FRAME).model_labels != without).mean() > 0.05
    assert len(list(tmp_path.rglob("*.onnx"))) == 2  # one labels-only graph each
    again = Segmenter.from_checkpoint(tiny_checkpoint, backend="cpu", cache_dir=tmp_path)
    np.testing.assert_array_equal(again.segment(FRAME).model_labels, without)


def test_the_memory_check_counts_the_mirror_image(monkeypatch):
    spec = tiny_spec()
    size = Size(256, 128)
    one, two = estimate_bytes(spec, size), estimate_bytes(spec, size, batch=2)
    weights = sum(t.numel() * t.element_size() for t in tiny_model().state_dict().values())
    assert two - weights == 2 * (one - weights)  # the activations double, the weights do not
    monkeypatch.setenv(MEMORY_ENV, str((one + two) / 2 / 2**20))
    check_input_size(spec, size)
    with pytest.raises(InputSizeError, match=r"model input size 256x128 \(a batch of 2: test-time flip\)"):
        check_input_size(spec, size, batch=2)
    with pytest.raises(InputSizeError, match="test-time flip"):
        Segmenter(tiny_model(), spec, backend="torch-cpu", input_size=size, test_time_flip=True)


def test_seg_export_writes_a_flipped_onnx_engine_and_verifies_it(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "engine"
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--backend", "onnx", "--out", str(out),
                        "--test-time-flip"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["test_time_flip"] is True
    assert manifest["verification"]["passed"] and manifest["verification"]["agreement"] > 0.999
    assert "mirror image" in manifest["outputs"][0]["meaning"]
    # the written engine is the flipped one: it gives the flipped Segmenter's labels
    import onnxruntime as ort

    from seg_perception.inference.preprocess import Preprocessor

    spec = load_checkpoint(tiny_checkpoint).spec
    x = np.empty((1, 3, INPUT_SIZE.height, INPUT_SIZE.width), np.float32)
    Preprocessor(INPUT_SIZE, spec.mean, spec.std)(FRAME, x)
    labels = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"]).run(
        ["labels"], {"image": x})[0][0]
    flipped = Segmenter.from_checkpoint(tiny_checkpoint, backend="torch-cpu", test_time_flip=True)
    assert (labels == flipped.segment(FRAME).model_labels).mean() > 0.999
