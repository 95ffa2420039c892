"""seg_node's parameter table without ROS: it matches config/seg.yaml and refuses bad values with a reason."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seg_perception import labels
from seg_perception.node.params import (PARAMS, SPECS, input_reliability, model_input_size, validate_changes)

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = {"drivable_classes", "min_confidence", "publish_color", "color_mode", "overlay_alpha",
           "publish_confidence", "max_rate_hz"}


def test_seg_yaml_lists_every_parameter_with_its_default_and_a_comment():
    text = (ROOT / "config" / "seg.yaml").read_text()
    values = yaml.safe_load(text)["/**"]["ros__parameters"]
    # An empty list has no type in a parameter file: parameters unset by default stand there commented out.
    unset = {spec.name for spec in PARAMS if spec.default == []}
    assert unset == {"drivable_classes"}
    assert list(values) == [spec.name for spec in PARAMS if spec.name not in unset]
    for spec in PARAMS:
        if spec.name in values:
            assert values[spec.name] == spec.default, spec.name
            assert type(values[spec.name]) is type(spec.default), spec.name
    lines = text.splitlines()
    for spec in PARAMS:
        written = f"# {spec.name}:" if spec.name in unset else f"{spec.name}:"
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(written))
        above = lines[index - 1].strip()
        assert above.startswith("#") or lines[index - 2].strip().startswith("#"), f"{spec.name} has no comment"


def test_exactly_the_safe_parameters_change_at_run_time():
    assert {spec.name for spec in PARAMS if spec.runtime} == RUNTIME
    assert all(spec.description for spec in PARAMS)


def test_backend_choices_are_the_ones_the_inference_engine_accepts():
    from seg_perception.inference import backend_table
    assert SPECS["backend"].choices == ("auto",) + backend_table.DEPLOYMENT_BACKENDS
    assert SPECS["precision"].choices == backend_table.PRECISIONS
    assert SPECS["backend"].description.endswith("auto picks tensorrt, then cuda, then cpu")


def test_the_parameter_table_and_the_contract_import_without_torch():
    code = ("import sys, seg_perception.node.params, seg_perception.node.contract; "
            "sys.exit(any(m in sys.modules for m in ('torch', 'rclpy')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_defaults_are_valid_except_the_required_model_path():
    defaults = {spec.name: spec.default for spec in PARAMS}
    assert validate_changes(defaults) == "model_path is required (a .pt checkpoint from seg-train)"
    defaults["model_path"] = "model.pt"
    assert validate_changes(defaults) is None


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("min_confidence", 1.5, "min_confidence must be in 0.0 .. 1.0; got 1.5"),
    ("overlay_alpha", -0.1, "overlay_alpha must be in 0.0 .. 1.0"),
    ("max_rate_hz", float("nan"), "max_rate_hz must be finite"),
    ("max_rate_hz", -1.0, "max_rate_hz must be in 0.0 .. 1000.0"),
    ("input_width", -2, "input_width must be in 0 .. 8192"),
    ("input_height", 1.5, "input_height must be an integer"),
    ("publish_color", 1, "publish_color must be a bool"),
    ("color_mode", "rainbow", "color_mode must be one of: palette, overlay; got 'rainbow'"),
    ("image_transport", "theora", "image_transport must be one of: raw, compressed"),
    ("qos_reliability", "RELIABLE", "qos_reliability must be one of: auto, reliable, best_effort"),
    ("backend", "gpu", "backend must be one of: auto, tensorrt, cuda, cpu"),
    ("precision", "int8", "precision must be one of: fp16, fp32"),
    ("drivable_classes", ["road", "lava"], "unknown drivable class 'lava'"),
    ("drivable_classes", [1], "must be a list of class names"),
    ("drivable_classes", "road", "must be a list of strings"),
])
def test_invalid_values_are_refused_with_the_reason(name, value, reason):
    assert reason in validate_changes({name: value})


def test_valid_changes_pass_and_numbers_widen_to_float():
    assert validate_changes({"drivable_classes": ["road", "sidewalk"], "min_confidence": 1,
                             "color_mode": "palette", "max_rate_hz": 15.0}) is None
    assert validate_changes({"drivable_classes": []}) is None  # the checkpoint's own


def test_drivable_classes_are_checked_against_the_models_classes():
    assert validate_changes({"drivable_classes": ["road"]}, class_names=("ground", "sky")) is not None
    assert validate_changes({"drivable_classes": ["ground"]}, class_names=("ground", "sky")) is None
    assert validate_changes({"drivable_classes": list(labels.CLASS_NAMES)}) is None


def test_foreign_parameters_are_left_to_rclpy():
    assert validate_changes({"use_sim_time": True}) is None


def test_model_input_size():
    assert model_input_size(0, 0) is None
    assert model_input_size(640, 320) == (640, 320)
    with pytest.raises(ValueError, match="both"):
        model_input_size(640, 0)


@pytest.mark.parametrize(("setting", "offered", "expected"), [
    ("auto", [], "reliable"),
    ("auto", ["reliable"], "reliable"),
    ("auto", ["reliable", "reliable"], "reliable"),
    ("auto", ["best_effort"], "best_effort"),
    ("auto", ["reliable", "best_effort"], "best_effort"),
    ("reliable", ["best_effort"], "reliable"),
    ("best_effort", ["reliable"], "best_effort"),
])
def test_input_reliability_matches_the_publishers_in_auto_mode(setting, offered, expected):
    assert input_reliability(setting, offered) == expected
