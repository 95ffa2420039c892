"""Where the camera sits on the robot: its pose in the grid frame, from six numbers.

``x, y, z`` (metres) place the camera body frame in the grid frame, ``z`` being
its height above the flat ground; ``roll, pitch, yaw`` (degrees) turn it, in
ROS order (R = Rz(yaw) Ry(pitch) Rx(roll), REP-103: x forward, y left, z up),
so pitch > 0 tilts the camera down. The optical frame (z forward, x right,
y down) hangs off the body frame as REP-103 prescribes for cameras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: body (x forward, y left, z up) <- optical (x right, y down, z forward): columns are the optical axes.
BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Rotation Rz(yaw) @ Ry(pitch) @ Rx(roll) for angles in radians (tf2's setRPY)."""
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


@dataclass(frozen=True)
class CameraMount:
    """The camera's pose in the grid frame: position in metres, roll/pitch/yaw in degrees."""

    x: float = 0.0
    y: float = 0.0
    z: float = 1.5
    roll: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0

    def problem(self) -> str | None:
        """Why this mount cannot see the ground plane z = 0 from above, or None."""
        values = (self.x, self.y, self.z, self.roll, self.pitch, self.yaw)
        if not all(math.isfinite(value) for value in values):
            return f"camera mount has a non-finite value: {values}"
        if self.z <= 0:
            return f"camera.z is {self.z:g} m: the camera must be above the ground (z > 0)"
        return None

    @property
    def position(self) -> np.ndarray:
        """The optical centre in the grid frame."""
        return np.array([self.x, self.y, self.z])

    @property
    def grid_from_optical(self) -> np.ndarray:
        """Rotation taking optical-frame directions to grid-frame directions."""
        angles = (math.radians(self.roll), math.radians(self.pitch), math.radians(self.yaw))
        return rpy_matrix(*angles) @ BODY_FROM_OPTICAL
