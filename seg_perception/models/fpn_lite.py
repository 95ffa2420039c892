"""FPN-lite: a light feature-pyramid decoder for deployment on CPUs and small GPUs.

The U-Net decoder over EfficientNet-Lite0 costs four fifths of that model's
9.6 GFLOP at 512x256, mostly in its full-resolution stages. This decoder
stops at stride 4 with one narrow width everywhere (lateral 1x1 convs, a
top-down sum, one depthwise-separable 3x3 conv per merge) and upsamples the
logits bilinearly: 2.1 GFLOP in all, the encoder being 1.9 of them. Measured
against an LR-ASPP head and a U-Net with small channels in docs/EXPERIMENTS.md.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .base import SegmentationModel
from .encoders import build_encoder


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias) + BN + ReLU with "same" padding."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def separable_conv(channels: int) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1: a 3x3 conv's reach at about a ninth of its cost."""
    return nn.Sequential(conv_bn_relu(channels, channels, 3, groups=channels), conv_bn_relu(channels, channels))


class FPNLite(SegmentationModel):
    """Encoder features at strides 4..32 merged top-down at ``width`` channels; logits at stride 4, upsampled."""

    def __init__(self, num_classes: int, *, backbone: str = "efficientnet_lite0",
                 encoder_weights: str | Path | None = None, width: int = 64):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.encoder = build_encoder(backbone, encoder_weights)
        pyramid = self.encoder.channels[1:]  # strides 4, 8, 16, 32
        self.lateral = nn.ModuleList(conv_bn_relu(channels, width) for channels in pyramid)
        self.smooth = nn.ModuleList(separable_conv(width) for _ in pyramid[:-1])
        self.classifier = nn.Conv2d(width, num_classes, kernel_size=1)

    def forward_aligned(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)[1:]
        y = self.lateral[-1](features[-1])
        for lateral, smooth, feature in zip(reversed(self.lateral[:-1]), reversed(self.smooth),
                                            reversed(features[:-1])):
            # sides line up exactly: forward() pads the input to a multiple of the output stride
            y = smooth(F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False) + lateral(feature))
        return F.interpolate(self.classifier(y), scale_factor=4.0, mode="bilinear", align_corners=False)
