"""Experiment configuration: YAML file + ``key=value`` overrides over checked defaults.

Every key a config may hold is in ``DEFAULTS``; an unknown key (a typo) is an
error that names it, a value of the wrong type names the key and the type, and
a number outside its key's range in ``RANGES`` (batch size >= 1, lr > 0, ...)
names the key, the range and the value.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml

from seg_perception.labels import DEFAULT_DRIVABLE_CLASSES
from seg_perception.size import MAX_SIDE

from .data.motion_blur import MIN_LENGTH_PX

DEFAULTS: dict[str, Any] = {
    "model": {
        "name": "unet_small",
        "options": {},
        "encoder_weights": None,  # local torchvision-format file (or "imagenet" to download)
        "init_from": None,  # a seg-train checkpoint whose weights start the run (fine-tuning); replaces encoder_weights
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
        "hue": 0.05,  # colour jitter's largest hue shift, as a fraction of a turn (<= 0.5)
        "haze": 0.0,  # grey veil on 30 % of the crops, transmission in [this, 1], 0 = off
        "blur": False,
        "gamma": 0.0,  # gamma curve strength: exponent in [1 / (1 + x), 1 + x], 0 = off
        "motion_blur": 0.0,  # motion blur on 30 % of the crops, [3, this] pixels long at any angle, 0 = off
        "noise": 0.0,  # sensor noise up to this sigma (grey levels) on half the crops, 0 = off
        "jpeg_quality": 0,  # JPEG round trip on 30 % of the crops at quality [this, 95], 0 = off
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
        "schedule": "poly",  # poly | cosine | constant
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
        "time_budget_s": 0.0,  # > 0: train the whole epochs (<= epochs) that fit this many seconds, 0 = off
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

# Keys that name a file (YAML reads an unquoted 2026-12-07 as a date, 12 as a number).
_PATHS = {"model.encoder_weights", "model.init_from"}
# Sections whose content is free-form (validated by their own builders).
_FREE_FORM = {("model", "options"), ("loss", "terms")}

#: Every numeric key's range, as (lowest, highest, whether the lowest itself is excluded); None: no bound.
#: A list-valued key's range applies to each of its numbers.
RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    "data.load_scale": (0.0, 1.0, True),
    "data.input_size": (1, MAX_SIDE, False),
    "data.crop_size": (1, MAX_SIDE, False),
    "data.scale_range": (0.0, None, True),
    "data.batch_size": (1, None, False),
    "data.workers": (0, None, False),
    "data.hue": (0.0, 0.5, False),
    "data.haze": (0.0, 1.0, False),
    "data.gamma": (0.0, None, False),
    "data.motion_blur": (0.0, 64.0, False),
    "data.noise": (0.0, 255.0, False),
    "data.jpeg_quality": (0, 95, False),
    "data.histogram_samples": (1, None, False),
    "data.rare_class_temperature": (0.0, None, False),
    "data.rare_class_min_pixels": (1, None, False),
    "train.epochs": (1, None, False),
    "train.lr": (0.0, None, True),
    "train.momentum": (0.0, 1.0, False),
    "train.weight_decay": (0.0, None, False),
    "train.poly_power": (0.0, None, True),
    "train.warmup_iters": (0, None, False),
    "train.grad_clip": (0.0, None, False),
    "train.encoder_lr_mult": (0.0, None, False),
    "train.seed": (0, 2**31 - 1, False),
    "train.max_iters_per_epoch": (0, None, False),
    "train.stop_after_epochs": (0, None, False),
    "train.time_budget_s": (0.0, None, False),
    "eval.val_max_images": (0, None, False),
    "log.images": (0, None, False),
}
#: list-valued keys and how many numbers they hold
_LENGTHS = {"data.input_size": 2, "data.crop_size": 2, "data.scale_range": 2}


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
        target[key] = _in_range(dotted, _checked(dotted, value, default))


def _in_range(key: str, value: Any) -> Any:
    """``value`` once within ``RANGES[key]`` (each number of a list, which must have its length)."""
    if key not in RANGES or value is None:
        return value
    numbers = value if isinstance(value, list) else [value]
    if key in _LENGTHS and len(numbers) != _LENGTHS[key]:
        raise ConfigError(f"config key {key!r} must hold {_LENGTHS[key]} numbers, got {value!r}")
    low, high, exclusive = RANGES[key]
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise ConfigError(f"config key {key!r} must hold finite numbers, got {value!r}")
        too_low = low is not None and (number <= low if exclusive else number < low)
        if too_low or (high is not None and number > high):
            raise ConfigError(f"config key {key!r} must be {_describe(low, high, exclusive)}, got {value!r}")
    if key == "data.scale_range" and numbers[0] > numbers[1]:
        raise ConfigError(f"config key {key!r} must be [low, high] with low <= high, got {value!r}")
    if key == "data.motion_blur" and 0 < value < MIN_LENGTH_PX:
        raise ConfigError(f"config key {key!r} must be 0 (off) or >= {MIN_LENGTH_PX} (pixels), got {value!r}")
    return value


def _describe(low, high, exclusive: bool) -> str:
    lower = f"> {low}" if exclusive else f">= {low}"
    return lower if high is None else f"{lower} and <= {high}"


def _checked(key: str, value: Any, default: Any) -> Any:
    if key in _PATHS and value is not None and not isinstance(value, str):
        raise ConfigError(f"config key {key!r} must be a file path, got {value!r} (quote it)")
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
