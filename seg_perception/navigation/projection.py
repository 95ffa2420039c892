"""Which label-image pixels land in which ground cell: a table built once, used every frame.

The rule, in both directions so that no cell is judged from too little:
- every pixel centre is cast as a ray onto the ground plane z = 0 and votes
  for the cell it hits (near the camera a cell gathers hundreds of votes);
- every cell centre is projected into the image and the pixel it falls on
  votes for the cell too (far away one pixel spans several cells, and its
  centre ray would reach only one of them).
A cell's votes are free (a drivable class), blocked (any other class) or
unknown (255: no class, or below ``min_confidence``). The cell is
``UNKNOWN`` without votes or when unknown votes outnumber the others,
``OCCUPIED`` when blocked votes are at least as many as free ones (ties go
to the obstacle), else ``FREE``. Cells outside the view, beyond the horizon
or outside the grid get no votes.
"""

from __future__ import annotations

import time

import numpy as np

from .camera import CameraModel
from .grid import FREE, OCCUPIED, UNKNOWN, VOTE_BLOCKED, VOTE_FREE, VOTE_UNKNOWN, GridSpec
from .mount import CameraMount

#: optical depth (m) below which a cell centre counts as behind the lens
NEAR = 0.05
#: a distorted projection must undistort back to within this (normalised units), else it wrapped around
ROUND_TRIP_TOLERANCE = 1e-3


class GroundProjection:
    """The pixel -> cell table for one camera, mount, grid and label-image size."""

    def __init__(self, camera: CameraModel, mount: CameraMount, grid: GridSpec, labels_size: tuple[int, int]):
        """``camera`` describes the camera image; ``labels_size`` = (width, height) of the label images
        this table reads, which may be a resize of the camera image (the model's resolution)."""
        start = time.perf_counter()
        for problem in (mount.problem(), grid.problem()):
            if problem:
                raise ValueError(problem)
        self.grid, self.mount, self.labels_size = grid, mount, tuple(labels_size)
        self.camera = camera.scaled(*self.labels_size)
        pixels_a, cells_a = self._pixel_rays()
        pixels_b, cells_b = self._cell_centres()
        pixels = np.concatenate([pixels_a, pixels_b])
        cells = np.concatenate([cells_a, cells_b])
        order = np.argsort(pixels, kind="stable")  # memory order for the per-frame gather
        self._pixels = pixels[order]
        self._codes = cells[order] * 3  # + vote gives the bincount slot
        self.cells_in_view = int(np.unique(cells).size)
        self.build_ms = (time.perf_counter() - start) * 1e3

    @property
    def problem(self) -> str | None:
        """Why every cell will be unknown (the camera sees no ground inside the grid), or None."""
        if self.cells_in_view:
            return None
        return ("the camera sees no ground inside the grid (view above the horizon, or the grid outside "
                "the field of view): check camera.pitch / camera.z and the grid extent")

    def _pixel_rays(self) -> tuple[np.ndarray, np.ndarray]:
        width, height = self.labels_size
        rows = np.arange(height, dtype=np.float64)
        cols = np.arange(width, dtype=np.float64)
        u, v = np.meshgrid(cols, rows)
        normalised = self.camera.undistort(np.stack([u.ravel(), v.ravel()], axis=1))
        rays = np.column_stack([normalised, np.ones(len(normalised))]) @ self.mount.grid_from_optical.T
        down = rays[:, 2] < -1e-9  # rays at or above the horizon never meet the ground
        index = np.flatnonzero(down)
        t = -self.mount.z / rays[index, 2]
        x = self.mount.x + t * rays[index, 0]
        y = self.mount.y + t * rays[index, 1]
        cells = self.grid.cell_of(x, y)
        hit = cells >= 0
        return index[hit], cells[hit]

    def _cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        centres = self.grid.centres.astype(np.float64)
        optical = (centres - self.mount.position) @ self.mount.grid_from_optical  # R^T (p - c), row-wise
        front = np.flatnonzero(optical[:, 2] > NEAR)
        pixels = self.camera.project(optical[front])
        if self.camera.has_distortion:  # far outside the lens' range the polynomial folds back into the image
            expected = optical[front, :2] / optical[front, 2:3]
            front_ok = np.linalg.norm(self.camera.undistort(pixels) - expected, axis=1) < ROUND_TRIP_TOLERANCE
            front, pixels = front[front_ok], pixels[front_ok]
        width, height = self.labels_size
        u, v = np.floor(pixels[:, 0] + 0.5), np.floor(pixels[:, 1] + 0.5)
        inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
        flat = (v[inside] * width + u[inside]).astype(np.intp)
        return flat, front[inside].astype(np.intp)

    def votes(self, labels: np.ndarray, lut: np.ndarray) -> np.ndarray:
        """(cells, 3) vote counts [blocked, free, unknown] for a label image of ``labels_size``."""
        width, height = self.labels_size
        if labels.shape != (height, width):
            raise ValueError(f"labels are {labels.shape[1]}x{labels.shape[0]}, the table was built for "
                             f"{width}x{height}")
        slots = self._codes + lut[labels.reshape(-1)[self._pixels]]
        return np.bincount(slots, minlength=3 * self.grid.width * self.grid.height).reshape(-1, 3)

    def occupancy(self, labels: np.ndarray, lut: np.ndarray) -> np.ndarray:
        """(grid.height, grid.width) int8 grid: FREE, OCCUPIED or UNKNOWN per cell (module docstring's rule)."""
        return cell_values(self.votes(labels, lut)).reshape(self.grid.height, self.grid.width)


def cell_values(counts: np.ndarray) -> np.ndarray:
    """(cells, 3) votes [blocked, free, unknown] -> int8 cell values by the module docstring's rule."""
    blocked, free, unknown = counts[:, VOTE_BLOCKED], counts[:, VOTE_FREE], counts[:, VOTE_UNKNOWN]
    known = blocked + free
    values = np.where(blocked >= free, OCCUPIED, FREE).astype(np.int8)
    values[(known == 0) | (unknown > known)] = UNKNOWN
    return values


def unknown_grid(grid: GridSpec) -> np.ndarray:
    """An all-UNKNOWN grid (no usable camera, mount or frame)."""
    return np.full((grid.height, grid.width), UNKNOWN, np.int8)
