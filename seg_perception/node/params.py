"""seg_node's parameters as data: name, default, description, range or choices, run-time changeability.

ROS-free so the rules are unit-tested without a ROS graph; ``seg_perception.ros.node``
turns each ``ParamSpec`` into a declared parameter with a ParameterDescriptor, and
``config/seg.yaml`` must list exactly these names with these defaults, those unset by default
commented out (a test checks).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .. import labels
from ..inference.backend_table import AUTO, BACKEND_CHOICES, DEPLOYMENT_BACKENDS, PRECISIONS
from ..inference.preprocess import INPUT_FILTERS
from ..navigation import CameraMount, GridSpec
from ..size import MAX_SIDE
from .confidence_watch import DEGRADED_FILTER, FROM_CHECKPOINT, WHEN_DEGRADED

IMAGE_TRANSPORTS = ("raw", "compressed")
RELIABILITIES = ("auto", "reliable", "best_effort")
COLOR_MODES = ("palette", "overlay")
COLOR_RESOLUTIONS = ("camera", "model")
#: metres: far beyond any camera's useful ground range, and keeps grid arithmetic exact in float32
MAX_GRID_EXTENT = 1000.0
_GRID, _MOUNT = GridSpec(), CameraMount()


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: ``runtime`` ones take effect live, the others are read-only after start-up."""

    name: str
    default: Any
    description: str
    runtime: bool = False
    choices: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None

    @property
    def constraints(self) -> str:
        """Human-readable range or choices ('' when unconstrained)."""
        if self.choices:
            return "one of: " + ", ".join(self.choices)
        if self.min_value is not None:
            return f"{self.min_value} .. {self.max_value}"
        return ""

    def coerce(self, value: Any) -> Any:
        """``value`` as this parameter's type where that loses nothing: an integer for a float parameter
        (``max_rate_hz:=5``, ``ros2 param set ... camera.pitch 4``) becomes a float."""
        if isinstance(self.default, float) and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    def validate(self, value: Any, class_names: Iterable[str] = labels.CLASS_NAMES) -> str | None:
        """Reason ``value`` is invalid for this parameter, or None when it is fine."""
        expected = type(self.default)
        value = self.coerce(value)
        if type(value) is not expected:
            return f"{self.name} must be {_type_name(self.default)}, got {value!r}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{self.name} must be finite, got {value}"
        if self.choices is not None and value not in self.choices:
            return f"{self.name} must be {self.constraints}; got {value!r}"
        if self.min_value is not None and not self.min_value <= value <= self.max_value:
            return f"{self.name} must be in {self.constraints}; got {value}"
        if self.name == "model_path" and not value:
            return "model_path is required (a .pt checkpoint from seg-train)"
        if self.name == "confidence_floor" and FROM_CHECKPOINT < value < 0.0:
            return f"confidence_floor must be {FROM_CHECKPOINT} (the checkpoint's) or in 0.0 .. 1.0; got {value}"
        if self.name == "drivable_classes":
            return _drivable_reason(value, tuple(class_names))
        return None


def _geometry_param(prefix: str, field: str, description: str, low: float, high: float) -> ParamSpec:
    """A run-time float ``prefix.field`` whose default is that field of the default GridSpec / CameraMount."""
    default = getattr(_GRID if prefix == "grid" else _MOUNT, field)
    return ParamSpec(f"{prefix}.{field}", float(default), description, runtime=True, min_value=low, max_value=high)


def _type_name(value: Any) -> str:
    return {bool: "a bool", int: "an integer", float: "a number", str: "a string",
            list: "a list of strings"}[type(value)]


