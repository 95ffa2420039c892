"""Experiment configuration: YAML file + ``key=value`` overrides over checked defaults.

Every key a config may hold is in ``DEFAULTS``; an unknown key (a typo) is an
error that names it, and a value of the wrong type names the key and the type.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from seg_perception.labels import DEFAULT_DRIVABLE_CLASSES

DEFAULTS: dict[str, Any] = {
    "model": {
        "name": "unet_small",
        "options": {},
        "encoder_weights": None,  # local torchvision-format file (or "imagenet" to download)
    },
    "data": {
        "train_split": "train",
        "val_split": "val",
        "load_scale": 1.0,  # down-scale images at load (low-resolution training)
        "input_size": [512, 256],  # width, height fed to the network at validation and deployment
        "crop_size": [512, 256],  # width, height of training crops
        "scale_range": [0.5, 2.0],
        "flip": True,
        "jitter": True,
        "blur": False,
        "batch_size": 8,
        "workers": 2,
        "histogram_samples": 500,  # label files read to estimate class frequencies
        "rare_class_temperature": 0.0,  # > 0: rare-class sampling (DAFormer; 0.01 there), 0 = uniform shuffle
        "rare_class_min_pixels": 16,  # pixels of a class an image needs to count as holding it
    },
    "train": {
        "epochs": 20,
        "optimizer": "sgd",  # sgd | adamw
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "schedule": "poly",  # poly | cosine
        "poly_power": 0.9,
        "warmup_iters": 0,
        "grad_clip": 0.0,  # max gradient norm, 0 = off
        "amp": True,  # CUDA only
        "channels_last": True,
        "freeze_encoder": False,
        "encoder_lr_mult": 1.0,
        "sync_bn": False,
        "seed": 0,
        "device": "auto",  # auto | cpu | cuda
        "max_iters_per_epoch": 0,  # 0 = whole epoch; small values make quick checks
        "stop_after_epochs": 0,  # end this process after N epochs (time-sliced jobs; continue with --resume)
    },
    "loss": {"terms": [{"type": "ce", "weight": 1.0}]},
    "eval": {
        "drivable_classes": list(DEFAULT_DRIVABLE_CLASSES),
        "val_max_images": 0,  # 0 = whole split
    },
    "log": {
        "tensorboard": True,
        "images": 4,  # prediction images written to TensorBoard per validation
    },
}

# Sections whose content is free-form (validated by their own builders).
_FREE_FORM = {("model", "options"), ("loss", "terms")}


class ConfigError(ValueError):
    """A config file or override is invalid."""


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Defaults, updated by the YAML file at ``path``, then by ``section.key=value`` overrides."""
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a config is a mapping of sections, got {type(loaded).__name__}")
        _merge(config, loaded, DEFAULTS, prefix="")
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key=value (e.g. train.lr=0.02)")
        nested: Any = yaml.safe_load(text) if text else None
        for part in reversed(key.split(".")):
            nested = {part: nested}
        _merge(config, nested, DEFAULTS, prefix="")
    return config


def _merge(target: dict, update: dict, defaults: dict, prefix: str) -> None:
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if key not in defaults:
            raise ConfigError(f"unknown config key {dotted!r}; valid keys here: {', '.join(defaults)}")
        default = defaults[key]
        if isinstance(default, dict) and tuple(dotted.split(".")) not in _FREE_FORM:
            if not isinstance(value, dict):
                raise ConfigError(f"config key {dotted!r} must be a mapping, got {value!r}")
            _merge(target[key], value, default, prefix=f"{dotted}.")
            continue
        target[key] = _checked(dotted, value, default)


def _checked(key: str, value: Any, default: Any) -> Any:
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"config key {key!r} must be true or false, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, float) and isinstance(value, str):
        try:  # YAML 1.1 reads 1e-3 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if not isinstance(value, type(default)) or isinstance(value, bool) != isinstance(default, bool):
        raise ConfigError(f"config key {key!r} must be {type(default).__name__}, got {value!r}")
    return value
