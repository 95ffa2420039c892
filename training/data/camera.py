"""Pinhole camera above a flat ground plane: the projection every generated scene is drawn with.

World axes (metres): x to the right, y up (0 is the road surface), z forward along
the street. The camera sits at (0, mount_height, 0), pitched down and turned right
by small angles. Scenes are drawn through the ideal pinhole (no roll, no distortion);
``lens_maps`` then gives the remap that adds the camera's roll about its optical axis
and its radial (plumb_bob k1) distortion, exact for a pinhole.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
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
    roll: float = 0.0  # radians about the optical axis, positive turns the camera clockwise seen from behind
    k1: float = 0.0  # plumb_bob radial distortion of normalised coordinates, < 0 barrel

    @property
    def ideal(self) -> bool:
        """True when the image is the pinhole drawing itself (no roll, no distortion)."""
        return self.roll == 0.0 and self.k1 == 0.0

    def lens_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """``cv2.remap`` maps (x, y float32, H x W) from the recorded image to the ideal pinhole drawing.

        A recorded pixel's normalised coordinates are undistorted (plumb_bob with k1 only, inverted by
        fixed-point iteration), then turned back by the roll into the unrolled camera: a camera that
        rolls clockwise sees the world turned anticlockwise.
        """
        v, u = np.mgrid[0:self.height, 0:self.width].astype(np.float32)
        cx, cy = self.width / 2, self.height / 2
        xd, yd = (u - cx) / self.focal, (v - cy) / self.focal
        x, y = xd, yd
        for _ in range(10):  # contracts by about |2 k1 r^2| per step: 10 leave < 0.001 px
            scale = 1 + self.k1 * (x * x + y * y)
            x, y = xd / scale, yd / scale
        residual = np.abs(x * (1 + self.k1 * (x * x + y * y)) - xd).max() * self.focal
        if not residual < 0.01:
            # plumb_bob with a barrel k1 alone turns back at r = sqrt(-1 / (3 k1)): beyond it no ray lands
            raise ValueError(f"k1 = {self.k1:g} at focal {self.focal:g} px cannot image the corners of "
                             f"{self.width}x{self.height}: the lens model folds inside the frame")
        c, s = np.cos(self.roll), np.sin(self.roll)
        return ((c * x - s * y) * self.focal + cx).astype(np.float32), ((s * x + c * y) * self.focal + cy).astype(np.float32)

    def lens(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels of the ideal pinhole drawing (..., 2) -> where this camera records them (roll, then k1)."""
        centre = np.array([self.width / 2, self.height / 2])
        x, y = np.moveaxis((np.asarray(pixels, float) - centre) / self.focal, -1, 0)
        c, s = np.cos(self.roll), np.sin(self.roll)
        xr, yr = c * x + s * y, -s * x + c * y
        scale = 1 + self.k1 * (xr * xr + yr * yr)
        return np.stack([xr * scale, yr * scale], axis=-1) * self.focal + centre

    def pinhole_view(self) -> tuple[Camera, np.ndarray | None, np.ndarray | None]:
        """The ideal pinhole camera to draw this camera's view with, and the remap maps into its drawing.

        The drawing is made wide and tall enough for everything the rolled, distorted lens sees,
        so the recorded image has no empty corners. An ideal camera draws itself (maps None).
        """
        if self.ideal:
            return self, None, None
        map_x, map_y = self.lens_maps()
        mx = int(np.ceil(max(0.0, -map_x.min(), map_x.max() - (self.width - 1)))) + 1
        my = int(np.ceil(max(0.0, -map_y.min(), map_y.max() - (self.height - 1)))) + 1
        pinhole = Camera(self.width + 2 * mx, self.height + 2 * my, self.focal, self.mount_height, self.pitch, self.yaw)
        return pinhole, map_x + mx, map_y + my

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

    def ground_depth(self) -> np.ndarray:
        """H x W float32 camera-space depth of the ground plane seen through each pixel of the pinhole
        drawing (inf where the ray runs above the horizon)."""
        v, u = np.mgrid[0:self.height, 0:self.width].astype(np.float64)
        rays = np.stack([(u - self.width / 2) / self.focal, (v - self.height / 2) / self.focal, np.ones_like(u)], -1)
        rotation_t, _ = self._transform
        down = rays @ rotation_t.T[:, 1]  # the rays' world y component per unit of camera depth
        with np.errstate(divide="ignore"):
            depth = np.where(down < 0, -self.mount_height / down, np.inf)
        return depth.astype(np.float32)

    def pixel_size(self, metres: float, depth: float) -> float:
        """Image size in pixels of ``metres`` seen at camera depth ``depth``."""
        return self.focal * metres / max(depth, NEAR)

    def calibration(self) -> dict:
        """This camera as a Cityscapes ``*_camera.json`` calibration (metres, radians).

        Extrinsics are in Cityscapes' vehicle frame (ISO 8855: x forward, y left,
        z up), whose origin is put on the road right below the lens, so x = y = 0
        and z is the mount height. The camera turns by yaw about the vertical,
        then tilts by pitch, then rolls about its optical axis. Pitch > 0 looks down
        in both frames; yaw > 0 turns left there, so this camera's yaw (> 0 looks
        right) changes sign; roll > 0 (clockwise seen from behind) is a roll to the
        right about the forward axis. ``distortion`` is the plumb_bob k1 (not in
        Cityscapes' files, which are rectified; 0 for an ideal pinhole). The
        intrinsics are those the scene is drawn with: ``u0, v0`` = (width / 2,
        height / 2) with pixel centres at integer coordinates (OpenCV's drawing,
        and the ROS CameraInfo convention). There is no second (stereo) camera,
        so the baseline is 0.
        """
        return {
            "extrinsic": {"baseline": 0.0, "pitch": float(self.pitch), "roll": float(self.roll), "x": 0.0, "y": 0.0,
                          "yaw": -float(self.yaw), "z": float(self.mount_height)},
            "intrinsic": {"fx": float(self.focal), "fy": float(self.focal), "u0": self.width / 2,
                          "v0": self.height / 2},
            "distortion": {"model": "plumb_bob", "k1": float(self.k1)},
        }



def record(map_x: np.ndarray | None, map_y: np.ndarray | None, image: np.ndarray, label: np.ndarray,
           depth: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A pinhole drawing as the lens records it (``Camera.pinhole_view``'s maps): the image resampled
    bilinearly, label and depth by nearest neighbour, so labels move with the pixels."""
    if map_x is None:
        return image, label, depth

    def remap(array, interpolation):
        return cv2.remap(array, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)
    return (remap(image, cv2.INTER_LINEAR), remap(label, cv2.INTER_NEAREST),
            None if depth is None else remap(depth, cv2.INTER_NEAREST))


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