def _drivable_reason(names: list, class_names: tuple[str, ...]) -> str | None:
    if not names:  # unset: the checkpoint's own
        return None
    try:
        labels.check_drivable_classes(names, class_names)
    except ValueError as error:
        return f"drivable_classes: {error}"
    return None


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("model_path", "", "checkpoint (.pt from seg-train) to load; engines built from it are cached; "
              "required"),
    ParamSpec("backend", AUTO, f"inference backend: {AUTO} picks {', then '.join(DEPLOYMENT_BACKENDS)}",
              choices=BACKEND_CHOICES),
    ParamSpec("precision", "fp16", "numeric precision on the GPU (the CPU always runs fp32)", choices=PRECISIONS),
    ParamSpec("input_width", 0, "model input width in pixels; 0 = the checkpoint's", min_value=0,
              max_value=MAX_SIDE),
    ParamSpec("input_height", 0, "model input height in pixels; 0 = the checkpoint's", min_value=0,
              max_value=MAX_SIDE),
    ParamSpec("max_input_pixels", 3840 * 2160, "frames with more pixels are rejected, compressed ones from their "
              "PNG/JPEG header before decoding (which then takes only PNG and JPEG); default 4K, 3840x2160",
              runtime=True, min_value=1, max_value=MAX_SIDE * MAX_SIDE),
    ParamSpec("image_transport", "raw", "raw: sensor_msgs/Image on 'image'; compressed: CompressedImage on "
              "'image/compressed'", choices=IMAGE_TRANSPORTS),
    ParamSpec("qos_reliability", "auto", "input reliability; auto matches the publishers on the topic",
              choices=RELIABILITIES),
    ParamSpec("drivable_classes", [], "class names that count as drivable in segmentation/drivable_mask; "
              "empty (the default): the checkpoint's own", runtime=True),
    ParamSpec("min_confidence", 0.0, "pixels whose top class probability is lower become 255 (unknown), "
              "not drivable; 0 = off", runtime=True, min_value=0.0, max_value=1.0),
    ParamSpec("confidence_floor", FROM_CHECKPOINT, "warn in /diagnostics while the frames' mean confidence stays "
              "below this (the input looks degraded); -1 = the checkpoint's floor (seg-train measures it on "
              "validation frames), 0 = no warning", runtime=True, min_value=-1.0, max_value=1.0),
    ParamSpec("input_filter", "none", "filter on the frame at the model's input size before the model: none, "
              "denoise (bilateral) or denoise_white_balance (bilateral, then shades-of-grey white balance); for noisy "
              f"or colour-cast cameras; {WHEN_DEGRADED}: {DEGRADED_FILTER} only while the input looks degraded "
              "(confidence_floor) and on frames of a strong colour cast (sodium light), docs/ROS_NODE.md",
              runtime=True, choices=(*INPUT_FILTERS, WHEN_DEGRADED)),
    ParamSpec("test_time_flip", False, "average the model's logits on each frame and on its mirror image (one "
              "engine, a batch of two): about twice the inference time, a little more accuracy, docs/ROS_NODE.md"),
    ParamSpec("publish_color", True, "publish segmentation/color", runtime=True),
    ParamSpec("color_mode", "overlay", "segmentation/color content: palette (class colours) or overlay "
              "(blended over the camera image)", runtime=True, choices=COLOR_MODES),
    ParamSpec("overlay_alpha", 0.5, "weight of the class colours in overlay mode", runtime=True,
              min_value=0.0, max_value=1.0),
    ParamSpec("color_resolution", "camera", "segmentation/color size: camera (the frame's) or model (the model "
              "input's: for displays, at a fraction of the cost)", runtime=True, choices=COLOR_RESOLUTIONS),
    ParamSpec("publish_confidence", False, "publish segmentation/confidence (max class probability x 255)",
              runtime=True),
    ParamSpec("max_rate_hz", 0.0, "upper bound on processed frames per second; 0 = no bound", runtime=True,
              min_value=0.0, max_value=1000.0),
    ParamSpec("grid.frame_id", _GRID.frame_id, "frame of segmentation/drivable_grid and obstacle_points; the "
              "camera.* pose is given in it", runtime=True),
    _geometry_param("grid", "resolution", "grid cell size (m)", 0.01, 10.0),
    _geometry_param("grid", "x_min", "grid extent: nearest x (m, forward)", -MAX_GRID_EXTENT, MAX_GRID_EXTENT),
    _geometry_param("grid", "x_max", "grid extent: farthest x (m, forward)", -MAX_GRID_EXTENT, MAX_GRID_EXTENT),
    _geometry_param("grid", "y_min", "grid extent: rightmost y (m, left positive)", -MAX_GRID_EXTENT, MAX_GRID_EXTENT),
    _geometry_param("grid", "y_max", "grid extent: leftmost y (m, left positive)", -MAX_GRID_EXTENT, MAX_GRID_EXTENT),
    _geometry_param("camera", "x", "camera position in grid.frame_id: x (m)", -MAX_GRID_EXTENT, MAX_GRID_EXTENT),
    _geometry_param("camera", "y", "camera position in grid.frame_id: y (m)", -MAX_GRID_EXTENT, MAX_GRID_EXTENT),
    _geometry_param("camera", "z", "camera height above the flat ground (m, > 0)", 0.0, 100.0),
    _geometry_param("camera", "roll", "camera roll about its forward axis (degrees)", -180.0, 180.0),
    _geometry_param("camera", "pitch", "camera pitch (degrees, > 0 tilts the camera down)", -90.0, 90.0),
    _geometry_param("camera", "yaw", "camera yaw (degrees, > 0 turns the camera left)", -180.0, 180.0),
)
SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMS}
#: the parameters that place the drivable grid and the camera (checked together by ``geometry_problem``)
GEOMETRY_PARAMS: tuple[str, ...] = tuple(spec.name for spec in PARAMS if spec.name.startswith(("grid.", "camera.")))


