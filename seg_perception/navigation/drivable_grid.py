"""The node's navigation state: latest intrinsics, mount and grid -> a drivable grid per frame.

ROS-free, so every outcome is tested without a graph. The projection table
is rebuilt only when the camera, the mount, the grid or the label size
changes; a frame then costs one gather and one count. Problems never raise:
they come back as a reason beside an all-unknown grid (bad intrinsics, a
camera_info that does not match the frames, a view without ground), or
without a grid at all while no camera_info has arrived.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .camera import CameraModel, CameraModelError
from .grid import GridSpec, obstacle_points
from .mount import CameraMount
from .projection import GroundProjection, unknown_grid


@dataclass(frozen=True)
class CameraFields:
    """The CameraInfo fields the projection needs, as received (validated when used)."""

    width: int
    height: int
    k: tuple[float, ...]
    d: tuple[float, ...]
    distortion_model: str

    @classmethod
    def of(cls, info) -> CameraFields:
        """The fields of a sensor_msgs/CameraInfo (an rclpy or a rosbags message alike)."""
        return cls(int(info.width), int(info.height), tuple(float(v) for v in info.k),
                   tuple(float(v) for v in info.d), str(info.distortion_model))


@dataclass
class GridFrame:
    """One frame's navigation output; ``values`` is None when there is no camera_info yet."""

    grid: GridSpec  # the grid the values are laid out on
    values: np.ndarray | None  # (grid.height, grid.width) int8
    points: np.ndarray | None  # (N, 3) float32 centres of occupied cells
    problem: str | None  # why the grid is missing or all unknown


class DrivableGridMaker:
    """Keeps the projection table current and turns label images into grids and obstacle points."""

    def __init__(self, grid: GridSpec, mount: CameraMount):
        self._geometry = (grid, mount)  # one reference: set from the parameter thread, read by the worker
        self.camera: CameraFields | None = None
        self._projection: GroundProjection | None = None
        self._key: tuple | None = None
        self._problem: str | None = None
        self.builds = 0
        self.last_build_ms = 0.0

    @property
    def grid(self) -> GridSpec:
        return self._geometry[0]

    @property
    def mount(self) -> CameraMount:
        return self._geometry[1]

    def set_geometry(self, grid: GridSpec, mount: CameraMount) -> None:
        """New grid and mount (validated by the caller's parameter checks); the table follows on the next frame."""
        self._geometry = (grid, mount)

    def make(self, labels: np.ndarray, lut: np.ndarray, image_size: tuple[int, int]) -> GridFrame:
        """Grid and points for ``labels`` (any resolution of a ``image_size`` = (width, height) camera frame)."""
        camera, (grid, mount) = self.camera, self._geometry
        if camera is None:
            return GridFrame(grid, None, None, "no camera_info received yet: no grid, points or output camera_info")
        if (camera.width, camera.height) != tuple(image_size):
            return _unknown(grid, f"camera_info is {camera.width}x{camera.height} but frames are "
                                 f"{image_size[0]}x{image_size[1]}")
        labels_size = (labels.shape[1], labels.shape[0])
        key = (camera, grid, mount, labels_size)
        if key != self._key:
            try:
                model = CameraModel.from_values(camera.width, camera.height, camera.k, camera.d,
                                                camera.distortion_model)
                self._projection = GroundProjection(model, mount, grid, labels_size)
            except (CameraModelError, ValueError) as exc:
                self._projection = None
                self._problem = str(exc)
            else:
                self._problem = self._projection.problem
                self.builds += 1
                self.last_build_ms = self._projection.build_ms
            self._key = key
        if self._projection is None or self._problem:
            return _unknown(grid, self._problem)
        values = self._projection.occupancy(labels, lut)
        return GridFrame(grid, values, obstacle_points(grid, values), None)

    def describe_camera(self) -> str:
        """One line for logs: the camera the current table projects with, and what it sees."""
        projection = self._projection
        if projection is None:
            return "no camera"
        return (f"camera {projection.camera.describe()} (label resolution), {projection.cells_in_view} cells "
                f"in view, table built in {projection.build_ms:.0f} ms")


def _unknown(grid: GridSpec, problem: str) -> GridFrame:
    return GridFrame(grid, unknown_grid(grid), np.empty((0, 3), np.float32), problem)
