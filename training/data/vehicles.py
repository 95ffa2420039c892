"""Cars, trucks, buses and trams as lit 3-D boxes with windows, lights and wheels."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import palette
from .camera import NEAR
from .canvas import Canvas
from .shapes import axes, bounding_box, box, draw_box, paint
from .world import ID, LAYER_STREET, Item, Scene

_TYRE = (22, 22, 24)
_RED = (170, 20, 20)
_WHITE = (225, 225, 215)
_TAIL_LIGHTS = np.array([[0.03, 0.2, 0.55, 0.8], [0.8, 0.97, 0.55, 0.8]])
_HEAD_LIGHTS = np.array([[0.04, 0.22, 0.55, 0.78], [0.78, 0.96, 0.55, 0.78]])
_PLATE = np.array([[0.38, 0.62, 0.2, 0.4]])
_SIDES, _ENDS = ("left", "right"), ("back", "front")
# Wheel layout: _SIGNS[side, wheel] = (forward sign, right sign); a tyre is two 8-point rims 22 cm apart,
# as (across offset in metres, cos, sin) per point.
_SIGNS = np.array([[[-1.0, -1.0], [1.0, -1.0]], [[-1.0, 1.0], [1.0, 1.0]]])
_ANGLES = np.linspace(0, 2 * np.pi, 8, endpoint=False)
_TREAD_OFFSETS = np.array([[o, np.cos(t), np.sin(t)] for o in (-0.11, 0.11) for t in _ANGLES])


@dataclass(frozen=True)
class _Part:
    """One box of a vehicle and its details: (face names, rects (u0, u1, v0, v1), rgb) painted where visible."""

    corners: np.ndarray
    rgb: np.ndarray
    details: list[tuple[tuple[str, ...], np.ndarray, object]]


def _rect(u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
    return np.array([[u0, u1, v0, v1]])


def _windows_along(n: int, v0: float, v1: float, margin: float = 0.04, gap: float = 0.25) -> np.ndarray:
    """``n`` side windows in a band: rects (u0, u1, v0, v1)."""
    edges = np.linspace(margin, 1 - margin, n + 1)
    pitch = edges[1] - edges[0]
    return np.stack([edges[:-1] + gap * pitch / 2, edges[1:] - gap * pitch / 2,
                     np.full(n, v0), np.full(n, v1)], axis=1)


def _far_to_near(scene: Scene, parts: list[_Part]) -> list[_Part]:
    """Order parts standing one behind the other (cab and trailer) for the painter's pass."""
    return sorted(parts, key=lambda part: -np.linalg.norm(part.corners.mean(axis=0) - scene.camera.position))


def _vehicle(scene: Scene, parts: list[_Part], base, heading, width, length, wheel_radius, wheel_inset,
             class_id) -> Item:
    """An item drawing the wheels on the far side, the parts in the given order, then the near wheels."""
    forward, right = axes(heading)
    along, across = length / 2 - wheel_inset, width / 2 - 0.12
    # (side, wheel, point, xyz): two 8-point rims 22 cm apart make each tyre's hull.
    hubs = (base + [0.0, wheel_radius, 0.0] + _SIGNS[:, :, 0:1] * along * forward
            + _SIGNS[:, :, 1:2] * across * right)
    wheels = hubs[:, :, None, :] + _TREAD_OFFSETS[:, 0:1] * right + wheel_radius * (
        _TREAD_OFFSETS[:, 1:2] * forward + _TREAD_OFFSETS[:, 2:3] * np.array([0.0, 1.0, 0.0]))
    near_side = int((scene.camera.position - base) @ right > 0)
    corners = np.concatenate([part.corners for part in parts])
    depth = scene.camera.depth(corners).min()
    # Level of detail: a vehicle a few pixels tall is just its boxes.
    detailed = scene.camera.pixel_size(1.5, depth) > 16

    def draw_wheels(canvas: Canvas, side: int) -> None:
        cam = scene.camera.to_camera(wheels[side])
        for rim in cam:
            if (rim[:, 2] >= NEAR).all():
                hull = cv2.convexHull(scene.camera.pixels(rim).astype(np.float32))[:, 0]
                canvas.fill([hull], _TYRE, class_id)

    def draw(canvas: Canvas) -> None:
        if detailed:
            draw_wheels(canvas, 1 - near_side)
        for part in parts:
            faces = draw_box(canvas, scene, part.corners, part.rgb, class_id)
            if detailed:
                paint(canvas, scene, [(faces[name], rects, rgb) for names, rects, rgb in part.details
                                      for name in names if name in faces])
        if detailed:
            draw_wheels(canvas, near_side)

    # Wheels reach below the boxes, down to the road.
    bounds = bounding_box(np.vstack([corners, corners * [1.0, 0.0, 1.0]]), 0.1)
    return Item(depth, LAYER_STREET, draw, bounds, [corners])


