"""Procedural Cityscapes-style road scenes: ``generate_scene(rng, width, height, profile) -> (image, label)``.

A scene is sampled (camera, street layout, light, weather, colours) within a randomisation
profile (``profiles``), then drawn back to front through the ideal pinhole: sky, skyline,
ground, shadows, then buildings, walls/fences/hedges and the street's objects in painter's
order (far before near), then the camera's own bonnet. Fog and wet roads darken and veil
what is drawn, exposure and white balance colour it, the lens rolls and distorts image and
label together, and the sensor adds blur, motion blur, noise and JPEG. Image and label are
drawn with the same polygons, so they agree to the pixel.

The street and everything in it come from the scene's random stream; camera, light, weather,
appearance and sensor each from a stream of their own spawned from it. So switching a
photometric group (light, weather, appearance, sensor) leaves the label byte-identical, and
switching the camera keeps the same street seen through another camera.
"""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np

from seg_perception.labels import IGNORE_ID

from . import palette
from .camera import Camera, record
from .canvas import Canvas
from .furniture import sign_post, street_lamp, traffic_light, tree
from .motion_blur import motion_kernel
from .people import pedestrian, two_wheeler
from .profiles import DEFAULT, GROUPS, CameraRanges, LightRanges, Profile, SensorRanges, WeatherRanges, draw
from .scenery import CROSS_STREET, SIDES, buildings, draw_ground, draw_sky, draw_skyline, street_edges
from .vehicles import bus, car, tram, truck
from .world import ID, LAYER_STREET, Item, Light, Scene, Street, Weather

_TWO_WHEELER_LENGTH = 1.9
#: camera depth (m) given to the skyline along the horizon, for fog
_SKYLINE_DEPTH = 500.0
#: ln(20): fog leaves 5% contrast at the visibility distance (the meteorological definition)
_FOG_EXTINCTION = float(np.log(20.0))


