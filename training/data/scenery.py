"""The static street: sky, distant skyline, road surface and markings, sidewalks and curbs, buildings,
and the walls, fences and hedges along the sidewalks."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from . import palette
from .canvas import Canvas
from .furniture import tree
from .shapes import box, draw_box, paint
from .world import ID, LAYER_BEHIND_LINE, LAYER_BUILDINGS, LAYER_LINE, Item, Scene, Street

SIDES = (-1, 1)
_START = -20.0  # buildings and walls start behind the camera, so the image edges are covered
CROSS_STREET = 12.0  # width of the street across the far end of a closed street


@functools.lru_cache(maxsize=8)
def _spacing(n: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, n) ** 2


def _zs(z0: float, z1: float, n: int = 24) -> np.ndarray:
    """Samples along the street, dense near the camera where curvature and perspective show most."""
    return z0 + (z1 - z0) * _spacing(n)


def _strip(scene: Scene, s0: float, s1: float, z0: float, z1: float, y0: float = 0.0, y1: float | None = None):
    """World polygon of a band along the street: flat between offsets s0..s1, or vertical from y0 to y1 at s0."""
    zs = _zs(z0, z1)
    far = scene.street.points(s1, zs[::-1], y0) if y1 is None else scene.street.points(s0, zs[::-1], y1)
    return np.concatenate([scene.street.points(s0, zs, y0), far])


def _pieces(z0: float, z1: float, step: float = 8.0) -> np.ndarray:
    """Consecutive (start, end) pieces of at most ``step`` metres, so straight boxes follow a curving street."""
    edges = np.linspace(z0, z1, max(2, int(np.ceil((z1 - z0) / step)) + 1))
    return np.stack([edges[:-1], edges[1:]], axis=1)


def draw_sky(canvas: Canvas, scene: Scene, rng: np.random.Generator) -> None:
    """Blue, overcast or dusk gradient with clouds over the whole frame (the rest is drawn over it)."""
    h, w = canvas.label.shape
    if scene.light.dusk:
        top = np.array([55.0, 65, 110]) + rng.normal(0, 10, 3)
        low = np.array([235.0, 150, 95]) + rng.normal(0, 12, 3)
    elif scene.light.sun is None:
        top = np.array([175.0, 180, 188]) + rng.normal(0, 12, 3)
        low = np.minimum(top + rng.uniform(15, 45), 250)
    else:
        top = np.array([70.0, 120, 200]) + rng.normal(0, 15, 3)
        low = np.array([185.0, 205, 230]) + rng.normal(0, 10, 3)
    # Smooth, so computed at 1/8 resolution and enlarged.
    small_h, small_w = max(2, h // 8), max(2, w // 8)
    rows = np.clip(np.linspace(0, h, small_h, dtype=np.float32) / max(scene.camera.horizon, 1.0), 0, 1)
    sky = (top + (low - top) * rows[:, None, None]).astype(np.float32)
    clouds = cv2.resize(rng.random((4, 8), dtype=np.float32), (small_w, small_h), interpolation=cv2.INTER_CUBIC)
    cover = np.clip((clouds - np.float32(rng.uniform(0.3, 0.8))) * 2.0, 0, 0.8)[..., None]
    small = np.clip(sky + (235 - sky) * cover, 0, 255).astype(np.uint8)
    canvas.image[:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    canvas.label[:] = ID["sky"]


def draw_skyline(canvas: Canvas, scene: Scene, rng: np.random.Generator) -> None:
    """Distant trees or roofs along the horizon, for whatever the street does not hide."""
    h, w = canvas.label.shape
    n = 48
    u = np.linspace(-2, w + 2, n)
    if rng.random() < 0.5:
        heights = np.abs(np.cumsum(rng.normal(0, 0.006 * h, n))) + rng.uniform(0.01, 0.05) * h
        colour, class_id = palette.pick(rng, scene.colours.foliage) * 0.8, ID["vegetation"]
    else:
        heights = np.repeat(rng.uniform(0.005, 0.08, n // 4) * h, 4)
        colour, class_id = palette.pick(rng, scene.colours.facades) * 0.85, ID["building"]
    horizon = scene.camera.horizon
    outline = np.stack([u, horizon - heights], axis=1)
    base = [[w + 2, horizon + 3], [-2, horizon + 3]]
    canvas.fill([np.concatenate([outline, base])], colour, class_id)


def draw_ground(canvas: Canvas, scene: Scene, rng: np.random.Generator) -> None:
    """Terrain everywhere, then road, curbs, verges, sidewalks and gardens, then road paint."""
    h, w = canvas.label.shape
    street, cam = scene.street, scene.camera
    horizon = cam.horizon
    canvas.fill([np.array([[-2, horizon], [w + 2, horizon], [w + 2, h + 2], [-2, h + 2]])],
                palette.pick(rng, scene.colours.grass), ID["terrain"])
    far = street.end
    half = street.half_width
    asphalt = palette.pick(rng, scene.colours.asphalt, 6)
    canvas.fill([cam.polygon(_strip(scene, -half, half, -3.0, far))], asphalt, ID["road"])
    if street.closed:
        across = street.points([-150, 150, 150, -150], [far - CROSS_STREET, far - CROSS_STREET, far, far])
        canvas.fill([cam.polygon(across)], asphalt, ID["road"])
        pavement = street.points([-150, 150, 150, -150], [far - 0.5, far - 0.5, far + 5, far + 5], street.curb_height)
        canvas.fill([cam.polygon(pavement)], palette.pick(rng, scene.colours.paving), ID["sidewalk"])
    _draw_road_surface(canvas, scene, rng, asphalt)
    paving = palette.pick(rng, scene.colours.paving)
    grass = palette.pick(rng, scene.colours.grass)
    side_end = far - CROSS_STREET if street.closed else far
    for side in SIDES:
        _draw_roadside(canvas, scene, rng, side, side_end, paving, grass)
    _draw_markings(canvas, scene, rng, asphalt)


def road_at(street: Street, x, z) -> np.ndarray:
    """Whether world ground points (x, z) (broadcast) lie on the asphalt ``draw_ground`` paints.

    That is the street, |s| <= half_width for -3 <= z <= end with s the offset across the
    centre line (which drifts sideways by curvature * z**2), and a closed street's cross street,
    end - CROSS_STREET <= z <= end. Markings and patches are road too. Curb faces rise from the
    ground at |s| = half_width, so that is where the road seen from anywhere ends, though a curb
    and the raised strips behind it can hide road further on (the cross street past the corners).
    Nothing standing on the road (vehicles, people, the far building) is taken into account.
    """
    x, z = np.asarray(x, float), np.asarray(z, float)
    s = x + street.camera_offset - street.curvature * z * z
    road = (np.abs(s) <= street.half_width) & (z >= -3.0) & (z <= street.end)
    if street.closed:
        road |= (np.abs(s) <= 150.0) & (z >= street.end - CROSS_STREET) & (z <= street.end)
    return road


def _draw_roadside(canvas: Canvas, scene: Scene, rng, side: int, end: float, paving, grass) -> None:
    street, cam = scene.street, scene.camera
    curb = street.curb_height
    edge = side * street.half_width
    inner, outer = street.sidewalk_span(side)
    line = street.building_line(side)
    curb_stone = paving * 1.1 + 15
    if outer > inner:
        canvas.fill([cam.polygon(_strip(scene, side * inner, side * outer, _START, end, curb))], paving, ID["sidewalk"])
        joints = _zs(2.0, min(end, 40.0), 30)[:, None]
        canvas.lines(cam.project_all(street.points([side * inner, side * outer], joints, curb)), 1, paving * 0.85)
    for s0, s1 in ((street.half_width, inner), (outer, line)):
        if s1 > s0:
            canvas.fill([cam.polygon(_strip(scene, side * s0, side * s1, _START, end, curb))], grass, ID["terrain"])
    # The curb face belongs to the sidewalk in Cityscapes, even where a grass verge follows it.
    canvas.fill([cam.polygon(_strip(scene, edge, edge, _START, end, 0.0, curb))], curb_stone, ID["sidewalk"])


def _draw_road_surface(canvas: Canvas, scene: Scene, rng, asphalt) -> None:
    """Repair patches and tram rails: road texture that is not a colour cue."""
    street, cam = scene.street, scene.camera
    half = street.half_width
    for _ in range(rng.integers(0, 6)):
        s, z = rng.uniform(-half, half), rng.uniform(3, 60)
        ds, dz = rng.uniform(0.5, 3), rng.uniform(1, 8)
        patch = street.points([s, s + ds, s + ds, s], [z, z, z + dz, z + dz], 0.0)
        canvas.fill([cam.polygon(patch)], asphalt * rng.uniform(0.75, 1.25))
    if street.tram_lane is not None:
        centre = street.lane_center(street.tram_lane)
        rails = [_strip(scene, centre + o - 0.04, centre + o + 0.04, 0.5, street.end) for o in (-0.72, 0.72)]
        canvas.fill([cam.polygon(r) for r in rails], (150, 150, 155))


def _draw_markings(canvas: Canvas, scene: Scene, rng, asphalt) -> None:
    """Lane lines, edge lines and a crosswalk; paint is part of the road class and wears towards the asphalt."""
    street, cam = scene.street, scene.camera
    paint = np.full(3, rng.uniform(170, 240))
    width = rng.uniform(0.1, 0.16)
    end = min(street.end, 150.0)
    dividers = [(street.lane_center(k) - street.lane_width / 2, k == street.lanes // 2) for k in range(1, street.lanes)]
    polys = []
    for s, is_centre in dividers:
        if is_centre and rng.random() < 0.4:
            polys.append(cam.polygon(_strip(scene, s - width / 2, s + width / 2, 0.5, end)))
            continue
        dash, gap = (3.0, 6.0) if rng.random() < 0.7 else (6.0, 12.0)
        starts = np.arange(rng.uniform(0, dash + gap), end, dash + gap)
        zq = np.stack([starts, starts, starts + dash, starts + dash], axis=1)
        sq = np.array([s - width / 2, s + width / 2, s + width / 2, s - width / 2])
        polys.extend(cam.project_all(street.points(sq, zq)))
    for side in SIDES:
        if rng.random() < 0.6:
            s = side * (street.half_width - 0.3 - 2.2 * street.side(street.parking, side))
            polys.append(cam.polygon(_strip(scene, s - width / 2, s + width / 2, 0.5, end)))
    if street.crosswalk is not None:
        z = street.crosswalk
        depth = rng.uniform(3, 5)
        s = np.arange(-street.half_width + 0.3, street.half_width - 0.5, 1.0)
        sq = np.stack([s, s + 0.5, s + 0.5, s], axis=1)
        zq = np.broadcast_to([z, z, z + depth, z + depth], sq.shape)
        polys.extend(cam.project_all(street.points(sq, zq)))
    paint = paint * rng.uniform(0.85, 1.0)
    canvas.fill(polys, paint + (asphalt - paint) * scene.marking_wear)


def buildings(scene: Scene, rng: np.random.Generator) -> list[Item]:
    """Building rows along built-up sides, and one across the far end of a closed street."""
    street = scene.street
    items = []
    style = rng.uniform(11, 24)  # typical height of this street
    end = street.end - CROSS_STREET if street.closed else min(street.end, 150.0)
    for side in SIDES:
        if not street.side(street.built, side):
            continue
        z = _START
        while z < end:
            # Far buildings are a few pixels wide: fewer, longer boxes draw the same picture faster.
            length = min(rng.uniform(10, 35) * (1 + max(z, 0.0) / 60), end - z)
            line = street.building_line(side) + (rng.uniform(0, 2) if rng.random() < 0.3 else 0.0)
            depth = rng.uniform(10, 20)
            height = max(5.0, style * rng.uniform(0.7, 1.35))
            centre = street.points(side * (line + depth / 2), z + length / 2)
            corners = box(centre, length, depth, 0.0, height, street.heading(z + length / 2))
            items.append(_building(scene, rng, corners, "left" if side > 0 else "right", height))
            z += length + (rng.uniform(3, 15) if rng.random() < 0.25 else 0.0)
    if street.closed:
        centre = street.points(0.0, street.end + 10)
        corners = box(centre, 20, 300, 0.0, style * rng.uniform(0.8, 1.3), street.heading(street.end))
        items.append(_building(scene, rng, corners, "back", style))
    return items


def _building(scene: Scene, rng, corners: np.ndarray, street_face: str, height: float) -> Item:
    """A lit box with a grid of windows on the face towards the street and on its end towards the camera."""
    facade = palette.pick(rng, scene.colours.facades)
    glass = palette.pick(rng, palette.GLASS, 10)
    floor, bay = rng.uniform(2.8, 3.6), rng.uniform(1.8, 3.4)
    win_w, win_h = rng.uniform(0.35, 0.65), rng.uniform(0.4, 0.6)
    shopfront = rng.random() < 0.5  # the ground floor is one long shop window instead of a row of windows
    shop = np.array([[0.0, 1.0, 0.05, 0.8 * floor / height]])

    def windows(face_length: float) -> np.ndarray:
        cols, rows = max(1, int(face_length / bay)), max(1, int(height / floor))
        c, r = np.meshgrid(np.arange(cols), np.arange(int(shopfront), rows))
        u0 = (c.ravel() + 0.5 - win_w / 2) / cols
        v0 = (r.ravel() + 0.5 - win_h / 2) * floor / height
        return np.stack([u0, u0 + win_w / cols, v0, v0 + win_h * floor / height], axis=1)

    def draw(canvas: Canvas) -> None:
        faces = draw_box(canvas, scene, corners, facade, ID["building"])
        jobs = []
        for face in (faces[name] for name in dict.fromkeys((street_face, "back")) if name in faces):
            jobs.append((face, windows(float(np.linalg.norm(face.quad[1] - face.quad[0]))), glass))
            if shopfront:
                jobs.append((face, shop, glass * 0.8))
        paint(canvas, scene, jobs)

    return Item(scene.camera.depth(corners).min(), LAYER_BUILDINGS, draw, corners, [corners])


def street_edges(scene: Scene, rng: np.random.Generator) -> list[Item]:
    """Walls, fences and hedges at the sidewalk's outer edge, and trees in the gardens or open land behind."""
    street = scene.street
    items = []
    end = street.end - CROSS_STREET if street.closed else min(street.end, 90.0)
    for side in SIDES:
        s = side * (street.sidewalk_span(side)[1] + 0.15)
        open_land = not street.side(street.built, side)
        z = _START if open_land or street.side(street.garden, side) > 0 else rng.uniform(_START, 40)
        while z < end:
            length = min(rng.uniform(6, 40), end - z)
            kind = rng.choice(["wall", "fence", "hedge", "gap"], p=[0.25, 0.4, 0.2, 0.15])
            if kind != "gap" and (open_land or street.side(street.garden, side) > 0 or rng.random() < 0.35):
                items.extend(_edge_segment(scene, rng, kind, s, z, z + length))
            z += length + (0 if open_land else rng.uniform(5, 40))
        if open_land or street.side(street.garden, side) > 2:
            items.extend(_trees_behind(scene, rng, side, min(end, 80.0), open_land))
    return items


