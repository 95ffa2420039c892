"""The node's navigation side: camera_info in; camera_info, label_info, drivable grid and obstacle points out.

Glue only: the grid comes from ``navigation.DrivableGridMaker``. The
camera_info subscription is best effort (it matches reliable and
best-effort camera drivers alike; the message is small). ``label_info`` is
latched (reliable + transient local, depth 1) as the vision_msgs README
asks, and exists only when a ``vision_msgs`` package is installed.
"""

from __future__ import annotations

import array
import time
from collections.abc import Sequence

import numpy as np
from nav_msgs.msg import OccupancyGrid
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, PointCloud2, PointField
from std_msgs.msg import Header

from ..navigation import CameraFields, CameraMount, DrivableGridMaker, GridSpec, scale_matrix, vote_lut
from ..node import contract
from .qos import OUTPUT_QOS

try:
    from vision_msgs.msg import LabelInfo, VisionClass
except ImportError:  # not on PyPI; a ROS install has it through package.xml's rosdep key
    LabelInfo = VisionClass = None

CAMERA_INFO_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
_XYZ_FIELDS = [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
               for i, name in enumerate("xyz")]


def scaled_camera_info(info: CameraInfo, header: Header, width: int, height: int) -> CameraInfo:
    """``info`` describing an image resized to ``width`` x ``height``, stamped with ``header`` (K and P scaled)."""
    out = CameraInfo(header=header, width=width, height=height, distortion_model=info.distortion_model,
                     d=info.d, k=info.k, r=info.r, p=info.p)
    if (width, height) != (info.width, info.height) and info.width and info.height:
        scale = scale_matrix(info.width, info.height, width, height)
        out.k = (scale @ np.asarray(info.k).reshape(3, 3)).reshape(-1)
        out.p = (scale @ np.asarray(info.p).reshape(3, 4)).reshape(-1)
    return out


def label_info_message(class_names: Sequence[str], threshold: float, stamp) -> LabelInfo:
    """vision_msgs/LabelInfo: class_map trainId -> name, threshold = min_confidence."""
    message = LabelInfo(class_map=[VisionClass(class_id=i, class_name=name) for i, name in enumerate(class_names)],
                        threshold=float(threshold))
    message.header.stamp = stamp
    return message


