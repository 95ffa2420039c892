"""The drivable grid's geometry and cell values (nav_msgs/OccupancyGrid conventions).

Cells are ``resolution`` metres square, row-major from the origin corner
(x_min, y_min): column index along x, row index along y, as OccupancyGrid's
``data`` is laid out with an unrotated origin pose.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

FREE, OCCUPIED, UNKNOWN = 0, 100, -1
#: per-pixel votes of ``vote_lut``
VOTE_BLOCKED, VOTE_FREE, VOTE_UNKNOWN = 0, 1, 2
#: 2000 x 2000 cells (16 MB of tables per frame source) is far beyond a costmap's needs
MAX_CELLS = 4_000_000


@dataclass(frozen=True)
class GridSpec:
    """Extent (metres, in ``frame_id``) and cell size of the grid."""

    frame_id: str = "base_link"
    resolution: float = 0.1
    x_min: float = 0.5
    x_max: float = 20.0
    y_min: float = -10.0
    y_max: float = 10.0

    def problem(self) -> str | None:
        """Why this grid cannot be built, or None."""
        values = (self.resolution, self.x_min, self.x_max, self.y_min, self.y_max)
        if not all(math.isfinite(value) for value in values):
            return f"grid has a non-finite value: {values}"
        if not self.frame_id:
            return "grid.frame_id must not be empty"
        if self.resolution <= 0:
            return f"grid.resolution must be > 0 m, got {self.resolution:g}"
        if self.x_max <= self.x_min or self.y_max <= self.y_min:
            return (f"grid extent is empty: x {self.x_min:g}..{self.x_max:g}, y {self.y_min:g}..{self.y_max:g} "
                    "(need x_min < x_max and y_min < y_max)")
        cells = self.width * self.height
        if cells > MAX_CELLS:
            return (f"grid of {self.width}x{self.height} = {cells} cells exceeds {MAX_CELLS}; "
                    "use a coarser grid.resolution or a smaller extent")
        return None

    @property
    def width(self) -> int:
        """Cells along x (OccupancyGrid ``info.width``)."""
        return max(1, math.ceil((self.x_max - self.x_min) / self.resolution - 1e-9))

    @property
    def height(self) -> int:
        """Cells along y (OccupancyGrid ``info.height``)."""
        return max(1, math.ceil((self.y_max - self.y_min) / self.resolution - 1e-9))

    @cached_property
    def centres(self) -> np.ndarray:
        """(height * width, 3) float32 cell centres at z = 0, in ``data`` order."""
        xs = self.x_min + (np.arange(self.width) + 0.5) * self.resolution
        ys = self.y_min + (np.arange(self.height) + 0.5) * self.resolution
        grid_x, grid_y = np.meshgrid(xs, ys)
        return np.stack([grid_x.ravel(), grid_y.ravel(), np.zeros(grid_x.size)], axis=1).astype(np.float32)

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Flat cell index of ground points (x, y), -1 outside the grid."""
        col = np.floor((x - self.x_min) / self.resolution)
        row = np.floor((y - self.y_min) / self.resolution)
        inside = (col >= 0) & (col < self.width) & (row >= 0) & (row < self.height)
        return np.where(inside, row * self.width + col, -1).astype(np.intp)


def vote_lut(num_classes: int, drivable_ids: Iterable[int]) -> np.ndarray:
    """label -> pixel vote (VOTE_FREE for drivable classes, VOTE_BLOCKED for the other classes,
    VOTE_UNKNOWN for 255 and any label that is not a class) as a 256-entry uint8 table."""
    lut = np.full(256, VOTE_UNKNOWN, np.uint8)
    lut[:num_classes] = VOTE_BLOCKED
    lut[list(drivable_ids)] = VOTE_FREE
    return lut


def obstacle_points(grid: GridSpec, values: np.ndarray) -> np.ndarray:
    """(N, 3) float32 centres (z = 0) of the cells valued OCCUPIED, in ``data`` order."""
    return grid.centres[values.reshape(-1) == OCCUPIED]
