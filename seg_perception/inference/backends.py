"""Inference backends: which can run here, which to pick, and the engines themselves.

Deployment backends:

* ``tensorrt`` -- the ``torch.export`` program of the label head compiled by
  Torch-TensorRT (dynamo IR, static shape, FP16 or FP32), cached on disk.
* ``cuda`` -- eager torch on the GPU, FP16 autocast when precision is fp16.
* ``cpu`` -- ONNX Runtime (graph optimisation ORT_ENABLE_ALL, one intra-op
  thread per core, argmax and confidence inside the graph): the fastest CPU
  runtime measured here (docs/BENCHMARKS.md).

Reference backends, for benchmarks and tests: ``torch-cpu`` (eager FP32,
NCHW) and ``torch-cpu-channels-last``.

Every backend owns a float32 N x 3 x H x W ``input`` array that pre-processing
writes into, and ``run`` returns H x W uint8 labels (and confidence) valid
until the next run. ONNX Runtime reads and writes these arrays in place (I/O
binding) and the GPU backends copy through pinned buffers allocated once, so
in steady state no host memory is allocated for the model's input or output.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .backend_table import AUTO, AUTO_FALLBACK, BACKENDS, DEPLOYMENT_BACKENDS
from .engine_cache import EngineCache
from .graph import (GRAPH_VERSION, INPUT_NAME, OUTPUT_NAMES, decode, deployed_model, export_onnx, export_program,
                    label_head)

TORCH_TENSORRT_HINT = ("the torch-tensorrt pip package is not installed "
                       f"(pip install torch-tensorrt built for torch {torch.__version__}; "
                       "on Jetson use NVIDIA's JetPack wheel; see docs/GPU_DEPLOYMENT.md)")
_CUDA_BUILD = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
#: What to tell the user when a ``Platform`` feature a backend requires (backend_table) is missing.
MISSING = {
    "tensorrt": TORCH_TENSORRT_HINT,
    "cuda": f"CUDA is not available (torch {torch.__version__} is {_CUDA_BUILD} and sees no NVIDIA GPU)",
    "onnxruntime": "the onnxruntime, onnx and onnxscript pip packages are not all installed "
                   "(pip install onnxruntime onnx onnxscript)",
}


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run on this machine; the message names what is missing."""


@dataclass(frozen=True)
class Platform:
    """What this machine offers for inference (probed once by ``probe_platform``)."""

    cuda: bool
    tensorrt: bool
    onnxruntime: bool


def _installed(module: str) -> bool:
    if module in sys.modules:  # already imported (or blocked with None)
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def probe_platform() -> Platform:
    """Probe CUDA and the optional runtimes without importing the heavy ones."""
    return Platform(cuda=torch.cuda.is_available(), tensorrt=_installed("torch_tensorrt"),
                    onnxruntime=all(_installed(m) for m in ("onnxruntime", "onnx", "onnxscript")))


def missing_for(backend: str, platform: Platform) -> list[str]:
    """What ``backend`` lacks on ``platform`` (empty when it can run); unknown names raise ValueError."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {AUTO}, {', '.join(BACKENDS)}")
    return [MISSING[need] for need in BACKENDS[backend].requires if not getattr(platform, need)]


def choose_backend(requested: str, platform: Platform) -> tuple[str, str]:
    """(backend, why) for ``requested``; "auto" tries the deployment backends in the table's order.

    A backend the user named that cannot run raises BackendUnavailable naming
    what is missing: no silent fallback.
    """
    if requested != AUTO:
        missing = missing_for(requested, platform)
        if missing:
            raise BackendUnavailable(f"backend {requested!r} is unavailable: {'; '.join(missing)}")
        return requested, "requested"
    skipped = []
    for candidate in DEPLOYMENT_BACKENDS:
        missing = missing_for(candidate, platform)
        if not missing:
            return candidate, "auto: " + ("; ".join(skipped) if skipped else f"{candidate} is available")
        skipped.append(f"no {candidate} ({'; '.join(missing)})")
    return AUTO_FALLBACK, "auto: " + "; ".join(skipped)


def available_backends() -> list[str]:
    """Deployment backends that can run on this machine, fastest first."""
    platform = probe_platform()
    return [name for name in DEPLOYMENT_BACKENDS if not missing_for(name, platform)]


def cpu_threads() -> int:
    """Cores this process may use (respects taskset/cgroup affinity)."""
    return len(os.sched_getaffinity(0))


class Backend:
    """One engine for one static input shape. Subclasses fill ``input`` and implement ``run``."""

    name: str
    precision: str = "fp32"

    def __init__(self, input_shape: tuple[int, int, int, int]):
        self.input_shape = tuple(input_shape)
        self.input: np.ndarray = np.zeros(self.input_shape, np.float32)

    def run(self, with_confidence: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Run on ``self.input``: H x W uint8 labels and confidence (None unless asked), valid until the next run."""
        raise NotImplementedError


