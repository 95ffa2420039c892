"""Config loading, overrides and learning-rate schedules."""

import math
import re
from pathlib import Path

import pytest

from training import config as config_module
from training.config import ConfigError, load_config
from training.schedules import lr_factor


def test_file_and_overrides_layer_over_defaults(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("model: {name: fcn8s_resnet18}\ntrain: {lr: 0.02, epochs: 3}\n")
    config = load_config(path, ["train.lr=0.5", "data.crop_size=[64, 32]", "train.optimizer=adamw",
                                "loss.terms=[{type: focal, gamma: 2}]"])
    assert config["model"]["name"] == "fcn8s_resnet18"
    assert config["train"]["epochs"] == 3
    assert config["train"]["lr"] == 0.5
    assert config["data"]["crop_size"] == [64, 32]
    assert config["train"]["optimizer"] == "adamw"
    assert config["loss"]["terms"] == [{"type": "focal", "gamma": 2}]
    assert config["train"]["momentum"] == 0.9  # untouched default


def test_integer_and_exponent_notation_are_accepted_for_float_keys(tmp_path):
    assert load_config(None, ["train.lr=1"])["train"]["lr"] == 1.0
    assert load_config(None, ["train.lr=1e-3"])["train"]["lr"] == 0.001
    path = tmp_path / "exp.yaml"
    path.write_text("train: {weight_decay: 5e-4}\n")
    assert load_config(path)["train"]["weight_decay"] == 0.0005


@pytest.mark.parametrize("override,message", [
    ("train.lrr=0.1", "unknown config key 'train.lrr'"),
    ("trian.lr=0.1", "unknown config key 'trian'"),
    ("train.epochs=many", "'train.epochs' must be int"),
    ("train.flip=true", "unknown config key 'train.flip'"),
    ("data.flip=1", "'data.flip' must be true or false"),
    ("train=3", "'train' must be a mapping"),
    ("train.lr", "not key=value"),
    ("model.init_from=2026-12-07", r"'model.init_from' must be a file path, got datetime.date\(2026, 12, 7\)"),
    ("model.encoder_weights=12", "'model.encoder_weights' must be a file path, got 12"),
])
def test_bad_keys_and_values_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_bad_key_in_file_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  batchsize: 4\n")
    with pytest.raises(ConfigError, match="'data.batchsize'"):
        load_config(path)


def test_poly_and_cosine_with_warmup():
    assert lr_factor(0, 100, "poly") == 1.0
    assert lr_factor(50, 100, "poly", power=1.0) == pytest.approx(0.5)
    assert lr_factor(100, 100, "poly") == 0.0
    assert lr_factor(0, 100, "poly", warmup=10) == pytest.approx(0.1)
    assert lr_factor(9, 100, "poly", warmup=10) == pytest.approx(1.0)
    assert lr_factor(10, 100, "poly", warmup=10) == 1.0
    assert lr_factor(55, 100, "cosine", warmup=10) == pytest.approx(0.5)
    assert lr_factor(100, 100, "cosine") == pytest.approx(0.0)
    assert lr_factor(25, 100, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor(0, 100, "constant", warmup=10) == pytest.approx(0.1)
    assert [lr_factor(i, 100, "constant", warmup=10) for i in (10, 50, 99)] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        lr_factor(0, 10, "step")


@pytest.mark.parametrize("name", ["train_tiny.yaml", "train_default.yaml", "train_unet_256.yaml"])
def test_shipped_configs_load_and_build_their_model_and_loss(name):
    import numpy as np
    import torch

    from seg_perception.labels import NUM_CLASSES
    from seg_perception.models import build_model
    from training.losses import build_loss

    config = load_config(Path(__file__).resolve().parents[1] / "config" / name)
    model_cfg = config["model"]
    options = dict(model_cfg["options"])
    if model_cfg["encoder_weights"]:
        options["encoder_weights"] = model_cfg["encoder_weights"]
    model = build_model(model_cfg["name"], NUM_CLASSES, **options).eval()
    width, height = config["data"]["input_size"]
    with torch.no_grad():
        logits = model(torch.zeros(1, 3, height, width))
    assert logits.shape == (1, NUM_CLASSES, height, width)
    histogram = np.arange(1, NUM_CLASSES + 1, dtype=np.float64)  # any counts; weighted terms need some
    loss = build_loss(config["loss"], class_histogram=histogram)(logits, torch.zeros(1, height, width, dtype=torch.long))
    assert torch.isfinite(loss) and loss.item() > 0


def _numeric_keys(section: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in section.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and tuple(dotted.split(".")) not in config_module._FREE_FORM:
            keys |= _numeric_keys(value, f"{dotted}.")
        elif not isinstance(value, bool) and (isinstance(value, (int, float)) or (
                isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value))):
            keys.add(dotted)
    return keys


def test_every_numeric_key_has_a_range_and_the_defaults_are_within_it():
    assert _numeric_keys(config_module.DEFAULTS) == set(config_module.RANGES)
    load_config(None, [f"{key}={value}" for key, value in _flat(config_module.DEFAULTS).items()
                       if key in config_module.RANGES])  # each default passes its own check


def _flat(section: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in section.items():
        flat.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return flat


@pytest.mark.parametrize("override,message", [
    ("data.batch_size=-4", "'data.batch_size' must be >= 1, got -4"),  # before: accepted
    ("train.epochs=0", "'train.epochs' must be >= 1, got 0"),
    ("train.lr=0", "'train.lr' must be > 0.0, got 0.0"),
    ("train.lr=-0.01", "'train.lr' must be > 0.0"),
    ("train.momentum=1.5", "'train.momentum' must be >= 0.0 and <= 1.0"),
    ("data.load_scale=0", "'data.load_scale' must be > 0.0 and <= 1.0"),
    ("data.workers=-1", "'data.workers' must be >= 0"),
    ("data.crop_size=[64, 0]", "'data.crop_size' must be >= 1 and <= 8192, got [64, 0]"),
    ("data.crop_size=[64]", "'data.crop_size' must hold 2 numbers"),
    ("data.input_size=[100000, 512]", "'data.input_size' must be >= 1 and <= 8192"),
    ("data.scale_range=[2.0, 0.5]", "'data.scale_range' must be [low, high] with low <= high"),
    ("data.scale_range=[0, 2.0]", "'data.scale_range' must be > 0.0"),
    ("train.grad_clip=.nan", "'train.grad_clip' must hold finite numbers"),
    ("train.seed=-1", "'train.seed' must be >= 0"),
    ("log.images=-2", "'log.images' must be >= 0"),
    ("data.motion_blur=2", "'data.motion_blur' must be 0 (off) or >= 3.0 (pixels), got 2.0"),
    ("data.motion_blur=100", "'data.motion_blur' must be >= 0.0 and <= 64.0"),
    ("data.haze=1.5", "'data.haze' must be >= 0.0 and <= 1.0"),
])
def test_numbers_out_of_range_are_refused_naming_key_range_and_value(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, [override])


def test_the_range_applies_to_config_files_too(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("data: {batch_size: 0}\n")
    with pytest.raises(ConfigError, match="'data.batch_size' must be >= 1, got 0"):
        load_config(path)