def coerce_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with each of our parameters coerced to its type (``ParamSpec.coerce``); others as they are."""
    return {name: SPECS[name].coerce(value) if name in SPECS else value for name, value in values.items()}


def validate_changes(changes: Mapping[str, Any], class_names: Iterable[str] = labels.CLASS_NAMES) -> str | None:
    """Reason a set of parameter values must be refused, or None; names that are not ours are left to rclpy."""
    class_names = tuple(class_names)
    for name, value in changes.items():
        spec = SPECS.get(name)
        reason = spec.validate(value, class_names) if spec is not None else None
        if reason:
            return reason
    return None


#: parameters rclpy itself declares on every node. (``qos_overrides.*`` it declares only for publishers and
#: subscriptions made with QoSOverridingOptions, which seg_node does not use: its input QoS is ``qos_reliability``.)
RCLPY_PARAMS = ("use_sim_time", "start_type_description_service")


def unknown_params(names: Iterable[str]) -> list[str]:
    """A warning for each given parameter name that seg_node does not have (rclpy ignores them without a
    word, so a typo would silently leave the default in place), with the nearest name it has."""
    warnings = []
    for name in sorted(names):
        if name in SPECS or name in RCLPY_PARAMS:
            continue
        close = (["qos_reliability"] if name.startswith("qos_overrides.")
                 else difflib.get_close_matches(name, SPECS, n=1))
        warnings.append(f"unknown parameter '{name}' is ignored" + (f"; did you mean '{close[0]}'?" if close else ""))
    return warnings


def navigation_geometry(values: Mapping[str, Any]) -> tuple[GridSpec, CameraMount]:
    """The grid and the camera mount named by the ``grid.*`` and ``camera.*`` parameter values."""
    grid = GridSpec(**{name: values[f"grid.{name}"] for name in GridSpec.__dataclass_fields__})
    mount = CameraMount(**{name: values[f"camera.{name}"] for name in CameraMount.__dataclass_fields__})
    return grid, mount


def geometry_problem(values: Mapping[str, Any]) -> str | None:
    """Why the ``grid.*`` / ``camera.*`` values together cannot make a grid (e.g. x_min >= x_max), or None."""
    grid, mount = navigation_geometry(values)
    return grid.problem() or mount.problem()


def flatten_params(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameter YAML as ROS names: {"grid": {"resolution": 0.1}} -> {"grid.resolution": 0.1}."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def geometry_from_params_file(path: str | Path) -> tuple[GridSpec, CameraMount]:
    """The grid and mount a seg_node parameter file sets (its ``grid.*`` / ``camera.*``; defaults for the rest).

    The file is what ``--params-file`` takes: ``<node or /**>: ros__parameters: {...}``, the first
    section with ros__parameters being read. ValueError naming the file and the problem otherwise.
    """
    try:
        document = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read the parameter file: {error}") from None
    sections = [v["ros__parameters"] for v in document.values() if isinstance(v, Mapping)
                and isinstance(v.get("ros__parameters"), Mapping)] if isinstance(document, Mapping) else []
    if not sections:
        raise ValueError(f"{path}: not a ROS 2 parameter file (no '<node>: ros__parameters:' section)")
    values = {name: SPECS[name].default for name in GEOMETRY_PARAMS}
    values |= {k: v for k, v in flatten_params(sections[0]).items() if k in GEOMETRY_PARAMS}
    reason = validate_changes(values) or geometry_problem(values)
    if reason:
        raise ValueError(f"{path}: {reason}")
    return navigation_geometry(values)


def model_input_size(width: int, height: int) -> tuple[int, int] | None:
    """(width, height) for the Segmenter, or None for the checkpoint's size; only one of them 0 raises ValueError."""
    if width == 0 and height == 0:
        return None
    if width == 0 or height == 0:
        raise ValueError(f"input_width and input_height must both be 0 (the checkpoint's size) or both set; "
                         f"got {width}x{height}")
    return width, height


def input_reliability(setting: str, offered: Iterable[str]) -> str:
    """Reliability for the input subscription: ``setting``, or for ``auto`` the one every publisher matches.

    As ``ros2 bag record`` does: reliable when all publishers offer reliable (a
    best-effort subscriber would lose large frames between processes), best
    effort as soon as one publisher is best effort (a reliable subscriber could
    not match it). No publisher yet: reliable, re-matched when one appears.
    """
    if setting != "auto":
        return setting
    return "best_effort" if "best_effort" in offered else "reliable"