class NavigationOutputs:
    """Publishers, the camera_info subscription and the grid maker of one node."""

    def __init__(self, node: Node, class_names: Sequence[str], grid: GridSpec, mount: CameraMount,
                 min_confidence: float):
        self._node = node
        self._class_names = tuple(class_names)
        self._maker = DrivableGridMaker(grid, mount)
        self._camera_info: CameraInfo | None = None
        self._lut_key: tuple[str, ...] | None = None
        self._lut = np.empty(0, np.uint8)
        self.problem = "no camera_info received yet: no grid, points or output camera_info"
        self.grid_ms = 0.0
        self._logged_problem: str | None = None  # nothing logged yet: the first outcome is logged either way
        self._input = node.create_subscription(CameraInfo, contract.CAMERA_INFO_IN, self._on_camera_info, CAMERA_INFO_QOS)
        self._pub_info = node.create_publisher(CameraInfo, contract.CAMERA_INFO, OUTPUT_QOS)
        self._pub_grid = node.create_publisher(OccupancyGrid, contract.DRIVABLE_GRID, OUTPUT_QOS)
        self._pub_points = node.create_publisher(PointCloud2, contract.OBSTACLE_POINTS, OUTPUT_QOS)
        self._grid_msg = OccupancyGrid()
        self._points_msg = PointCloud2(height=1, fields=_XYZ_FIELDS, is_bigendian=False, point_step=12,
                                       is_dense=True)
        if LabelInfo is None:
            self._pub_labels = None
            node.get_logger().info("vision_msgs is not installed: label_info is not published")
        else:
            self._pub_labels = node.create_publisher(LabelInfo, contract.LABEL_INFO, LATCHED_QOS)
            self.publish_label_info(min_confidence)

    @property
    def camera_info_topic(self) -> str:
        """The resolved camera_info input topic."""
        return self._input.topic_name

    @property
    def grid(self) -> GridSpec:
        """The grid the next frame is projected onto."""
        return self._maker.grid

    @property
    def mount(self) -> CameraMount:
        """The camera mount the next frame is projected with."""
        return self._maker.mount

    @property
    def camera_info(self) -> CameraInfo | None:
        """The latest camera_info received (None before the first)."""
        return self._camera_info

    @property
    def has_camera_info(self) -> bool:
        """Whether a camera_info has arrived (without one, a missing grid is expected, not a fault)."""
        return self._camera_info is not None

    @property
    def table_builds(self) -> int:
        """How often the pixel -> cell table was built (once per change of camera, mount, grid or size)."""
        return self._maker.builds

    @property
    def table_build_ms(self) -> float:
        """Time the last table build took."""
        return self._maker.last_build_ms

    def set_geometry(self, grid: GridSpec, mount: CameraMount) -> None:
        """New grid / mount parameters; the table is rebuilt before the next grid."""
        self._maker.set_geometry(grid, mount)

    def publish_label_info(self, min_confidence: float) -> None:
        """(Re)publish the latched label_info, e.g. after min_confidence changed."""
        if self._pub_labels is not None:
            stamp = self._node.get_clock().now().to_msg()
            self._pub_labels.publish(label_info_message(self._class_names, min_confidence, stamp))

    def wanted(self) -> bool:
        """Whether anyone subscribes to a navigation output (else the node may skip the frame)."""
        return any(p.get_subscription_count() > 0 for p in (self._pub_info, self._pub_grid, self._pub_points))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg  # replaced whole: the worker thread reads one reference
        self._maker.camera = CameraFields.of(msg)

    def publish(self, header: Header, image_size: tuple[int, int], labels: np.ndarray,
                drivable_classes: Sequence[str]) -> None:
        """Publish this frame's camera_info, grid and points (to subscribers) from ``labels`` at any resolution."""
        info = self._camera_info
        if info is not None and self._pub_info.get_subscription_count() > 0:
            self._pub_info.publish(scaled_camera_info(info, header, *image_size))
        want_grid = self._pub_grid.get_subscription_count() > 0
        want_points = self._pub_points.get_subscription_count() > 0
        if not (want_grid or want_points):
            return
        start = time.perf_counter()
        result = self._maker.make(labels, self._vote_lut(drivable_classes), image_size)
        self._note_problem(result.problem)
        if result.values is None:
            return
        grid = result.grid
        grid_header = Header(stamp=header.stamp, frame_id=grid.frame_id)
        if want_grid:
            self._pub_grid.publish(self._grid_message(grid_header, grid, result.values))
        if want_points:
            self._pub_points.publish(self._points_message(grid_header, result.points))
        self.grid_ms = (time.perf_counter() - start) * 1e3

    def _vote_lut(self, drivable_classes: Sequence[str]) -> np.ndarray:
        key = tuple(drivable_classes)
        if key != self._lut_key:
            ids = [self._class_names.index(name) for name in key]
            self._lut, self._lut_key = vote_lut(len(self._class_names), ids), key
        return self._lut

    def _note_problem(self, problem: str | None) -> None:
        self.problem = problem or ""
        if self.problem != self._logged_problem:  # one line per change, not per frame
            logger = self._node.get_logger()
            if self.problem:
                logger.warning(f"drivable grid: {self.problem}")
            else:
                logger.info(f"drivable grid: projecting with {self._maker.describe_camera()}")
            self._logged_problem = self.problem

    def _grid_message(self, header: Header, grid: GridSpec, values: np.ndarray) -> OccupancyGrid:
        msg = self._grid_msg
        msg.header = header
        msg.info.map_load_time = header.stamp
        msg.info.resolution = float(grid.resolution)
        msg.info.width, msg.info.height = grid.width, grid.height
        msg.info.origin.position.x, msg.info.origin.position.y = float(grid.x_min), float(grid.y_min)
        msg.info.origin.orientation.w = 1.0
        msg.data = array.array("b", values.tobytes())
        return msg

    def _points_message(self, header: Header, points: np.ndarray) -> PointCloud2:
        msg = self._points_msg
        msg.header = header
        msg.width = len(points)
        msg.row_step = 12 * len(points)
        data = array.array("B")
        data.frombytes(np.ascontiguousarray(points, np.float32).tobytes())
        msg.data = data
        return msg
