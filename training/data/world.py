"""What a generated scene is made of before it is drawn: camera, street layout, light, and drawable items."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from seg_perception.labels import CLASS_NAMES

from . import palette
from .camera import Camera
from .canvas import Canvas

#: trainId by class name, so scene code names classes instead of numbering them.
ID = {name: train_id for train_id, name in enumerate(CLASS_NAMES)}

PARKING_WIDTH = 2.2  # metres of road kept for parked cars along a curb


@dataclass(frozen=True)
class Street:
    """Lateral layout of a straight or gently curving street, in metres across its centre line.

    Sides are -1 (left) and +1 (right); per-side values are (left, right) pairs.
    Lanes are numbered from the left edge; the left half carries oncoming traffic.
    """

    lanes: int
    lane_width: float
    camera_lane: int
    parking: tuple[bool, bool]
    curb_height: float
    verge: tuple[float, float]  # grass between curb and sidewalk
    sidewalk: tuple[float, float]
    garden: tuple[float, float]  # grass between sidewalk and the building line
    built: tuple[bool, bool]  # buildings on that side, else open park land
    curvature: float  # the centre line drifts sideways by curvature * z**2
    end: float  # z where the street stops (at a cross street) or fades into the distance
    closed: bool  # a building row across the far end
    tram_lane: int | None  # lane with tram rails, if any
    crosswalk: float | None  # z of a zebra crossing, if any

    def side(self, pair: tuple, side: int):
        return pair[side > 0]

    @property
    def half_width(self) -> float:
        return (self.lanes * self.lane_width + PARKING_WIDTH * sum(self.parking)) / 2

    def lane_center(self, lane: int) -> float:
        return -self.half_width + PARKING_WIDTH * self.parking[0] + (lane + 0.5) * self.lane_width

    def oncoming(self, lane: int) -> bool:
        return lane < self.lanes // 2

    def sidewalk_span(self, side: int) -> tuple[float, float]:
        """Inner and outer distance of the sidewalk from the centre line."""
        inner = self.half_width + self.side(self.verge, side)
        return inner, inner + self.side(self.sidewalk, side)

    def building_line(self, side: int) -> float:
        return self.sidewalk_span(side)[1] + self.side(self.garden, side)

    def points(self, s, z, y=0.0) -> np.ndarray:
        """World points at cross-street offset ``s``, distance ``z`` and height ``y`` (broadcast)."""
        s, z = np.asarray(s, float), np.asarray(z, float)
        out = np.empty(np.broadcast_shapes(s.shape, z.shape, np.shape(y)) + (3,))
        out[..., 0] = s - self.camera_offset + self.curvature * z * z
        out[..., 1] = y
        out[..., 2] = z
        return out

    @cached_property
    def camera_offset(self) -> float:
        """Cross-street offset of the camera (it drives in the middle of its lane)."""
        return self.lane_center(self.camera_lane)

    def heading(self, z: float) -> float:
        """Direction of the street at ``z`` (radians from the z axis, positive to the right)."""
        return math.atan(2 * self.curvature * z)


@dataclass(frozen=True)
class Light:
    """Sun (unit vector towards it) or overcast sky (``sun`` None), and the camera's exposure and white balance."""

    sun: np.ndarray | None
    gain: float
    tint: np.ndarray  # per-channel RGB multiplier
    dusk: bool = False  # a low, warm sky without sun shadows

    def shade(self, normal: np.ndarray) -> float:
        """Brightness factor of a surface facing ``normal`` (unit, world)."""
        if self.sun is None:
            return 0.78 + 0.22 * normal[1] - 0.06 * abs(normal[0])
        return 0.5 + 0.6 * max(0.0, float(normal @ self.sun))

    def shadow(self, points: np.ndarray) -> np.ndarray:
        """Where the sun casts world points onto the ground (straight down under an overcast sky)."""
        if self.sun is None:
            cast = np.array(points, float)
        else:
            cast = points - points[..., 1:2] / self.sun[1] * self.sun
        cast[..., 1] = 0.0
        return cast


@dataclass(frozen=True)
class Weather:
    """Fog (meteorological visibility in metres, None when clear) and wet roads (brightness factor, 1 dry)."""

    visibility: float | None = None
    wet: float = 1.0


@dataclass(frozen=True)
class Scene:
    camera: Camera
    street: Street
    light: Light
    weather: Weather = Weather()
    colours: palette.Palette = palette.PLAIN
    marking_wear: float = 0.0  # 0 fresh lane paint, 1 worn down to the asphalt


@dataclass
class Item:
    """Something drawn in the painter's pass: lower ``layer`` first, then far before near."""

    depth: float
    layer: int
    draw: Callable[[Canvas], None]
    #: world points whose hull holds all the item draws: items the camera cannot see are not drawn
    bounds: np.ndarray
    #: world points whose ground shadow (convex hull) darkens the road before items are drawn
    shadow_points: list[np.ndarray] = field(default_factory=list)


# Painter's layers: what stands further from the road is never in front of what stands nearer.
LAYER_BUILDINGS = 0
LAYER_BEHIND_LINE = 1  # gardens and park land beyond the sidewalk
LAYER_LINE = 2  # walls, fences and hedges along the sidewalk's outer edge
LAYER_STREET = 3  # everything on sidewalks and road
