"""How much work a model is and how close to this machine's limit it runs.

The count is torch's ``FlopCounterMode``: 2 FLOP per multiply-add of
convolutions and matrix products, which are nearly all of a segmentation
network's work (normalisation, activations and resampling are not counted).
The peak is what this machine's torch reaches on a large fp32 matrix product,
measured, not read off a data sheet: the ceiling a convolution network can
approach on the same cores.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..size import Size

#: Side of the square matrices of the peak probe: large enough to run at full speed, 17 GFLOP a product.
PROBE_SIDE = 2048


def model_gflop(model: nn.Module, input_size: Size) -> float:
    """GFLOP of one forward pass of ``model`` on a 1 x 3 x H x W frame of ``input_size``."""
    width, height = input_size
    example = torch.zeros(1, 3, height, width, dtype=next(model.parameters()).dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 1e9


def matmul_peak_gflops(repeats: int = 5, side: int = PROBE_SIDE) -> float:
    """fp32 GFLOP/s of the fastest of ``repeats`` ``side`` x ``side`` matrix products (after one warm-up)."""
    a = torch.rand(side, side)
    b = torch.rand(side, side)
    out = torch.empty(side, side)
    torch.mm(a, b, out=out)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b, out=out)
        seconds.append(time.perf_counter() - started)
    # the fastest run is the machine's capability; slower ones measure whoever else was running
    return 2 * side ** 3 / min(seconds) / 1e9
