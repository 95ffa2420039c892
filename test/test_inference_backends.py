"""Backend selection, error messages, and the TensorRT path's engine cache without a GPU.

TensorRT cannot run on these machines, so the TensorRT tests replace only the
``torch_tensorrt`` module itself: ``FakeTorchTensorRT`` is injected into
``sys.modules`` and records compile/save/load calls. Its ``compile`` returns
the exported program's module unchanged, and ``save``/``load`` use the real
``torch.export.save``/``load``, so what the backend would hand to TensorRT
(the ``torch.export`` program of the label head) runs for real on the CPU and
is compared with eager torch. Everything else (cache keys, hit/miss, corrupt
entries, messages) is the production code.
"""

import logging
import sys
import types

import pytest
import torch

from seg_perception.inference import BackendUnavailable, Segmenter, available_backends
from seg_perception.inference import backend_table
from seg_perception.inference.backends import (FACTORIES, MISSING, Platform, TensorRTBackend, choose_backend,
                                               engine_key_fields, model_key, tensorrt_versions)
from seg_perception.inference.engine_cache import EngineCache, cache_key
from seg_perception.inference.graph import FlipAveraged, deployed_model, export_program, label_head
from tiny_models import tiny_model

SHAPE = (1, 3, 64, 96)
EVERYTHING = Platform(cuda=True, tensorrt=True, onnxruntime=True)


class FakeTorchTensorRT(types.ModuleType):
    """Stand-in for ``torch_tensorrt`` that records calls; see the module docstring."""

    __version__ = "2.99.0"
    __tensorrt_version__ = "10.99"

    def __init__(self):
        super().__init__("torch_tensorrt")
        self.calls = []

    def compile(self, program, ir, inputs, enabled_precisions):
        self.calls.append(("compile", ir, tuple(inputs[0].shape), inputs[0].dtype, set(enabled_precisions)))
        module = program.module()
        module.program = program  # what "TensorRT" compiled, for save
        return module

    def save(self, module, path, inputs):
        self.calls.append(("save", path))
        torch.export.save(module.program, path)

    def load(self, path):
        self.calls.append(("load", path))
        return torch.export.load(path)

    def names(self):
        return [call[0] for call in self.calls]


@pytest.fixture
def fake_trt(monkeypatch):
    fake = FakeTorchTensorRT()
    monkeypatch.setitem(sys.modules, "torch_tensorrt", fake)
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    return fake


def trt_backend(cache_dir, precision="fp32", test_time_flip=False):
    fields = engine_key_fields(model_key("abc123", test_time_flip), SHAPE, precision,
                               **tensorrt_versions(torch.device("cpu")))
    return TensorRTBackend(deployed_model(tiny_model(), test_time_flip), SHAPE, precision=precision,
                           cache=EngineCache(cache_dir), key_fields=fields, device="cpu")


# --- selection ---------------------------------------------------------------------------------------------

def test_every_backend_in_the_table_has_a_factory_and_named_requirements():
    assert set(FACTORIES) == set(backend_table.BACKENDS)
    for info in backend_table.TABLE:
        assert set(info.requires) <= set(MISSING) <= set(Platform.__dataclass_fields__), info.name
    assert backend_table.AUTO_FALLBACK in backend_table.REFERENCE_BACKENDS
    assert [backend_table.effective_precision(name, "fp16") for name in backend_table.DEPLOYMENT_BACKENDS] == [
        "fp16", "fp16", "fp32"]


@pytest.mark.parametrize("platform, chosen, reason", [
    (EVERYTHING, "tensorrt", "tensorrt is available"),
    (Platform(cuda=True, tensorrt=False, onnxruntime=True), "cuda", "torch-tensorrt pip package is not installed"),
    (Platform(cuda=False, tensorrt=True, onnxruntime=True), "cpu", "CUDA is not available"),
    (Platform(cuda=False, tensorrt=False, onnxruntime=False), "torch-cpu", "onnxruntime"),
])
def test_auto_prefers_tensorrt_then_cuda_then_cpu_and_says_why(platform, chosen, reason):
    name, why = choose_backend("auto", platform)
    assert name == chosen
    assert why.startswith("auto") and reason in why


@pytest.mark.parametrize("backend, platform, missing", [
    ("tensorrt", Platform(cuda=True, tensorrt=False, onnxruntime=True), ["pip install torch-tensorrt"]),
    ("tensorrt", Platform(cuda=False, tensorrt=True, onnxruntime=True), ["CUDA is not available"]),
    ("tensorrt", Platform(cuda=False, tensorrt=False, onnxruntime=True), ["torch-tensorrt", "CUDA"]),
    ("cuda", Platform(cuda=False, tensorrt=True, onnxruntime=True), ["CUDA is not available"]),
    ("cpu", Platform(cuda=True, tensorrt=True, onnxruntime=False), ["pip install onnxruntime"]),
])
def test_a_named_backend_never_falls_back(backend, platform, missing):
    with pytest.raises(BackendUnavailable) as error:
        choose_backend(backend, platform)
    assert all(text in str(error.value) for text in missing)
    assert choose_backend(backend, EVERYTHING) == (backend, "requested")