class DeviceBackend(Backend):
    """A torch module on CPU or CUDA; argmax on the device, only uint8 maps are copied to the host."""

    def __init__(self, input_shape, device: str, input_dtype: torch.dtype = torch.float32):
        super().__init__(input_shape)
        self.device = torch.device(device)
        if self.device.type == "cuda":
            # Pinned host memory: pre-processing writes here and the copies run at full bandwidth.
            self._host_input = torch.zeros(self.input_shape, dtype=torch.float32).pin_memory()
            self._host_maps = torch.zeros((2,) + self.input_shape[2:], dtype=torch.uint8).pin_memory()
            self.input = self._host_input.numpy()
        else:
            self._host_input = torch.from_numpy(self.input)
        if self.device.type == "cpu" and input_dtype == torch.float32:
            self._device_input = self._host_input
        else:
            self._device_input = torch.empty(self.input_shape, dtype=input_dtype, device=self.device)

    def forward(self, x: torch.Tensor, with_confidence: bool) -> tuple[torch.Tensor, ...]:
        """(labels,) or (labels, confidence) as N x H x W uint8 tensors on the device."""
        raise NotImplementedError

    def run(self, with_confidence):
        if self._device_input is not self._host_input:
            self._device_input.copy_(self._host_input)
        with torch.inference_mode():
            maps = self.forward(self._device_input, with_confidence)
        if self.device.type == "cuda":
            for host, device_map in zip(self._host_maps, maps):
                host.copy_(device_map[0])  # synchronous, so the maps are complete when run returns
            maps = self._host_maps[:len(maps)]
        else:
            maps = [m[0] for m in maps]
        return maps[0].numpy(), (maps[1].numpy() if with_confidence else None)


class TorchBackend(DeviceBackend):
    """Eager torch: the CUDA backend (FP16 autocast optional) and the CPU reference rows."""

    def __init__(self, model: nn.Module, input_shape, *, device: str = "cpu", fp16: bool = False,
                 channels_last: bool = False, name: str = "torch-cpu"):
        super().__init__(input_shape, device)
        self.name = name
        self.precision = "fp16" if fp16 else "fp32"
        self.model = label_head(model, False, device=self.device, channels_last=channels_last).model

    def forward(self, x, with_confidence):
        with torch.autocast(self.device.type, torch.float16, enabled=self.precision == "fp16"):
            maps = decode(self.model(x), with_confidence)
        return maps if with_confidence else (maps,)


