"""Pedestrians, and riders on bicycles and motorcycles, as 3-D stick figures with body thickness.

Figures and two-wheelers are laid out in their own body frame, (forward, up, right) metres
from the point between the feet or wheels, and turned into world points in one step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from . import palette
from .camera import NEAR
from .canvas import Canvas
from .shapes import axes, bounding_box, fill_hull, rods
from .world import ID, LAYER_STREET, Item, Scene

_UP = np.array([0.0, 1.0, 0.0])
_CIRCLE = [(math.cos(t), math.sin(t)) for t in np.linspace(0, 2 * math.pi, 14, endpoint=False)]


@dataclass(frozen=True)
class Clothes:
    top: np.ndarray
    legs: np.ndarray
    skin: np.ndarray
    hair: np.ndarray

    @staticmethod
    def sample(rng: np.random.Generator, colours: palette.Palette) -> Clothes:
        return Clothes(palette.pick(rng, colours.clothes), palette.pick(rng, colours.clothes),
                       palette.pick(rng, palette.SKIN, 6), palette.pick(rng, palette.HAIR, 6))


def _body_frame(base: np.ndarray, heading: float):
    """A function mapping body-frame points (N, 3) of (forward, up, right) to world points."""
    forward, right = axes(heading)
    frame = np.array([forward, _UP, right])
    return lambda local: base + np.asarray(local, float) @ frame


@dataclass(frozen=True)
class Pose:
    """World joints of one figure (rows named by _LEGS, _ARMS, _HEAD, _TORSO) and its proportions."""

    joints: np.ndarray  # (21, 3)
    head_radius: float
    right: np.ndarray  # the body's right unit vector


# Joint rows: left leg, right leg (hip, knee, foot), left arm, right arm (shoulder, elbow, hand),
# head centre, then the 8 corners of the torso block.
_LEGS, _ARMS, _HEAD, _TORSO = (slice(0, 3), slice(3, 6)), (slice(6, 9), slice(9, 12)), 12, slice(13, 21)


def _pose(to_world, heading: float, joints: list[tuple[float, float, float]], height: float) -> Pose:
    """A Pose from 13 body-frame joints; the torso is a block between hips and shoulders, 22 cm deep."""
    depth = 0.11 * height / 1.7
    core = [joints[0], joints[3], joints[6], joints[9]]
    torso = [(f + d, u, r) for d in (depth, -depth) for f, u, r in core]
    return Pose(to_world(joints + torso), 0.065 * height, axes(heading)[1])


def _walking_joints(height: float, phase: float) -> list[tuple[float, float, float]]:
    stride = 0.35 * height * math.sin(phase)
    lateral = 0.09 * height / 1.75
    hip, knee, shoulder = 0.52 * height, 0.28 * height, 0.81 * height
    joints = []
    for side in (-1, 1):  # legs swing opposite to each other...
        foot = -side * stride / 2
        joints += [(0.0, hip, side * lateral), (foot / 2 + 0.05, knee, side * lateral), (foot, 0.04, side * lateral)]
    for side in (-1, 1):  # ...and each arm opposite to its leg
        hand = side * stride / 3
        joints += [(0.0, shoulder, 2 * side * lateral), (hand / 2 + 0.02, shoulder - 0.16 * height, 2 * side * lateral),
                   (hand, shoulder - 0.32 * height, 2 * side * lateral)]
    return joints + [(0.0, 0.94 * height, 0.0)]


def _draw_figure(canvas: Canvas, scene: Scene, pose: Pose, clothes: Clothes, class_id: int) -> None:
    """Far limbs, torso, near limbs, head: a small painter's pass inside one figure."""
    cam = scene.camera.to_camera(pose.joints)
    if (cam[:, 2] < NEAR).any():
        return
    px = scene.camera.pixels(cam)
    metre = scene.camera.focal / cam[:, 2].min()
    size = pose.head_radius / 0.11 * metre
    near_is_right = (scene.camera.position - pose.joints[_HEAD]) @ pose.right > 0
    order = (0, 1) if near_is_right else (1, 0)
    for side in order:
        if side == order[1]:
            canvas.fill([cv2.convexHull(px[_TORSO].astype(np.float32))[:, 0]], clothes.top, class_id)
        canvas.lines([px[_LEGS[side]]], 0.15 * size, clothes.legs, class_id)
        canvas.lines([px[_ARMS[side]]], 0.09 * size, clothes.top, class_id)
    radius = pose.head_radius * metre
    canvas.disc(px[_HEAD], radius, clothes.skin, class_id)
    canvas.disc(px[_HEAD] - (0, 0.35 * radius), 0.8 * radius, clothes.hair, class_id)


