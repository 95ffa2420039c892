"""The inference backends by name: what each needs to run, whether it runs on the GPU, and its place in ``auto``.

Imports neither torch nor any runtime, so the node's parameter table, the
command-line help texts and configuration checks read the names here without
loading the inference stack. ``backends`` turns each name into an engine (one
factory per row) and checks the requirements against what this machine has.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackendInfo:
    """One backend: ``requires`` names what it needs, as ``backends.Platform`` fields (cuda, tensorrt,
    onnxruntime); ``deployment`` backends are the ones the node and ``auto`` may pick, the others are
    reference rows for benchmarks and tests."""

    name: str
    summary: str
    gpu: bool
    deployment: bool
    requires: tuple[str, ...]


#: Deployment backends fastest first: the order in which ``auto`` tries them.
TABLE: tuple[BackendInfo, ...] = (
    BackendInfo("tensorrt", "Torch-TensorRT engine on an NVIDIA GPU, cached on disk", gpu=True, deployment=True,
                requires=("tensorrt", "cuda")),
    BackendInfo("cuda", "eager torch on an NVIDIA GPU", gpu=True, deployment=True, requires=("cuda",)),
    BackendInfo("cpu", "ONNX Runtime on the CPU", gpu=False, deployment=True, requires=("onnxruntime",)),
    BackendInfo("torch-cpu", "eager torch FP32 on the CPU (reference)", gpu=False, deployment=False, requires=()),
    BackendInfo("torch-cpu-channels-last", "eager torch FP32 channels-last on the CPU (reference)", gpu=False,
                deployment=False, requires=()),
)
BACKENDS: dict[str, BackendInfo] = {info.name: info for info in TABLE}
AUTO = "auto"
DEPLOYMENT_BACKENDS: tuple[str, ...] = tuple(info.name for info in TABLE if info.deployment)
REFERENCE_BACKENDS: tuple[str, ...] = tuple(info.name for info in TABLE if not info.deployment)
#: What ``auto`` runs when no deployment backend can run here.
AUTO_FALLBACK = "torch-cpu"
#: What a user may ask the node and the tools for.
BACKEND_CHOICES: tuple[str, ...] = (AUTO,) + DEPLOYMENT_BACKENDS
PRECISIONS = ("fp16", "fp32")


def effective_precision(backend: str, precision: str) -> str:
    """The precision ``backend`` runs at when ``precision`` is asked for: half precision exists on the GPU only."""
    return precision if BACKENDS[backend].gpu else "fp32"


def backend_help(default: str | None = None) -> str:
    """The help text of a ``--backend`` option."""
    text = f"inference backend: {AUTO} picks {', then '.join(DEPLOYMENT_BACKENDS)}; or one of them"
    return f"{text} (default {default})" if default else text


#: The help text of a ``--test-time-flip`` option (seg_node's ``test_time_flip``).
TEST_TIME_FLIP_HELP = ("average the model's logits on each frame and on its mirror image: about twice the "
                       "inference time, +0.011 val / +0.007 shifted mIoU for the default model (seg_node's "
                       "test_time_flip)")