def ort_session(path: str | Path, threads: int | None = None):
    """ONNX Runtime CPU session: ORT_ENABLE_ALL (constant folding, fusions, NCHWc layouts), one thread per core.

    Idle worker threads sleep instead of spinning: measured here it costs no
    latency, and a spinning pool would burn the cores that the rest of the
    robot's software (and the next frame's pre-processing) needs.
    """
    import onnxruntime as ort  # optional dependency: imported only when used

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or cpu_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime with I/O binding: it reads ``input`` and writes our label buffers in place.

    ``session_for(with_confidence)`` returns the session for that graph variant;
    it is called once per variant, on first use. ONNX Runtime computes every
    output of a graph whether asked for or not, so a labels-only graph is what
    makes frames without confidence cheaper.
    """

    name = "cpu"

    def __init__(self, input_shape, session_for):
        super().__init__(input_shape)
        self._session_for = session_for
        self._bindings: dict[bool, tuple[Any, Any]] = {}
        self._maps = np.zeros((2, 1) + self.input_shape[2:], np.uint8)

    def _binding(self, with_confidence: bool):
        if with_confidence not in self._bindings:
            session = self._session_for(with_confidence)
            binding = session.io_binding()
            binding.bind_input(INPUT_NAME, "cpu", 0, np.float32, list(self.input_shape), self.input.ctypes.data)
            for name, buffer in zip(OUTPUT_NAMES[:1 + with_confidence], self._maps):
                binding.bind_output(name, "cpu", 0, np.uint8, list(buffer.shape), buffer.ctypes.data)
            self._bindings[with_confidence] = (session, binding)
        return self._bindings[with_confidence]

    def run(self, with_confidence):
        session, binding = self._binding(with_confidence)
        session.run_with_iobinding(binding)
        return self._maps[0, 0], (self._maps[1, 0] if with_confidence else None)


class TensorRTBackend(DeviceBackend):
    """The Torch-TensorRT compiled label head, loaded from the engine cache or compiled into it.

    The engine always has the confidence output: on a GPU it costs next to
    nothing, and one engine per key keeps first-start compile time down.
    ``device`` is "cuda" in deployment; the tests run the cache logic on "cpu"
    with a stand-in ``torch_tensorrt`` module.
    """

    name = "tensorrt"

    def __init__(self, model: nn.Module, input_shape, *, precision: str, cache: EngineCache,
                 key_fields: dict[str, Any], device: str = "cuda"):
        import torch_tensorrt  # optional dependency: imported only when this backend is used

        dtype = torch.float16 if precision == "fp16" else torch.float32
        super().__init__(input_shape, device, input_dtype=dtype)
        self.precision = precision
        self.cache_fields = {"kind": "tensorrt", **key_fields}

        def build(path: Path) -> None:
            example = torch.zeros(self.input_shape, dtype=dtype, device=self.device)
            program = export_program(label_head(model, True, dtype=dtype, device=self.device), example)
            compiled = torch_tensorrt.compile(program, ir="dynamo", inputs=[example], enabled_precisions={dtype})
            torch_tensorrt.save(compiled, str(path), inputs=[example])

        self.engine, self.cache_hit = cache.load_or_build(
            self.cache_fields, ".ep", build=build, load=lambda path: torch_tensorrt.load(str(path)).module())

    def forward(self, x, with_confidence):
        maps = self.engine(x)
        return maps if with_confidence else maps[:1]


def model_key(weights_sha256: str, test_time_flip: bool = False) -> dict[str, Any]:
    """What identifies the deployed network: its weights and whether it averages in the mirror image (a field
    only when it does, so that engines cached before the flip existed keep their keys)."""
    return {"weights_sha256": weights_sha256, **({"test_time_flip": True} if test_time_flip else {})}


def engine_key_fields(model: dict[str, Any], input_shape, precision: str, **versions: str) -> dict[str, Any]:
    """What an engine's validity depends on besides its kind: the network (``model_key``), static shape,
    precision, versions."""
    return {**model, "input_shape": list(input_shape), "precision": precision,
            "graph_version": GRAPH_VERSION, "torch": torch.__version__, **versions}


def tensorrt_versions(device: torch.device) -> dict[str, str]:
    """GPU name and TensorRT / Torch-TensorRT versions: the parts of a TensorRT cache key torch does not know."""
    import torch_tensorrt

    try:
        import tensorrt

        trt_version = tensorrt.__version__
    except ImportError:  # torch_tensorrt records the TensorRT it was built against
        trt_version = str(getattr(torch_tensorrt, "__tensorrt_version__", "unknown"))
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    return {"gpu": gpu, "tensorrt": trt_version, "torch_tensorrt": str(torch_tensorrt.__version__)}


def _tensorrt(model: nn.Module, input_shape, precision: str, cache: EngineCache, key: dict) -> Backend:
    device = torch.device("cuda")
    fields = engine_key_fields(key, input_shape, precision, **tensorrt_versions(device))
    return TensorRTBackend(model, input_shape, precision=precision, cache=cache, key_fields=fields, device="cuda")


def _cuda(model: nn.Module, input_shape, precision: str, cache: EngineCache, key: dict) -> Backend:
    return TorchBackend(model, input_shape, device="cuda", fp16=precision == "fp16", name="cuda")


def _onnxruntime(model: nn.Module, input_shape, precision: str, cache: EngineCache, key: dict,
                 threads: int | None = None) -> Backend:
    import onnx

    model = copy.deepcopy(model)  # variants are exported lazily: freeze today's weights
    example = torch.zeros(input_shape)

    def session_for(with_confidence: bool):
        fields = {"kind": "onnx", "confidence": with_confidence, "onnx": onnx.__version__,
                  **engine_key_fields(key, input_shape, "fp32")}
        session, _ = cache.load_or_build(
            fields, ".onnx", load=lambda path: ort_session(path, threads),
            build=lambda path: export_onnx(export_program(label_head(model, with_confidence), example), path))
        return session

    return OnnxRuntimeBackend(input_shape, session_for)


def _torch_cpu(model: nn.Module, input_shape, precision: str, cache: EngineCache, key: dict) -> Backend:
    return TorchBackend(model, input_shape, name="torch-cpu")


def _torch_cpu_channels_last(model: nn.Module, input_shape, precision: str, cache: EngineCache,
                             key: dict) -> Backend:
    return TorchBackend(model, input_shape, channels_last=True, name="torch-cpu-channels-last")


#: One factory per row of backend_table.TABLE.
FACTORIES = {"tensorrt": _tensorrt, "cuda": _cuda, "cpu": _onnxruntime, "torch-cpu": _torch_cpu,
             "torch-cpu-channels-last": _torch_cpu_channels_last}


def create_backend(name: str, model: nn.Module, input_shape, *, precision: str, cache: EngineCache,
                   weights_sha256: str, threads: int | None = None, test_time_flip: bool = False) -> Backend:
    """Backend ``name`` (already checked to be available) running ``model`` at ``input_shape``; ``threads``
    is the cpu backend's ONNX Runtime thread count (default one per core), which other backends ignore.
    With ``test_time_flip`` the engine averages the model's logits on each frame and its mirror image."""
    extra = {"threads": threads} if name == "cpu" else {}
    return FACTORIES[name](deployed_model(model, test_time_flip), input_shape, precision, cache,
                           model_key(weights_sha256, test_time_flip), **extra)
