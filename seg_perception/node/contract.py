"""seg_node's ROS interface as data: its topic names and the keys of its /diagnostics status.

The node publishes with these names; live replay, the bag tools and the tests
subscribe, write bags and read diagnostics back with them, so a renamed topic
or key is renamed everywhere at once. Topic names are relative (namespaces and
remaps apply), except ``DIAGNOSTICS``. Imports nothing from ROS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..size import Size, parse_size

# --- inputs ---
IMAGE_IN = "image"
COMPRESSED_IMAGE_IN = "image/compressed"
CAMERA_INFO_IN = "camera_info"

# --- outputs ---
LABELS = "segmentation/labels"
DRIVABLE_MASK = "segmentation/drivable_mask"
COLOR = "segmentation/color"
CONFIDENCE = "segmentation/confidence"
CAMERA_INFO = "segmentation/camera_info"
DRIVABLE_GRID = "segmentation/drivable_grid"
OBSTACLE_POINTS = "segmentation/obstacle_points"
LABEL_INFO = "label_info"
DIAGNOSTICS = "/diagnostics"

#: The node's DiagnosticStatus is named "<fully qualified node name>: segmentation".
STATUS_SUFFIX = ": segmentation"
#: Lists (drivable_classes) are reported joined by this.
LIST_SEPARATOR = ","


class DiagnosticKey:
    """The keys of the node's /diagnostics status values (all values are strings)."""

    BACKEND = "backend"
    MODEL = "model"  # "<architecture> (<model_path>)"
    INPUT_SIZE = "input_size"  # WxH of the model input
    DRIVABLE_CLASSES = "drivable_classes"  # joined by LIST_SEPARATOR
    INPUT_TOPIC = "input_topic"  # resolved, so a reader can tell which node answers its topic
    INPUT_RELIABILITY = "input_reliability"
    FPS = "fps"
    LATENCY_P50_MS = "latency_p50_ms"
    LATENCY_P95_MS = "latency_p95_ms"
    MODEL_P50_MS = "model_p50_ms"
    OVERHEAD_P50_MS = "overhead_p50_ms"
    OVERHEAD_P95_MS = "overhead_p95_ms"
    RECEIVED_FRAMES = "received_frames"
    PUBLISHED_FRAMES = "published_frames"
    DROPPED_FRAMES = "dropped_frames"
    MISSED_FRAMES = "missed_frames"
    REJECTED_FRAMES = "rejected_frames"
    FAILED_FRAMES = "failed_frames"
    IDLE_FRAMES = "idle_frames"
    LAST_ERROR = "last_error"
    NAVIGATION = "navigation"  # "ok", or why there is no grid
    CAMERA_INFO_TOPIC = "camera_info_topic"
    GRID_MS = "grid_ms"
    GRID_TABLE_MS = "grid_table_ms"
    MEAN_CONFIDENCE = "mean_confidence"  # frame mean confidence over the last seconds; "" before enough samples
    CONFIDENCE_FLOOR = "confidence_floor"  # below it frames look degraded; "" when there is none (no warning)
    CAMERA_SIZE = "camera_size"  # WxH of the last frame the model ran on; "" before the first
    STRETCH = "stretch"  # "ok", or how the camera's frames are stretched to the model input and what keeps them
    # the filter frames get now (with when_degraded: the one while degraded, or none; a frame of strong colour cast
    # gets that one either way)
    INPUT_FILTER = "input_filter"
    TEST_TIME_FLIP = "test_time_flip"  # "true" when the engine averages each frame with its mirror image


DIAGNOSTIC_KEYS: tuple[str, ...] = tuple(value for name, value in vars(DiagnosticKey).items()
                                         if name.isupper())


def camera_info_beside(image_topic: str) -> str:
    """The camera_info topic of a camera driver's image topic: /camera/image_raw -> /camera/camera_info
    (image_transport's /compressed suffix is ignored)."""
    base = image_topic.removesuffix("/compressed")
    namespace, slash, _ = base.rpartition("/")
    return f"{namespace}/camera_info" if slash else "camera_info"


def status_name(node_name: str) -> str:
    """The name of the DiagnosticStatus of the node whose fully qualified name is ``node_name``."""
    return node_name + STATUS_SUFFIX


@dataclass(frozen=True)
class NodeStatus:
    """A seg_node's /diagnostics status as a reader sees it: what answered, and how."""

    name: str
    values: Mapping[str, str]

    @classmethod
    def parse(cls, name: str, values: Mapping[str, str]) -> NodeStatus | None:
        """The status named ``name`` with ``values`` ({key: value}) if a seg_node sent it, else None."""
        return cls(name, dict(values)) if name.endswith(STATUS_SUFFIX) else None

    @property
    def backend(self) -> str:
        return self.values.get(DiagnosticKey.BACKEND, "")

    @property
    def model(self) -> str:
        return self.values.get(DiagnosticKey.MODEL, "")

    @property
    def input_topic(self) -> str:
        return self.values.get(DiagnosticKey.INPUT_TOPIC, "")

    @property
    def input_size(self) -> Size | None:
        """The model input size, None when not reported."""
        text = self.values.get(DiagnosticKey.INPUT_SIZE)
        return parse_size(text) if text else None

    @property
    def test_time_flip(self) -> bool | None:
        """Whether the node averages each frame with its mirror image; None when not reported."""
        text = self.values.get(DiagnosticKey.TEST_TIME_FLIP)
        return None if text is None else text == "true"

    @property
    def drivable_classes(self) -> tuple[str, ...]:
        """The classes the node marks drivable; empty when not reported."""
        text = self.values.get(DiagnosticKey.DRIVABLE_CLASSES, "")
        return tuple(text.split(LIST_SEPARATOR)) if text else ()