def test_this_machine(tiny_checkpoint, engine_cache, caplog):
    assert "cpu" in available_backends()
    if torch.cuda.is_available():
        pytest.skip("checks the CPU-only machine's messages")
    assert available_backends() == ["cpu"]
    for backend in ("tensorrt", "cuda"):
        with pytest.raises(BackendUnavailable, match="CUDA is not available"):
            Segmenter.from_checkpoint(tiny_checkpoint, backend=backend, cache_dir=engine_cache)
    with caplog.at_level(logging.INFO, logger="seg_perception.inference"):
        segmenter = Segmenter.from_checkpoint(tiny_checkpoint, cache_dir=engine_cache)
    assert segmenter.backend_name == "cpu" and segmenter.precision == "fp32"
    lines = [r.getMessage() for r in caplog.records if r.name == "seg_perception.inference"]
    assert len(lines) == 1 and lines[0].startswith("inference backend: cpu") and "no tensorrt" in lines[0]


def test_missing_torch_tensorrt_is_named(tiny_checkpoint, engine_cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_tensorrt", None)  # import fails, as when not installed
    with pytest.raises(BackendUnavailable, match="torch-tensorrt pip package is not installed"):
        Segmenter.from_checkpoint(tiny_checkpoint, backend="tensorrt", cache_dir=engine_cache)


# --- TensorRT engine cache ------------------------------------------------------------------------------------

def test_cache_key_changes_with_every_field():
    base = dict(weights_sha256="aa", input_shape=SHAPE, precision="fp16", gpu="Orin", tensorrt="10.3",
                torch_tensorrt="2.5", torch="2.5.0")
    fields = {"kind": "tensorrt", **engine_key_fields(model_key(base["weights_sha256"]), SHAPE, "fp16", gpu="Orin",
                                                       tensorrt="10.3", torch_tensorrt="2.5")}
    assert {"weights_sha256", "input_shape", "precision", "gpu", "tensorrt", "torch"} <= set(fields)
    assert model_key("aa") == {"weights_sha256": "aa"}  # the keys of engines cached before the flip existed
    key = cache_key(fields)
    assert key == cache_key(dict(fields)) and len(key) == 32
    for name, other in [("weights_sha256", "bb"), ("test_time_flip", True), ("input_shape", [1, 3, 512, 1024]),
                        ("precision", "fp32"),
                        ("gpu", "RTX 4090"), ("tensorrt", "10.4"), ("torch", "9.9.9")]:
        assert cache_key({**fields, name: other}) != key, name


def test_a_flipped_engine_compiles_the_mirror_image_into_its_graph_and_is_cached_apart(fake_trt, tmp_path):
    # No GPU here: the stand-in module runs the exported program that Torch-TensorRT would compile.
    plain, flipped = trt_backend(tmp_path), trt_backend(tmp_path, test_time_flip=True)
    assert not flipped.cache_hit  # not the plain engine's file
    assert "test_time_flip" not in plain.cache_fields and flipped.cache_fields["test_time_flip"] is True
    flipped.input[:] = plain.input[:] = torch.randn(SHAPE).numpy()
    with torch.no_grad():
        expected = FlipAveraged(tiny_model())(torch.from_numpy(flipped.input)).argmax(1)[0].numpy()
    labels, _ = flipped.run(False)
    assert (labels == expected).mean() >= 0.999 and (labels != plain.run(False)[0]).mean() > 0.05


def test_miss_compiles_and_saves_hit_loads_without_compiling(fake_trt, tmp_path):
    first = trt_backend(tmp_path)
    assert not first.cache_hit
    assert fake_trt.names() == ["compile", "save", "load"]
    assert fake_trt.calls[0][1:] == ("dynamo", SHAPE, torch.float32, {torch.float32})
    cached = EngineCache(tmp_path).path(first.cache_fields, ".ep")
    assert cached.is_file() and cached.with_suffix(".json").is_file()
    assert first.cache_fields["gpu"] == "cpu" and first.cache_fields["tensorrt"] == "10.99"
    first.input[:] = torch.randn(SHAPE).numpy()
    labels, confidence = first.run(True)
    with torch.no_grad():
        expected = tiny_model()(torch.from_numpy(first.input)).argmax(1)[0].numpy()
    assert confidence.shape == SHAPE[2:] and (labels == expected).mean() >= 0.999
    only_labels, none = first.run(False)
    assert none is None and (only_labels == labels).all()

    fake_trt.calls.clear()
    second = trt_backend(tmp_path)
    assert second.cache_hit and fake_trt.names() == ["load"]

    fake_trt.calls.clear()
    half = trt_backend(tmp_path, precision="fp16")  # another key: compiled afresh, in FP16
    assert not half.cache_hit and fake_trt.names() == ["compile", "save", "load"]
    assert fake_trt.calls[0][3:] == (torch.float16, {torch.float16})


def test_corrupt_entry_is_recompiled_with_a_warning(fake_trt, tmp_path, caplog):
    backend = trt_backend(tmp_path)
    path = EngineCache(tmp_path).path(backend.cache_fields, ".ep")
    path.write_bytes(b"truncated engine")
    fake_trt.calls.clear()
    with caplog.at_level(logging.WARNING):
        again = trt_backend(tmp_path)
    assert not again.cache_hit and fake_trt.names() == ["load", "compile", "save", "load"]
    assert any("unreadable" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)
    labels, confidence = again.run(True)
    assert labels.shape == confidence.shape == SHAPE[2:]


def test_the_program_tensorrt_compiles_matches_eager():
    model = tiny_model()
    x = torch.randn(SHAPE)
    head = label_head(model, True)
    compiled_input = export_program(head, x).module()
    with torch.no_grad():
        labels, confidence = compiled_input(x)
        logits = model(x)
    torch.testing.assert_close(labels, logits.argmax(1).to(torch.uint8), rtol=0, atol=0)
    expected_confidence = torch.round(logits.softmax(1).amax(1) * 255).to(torch.uint8)
    assert (labels.unique().numel() >= 3) and torch.all((confidence.int() - expected_confidence.int()).abs() <= 1)
