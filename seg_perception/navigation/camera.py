"""A camera's intrinsics as sensor_msgs/CameraInfo gives them (K, D, distortion model, size), validated.

Pixel coordinates follow the ROS / OpenCV convention: the centre of pixel
(u, v) is at (u, v). Scaling to another image size therefore maps
``u' + 0.5 = (u + 0.5) * sx``, which is what an image resized by
``cv2.resize`` (or the node's nearest-neighbour label resize) does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: distortion models OpenCV can undo: plumb_bob / rational_polynomial (cv2.undistortPoints) and equidistant (fisheye)
DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "equidistant")


class CameraModelError(ValueError):
    """Intrinsics that cannot describe a camera (zeros or NaN in K, unknown distortion model, bad size)."""


def scale_matrix(width: int, height: int, new_width: int, new_height: int) -> np.ndarray:
    """3 x 3 matrix taking pixel coordinates of a ``width`` x ``height`` image to those of its resize."""
    sx, sy = new_width / width, new_height / height
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of one image size: K (3 x 3), distortion coefficients D and their model."""

    width: int
    height: int
    k: np.ndarray
    d: np.ndarray
    distortion_model: str = "plumb_bob"

    @classmethod
    def from_values(cls, width: int, height: int, k, d=(), distortion_model: str = "plumb_bob") -> CameraModel:
        """A validated model from CameraInfo-style fields (``k`` row-major 9 values); CameraModelError if unusable."""
        k = np.asarray(k, np.float64).reshape(-1)
        d = np.asarray(d, np.float64).reshape(-1)
        if k.size != 9:
            raise CameraModelError(f"K must have 9 values, got {k.size}")
        model = cls(int(width), int(height), k.reshape(3, 3), d, distortion_model or "plumb_bob")
        model._validate()
        return model

    def _validate(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise CameraModelError(f"camera_info size is {self.width}x{self.height}")
        if not np.isfinite(self.k).all() or not np.isfinite(self.d).all():
            raise CameraModelError("camera_info has NaN or infinite values in K or D")
        fx, fy, cx, cy = self.k[0, 0], self.k[1, 1], self.k[0, 2], self.k[1, 2]
        if fx <= 0 or fy <= 0:
            raise CameraModelError(f"camera_info K has focal lengths fx={fx:g}, fy={fy:g}; both must be > 0 "
                                   "(an uncalibrated camera publishes zeros)")
        if not (np.allclose(self.k[2], (0, 0, 1)) and self.k[1, 0] == 0):
            raise CameraModelError(f"camera_info K is not a pinhole matrix: {self.k.reshape(-1).tolist()}")
        if not (-self.width <= cx <= 2 * self.width and -self.height <= cy <= 2 * self.height):
            raise CameraModelError(f"camera_info principal point ({cx:g}, {cy:g}) is far outside the "
                                   f"{self.width}x{self.height} image")
        if self.has_distortion and self.distortion_model not in DISTORTION_MODELS:
            raise CameraModelError(f"distortion model {self.distortion_model!r} is not supported "
                                   f"(supported: {', '.join(DISTORTION_MODELS)})")
        if self.distortion_model == "equidistant" and self.d.size != 4 and self.has_distortion:
            raise CameraModelError(f"equidistant distortion needs 4 coefficients, got {self.d.size}")

    @property
    def has_distortion(self) -> bool:
        """True when D has a non-zero coefficient."""
        return bool(self.d.size) and bool(np.any(self.d != 0))

    def scaled(self, width: int, height: int) -> CameraModel:
        """The same camera for the image resized to ``width`` x ``height`` (D is in normalised units: kept)."""
        if (width, height) == (self.width, self.height):
            return self
        k = scale_matrix(self.width, self.height, width, height) @ self.k
        return CameraModel(width, height, k, self.d, self.distortion_model)

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """Pixel coordinates (N, 2) -> normalised image coordinates (N, 2) (x/z, y/z in the optical frame)."""
        pixels = np.ascontiguousarray(pixels, np.float64).reshape(-1, 1, 2)
        if not self.has_distortion:
            fx, fy, cx, cy = self.k[0, 0], self.k[1, 1], self.k[0, 2], self.k[1, 2]
            skew = self.k[0, 1]
            y = (pixels[:, 0, 1] - cy) / fy
            return np.stack([(pixels[:, 0, 0] - cx - skew * y) / fx, y], axis=1)
        if self.distortion_model == "equidistant":
            return cv2.fisheye.undistortPoints(pixels, self.k, self.d).reshape(-1, 2)
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 1e-9)
        return cv2.undistortPoints(pixels, self.k, self.d, R=None, P=None, criteria=criteria).reshape(-1, 2)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Optical-frame points (N, 3) with z > 0 -> pixel coordinates (N, 2), distortion applied."""
        points = np.ascontiguousarray(points, np.float64).reshape(-1, 3)
        if not self.has_distortion:
            return (points @ self.k.T)[:, :2] / points[:, 2:3]
        zero = np.zeros(3)
        if self.distortion_model == "equidistant":
            pixels, _ = cv2.fisheye.projectPoints(points.reshape(-1, 1, 3), zero, zero, self.k, self.d)
        else:
            pixels, _ = cv2.projectPoints(points, zero, zero, self.k, self.d)
        return pixels.reshape(-1, 2)

    def describe(self) -> str:
        """One line for logs: size, focal lengths, principal point, distortion."""
        fx, fy, cx, cy = self.k[0, 0], self.k[1, 1], self.k[0, 2], self.k[1, 2]
        distortion = f"{self.distortion_model} {np.round(self.d, 4).tolist()}" if self.has_distortion else "none"
        hfov = math.degrees(2 * math.atan2(self.width / 2, fx))
        return (f"{self.width}x{self.height}, fx {fx:.1f} fy {fy:.1f}, centre ({cx:.1f}, {cy:.1f}), "
                f"horizontal FOV {hfov:.0f} deg, distortion {distortion}")
