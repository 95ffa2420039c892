"""seg_node's parameters as data: name, default, description, range or choices, run-time changeability.

ROS-free so the rules are unit-tested without a ROS graph; ``seg_perception.ros.node``
turns each ``ParamSpec`` into a declared parameter with a ParameterDescriptor, and
``config/seg.yaml`` must list exactly these names with these defaults, those unset by default
commented out (a test checks).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import labels
from ..inference.backend_table import AUTO, BACKEND_CHOICES, DEPLOYMENT_BACKENDS, PRECISIONS
from ..size import MAX_SIDE

IMAGE_TRANSPORTS = ("raw", "compressed")
RELIABILITIES = ("auto", "reliable", "best_effort")
COLOR_MODES = ("palette", "overlay")


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

    def validate(self, value: Any, class_names: Iterable[str] = labels.CLASS_NAMES) -> str | None:
        """Reason ``value`` is invalid for this parameter, or None when it is fine."""
        expected = type(self.default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
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
        if self.name == "drivable_classes":
            return _drivable_reason(value, tuple(class_names))
        return None


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
    ParamSpec("image_transport", "raw", "raw: sensor_msgs/Image on 'image'; compressed: CompressedImage on "
              "'image/compressed'", choices=IMAGE_TRANSPORTS),
    ParamSpec("qos_reliability", "auto", "input reliability; auto matches the publishers on the topic",
              choices=RELIABILITIES),
    ParamSpec("drivable_classes", [], "class names that count as drivable in segmentation/drivable_mask; "
              "empty (the default): the checkpoint's own", runtime=True),
    ParamSpec("min_confidence", 0.0, "pixels whose top class probability is lower become 255 (unknown), "
              "not drivable; 0 = off", runtime=True, min_value=0.0, max_value=1.0),
    ParamSpec("publish_color", True, "publish segmentation/color", runtime=True),
    ParamSpec("color_mode", "overlay", "segmentation/color content: palette (class colours) or overlay "
              "(blended over the camera image)", runtime=True, choices=COLOR_MODES),
    ParamSpec("overlay_alpha", 0.5, "weight of the class colours in overlay mode", runtime=True,
              min_value=0.0, max_value=1.0),
    ParamSpec("publish_confidence", False, "publish segmentation/confidence (max class probability x 255)",
              runtime=True),
    ParamSpec("max_rate_hz", 0.0, "upper bound on processed frames per second; 0 = no bound", runtime=True,
              min_value=0.0, max_value=1000.0),
)
SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMS}


def validate_changes(changes: Mapping[str, Any], class_names: Iterable[str] = labels.CLASS_NAMES) -> str | None:
    """Reason a set of parameter values must be refused, or None; names that are not ours are left to rclpy."""
    class_names = tuple(class_names)
    for name, value in changes.items():
        spec = SPECS.get(name)
        reason = spec.validate(value, class_names) if spec is not None else None
        if reason:
            return reason
    return None


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

