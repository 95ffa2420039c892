"""seg_node's parameter table without ROS: it matches config/seg.yaml and refuses bad values with a reason."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seg_perception import labels
from seg_perception.navigation import CameraMount, GridSpec
from seg_perception.node.params import (
    PARAMS, SPECS, flatten_params, geometry_from_params_file, geometry_problem, input_reliability, model_input_size,
    navigation_geometry, unknown_params, validate_changes)

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = {"drivable_classes", "min_confidence", "confidence_floor", "input_filter", "publish_color", "color_mode",
           "overlay_alpha", "color_resolution", "publish_confidence", "max_rate_hz", "max_input_pixels", "grid.frame_id",
           "grid.resolution", "grid.x_min", "grid.x_max", "grid.y_min", "grid.y_max", "camera.x", "camera.y", "camera.z",
           "camera.roll", "camera.pitch", "camera.yaw"}


def test_seg_yaml_lists_every_parameter_with_its_default_and_a_comment():
    text = (ROOT / "config" / "seg.yaml").read_text()
    values = flatten_params(yaml.safe_load(text)["/**"]["ros__parameters"])
    # An empty list has no type in a parameter file: parameters unset by default stand there commented out.
    unset = {spec.name for spec in PARAMS if spec.default == []}
    assert unset == {"drivable_classes"}
    assert list(values) == [spec.name for spec in PARAMS if spec.name not in unset]
    for spec in PARAMS:
        if spec.name in values:
            assert values[spec.name] == spec.default, spec.name
            assert type(values[spec.name]) is type(spec.default), spec.name
    lines = text.splitlines()
    # every top-level entry (a parameter, or a group such as grid:) has a comment right above it
    for entry in dict.fromkeys(spec.name.split(".")[0] for spec in PARAMS):
        written = f"# {entry}:" if entry in unset else f"{entry}:"
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(written))
        above = lines[index - 1].strip()
        assert above.startswith("#") or lines[index - 2].strip().startswith("#"), f"{entry} has no comment"


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
    ("input_filter", "sharpen", "input_filter must be one of: none, denoise, denoise_white_balance, when_degraded; got 'sharpen'"),
    ("image_transport", "theora", "image_transport must be one of: raw, compressed"),
    ("qos_reliability", "RELIABLE", "qos_reliability must be one of: auto, reliable, best_effort"),
    ("backend", "gpu", "backend must be one of: auto, tensorrt, cuda, cpu"),
    ("precision", "int8", "precision must be one of: fp16, fp32"),
    ("drivable_classes", ["road", "lava"], "unknown drivable class 'lava'"),
    ("drivable_classes", [1], "must be a list of class names"),
    ("drivable_classes", "road", "must be a list of strings"),
    ("grid.resolution", 0.0, "grid.resolution must be in 0.01 .. 10.0; got 0.0"),
    ("grid.x_max", float("inf"), "grid.x_max must be finite"),
    ("camera.z", -1.0, "camera.z must be in 0.0 .. 100.0"),
    ("camera.pitch", 95.0, "camera.pitch must be in -90.0 .. 90.0"),
    ("grid.frame_id", 3, "grid.frame_id must be a string"),
    ("confidence_floor", -0.5, "confidence_floor must be -1.0 (the checkpoint's) or in 0.0 .. 1.0; got -0.5"),
    ("confidence_floor", 1.5, "confidence_floor must be in -1.0 .. 1.0; got 1.5"),
])
def test_invalid_values_are_refused_with_the_reason(name, value, reason):
    assert reason in validate_changes({name: value})


def test_valid_changes_pass_and_numbers_widen_to_float():
    assert validate_changes({"drivable_classes": ["road", "sidewalk"], "min_confidence": 1,
                             "color_mode": "palette", "max_rate_hz": 15.0}) is None
    assert validate_changes({"drivable_classes": []}) is None  # the checkpoint's own
    assert validate_changes({"confidence_floor": -1}) is None and validate_changes({"confidence_floor": 0}) is None


def test_drivable_classes_are_checked_against_the_models_classes():
    assert validate_changes({"drivable_classes": ["road"]}, class_names=("ground", "sky")) is not None
    assert validate_changes({"drivable_classes": ["ground"]}, class_names=("ground", "sky")) is None
    assert validate_changes({"drivable_classes": list(labels.CLASS_NAMES)}) is None


def test_foreign_parameters_are_left_to_rclpy():
    assert validate_changes({"use_sim_time": True}) is None


def test_given_names_that_are_not_parameters_are_named_with_the_nearest_one():
    assert unknown_params(["model_path", "use_sim_time", "start_type_description_service"]) == []
    # seg_node makes no QoS-overridable endpoints: rclpy would ignore these too
    assert unknown_params(["qos_overrides./image.subscription.reliability"]) == [
        "unknown parameter 'qos_overrides./image.subscription.reliability' is ignored; did you mean 'qos_reliability'?"]
    assert unknown_params(["confidence_flor", "grid.xmax", "speed"]) == [
        "unknown parameter 'confidence_flor' is ignored; did you mean 'confidence_floor'?",
        "unknown parameter 'grid.xmax' is ignored; did you mean 'grid.x_max'?",
        "unknown parameter 'speed' is ignored"]


def test_grid_and_mount_parameters_make_the_navigation_geometry():
    values = {spec.name: spec.default for spec in PARAMS}
    assert navigation_geometry(values) == (GridSpec(), CameraMount())  # defaults in one place: the dataclasses
    values.update({"grid.frame_id": "odom", "grid.x_max": 30.0, "camera.z": 1.2, "camera.pitch": 5.0})
    grid, mount = navigation_geometry(values)
    assert (grid.frame_id, grid.x_max, grid.width, mount.z, mount.pitch) == ("odom", 30.0, 295, 1.2, 5.0)
    assert geometry_problem(values) is None


@pytest.mark.parametrize(("changes", "reason"), [
    ({"grid.x_min": 25.0}, "grid extent is empty: x 25..20"),
    ({"grid.y_min": 10.0}, "need x_min < x_max and y_min < y_max"),
    ({"grid.resolution": 0.01, "grid.x_max": 1000.0}, "exceeds 4000000; use a coarser grid.resolution"),
    ({"camera.z": 0.0}, "camera.z is 0 m: the camera must be above the ground"),
    ({"grid.frame_id": ""}, "grid.frame_id must not be empty"),
])
def test_grid_and_mount_values_that_cannot_make_a_grid_together_are_refused(changes, reason):
    values = {spec.name: spec.default for spec in PARAMS} | changes
    assert validate_changes(changes) is None  # each value is in its range ...
    assert reason in geometry_problem(values)  # ... but together they cannot make a grid


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


def test_grid_and_mount_are_read_from_a_node_parameter_file(tmp_path):
    assert geometry_from_params_file(ROOT / "config" / "seg.yaml") == (GridSpec(), CameraMount())
    path = tmp_path / "robot.yaml"
    path.write_text("seg_node:\n  ros__parameters:\n    model_path: m.pt\n    grid:\n      resolution: 0.05\n"
                    "    camera: {z: 1.2, pitch: 7}\n")
    grid, mount = geometry_from_params_file(path)
    assert (grid.resolution, grid.x_max, mount.z, mount.pitch) == (0.05, 20.0, 1.2, 7.0)
    section = "/**:\n  ros__parameters:\n    "
    for text, reason in [(section + "camera: {z: 0.0}", "camera must be above the ground"),
                         (section + "grid: {resolution: fine}", "grid.resolution must be a number"),
                         ("[1, 2]", "not a ROS 2 parameter file"), ("{a: [", "cannot read the parameter file")]:
        path.write_text(text)
        with pytest.raises(ValueError, match=reason) as error:
            geometry_from_params_file(path)
        assert str(path) in str(error.value)
