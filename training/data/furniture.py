"""Street furniture: lamp posts, traffic lights on posts and mast arms, traffic signs, and trees."""

from __future__ import annotations

import numpy as np

from . import palette
from .canvas import Canvas
from .shapes import axes, bounding_box, box, draw_box, fill_hull, paint, ring, rods
from .world import ID, LAYER_STREET, Item, Scene

_UP = np.array([0.0, 1.0, 0.0])
_LAMP_COLOURS = [(220, 40, 30), (235, 170, 30), (60, 220, 110)]
_DARK_LAMP = (45, 45, 40)
_LAMP_RECTS = np.array([[0.22, 0.78, v, v + 0.22] for v in (0.71, 0.39, 0.07)])
# Sign outlines as angles (in turns) of their corners; circles get many.
_SIGN_SHAPES = {
    "circle": np.linspace(0, 1, 16, endpoint=False),
    "triangle": np.array([0.25, 0.25 + 1 / 3, 0.25 + 2 / 3]),
    "yield": np.array([0.75, 0.75 + 1 / 3, 0.75 + 2 / 3]),
    "square": np.array([0.125, 0.375, 0.625, 0.875]),
    "diamond": np.array([0.0, 0.25, 0.5, 0.75]),
    "octagon": np.linspace(1 / 16, 1 + 1 / 16, 8, endpoint=False),
}
_SIGN_FACES = [((200, 30, 30), (235, 235, 230)), ((30, 70, 160), (30, 70, 160)), ((235, 235, 230), (235, 235, 230)),
               ((240, 200, 40), (240, 200, 40)), ((30, 110, 60), (30, 110, 60)), ((200, 30, 30), (200, 30, 30))]


def _pole_item(scene: Scene, base: np.ndarray, top: np.ndarray, metal: np.ndarray, draw_extras,
               reach: list[np.ndarray], margin: float) -> Item:
    """A vertical pole from ``base`` to ``top`` followed by ``draw_extras(canvas)``.

    The extras lie within ``margin`` metres of the pole and the ``reach`` points (arm ends).
    """

    def draw(canvas: Canvas) -> None:
        rods(canvas, scene, [np.array([base, top])], 0.14, metal, ID["pole"])
        draw_extras(canvas)

    return Item(scene.camera.depth(base), LAYER_STREET, draw, bounding_box(np.array([base, top, *reach]), margin))


def street_lamp(scene: Scene, rng: np.random.Generator, s: float, z: float, side: int) -> Item:
    """A lamp post on the sidewalk with an arm reaching over the road."""
    height = rng.uniform(6.0, 9.0)
    base = scene.street.points(s, z)
    _, right = axes(scene.street.heading(z))
    top = base + _UP * height
    reach = top - side * rng.uniform(1.0, 2.5) * right + _UP * 0.3
    head = box(reach - _UP * 0.2, 0.7, 0.35, 0.0, 0.2, scene.street.heading(z))
    metal = palette.pick(rng, palette.POLE_METAL, 6)

    def extras(canvas: Canvas) -> None:
        rods(canvas, scene, [np.array([top - _UP * 0.3, reach])], 0.1, metal, ID["pole"])
        fill_hull(canvas, scene, head, metal, ID["pole"])

    return _pole_item(scene, base, top, metal, extras, [reach], 0.5)


def _light_box(canvas: Canvas, scene: Scene, lit: int, centre_base: np.ndarray, heading: float) -> None:
    """A signal head (three lamps, one lit) facing oncoming traffic, i.e. the camera."""
    corners = box(centre_base, 0.3, 0.38, 0.0, 0.95, heading)
    faces = draw_box(canvas, scene, corners, (35, 35, 30), ID["traffic light"])
    if "back" in faces:
        face = faces["back"]
        # Lamps glow: their colour undoes the face's shading.
        colours = [lamp if k == lit else _DARK_LAMP for k, lamp in enumerate(_LAMP_COLOURS)]
        paint(canvas, scene, [(face, _LAMP_RECTS[k:k + 1], np.asarray(c) / face.shade) for k, c in enumerate(colours)])


