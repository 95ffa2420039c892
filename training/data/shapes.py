"""3-D primitives (boxes, hulls, rings, rods) projected through the camera onto a canvas."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from .camera import NEAR
from .canvas import Canvas
from .world import Scene

# Box corner k has bits (forward, right, top): k = 4 * front + 2 * right + top.
# Each face lists corners a, b, c, d: u runs a -> b, v runs a -> d (upwards on the sides).
_FACES = {
    "back": (0, 2, 3, 1),
    "front": (6, 4, 5, 7),
    "left": (0, 4, 5, 1),
    "right": (2, 6, 7, 3),
    "top": (1, 3, 7, 5),
    "bottom": (0, 4, 6, 2),
}
_FACE_NAMES = list(_FACES)
_FACE_INDEX = np.array(list(_FACES.values()))
_U, _V = np.array([0, 1, 1, 0]), np.array([2, 2, 3, 3])  # rect columns at the corners a, b, c, d
_UNIT_BOX = np.array([[((k >> 2) & 1) - 0.5, ((k >> 1) & 1) - 0.5, k & 1] for k in range(8)], float)


@dataclass(frozen=True)
class Face:
    quad: np.ndarray  # (4, 3) world corners a, b, c, d
    shade: float  # light falling on it

    def rects(self, rects: np.ndarray) -> np.ndarray:
        """Face-relative rectangles (N, 4) of (u0, u1, v0, v1) in 0..1 -> world quads (N, 4, 3)."""
        a, b, _, d = self.quad
        return a + rects[:, _U, None] * (b - a) + rects[:, _V, None] * (d - a)


def axes(heading: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit forward and right vectors of something turned ``heading`` radians to the right of +z."""
    sin, cos = math.sin(heading), math.cos(heading)
    return np.array([sin, 0.0, cos]), np.array([cos, 0.0, -sin])


def box(base: np.ndarray, length: float, width: float, bottom: float, top: float, heading: float) -> np.ndarray:
    """Eight world corners of a box whose footprint is centred on ground point ``base``."""
    sin, cos = math.sin(heading), math.cos(heading)
    # Rows: the local forward, right and up axes in world coordinates, scaled to the box.
    frame = np.array([[length * sin, 0.0, length * cos], [width * cos, 0.0, -width * sin], [0.0, top - bottom, 0.0]])
    return base + [0.0, bottom, 0.0] + _UNIT_BOX @ frame


def bounding_box(points: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Eight corners of the axis-aligned box around world points, grown by ``margin`` metres."""
    points = np.asarray(points, float)
    return np.where(_UNIT_BOX > 0, points.max(axis=0) + margin, points.min(axis=0) - margin)


def draw_box(canvas: Canvas, scene: Scene, corners: np.ndarray, rgb, class_id: int | None) -> dict[str, Face]:
    """Fill the faces of a box the camera can see, lit by the scene light; returns them by name."""
    quads = corners[_FACE_INDEX]
    mids = quads.mean(axis=1)
    normals = mids - corners.mean(axis=0)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    visible = np.einsum("ij,ij->i", scene.camera.position - mids, normals) > 0
    cam = scene.camera.to_camera(corners)
    in_front = (cam[:, 2] >= NEAR).all()
    pixels = scene.camera.pixels(cam) if in_front else None
    faces = {}
    rgb = np.asarray(rgb, float)
    for k in np.flatnonzero(visible):
        face = Face(quads[k], scene.light.shade(normals[k]))
        polygon = pixels[_FACE_INDEX[k]] if in_front else scene.camera.polygon(quads[k])
        canvas.fill([polygon], rgb * face.shade, class_id)
        faces[_FACE_NAMES[k]] = face
    return faces


def paint(canvas: Canvas, scene: Scene, jobs: list[tuple[Face, np.ndarray, object]]) -> None:
    """Paint face-relative rectangles (windows, lights, doors) onto visible faces; jobs are (face, rects, rgb).

    The image only: details lie inside their face, whose label is already drawn.
    """
    if not jobs:
        return
    cam = scene.camera.to_camera(np.concatenate([face.rects(rects) for face, rects, _ in jobs]))
    h, w = canvas.label.shape
    front = (cam[..., 2] >= NEAR).all(axis=1)
    quads = scene.camera.pixels(np.where(front[:, None, None], cam, 1.0))
    lo, hi = quads.min(axis=1), quads.max(axis=1)
    # Sub-pixel and off-screen rectangles change nothing; skipping them keeps far facades cheap.
    keep = front & ((hi - lo).min(axis=1) > 0.4) & (hi[:, 0] >= 0) & (lo[:, 0] < w) & (hi[:, 1] >= 0) & (lo[:, 1] < h)
    start = 0
    for face, rects, rgb in jobs:
        end = start + len(rects)
        canvas.fill(quads[start:end][keep[start:end]], np.asarray(rgb) * face.shade)
        start = end


def fill_hull(canvas: Canvas, scene: Scene, points: np.ndarray, rgb, class_id: int | None) -> None:
    """Fill the image outline (convex hull) of world points; skipped when any is behind the camera."""
    cam = scene.camera.to_camera(points)
    if (cam[:, 2] < NEAR).any():
        return
    hull = cv2.convexHull(scene.camera.pixels(cam).astype(np.float32))[:, 0]
    canvas.fill([hull], rgb, class_id)


@functools.lru_cache(maxsize=8)
def _unit_circle(n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.cos(t)[:, None], np.sin(t)[:, None]


def ring(centre: np.ndarray, radius: float, u: np.ndarray, v: np.ndarray, n: int = 12) -> np.ndarray:
    """``n`` world points on a circle spanned by unit vectors ``u`` and ``v``."""
    cos, sin = _unit_circle(n)
    return centre + radius * (cos * u + sin * v)


def rods(canvas: Canvas, scene: Scene, polylines: list[np.ndarray], metres: float, rgb, class_id: int | None,
         closed: bool = False) -> None:
    """Draw world polylines as rods ``metres`` thick, sized by the depth of their nearest point."""
    cam = scene.camera
    projected, depth = [], np.inf
    for line in polylines:
        c = cam.to_camera(line)
        if (c[:, 2] < NEAR).any():
            continue
        projected.append(cam.pixels(c))
        depth = min(depth, c[:, 2].min())
    if projected:
        canvas.lines(projected, cam.pixel_size(metres, depth), rgb, class_id, closed)