def pedestrian(scene: Scene, rng: np.random.Generator, s: float, z: float, heading: float) -> Item:
    """A walking person (sometimes a child) standing at street offset ``s``, distance ``z``."""
    height = rng.uniform(1.05, 1.4) if rng.random() < 0.1 else min(2.0, max(1.5, rng.normal(1.73, 0.09)))
    base = scene.street.points(s, z)
    pose = _pose(_body_frame(base, heading), heading, _walking_joints(height, rng.uniform(-1.2, 1.2)), height)
    clothes = Clothes.sample(rng, scene.colours)
    body = np.array([base, base + _UP * height])
    depth = scene.camera.depth(body).min()

    def draw(canvas: Canvas) -> None:
        if scene.camera.pixel_size(height, depth) > 12:
            _draw_figure(canvas, scene, pose, clothes, ID["person"])
        else:  # level of detail: a few pixels of person are a coloured stroke
            rods(canvas, scene, [body], 0.4, clothes.top, ID["person"])

    return Item(depth, LAYER_STREET, draw, bounding_box(body, 0.45), [body])


@dataclass(frozen=True)
class _Frame:
    """Two-wheeler geometry as (forward, up) metres about the point between the wheels."""

    wheel_radius: float
    tyre: float
    wheelbase: float
    seat: tuple[float, float]
    bars: tuple[float, float]
    crank: tuple[float, float]


_BICYCLE = _Frame(0.34, 0.05, 1.05, (-0.2, 0.95), (0.42, 1.05), (0.0, 0.3))
_MOTORCYCLE = _Frame(0.32, 0.13, 1.45, (-0.15, 0.82), (0.45, 1.05), (0.05, 0.35))


def _riding_joints(frame: _Frame, height: float) -> list[tuple[float, float, float]]:
    (seat_f, seat_u), (bars_f, bars_u), (crank_f, crank_u) = frame.seat, frame.bars, frame.crank
    shoulder_f, shoulder_u = seat_f + 0.18 * height / 1.75, seat_u + 0.33 * height
    joints = []
    for side in (-1, 1):
        foot_f, foot_u = crank_f + side * 0.12, crank_u - 0.05
        knee = ((seat_f + foot_f) / 2 + 0.22, (seat_u + foot_u) / 2 + 0.1, side * 0.1)
        joints += [(seat_f, seat_u, side * 0.1), knee, (foot_f, foot_u, side * 0.1)]
    for side in (-1, 1):
        elbow = ((shoulder_f + bars_f) / 2, (shoulder_u + bars_u) / 2 - 0.08, side * 0.21)
        joints += [(shoulder_f, shoulder_u, side * 0.2), elbow, (bars_f, bars_u, side * 0.22)]
    return joints + [(shoulder_f, shoulder_u + 0.12 * height, 0.0)]


def two_wheeler(scene: Scene, rng: np.random.Generator, s: float, z: float, heading: float, motor: bool,
                ridden: bool) -> Item:
    """A bicycle or motorcycle at street offset ``s``, distance ``z``, with a rider when ``ridden``."""
    frame = _MOTORCYCLE if motor else _BICYCLE
    class_id = ID["motorcycle" if motor else "bicycle"]
    to_world = _body_frame(scene.street.points(s, z), heading)
    rim = frame.wheel_radius - frame.tyre / 2
    axles = (-frame.wheelbase / 2, frame.wheelbase / 2)
    wheels = [to_world([(f + rim * cos, frame.wheel_radius + rim * sin, 0.0) for cos, sin in _CIRCLE])
              for f in axles]
    key_points = [(axles[0], frame.wheel_radius), (axles[1], frame.wheel_radius), frame.seat, frame.bars,
                  frame.crank, (frame.bars[0] - 0.06, frame.bars[1] - 0.12)]
    rear, front, seat, bars, crank, head = to_world([(f, u, 0.0) for f, u in key_points])
    handlebar = to_world([(frame.bars[0], frame.bars[1], -0.3), (frame.bars[0], frame.bars[1], 0.3)])
    engine = to_world([(f, u, w) for f in (-0.55, 0.4) for u in (0.35, 0.8) for w in (-0.22, 0.22)])
    paint = palette.pick(rng, scene.colours.car_paints if motor else scene.colours.clothes, 10)
    height = min(1.95, max(1.55, rng.normal(1.75, 0.08)))
    rider = _pose(to_world, heading, _riding_joints(frame, height), height)
    clothes = Clothes.sample(rng, scene.colours)

    def draw(canvas: Canvas) -> None:
        if not motor:  # see-through wheels are annotated as bicycle, like the rest of the outline
            canvas.shade([scene.camera.polygon(wheel) for wheel in wheels], 0.85, class_id)
        rods(canvas, scene, wheels, frame.tyre, (25, 25, 27), class_id, closed=True)
        if motor:
            for wheel in wheels:
                fill_hull(canvas, scene, wheel, (45, 45, 48), class_id)
            fill_hull(canvas, scene, engine, paint, class_id)
        else:
            tubes = [np.array([rear, crank, seat, rear]), np.array([seat, head, crank]), np.array([head, front])]
            rods(canvas, scene, tubes, 0.045, paint, class_id)
        rods(canvas, scene, [np.array([head, bars]), handlebar], 0.035, (30, 30, 32), class_id)
        if ridden:
            _draw_figure(canvas, scene, rider, clothes, ID["rider"])

    extent = to_world([(axles[0], 0.0, 0.0), (axles[1], 0.0, 0.0), (0.0, 1.9 if ridden else 1.1, 0.0)])
    return Item(scene.camera.depth(extent).min(), LAYER_STREET, draw, bounding_box(extent, 0.5))
