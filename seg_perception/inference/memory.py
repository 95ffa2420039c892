"""The memory a model needs at an input size, checked before anything of that size is allocated.

A model input of 8192x8192 is a valid size, yet a small U-Net needs about 55 GB for it; the
process would be killed by the kernel with no word said. Every tool and the node call
``check_input_size`` first: the estimate comes from running the model on the meta device
(shapes only, no memory, milliseconds), and a size over the bound is refused in one line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from ..checkpoint import ModelSpec
from ..size import Size

#: the bound in MiB; unset: half of this machine's physical memory
MEMORY_ENV = "SEG_PERCEPTION_MAX_MEMORY_MB"


class InputSizeError(ValueError):
    """A model input size whose estimated memory exceeds the bound; the message names size, estimate and bound."""


def estimate_bytes(spec: ModelSpec, size: Size, batch: int = 1) -> int:
    """Bytes one inference of ``spec``'s model on ``batch`` frames of ``size`` needs: its weights plus every
    layer's output.

    Summing all outputs over-counts what eager torch holds at once, which leaves room for the
    engine build (an ONNX export of a small U-Net at 1024x512 peaked at 0.9 of this estimate).
    """
    with torch.device("meta"):
        model = spec.build().eval()
    total = sum(t.numel() * t.element_size() for t in model.state_dict().values())

    def count(module, inputs, output) -> None:
        nonlocal total
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        total += sum(o.numel() * o.element_size() for o in outputs if isinstance(o, torch.Tensor))

    for module in model.modules():
        if not list(module.children()):
            module.register_forward_hook(count)
    with torch.no_grad():
        model(torch.empty(batch, 3, size.height, size.width, device="meta"))
    return total


def memory_bound(environ: Mapping[str, str] = os.environ) -> tuple[int, str]:
    """(bytes, where that bound comes from): ``$SEG_PERCEPTION_MAX_MEMORY_MB``, else half the physical memory."""
    text = environ.get(MEMORY_ENV, "").strip()
    if text:
        try:
            return int(float(text) * 2**20), MEMORY_ENV
        except ValueError:
            raise InputSizeError(f"{MEMORY_ENV} must be a number of MiB, got {text!r}") from None
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2, "half of this machine's memory"


def check_input_size(spec: ModelSpec, size: Size, environ: Mapping[str, str] = os.environ, batch: int = 1) -> None:
    """InputSizeError when ``spec``'s model at ``size`` (``batch`` frames at once: 2 with test-time flip) would
    need more memory than the bound."""
    size = Size(*size)
    needed = estimate_bytes(spec, size, batch)
    bound, source = memory_bound(environ)
    if needed > bound:
        frames = "" if batch == 1 else f" (a batch of {batch}: test-time flip)"
        raise InputSizeError(f"model input size {size}{frames} needs about {_gib(needed)} for {spec.name!r}, over the "
                             f"bound of {_gib(bound)} ({source}); choose a smaller input size, or set {MEMORY_ENV}")


def _gib(count: int) -> str:
    return f"{count / 2**30:.2f} GiB"