def _edge_segment(scene: Scene, rng, kind: str, s: float, z0: float, z1: float) -> list[Item]:
    """One wall, fence or hedge, cut into short straight pieces."""
    street = scene.street
    if kind == "fence":
        return [_fence(scene, rng, s, z0, z1)]
    height = rng.uniform(0.8, 2.6) if kind == "wall" else rng.uniform(0.9, 2.2)
    thickness = 0.3 if kind == "wall" else rng.uniform(0.6, 1.2)
    colour = palette.pick(rng, scene.colours.walls if kind == "wall" else scene.colours.foliage)
    class_id = ID["wall"] if kind == "wall" else ID["vegetation"]
    items = []
    for a, b in _pieces(z0, z1, 12.0):
        mid = (a + b) / 2
        corners = box(street.points(s + np.sign(s) * thickness / 2, mid), b - a, thickness, 0.0, height,
                      street.heading(mid))
        items.append(_box_item(scene, corners, colour, class_id, LAYER_LINE))
    return items


def _box_item(scene: Scene, corners, colour, class_id, layer) -> Item:
    def draw(canvas: Canvas) -> None:
        draw_box(canvas, scene, corners, colour, class_id)

    return Item(scene.camera.depth(corners).min(), layer, draw, corners, [corners])


def _fence(scene: Scene, rng, s: float, z0: float, z1: float) -> Item:
    """See-through fence: its whole panel is 'fence' (as Cityscapes annotates it), drawn as posts, rails and mesh."""
    street, cam = scene.street, scene.camera
    height = rng.uniform(0.9, 2.0)
    colour = palette.pick(rng, scene.colours.fences)
    spacing = rng.uniform(0.1, 0.25)
    zs = np.arange(z0, z1, spacing)
    bars = street.points(np.full((len(zs), 2), s), np.stack([zs, zs], 1), np.array([0.0, height]))
    # Posts (8 cm) and rails (6 cm) are thin panels in the fence's plane, so perspective sizes them.
    post_z = zs[:: max(1, int(2.5 / spacing))][:, None] + [0.0, 0.08, 0.08, 0.0]
    posts = street.points(s, post_z, np.array([0.0, 0.0, height, height]))
    rails = [_strip(scene, s, s, z0, z1, y, y + 0.06) for y in (0.1, height - 0.06)]
    panel = _strip(scene, s, s, z0, z1, 0.0, height)
    see_through = rng.uniform(0.55, 0.85)

    def draw(canvas: Canvas) -> None:
        canvas.shade([cam.polygon(panel)], see_through, ID["fence"])
        canvas.lines(cam.project_all(bars), 1, colour, ID["fence"])
        canvas.fill(cam.project_all(posts), colour * 0.8, ID["fence"])
        for rail in rails:
            canvas.fill([cam.polygon(rail)], colour * 0.8, ID["fence"])

    return Item(cam.depth(panel).min(), LAYER_LINE, draw, panel)


def _trees_behind(scene: Scene, rng, side: int, end: float, open_land: bool) -> list[Item]:
    """Trees in front gardens, or scattered over open land and thickening into a wood further out."""
    street = scene.street
    inner = street.sidewalk_span(side)[1] + 1.5
    garden = street.side(street.garden, side) - 2.0
    items = []
    z = _START + rng.uniform(0, 8)
    while z < end:
        s = side * (inner + (rng.exponential(6.0) if open_land else rng.uniform(0, garden)))
        items.append(tree(scene, rng, s, z, LAYER_BEHIND_LINE, rng.uniform(0.9, 1.8)))
        z += rng.uniform(3, 12) * (1 + max(z, 0.0) / 40)
    return items
