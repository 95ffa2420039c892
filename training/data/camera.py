"""Pinhole camera above a flat ground plane: the projection every generated scene is drawn with.

World axes (metres): x to the right, y up (0 is the road surface), z forward along
the street. The camera sits at (0, mount_height, 0), pitched down and turned right
by small angles, without roll.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: Camera-space depth (m) at which polygons are cut, so nothing behind the lens is projected.
NEAR = 0.1


@dataclass(frozen=True)
class Camera:
    """Image size, focal length in pixels, and the pose above the road (principal point at the centre)."""

    width: int
    height: int
    focal: float  # pixels
    mount_height: float  # metres above the road
    pitch: float  # radians, positive looks down
    yaw: float  # radians, positive looks right

    @cached_property
    def position(self) -> np.ndarray:
        return np.array([0.0, self.mount_height, 0.0])

    @property
    def horizon(self) -> float:
        """Image row of the ground plane's vanishing line."""
        return self.height / 2 - self.focal * np.tan(self.pitch)

    @cached_property
    def _transform(self) -> tuple[np.ndarray, np.ndarray]:
        """(R^T, t) with camera = world @ R^T + t: turn by yaw, flip y downwards, tilt by pitch."""
        cy, sy = np.cos(self.yaw), np.sin(self.yaw)
        cp, sp = np.cos(self.pitch), np.sin(self.pitch)
        rotation = np.array([[cy, 0.0, -sy], [-sy * sp, -cp, -cy * sp], [sy * cp, -sp, cy * cp]])
        return rotation.T.copy(), -self.position @ rotation.T

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> camera coordinates (..., 3): x right, y down, z along the optical axis."""
        rotation_t, offset = self._transform
        return points @ rotation_t + offset

    def depth(self, points: np.ndarray) -> np.ndarray:
        """Camera-space depth of world points (negative behind the camera)."""
        return self.to_camera(points)[..., 2]

    @cached_property
    def _centre(self) -> np.ndarray:
        return np.array([self.width / 2, self.height / 2])

    def pixels(self, camera_points: np.ndarray) -> np.ndarray:
        """Camera-space points in front of the lens (..., 3) -> pixel coordinates (..., 2)."""
        return camera_points[..., :2] * (self.focal / camera_points[..., 2:3]) + self._centre

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points known to be in front of the camera -> pixel coordinates."""
        return self.pixels(self.to_camera(points))

    def polygon(self, points: np.ndarray) -> np.ndarray | None:
        """World polygon (N, 3) -> pixel polygon cut at the near plane, or None when wholly behind."""
        cam = self.to_camera(points)
        inside = cam[:, 2] >= NEAR
        if inside.all():
            return self.pixels(cam)
        if not inside.any():
            return None
        return self.pixels(_clip_near(cam, inside))

    def project_all(self, shapes: np.ndarray) -> np.ndarray:
        """World shapes (N, K, 3) -> pixel shapes (M, K, 2): the ones wholly in front of the camera."""
        cam = self.to_camera(shapes)
        return self.pixels(cam[(cam[..., 2] >= NEAR).all(axis=1)])

    def may_see(self, points: np.ndarray) -> bool:
        """False only when the hull of the world points is certainly outside the view (frustum culling).

        That is when all points lie beyond one of the frustum's planes: the near plane, or a
        plane through the lens and an image edge (e.g. left of it where focal * x + cx * z < 0),
        with the edges moved out by a pixel because OpenCV fills every pixel a boundary touches.
        """
        x, y, z = self.to_camera(points).T
        f, cx, cy = self.focal, self.width / 2 + 1, self.height / 2 + 1
        outside = ((z < NEAR).all() or (f * x + cx * z < 0).all() or (f * x - cx * z > 0).all()
                   or (f * y + cy * z < 0).all() or (f * y - cy * z > 0).all())
        return not outside

    def pixel_size(self, metres: float, depth: float) -> float:
        """Image size in pixels of ``metres`` seen at camera depth ``depth``."""
        return self.focal * metres / max(depth, NEAR)

    def calibration(self) -> dict:
        """This camera as a Cityscapes ``*_camera.json`` calibration (metres, radians).

        Extrinsics are in Cityscapes' vehicle frame (ISO 8855: x forward, y left,
        z up), whose origin is put on the road right below the lens, so x = y = 0
        and z is the mount height. The camera turns by yaw about the vertical,
        then tilts by pitch (no roll). Pitch > 0 looks down in both frames; yaw > 0
        turns left there, so this camera's yaw (> 0 looks right) changes sign. The
        intrinsics are those the scene is drawn with: ``u0, v0`` = (width / 2,
        height / 2) with pixel centres at integer coordinates (OpenCV's drawing,
        and the ROS CameraInfo convention). There is no second (stereo) camera,
        so the baseline is 0.
        """
        return {
            "extrinsic": {"baseline": 0.0, "pitch": float(self.pitch), "roll": 0.0, "x": 0.0, "y": 0.0,
                          "yaw": -float(self.yaw), "z": float(self.mount_height)},
            "intrinsic": {"fx": float(self.focal), "fy": float(self.focal), "u0": self.width / 2,
                          "v0": self.height / 2},
        }


def _clip_near(cam: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman against the single plane z = NEAR (polygons here have a handful of vertices)."""
    out = []
    n = len(cam)
    for i in range(n):
        j = (i + 1) % n
        if inside[i]:
            out.append(cam[i])
        if inside[i] != inside[j]:
            t = (NEAR - cam[i, 2]) / (cam[j, 2] - cam[i, 2])
            out.append(cam[i] + t * (cam[j] - cam[i]))
    return np.array(out)