def traffic_light(scene: Scene, rng: np.random.Generator, s: float, z: float, side: int, mast: bool) -> Item:
    """A signal post at the curb; with ``mast`` an arm over the road carries one or two more signal heads."""
    street = scene.street
    heading = street.heading(z)
    _, right = axes(heading)
    base = street.points(s, z)
    height = rng.uniform(5.5, 6.8) if mast else rng.uniform(2.9, 3.6)
    top = base + _UP * height
    lit = int(rng.integers(3))
    arm_end = street.points(-side * rng.uniform(0.0, street.half_width), z, height - 0.3)
    hanging = [arm_end - _UP * 1.2] + ([(top + arm_end) / 2 - _UP * 1.2] if rng.random() < 0.5 else [])
    signs = _sign_plates(scene, rng, base + _UP * 2.1, heading, 1) if rng.random() < 0.4 else []
    metal = palette.pick(rng, palette.POLE_METAL, 6)

    def extras(canvas: Canvas) -> None:
        _light_box(canvas, scene, lit, top - _UP * 1.0 - 0.25 * np.cross(right, _UP), heading)
        if mast:
            rods(canvas, scene, [np.array([top - _UP * 0.3, arm_end])], 0.14, metal, ID["pole"])
            for centre in hanging:
                _light_box(canvas, scene, lit, centre, heading)
        for plate in signs:
            plate(canvas)

    return _pole_item(scene, base, top, metal, extras, [arm_end - _UP * 1.3] if mast else [], 0.6)


def _sign_plates(scene: Scene, rng: np.random.Generator, centre: np.ndarray, heading: float, count: int):
    """Drawers for ``count`` stacked sign plates below ``centre``, facing the camera (or showing their back)."""
    forward, right = axes(heading)
    plates = []
    for k in range(count):
        shape = _SIGN_SHAPES[list(_SIGN_SHAPES)[rng.integers(len(_SIGN_SHAPES))]]
        radius = rng.uniform(0.32, 0.5)
        mid = centre - _UP * k * 0.95 * 2 * radius - forward * 0.08
        t = 2 * np.pi * shape
        outline = mid + radius * (np.cos(t)[:, None] * right + np.sin(t)[:, None] * _UP)
        border, inner = _SIGN_FACES[rng.integers(len(_SIGN_FACES))]
        back = rng.random() < 0.2
        symbol = mid + 0.25 * radius * np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]]) @ np.array(
            [right, _UP, forward])
        plates.append(_sign_drawer(scene, outline, mid, border, inner, back, symbol))
    return plates


def _sign_drawer(scene, outline, mid, border, inner, back, symbol):
    def draw(canvas: Canvas) -> None:
        cam = scene.camera
        canvas.fill([cam.polygon(outline)], (150, 150, 148) if back else border, ID["traffic sign"])
        if not back:
            canvas.fill([cam.polygon(mid + 0.75 * (outline - mid))], inner)
            if border == inner or border[0] > 200:
                canvas.fill([cam.polygon(symbol)], (30, 30, 30))

    return draw


def sign_post(scene: Scene, rng: np.random.Generator, s: float, z: float) -> Item:
    """A post with one or two traffic signs at its top."""
    base = scene.street.points(s, z)
    top = base + _UP * rng.uniform(2.3, 3.2)
    plates = _sign_plates(scene, rng, top, scene.street.heading(z), 1 + int(rng.random() < 0.3))

    def extras(canvas: Canvas) -> None:
        for plate in plates:
            plate(canvas)

    return _pole_item(scene, base, top, palette.pick(rng, palette.POLE_METAL, 6), extras, [], 0.6)


def tree(scene: Scene, rng: np.random.Generator, s: float, z: float, layer: int = LAYER_STREET,
         size: float = 1.0) -> Item:
    """A tree (trunk and crown are both 'vegetation'); ``size`` scales it (small values make bushes)."""
    base = scene.street.points(s, z)
    trunk_height = rng.uniform(1.8, 4.0) * size
    crown_radius = rng.uniform(1.6, 3.8) * size
    centre = base + _UP * (trunk_height + crown_radius * 0.8)
    blobs = centre + rng.normal(0, 0.45 * crown_radius, (6, 3)) * [1.0, 0.7, 1.0]
    radii = crown_radius * rng.uniform(0.5, 0.8, 6)
    order = np.argsort(blobs[:, 1])  # lower, darker blobs first so the top catches the light
    leaf = palette.pick(rng, scene.colours.foliage, 10)
    bark = palette.pick(rng, palette.BARK, 8)
    cam = scene.camera

    def draw(canvas: Canvas) -> None:
        rods(canvas, scene, [np.array([base, centre])], 0.3 * size, bark, ID["vegetation"])
        blobs_cam = cam.to_camera(blobs[order])
        front = blobs_cam[:, 2] > 0.5
        for centre_px, depth, radius, height in zip(cam.pixels(blobs_cam[front]), blobs_cam[front, 2],
                                                     radii[order][front], blobs[order][front, 1]):
            shade = 0.75 + 0.4 * (height - centre[1]) / crown_radius
            canvas.disc(centre_px, cam.focal * radius / depth, leaf * shade, ID["vegetation"])

    crown = ring(centre, crown_radius, np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), 8)
    bounds = bounding_box(np.vstack([blobs, base]), radii.max())
    return Item(cam.depth(base), layer, draw, bounds, [np.vstack([crown, base])])
