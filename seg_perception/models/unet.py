"""U-Net (Ronneberger, Fischer and Brox, MICCAI 2015) and its ResNet-encoder variant."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .base import SegmentationModel
from .encoders import build_encoder

UPSAMPLING_MODES = ("transpose", "bilinear")


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 conv + BN + ReLU. Padded ("same") convolutions, unlike the paper's valid ones,
    so outputs keep the input size and no cropping of skips is needed."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class DecoderBlock(nn.Module):
    """Upsample 2x to ``out_channels``, concatenate the skip, then a double conv."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, upsampling: str):
        super().__init__()
        if upsampling not in UPSAMPLING_MODES:
            raise ValueError(f"upsampling must be one of {UPSAMPLING_MODES}, got {upsampling!r}")
        if upsampling == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        else:
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                    nn.Conv2d(in_channels, out_channels, kernel_size=1))
        self.conv = double_conv(out_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.up(x)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv(x)


class UNetEncoder(nn.Module):
    """The contracting path: double convs that double the width while max-pooling halves the size."""

    def __init__(self, base_channels: int, depth: int):
        super().__init__()
        self.channels = tuple(base_channels * 2 ** i for i in range(depth + 1))
        self.stages = nn.ModuleList([double_conv(3, base_channels)] + [
            nn.Sequential(nn.MaxPool2d(2), double_conv(c, 2 * c)) for c in self.channels[:-1]])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class UNet(SegmentationModel):
    """Classic U-Net: ``depth`` poolings, widths ``base_channels * 2**level``, skips at every level."""

    def __init__(self, num_classes: int, *, base_channels: int = 64, depth: int = 4,
                 upsampling: str = "transpose"):
        super().__init__()
        if base_channels < 1 or not 1 <= depth <= 6:
            raise ValueError(f"need base_channels >= 1 and 1 <= depth <= 6, got {base_channels}, {depth}")
        self.output_stride = 2 ** depth
        self.encoder = UNetEncoder(base_channels, depth)
        widths = self.encoder.channels
        self.decoder = nn.ModuleList(
            DecoderBlock(widths[i + 1], widths[i], widths[i], upsampling) for i in reversed(range(depth)))
        self.classifier = nn.Conv2d(base_channels, num_classes, kernel_size=1)

    def forward_aligned(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)
        x = features[-1]
        for block, skip in zip(self.decoder, reversed(features[:-1])):
            x = block(x, skip)
        return self.classifier(x)


class EncoderUNet(SegmentationModel):
    """U-Net decoder over a pretrained encoder's stride 2..32 features (ResNet).

    The encoder's stride-2 map is the finest skip; a last decoder block without
    a skip brings the result to full resolution.
    """

    def __init__(self, num_classes: int, *, backbone: str = "resnet18",
                 encoder_weights: str | Path | None = None,
                 decoder_channels: Sequence[int] = (256, 128, 64, 32, 16),
                 upsampling: str = "transpose"):
        super().__init__()
        if len(decoder_channels) != 5:
            raise ValueError(f"decoder_channels needs 5 widths (strides 16..1), got {list(decoder_channels)}")
        self.encoder = build_encoder(backbone, encoder_weights)
        skips = list(reversed(self.encoder.channels[:4])) + [0]
        in_widths = [self.encoder.channels[4]] + list(decoder_channels[:-1])
        self.decoder = nn.ModuleList(
            DecoderBlock(i, s, o, upsampling) for i, s, o in zip(in_widths, skips, decoder_channels))
        self.classifier = nn.Conv2d(decoder_channels[-1], num_classes, kernel_size=1)

    def forward_aligned(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)
        x = features[-1]
        skips = list(reversed(features[:-1])) + [None]
        for block, skip in zip(self.decoder, skips):
            x = block(x, skip)
        return self.classifier(x)
