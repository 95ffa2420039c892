"""Model names -> constructors: the one way to build a model (``build_model``)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from torch import nn

from .encoders import RESNETS
from .fcn import FCN, FCN_STRIDES
from .fpn_lite import FPNLite
from .unet import EncoderUNet, UNet

#: The small U-Net preset: fast enough for real time on a CPU (see docs/BENCHMARKS.md).
UNET_SMALL = {"base_channels": 8, "depth": 4}

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
for _stride in FCN_STRIDES:
    for _backbone in ("vgg16",) + RESNETS + ("efficientnet_lite0",):
        _REGISTRY[f"fcn{_stride}s_{_backbone}"] = functools.partial(FCN, stride=_stride, backbone=_backbone)
_REGISTRY["unet"] = UNet
_REGISTRY["unet_small"] = functools.partial(UNet, **UNET_SMALL)
for _backbone in RESNETS + ("efficientnet_lite0",):
    _REGISTRY[f"unet_{_backbone}"] = functools.partial(EncoderUNet, backbone=_backbone)
for _backbone in ("resnet18", "efficientnet_lite0"):
    _REGISTRY[f"fpnlite_{_backbone}"] = functools.partial(FPNLite, backbone=_backbone)


def available_models() -> list[str]:
    """Names accepted by ``build_model``."""
    return sorted(_REGISTRY)


def model_options(name: str) -> list[str]:
    """Keyword options that model ``name`` accepts."""
    factory = _factory(name)
    fixed = factory.keywords if isinstance(factory, functools.partial) else {}
    params = inspect.signature(factory).parameters
    return [p for p, spec in params.items() if spec.kind is spec.KEYWORD_ONLY and p not in fixed]


def build_model(name: str, num_classes: int, **options) -> nn.Module:
    """Build model ``name`` with ``num_classes`` output channels; unknown names or options raise ValueError."""
    factory = _factory(name)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    unknown = sorted(set(options) - set(model_options(name)))
    if unknown:
        raise ValueError(f"model {name!r} has no option(s) {unknown}; options: {model_options(name)}")
    return factory(num_classes, **options)


def _factory(name: str) -> Callable[..., nn.Module]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available_models())}") from None
