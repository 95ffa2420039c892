"""FCN-32s, FCN-16s and FCN-8s (Long, Shelhamer and Darrell, CVPR 2015)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .base import SegmentationModel
from .encoders import build_encoder
from .upsampling import BilinearUpsample

FCN_STRIDES = (32, 16, 8)


def _vgg_head(in_channels: int, fc_channels: int, num_classes: int, classifier_state) -> nn.Sequential:
    """fc6 / fc7 as 7x7 and 1x1 convolutions ("convolutionalization"), then the class scores."""
    fc6 = nn.Conv2d(in_channels, fc_channels, kernel_size=7, padding=3)
    fc7 = nn.Conv2d(fc_channels, fc_channels, kernel_size=1)
    if classifier_state is not None and fc_channels == 4096:
        with torch.no_grad():
            fc6.weight.copy_(classifier_state["0.weight"].view(fc6.weight.shape))
            fc6.bias.copy_(classifier_state["0.bias"])
            fc7.weight.copy_(classifier_state["3.weight"].view(fc7.weight.shape))
            fc7.bias.copy_(classifier_state["3.bias"])
    return nn.Sequential(fc6, nn.ReLU(inplace=True), nn.Dropout2d(0.5),
                         fc7, nn.ReLU(inplace=True), nn.Dropout2d(0.5),
                         nn.Conv2d(fc_channels, num_classes, kernel_size=1))


def _resnet_head(in_channels: int, head_channels: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, head_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(head_channels), nn.ReLU(inplace=True), nn.Dropout2d(0.1),
                         nn.Conv2d(head_channels, num_classes, kernel_size=1))


class FCN(SegmentationModel):
    """Fully convolutional network with skip fusion from stride 16 (pool4) and 8 (pool3).

    ``stride`` 32, 16 or 8 picks FCN-32s, -16s or -8s. Class scores at stride 32
    are upsampled 2x by a learnable transposed convolution (bilinear at start),
    summed with the zero-initialised scores of the next finer stage, and the
    result is upsampled to the input size. On ResNets, layer2/layer3/layer4 play
    pool3/pool4/pool5. ``head_channels`` is fc6/fc7's width on VGG16 (4096 in the
    paper) and the 3x3 head's width on ResNets.
    """

    def __init__(self, num_classes: int, *, stride: int = 8, backbone: str = "vgg16",
                 encoder_weights: str | Path | None = None, head_channels: int | None = None):
        super().__init__()
        if stride not in FCN_STRIDES:
            raise ValueError(f"FCN stride must be one of {FCN_STRIDES}, got {stride}")
        self.encoder = build_encoder(backbone, encoder_weights)
        deepest = self.encoder.channels[4]
        if backbone == "vgg16":
            self.head = _vgg_head(deepest, head_channels or 4096, num_classes,
                                  self.encoder.classifier_state)
        else:
            self.head = _resnet_head(deepest, head_channels or 512, num_classes)
        n_skips = FCN_STRIDES.index(stride)
        self.skip_scores = nn.ModuleList(
            nn.Conv2d(self.encoder.channels[3 - i], num_classes, kernel_size=1) for i in range(n_skips))
        for score in self.skip_scores:
            nn.init.zeros_(score.weight)
            nn.init.zeros_(score.bias)
        self.skip_upsample = nn.ModuleList(BilinearUpsample(num_classes, 2) for _ in range(n_skips))
        self.final_upsample = BilinearUpsample(num_classes, stride)

    def forward_aligned(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)
        scores = self.head(features[4])
        for i, (upsample, skip_score) in enumerate(zip(self.skip_upsample, self.skip_scores)):
            scores = upsample(scores) + skip_score(features[3 - i])
        return self.final_upsample(scores)