def generate_scene(rng: np.random.Generator, width: int, height: int,
                   profile: Profile = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """One random road scene: (H x W x 3 uint8 RGB image, H x W uint8 trainId label with 255 = ignore).

    The scene is sampled first: ``sample_scene`` on a fresh generator of the same seed gives its
    camera and street (``seg-make-data`` writes the camera calibration that way).
    """
    scene, streams = _sample(rng, width, height, profile)
    pinhole, map_x, map_y = scene.camera.pinhole_view()
    drawn = dataclasses.replace(scene, camera=pinhole)
    canvas = Canvas(pinhole.width, pinhole.height)
    if scene.weather.visibility is not None:
        canvas.depth = pinhole.ground_depth()
    draw_sky(canvas, drawn, streams["light"])
    canvas.depth_value = _SKYLINE_DEPTH
    draw_skyline(canvas, drawn, rng)
    canvas.depth_value = None  # the ground keeps the ground plane's depth
    draw_ground(canvas, drawn, rng)
    items = scene_items(drawn, rng)
    _cast_shadows(canvas, drawn, items, rng)
    draw_items(canvas, pinhole, items)
    if rng.random() < 0.5:
        canvas.depth_value = 0.0
        _draw_bonnet(canvas, rng)
    image, label, depth = record(map_x, map_y, canvas.image, canvas.label, canvas.depth)
    image = _develop(image, label, depth, scene, streams, profile.sensor)
    return _sensor(image, streams["sensor"], profile.sensor), label


def sample_scene(rng: np.random.Generator, width: int, height: int, profile: Profile = DEFAULT) -> Scene:
    """A random camera, street layout, light, weather and colours within ``profile``."""
    return _sample(rng, width, height, profile)[0]


def _sample(rng: np.random.Generator, width: int, height: int,
            profile: Profile) -> tuple[Scene, dict[str, np.random.Generator]]:
    """The scene, and the random streams of the randomisation groups (spawned from one draw of ``rng``)."""
    seed = int(rng.integers(2**63))
    streams = {group: np.random.default_rng([seed, index]) for index, group in enumerate(GROUPS)}
    camera = _sample_camera(streams["camera"], width, height, profile.camera)
    light = _sample_light(streams["light"], profile.light)
    weather = _sample_weather(streams["weather"], profile.weather)
    wear = draw(streams["appearance"], profile.appearance.marking_wear)
    scene = Scene(camera, _sample_street(rng), light, weather, palette.PALETTES[profile.appearance.palette], wear)
    return scene, streams


def scene_items(scene: Scene, rng: np.random.Generator) -> list[Item]:
    """Everything standing in the scene: buildings, street edges, traffic, and what is on the sidewalks."""
    return buildings(scene, rng) + street_edges(scene, rng) + _traffic(scene, rng) + _sidewalks(scene, rng)


def draw_items(canvas: Canvas, camera: Camera, items: list[Item]) -> None:
    """Painter's algorithm: lower layers first, and within a layer far before near; unseen items are skipped.

    Each item writes its mean depth into the canvas's depth buffer, if it has one (for fog).
    """
    for item in sorted(items, key=lambda item: (item.layer, -item.depth)):
        if camera.may_see(item.bounds):
            if canvas.depth is not None:  # a long building row is fogged by its middle, not its near end
                canvas.depth_value = max(float(camera.depth(item.bounds.reshape(-1, 3)).mean()), 0.0)
            item.draw(canvas)
    canvas.depth_value = None


def _sample_camera(rng: np.random.Generator, width: int, height: int, ranges: CameraRanges) -> Camera:
    return Camera(width, height, focal=width * draw(rng, ranges.focal), mount_height=draw(rng, ranges.mount_height),
                  pitch=np.radians(draw(rng, ranges.pitch_deg)), yaw=np.radians(draw(rng, ranges.yaw_deg)),
                  roll=np.radians(draw(rng, ranges.roll_deg)), k1=draw(rng, ranges.k1))


def _sample_street(rng: np.random.Generator) -> Street:
    lanes = int(rng.choice([2, 2, 3, 3, 4]))
    closed = bool(rng.random() < 0.3)
    end = rng.uniform(60, 160) if closed else rng.uniform(180, 300)
    built = tuple(bool(rng.random() < 0.88) for _ in SIDES)
    return Street(
        lanes=lanes,
        lane_width=rng.uniform(2.9, 3.6),
        camera_lane=int(rng.integers(lanes // 2, lanes)),
        parking=tuple(bool(rng.random() < 0.3) for _ in SIDES),
        curb_height=rng.uniform(0.1, 0.18),
        verge=tuple(rng.uniform(0.8, 3.0) if rng.random() < 0.2 else 0.0 for _ in SIDES),
        sidewalk=tuple(rng.uniform(1.8, 5.0) if rng.random() < 0.92 else 0.0 for _ in SIDES),
        garden=tuple((rng.uniform(2, 8) if rng.random() < 0.3 else 0.0) if b else rng.uniform(8, 30) for b in built),
        built=built,
        curvature=0.0 if rng.random() < 0.4 else rng.uniform(-7e-4, 7e-4),
        end=end,
        closed=closed,
        tram_lane=int(rng.integers(lanes)) if rng.random() < 0.015 else None,
        crosswalk=rng.uniform(8, 45) if rng.random() < 0.35 else None,
    )


def _sample_light(rng: np.random.Generator, ranges: LightRanges) -> Light:
    """Dusk (low warm light, no shadows), else sunny with a direction or overcast."""
    dusk = bool(rng.random() < ranges.dusk_probability)
    sun = None
    if not dusk and rng.random() < ranges.sun_probability:
        elevation, azimuth = np.radians(rng.uniform(15, 60)), rng.uniform(0, 2 * np.pi)
        sun = np.array([np.cos(elevation) * np.sin(azimuth), np.sin(elevation), np.cos(elevation) * np.cos(azimuth)])
    warmth = draw(rng, ranges.warmth) + (0.12 if dusk else 0.0)
    gain = draw(rng, ranges.dusk_gain if dusk else ranges.gain)
    return Light(sun, gain=gain, tint=np.array([1 + warmth, 1.0, 1 - warmth], np.float32), dusk=dusk)


def _sample_weather(rng: np.random.Generator, ranges: WeatherRanges) -> Weather:
    fog, wet = rng.random() < ranges.fog_probability, rng.random() < ranges.wet_probability
    visibility, darkening = draw(rng, ranges.visibility), draw(rng, ranges.wet_darkening)
    return Weather(visibility if fog else None, darkening if wet else 1.0)


def _traffic(scene: Scene, rng: np.random.Generator) -> list[Item]:
    """Queues of vehicles and ridden two-wheelers in every lane, a tram on its rails, parked cars at the curbs."""
    street = scene.street
    items = []
    limit = min(street.end - (CROSS_STREET if street.closed else 0.0), 70.0)
    gap = rng.uniform(40, 140)
    for lane in range(street.lanes):
        turn = np.pi if street.oncoming(lane) else 0.0
        z = rng.uniform(10, 40) if lane == street.camera_lane else rng.uniform(3, 40)
        if lane == street.tram_lane:
            item, length = tram(scene, rng, street.lane_center(lane), z, street.heading(z) + turn)
            items.append(item)
            z += length + rng.exponential(gap)
        while z < limit:
            s, heading = street.lane_center(lane) + rng.normal(0, 0.15), street.heading(z) + turn
            kind = rng.choice(5, p=[0.85, 0.01, 0.01, 0.06, 0.07])
            if kind >= 3:
                items.append(two_wheeler(scene, rng, s + 0.3 * street.lane_width, z, heading, motor=kind == 3,
                                         ridden=True))
                length = _TWO_WHEELER_LENGTH
            else:
                item, length = (car, truck, bus)[kind](scene, rng, s, z, heading)
                items.append(item)
            z += length + 2 + rng.exponential(gap)
    for side in SIDES:
        if street.side(street.parking, side):
            items.extend(_parked(scene, rng, side * (street.half_width - 1.1), min(limit, 45.0)))
    return items


def _parked(scene: Scene, rng: np.random.Generator, s: float, limit: float) -> list[Item]:
    street = scene.street
    items = []
    z = rng.uniform(-6, 2)
    while z < limit:
        if rng.random() < 0.5:
            z += rng.uniform(3, 10)
            continue
        heading = street.heading(z) + (np.pi if rng.random() < 0.3 else 0.0) + rng.normal(0, 0.03)
        item, length = (truck if rng.random() < 0.01 else car)(scene, rng, s, z, heading)
        items.append(item)
        z += length + rng.uniform(0.5, 3)
    return items


def _sidewalks(scene: Scene, rng: np.random.Generator) -> list[Item]:
    """Pedestrians, parked bicycles, lamps, signs, trees and traffic lights along both sidewalks."""
    street = scene.street
    items = []
    crowd = rng.exponential(2.0)
    for side in SIDES:
        inner, outer = street.sidewalk_span(side)
        curb = side * (street.half_width + 0.4)
        if outer - inner > 0.8:
            walk = outer - inner - 0.6
            for _ in range(rng.poisson(crowd)):
                z, s = 5 + rng.exponential(16), side * (inner + 0.3 + rng.random() * walk)
                items.extend(_group(scene, rng, s, z, street.heading(z) + rng.choice([0, np.pi]), side))
            if rng.random() < 0.45:
                z = rng.uniform(8, 40)
                for k in range(rng.integers(2, 7)):
                    s = side * (outer - 0.9)
                    items.append(two_wheeler(scene, rng, s, z + 0.7 * k, side * np.pi / 2 + rng.normal(0, 0.2),
                                             motor=rng.random() < 0.15, ridden=False))
            if rng.random() < 0.55:
                z = rng.uniform(2, 14)
                while z < 60:
                    items.append(tree(scene, rng, side * (outer - 0.8), z))
                    z += rng.uniform(8, 16)
        if rng.random() < 0.6:
            z = rng.uniform(2, 25)
            while z < 75:
                items.append(street_lamp(scene, rng, curb, z, side))
                z += rng.uniform(22, 35)
        for _ in range(rng.poisson(1.5)):
            items.append(sign_post(scene, rng, curb, rng.uniform(4, 50)))
    junction = street.crosswalk or (street.end - CROSS_STREET if street.closed and street.end < 90 else None)
    if junction is None and rng.random() < 0.35:
        junction = rng.uniform(12, 60)
    if junction is not None and rng.random() < 0.85:
        for side in SIDES:
            mast = rng.random() < 0.5
            items.append(traffic_light(scene, rng, side * (street.half_width + 0.4), junction - 1.0, side, mast))
    if street.crosswalk is not None:
        for _ in range(rng.poisson(2.0)):
            s = rng.uniform(-street.half_width, street.half_width)
            z = street.crosswalk + rng.uniform(0.5, 3.5)
            items.append(pedestrian(scene, rng, s, z, street.heading(z) + rng.choice([-1, 1]) * np.pi / 2))
    return items


def _group(scene: Scene, rng: np.random.Generator, s: float, z: float, heading: float, side: int) -> list[Item]:
    """A pedestrian, sometimes with companions walking beside them."""
    people = [pedestrian(scene, rng, s, z, heading)]
    for k in range(1, 1 + rng.poisson(0.6)):
        people.append(pedestrian(scene, rng, s - side * 0.6 * k, z + rng.normal(0, 0.5), heading))
    return people


def _cast_shadows(canvas: Canvas, scene: Scene, items: list[Item], rng: np.random.Generator) -> None:
    """Darken the ground under every item's shadow (its hull cast along the sun, or straight down)."""
    cam = scene.camera
    polygons = []
    for item in items:
        # Far shadows are a few pixels; overcast skies leave contact shadows only under street objects.
        if item.depth > 40 or (scene.light.sun is None and item.layer != LAYER_STREET):
            continue
        for points in item.shadow_points:
            cast = scene.light.shadow(points)
            hull = cv2.convexHull(cast[:, [0, 2]].astype(np.float32))[:, 0]
            polygons.append(cam.polygon(np.stack([hull[:, 0], np.zeros(len(hull)), hull[:, 1]], axis=1)))
    strength = rng.uniform(0.45, 0.65) if scene.light.sun is not None else rng.uniform(0.7, 0.85)
    canvas.shade(polygons, strength)


def _draw_bonnet(canvas: Canvas, rng: np.random.Generator) -> None:
    """The recording car's own bonnet along the bottom edge: 'ego vehicle', ignored (255) like in Cityscapes."""
    h, w = canvas.label.shape
    t = np.linspace(0, np.pi, 24)
    centre = np.array([w * rng.uniform(0.4, 0.6), h * 1.02])
    radii = np.array([w * rng.uniform(0.6, 0.9), h * rng.uniform(0.05, 0.13)])
    arc = centre + np.stack([np.cos(t) * radii[0], -np.sin(t) * radii[1]], axis=1)
    canvas.fill([arc], palette.pick(rng, palette.CAR_PAINTS) * 0.6, IGNORE_ID)


def _texture_amplitudes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-trainId float32 LUTs: strength of fine, grainy and blotchy texture. Leaves rustle, sky does not."""
    amp = np.full((256, 3), (0.03, 0.02, 0.03), np.float32)
    for name, strength in {
        "road": (0.05, 0.04, 0.06), "sidewalk": (0.05, 0.06, 0.06), "building": (0.04, 0.05, 0.08),
        "wall": (0.05, 0.06, 0.1), "fence": (0.05, 0.04, 0.05), "vegetation": (0.1, 0.3, 0.12),
        "terrain": (0.1, 0.18, 0.15), "sky": (0.01, 0.0, 0.04),
    }.items():
        amp[ID[name]] = strength
    return tuple(np.ascontiguousarray(amp[:, k]) for k in range(3))


_AMPLITUDES = _texture_amplitudes()


@functools.lru_cache(maxsize=4)
def _noise_tiles(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-process noise twice the frame size: fine, grainy and blotchy texture, and RGB sensor noise.

    Drawing fresh normal noise costs more than the rest of a scene; a random window into
    a fixed tile is as good for training and keeps every scene a function of its seed.
    """
    rng = np.random.default_rng(20240601)
    fine = rng.standard_normal((2 * height, 2 * width), dtype=np.float32)
    grain = cv2.GaussianBlur(fine, (0, 0), 1.2) * 2.5
    coarse = rng.standard_normal((height // 4 + 2, width // 4 + 2), dtype=np.float32)
    blotch = cv2.resize(coarse, (2 * width, 2 * height), interpolation=cv2.INTER_CUBIC)
    return fine, grain, blotch, rng.standard_normal((2 * height, 2 * width, 3), dtype=np.float32)


@functools.lru_cache(maxsize=4)
def _radius_squared(height: int, width: int) -> np.ndarray:
    """Squared distance from the image centre, 1 at the corners (for vignetting)."""
    yy, xx = np.ogrid[-1:1:height * 1j, -1:1:width * 1j]
    return ((xx * xx + yy * yy) / 2).astype(np.float32)


def _window(tile: np.ndarray, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    y, x = rng.integers(0, height + 1), rng.integers(0, width + 1)
    return tile[y:y + height, x:x + width]


def _develop(image: np.ndarray, label: np.ndarray, depth: np.ndarray | None, scene: Scene,
             streams: dict[str, np.random.Generator], ranges: SensorRanges) -> np.ndarray:
    """Surface texture, wet roads, fog, vignetting, exposure, white balance and saturation of the recorded
    drawing: the float32 image that reaches the sensor."""
    h, w = label.shape
    rng = streams["sensor"]
    fine, grain, blotch = (_window(tile, rng, h, w) for tile in _noise_tiles(h, w)[:3])
    texture = sum(cv2.LUT(label, amp) * noise for amp, noise in zip(_AMPLITUDES, (fine, grain, blotch)))
    image = cv2.multiply(image, cv2.merge([texture * np.float32(rng.uniform(0.6, 1.5)) + 1] * 3), dtype=cv2.CV_32F)
    _weather(image, label, depth, scene.weather, streams["weather"])
    vignetting = 1 - draw(rng, ranges.vignetting) * _radius_squared(h, w)
    # Exposure, white balance and saturation are one linear colour map (rows: output channels).
    saturation = rng.uniform(0.7, 1.25)
    grey = np.array([0.299, 0.587, 0.114])
    colour = (scene.light.gain * scene.light.tint)[:, None] * (saturation * np.eye(3) + (1 - saturation) * grey)
    return cv2.multiply(cv2.transform(image, colour), cv2.merge([vignetting] * 3))


def _weather(image: np.ndarray, label: np.ndarray, depth: np.ndarray | None, weather: Weather,
             rng: np.random.Generator) -> None:
    """Wet road and sidewalk darken; fog veils everything by its depth (the sky becomes fog). In place."""
    if weather.wet < 1.0:
        image[(label == ID["road"]) | (label == ID["sidewalk"])] *= np.float32(weather.wet)
    if weather.visibility is not None:
        transmission = np.exp(depth * np.float32(-_FOG_EXTINCTION / weather.visibility))[..., None]
        fog = np.float32(rng.uniform(175, 215)) + rng.normal(0, 4, 3).astype(np.float32)
        image *= transmission
        image += fog * (1 - transmission)


def _sensor(image: np.ndarray, rng: np.random.Generator, ranges: SensorRanges) -> np.ndarray:
    """Optical blur, motion blur, sensor noise and JPEG compression of the float32 image -> uint8 RGB."""
    h, w = image.shape[:2]
    image = cv2.GaussianBlur(image, (0, 0), draw(rng, ranges.blur) * w / 512)
    if rng.random() < ranges.motion_blur_probability:
        image = cv2.filter2D(image, -1, motion_kernel(draw(rng, ranges.motion_blur_px) * w / 512,
                                                      rng.uniform(0, np.pi)))
    image = cv2.scaleAdd(_window(_noise_tiles(h, w)[3], rng, h, w), draw(rng, ranges.noise), image)
    # Saturating cast; abs() folds the rare below-black noise back up, which is still noise.
    image = cv2.convertScaleAbs(image)
    if rng.random() < ranges.jpeg_probability:
        quality = int(round(draw(rng, ranges.jpeg_quality)))
        _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)  # channel order is kept: encode and decode agree
    return image
