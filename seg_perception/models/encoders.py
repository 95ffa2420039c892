"""Encoders: torchvision backbones cut into feature maps at strides 2, 4, 8, 16 and 32.

Pretrained weights come from a local file in torchvision's format (the
``state_dict`` of ``torchvision.models.<name>()``, optionally wrapped in
``{"state_dict": ...}`` or ``{"model": ...}``); ``weights="imagenet"``
downloads torchvision's weights for users with a network.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

RESNETS = ("resnet18", "resnet34", "resnet50")


def load_torchvision_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a torchvision-format weight file; errors name the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"encoder weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files
        raise ValueError(f"cannot read encoder weights {path}: {exc}") from exc
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state_dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def pretrained_state(name: str, weights: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict of torchvision's ``name`` from a local file, or downloaded for "imagenet"."""
    if weights == "imagenet":
        return torchvision.models.get_model_weights(name).DEFAULT.get_state_dict(progress=True)
    return load_torchvision_state(weights)


def load_matching(module: nn.Module, state: dict[str, torch.Tensor], name: str, source) -> None:
    """Load ``state`` into ``module`` strictly; a mismatch names the file and the first differing keys."""
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{source} does not match torchvision's {name}: "
                         f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")


def torchvision_backbone(name: str, weights: str | Path | None) -> nn.Module:
    """Build ``torchvision.models.<name>`` and initialise it from ``weights`` (a path, "imagenet" or None)."""
    model = torchvision.models.get_model(name, weights=None)
    if weights is not None:
        load_matching(model, pretrained_state(name, weights), name, weights)
    return model


class ResNetEncoder(nn.Module):
    """ResNet stages as features at strides 2 (stem), 4, 8, 16, 32."""

    def __init__(self, name: str = "resnet18", weights: str | Path | None = None):
        super().__init__()
        if name not in RESNETS:
            raise ValueError(f"unknown ResNet {name!r}; choose one of {RESNETS}")
        net = torchvision_backbone(name, weights)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu)
        self.pool = net.maxpool
        self.layers = nn.ModuleList([net.layer1, net.layer2, net.layer3, net.layer4])
        expansion = net.layer1[0].expansion
        self.channels = (64, 64 * expansion, 128 * expansion, 256 * expansion, 512 * expansion)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = [x]
        x = self.pool(x)
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return features


class VGG16Encoder(nn.Module):
    """VGG16's five conv blocks, each ending in its max-pool: pool1 .. pool5 at strides 2 .. 32.

    Only the convolutional part is built (the 120 M-parameter classifier is not
    needed); pretrained fc6/fc7 weights are kept in ``classifier_state`` so FCN
    can turn them into convolutions, as the paper does.
    """

    channels = (64, 128, 256, 512, 512)

    def __init__(self, weights: str | Path | None = None):
        super().__init__()
        features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
        self.classifier_state = None
        if weights is not None:
            state = pretrained_state("vgg16", weights)
            load_matching(features, _sub_state(state, "features."), "vgg16", weights)
            self.classifier_state = _sub_state(state, "classifier.")
            if set(self.classifier_state) != {f"{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")}:
                raise ValueError(f"{weights} does not match torchvision's vgg16: classifier keys "
                                 f"{sorted(self.classifier_state)}")
        blocks, current = [], []
        for layer in features:
            current.append(layer)
            if isinstance(layer, nn.MaxPool2d):
                blocks.append(nn.Sequential(*current))
                current = []
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features


def _sub_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}


def build_encoder(name: str, weights: str | Path | None = None) -> nn.Module:
    """Encoder by backbone name; its ``channels`` lists the widths at strides 2..32."""
    if name == "vgg16":
        return VGG16Encoder(weights)
    if name == "efficientnet_lite0":
        from .efficientnet_lite import EfficientNetLiteEncoder  # optional dependency, imported on use

        return EfficientNetLiteEncoder(weights)
    return ResNetEncoder(name, weights)
