"""ROS-free navigation outputs: the drivable area projected onto a flat ground plane.

``camera`` holds the intrinsics (a CameraInfo's K, D, size) and their scaling,
``mount`` the camera's pose in the grid frame, ``grid`` the occupancy grid's
geometry and cell values, and ``projection`` the precomputed pixel <-> cell
table whose per-frame use is one gather and one count.
"""

from .camera import CameraModel, CameraModelError, scale_matrix
from .drivable_grid import CameraFields, DrivableGridMaker, GridFrame
from .grid import FREE, OCCUPIED, UNKNOWN, GridSpec, obstacle_points, vote_lut
from .mount import CameraMount
from .projection import GroundProjection, cell_values, unknown_grid

__all__ = ["CameraFields", "CameraModel", "CameraModelError", "CameraMount", "DrivableGridMaker", "GridFrame", "GridSpec", "GroundProjection", "FREE", "OCCUPIED",
           "UNKNOWN", "cell_values", "obstacle_points", "scale_matrix", "unknown_grid", "vote_lut"]
