"""What every segmentation model shares: padding to its output stride and an ``encoder`` to fine-tune."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SegmentationModel(nn.Module):
    """A model mapping N x 3 x H x W images to N x C x H x W logits for any H, W.

    Subclasses implement ``forward_aligned`` for inputs whose sides are multiples
    of ``output_stride``; ``forward`` zero-pads the (normalised) input up to that
    and crops the logits back, so every feature map lines up exactly with its
    skip connection and no resampling is needed to fix sizes. With a static
    input shape the padding is a constant, which ``torch.export`` and TensorRT
    handle directly. ``encoder`` is the part that pretrained weights initialise.
    """

    output_stride: int = 32
    encoder: nn.Module

    def forward_aligned(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        stride = self.output_stride
        pad_h = (stride - height % stride) % stride
        pad_w = (stride - width % stride) % stride
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        logits = self.forward_aligned(x)
        return logits[..., :height, :width]