def car(scene: Scene, rng: np.random.Generator, s: float, z: float, heading: float) -> tuple[Item, float]:
    """A saloon, hatchback or van-like car centred on street offset ``s`` with its near end at ``z``.

    Every vehicle returns its item and its length, so traffic can be queued along a lane.
    """
    length, width = rng.uniform(3.7, 4.9), rng.uniform(1.7, 1.95)
    sill, waist, roof = 0.28, rng.uniform(0.85, 1.05), rng.uniform(1.4, 1.75)
    base = scene.street.points(s, z + length / 2)
    forward, _ = axes(heading)
    cabin_base = base + forward * rng.uniform(-0.12, 0.0) * length
    paint_rgb = palette.pick(rng, scene.colours.car_paints, 8)
    glass = palette.pick(rng, palette.GLASS, 10)
    body = _Part(box(base, length, width, sill, waist, heading), paint_rgb,
                 [(("back",), _TAIL_LIGHTS, _RED), (("front",), _HEAD_LIGHTS, _WHITE), (_ENDS, _PLATE, _WHITE)])
    # The cabin sits on the body and the camera is above the waist, so the body is always drawn first.
    cabin = _Part(box(cabin_base, length * rng.uniform(0.45, 0.75), width - 0.12, waist, roof, heading), paint_rgb,
                  [(_SIDES, _windows_along(2, 0.1, 0.88, 0.06, 0.08), glass), (_ENDS, _rect(0.07, 0.93, 0.1, 0.88),
                                                                                glass)])
    return _vehicle(scene, [body, cabin], base, heading, width, length, 0.32, 0.75, ID["car"]), length


def truck(scene: Scene, rng: np.random.Generator, s: float, z: float, heading: float) -> tuple[Item, float]:
    """A cab with a box body behind it."""
    cargo_length, width, cab_length = rng.uniform(5.0, 9.0), 2.5, 2.1
    length = cargo_length + cab_length + 0.2
    base = scene.street.points(s, z + length / 2)
    forward, _ = axes(heading)
    cargo_rgb = palette.pick(rng, palette.CARGO, 10)
    glass = palette.pick(rng, palette.GLASS, 10)
    top = rng.uniform(3.3, 3.9)
    doors = np.array([[0.49, 0.51, 0.02, 0.98], [0.03, 0.12, 0.02, 0.1], [0.88, 0.97, 0.02, 0.1]])
    cargo = _Part(box(base - forward * (length - cargo_length) / 2, cargo_length, width, 0.9, top, heading),
                  cargo_rgb, [(("back",), doors, cargo_rgb * 0.55)])
    cab = _Part(box(base + forward * (length - cab_length) / 2, cab_length, width - 0.1, 0.5,
                    top - rng.uniform(0.5, 1.0), heading),
                palette.pick(rng, scene.colours.vehicle_paints, 10),
                [(("front",), _rect(0.06, 0.94, 0.55, 0.92), glass), (_SIDES, _rect(0.5, 0.92, 0.55, 0.9), glass)])
    return _vehicle(scene, _far_to_near(scene, [cargo, cab]), base, heading, width, length, 0.5, 1.3,
                    ID["truck"]), length


def bus(scene: Scene, rng: np.random.Generator, s: float, z: float, heading: float) -> tuple[Item, float]:
    """A city bus with a band of side windows."""
    length, width = float(rng.choice([10.5, 12.0, 18.0])), 2.55
    base = scene.street.points(s, z + length / 2)
    glass = palette.pick(rng, palette.GLASS, 10)
    body = _Part(box(base, length, width, 0.3, rng.uniform(3.0, 3.3), heading), palette.pick(rng, scene.colours.bus_paints),
                 [(_SIDES, _windows_along(int(length // 2), 0.42, 0.88, 0.03, 0.12), glass),
                  (_ENDS, _rect(0.05, 0.95, 0.45, 0.92), glass), (("back",), _TAIL_LIGHTS * [1, 1, 0.15, 0.3], _RED)])
    return _vehicle(scene, [body], base, heading, width, length, 0.5, 2.2, ID["bus"]), length


def tram(scene: Scene, rng: np.random.Generator, s: float, z: float, heading: float) -> tuple[Item, float]:
    """A long tram (class 'train') with doors and a window band."""
    length, width = rng.uniform(22.0, 36.0), 2.65
    base = scene.street.points(s, z + length / 2)
    paint_rgb = palette.pick(rng, scene.colours.bus_paints)
    glass = palette.pick(rng, palette.GLASS, 10)
    body = _Part(box(base, length, width, 0.4, 3.5, heading), paint_rgb,
                 [(_SIDES, _windows_along(int(length // 2.5), 0.4, 0.85, 0.02, 0.1), glass),
                  (_SIDES, _windows_along(4, 0.05, 0.85, 0.1, 0.85), paint_rgb * 0.6),
                  (_ENDS, _rect(0.08, 0.92, 0.45, 0.9), glass)])
    return _vehicle(scene, [body], base, heading, width, length, 0.35, 3.0, ID["train"]), length
