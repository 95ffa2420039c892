"""Learnable upsampling initialised to bilinear interpolation (Long et al., FCN, sec. 3.3)."""

from __future__ import annotations

import torch
from torch import nn


def bilinear_kernel(size: int) -> torch.Tensor:
    """2-D bilinear interpolation kernel of ``size`` x ``size`` (as in Caffe's FCN ``upsample_filt``)."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    ramp = 1 - torch.abs(torch.arange(size, dtype=torch.float32) - center) / factor
    return ramp[:, None] * ramp[None, :]


class BilinearUpsample(nn.ConvTranspose2d):
    """``factor``-times transposed convolution whose output is exactly ``factor`` x the input size.

    Kernel ``2 * factor``, stride ``factor`` and padding ``factor / 2`` give
    ``(in - 1) * factor - factor + 2 * factor = in * factor``. Each channel starts
    as bilinear interpolation of itself; all weights stay learnable.
    """

    def __init__(self, channels: int, factor: int):
        if factor < 2 or factor % 2:
            raise ValueError(f"upsampling factor must be an even integer >= 2, got {factor}")
        super().__init__(channels, channels, kernel_size=2 * factor, stride=factor,
                         padding=factor // 2, bias=False)
        with torch.no_grad():
            self.weight.zero_()
            kernel = bilinear_kernel(2 * factor)
            for c in range(channels):
                self.weight[c, c] = kernel
