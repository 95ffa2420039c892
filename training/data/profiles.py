"""Domain-randomisation profiles of the scene generator: the ranges every scene's camera, light, weather,
appearance and sensor are drawn from.

``plain`` is the generator before randomisation (one camera family, daylight, clean pixels),
``default`` widens every group towards what real cameras and streets vary in, and ``shifted``
draws from ranges outside ``default`` (other mounting heights and fields of view, dark dusk,
thick fog, held-out colours, a poor sensor): a test split the training data never saw.

A range is a tuple of (low, high) intervals, drawn uniformly over their union, so
"0.6-0.9 m or 2.2-2.8 m" is ``((0.6, 0.9), (2.2, 2.8))``. Each group can be switched off
(``Profile.without``), which gives it ``plain``'s ranges.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

Range = tuple[tuple[float, float], ...]


def draw(rng: np.random.Generator, ranges: Range) -> float:
    """A uniform draw from the union of the intervals (one interval picked by its length; always two draws)."""
    lengths = np.array([high - low for low, high in ranges], float)
    pick, u = rng.random(), rng.random()
    index = int(np.searchsorted(np.cumsum(lengths) / lengths.sum(), pick, side="right")) if lengths.sum() else 0
    low, high = ranges[min(index, len(ranges) - 1)]
    return low + (high - low) * u


def _r(low: float, high: float) -> Range:
    return ((low, high),)


@dataclass(frozen=True)
class CameraRanges:
    """Pinhole pose and lens: focal length as a fraction of the image width, metres, degrees, plumb_bob k1."""

    focal: Range
    mount_height: Range
    pitch_deg: Range  # > 0 looks down
    yaw_deg: Range
    roll_deg: Range
    k1: Range  # < 0 barrel, > 0 pincushion (a barrel k1 alone cannot reach far corners: see Camera.lens_maps)


@dataclass(frozen=True)
class LightRanges:
    """Sunny (cast shadows), overcast or dusk; exposure gain and white balance (warmth > 0 is warmer)."""

    sun_probability: float
    dusk_probability: float
    gain: Range
    dusk_gain: Range
    warmth: Range


@dataclass(frozen=True)
class WeatherRanges:
    """Fog that thickens with depth (meteorological visibility in metres: 5% contrast left) and wet roads."""

    fog_probability: float
    visibility: Range
    wet_probability: float
    wet_darkening: Range  # factor on road and sidewalk brightness


@dataclass(frozen=True)
class AppearanceRanges:
    """Which surface colours (``palette.PALETTES``) and how worn the lane paint is (0 new, 1 gone)."""

    palette: str
    marking_wear: Range


@dataclass(frozen=True)
class SensorRanges:
    """Sensor noise (std, grey levels), optical blur (sigma at 512 px width), motion blur, JPEG, vignetting."""

    noise: Range
    blur: Range
    motion_blur_probability: float
    motion_blur_px: Range
    jpeg_probability: float
    jpeg_quality: Range
    vignetting: Range


@dataclass(frozen=True)
class Profile:
    name: str
    camera: CameraRanges
    light: LightRanges
    weather: WeatherRanges
    appearance: AppearanceRanges
    sensor: SensorRanges

    def without(self, groups) -> Profile:
        """This profile with the named groups switched off (given ``plain``'s ranges)."""
        if not groups:
            return self
        return dataclasses.replace(self, name=f"{self.name}(off:{_ordered(groups)})",
                                   **{group: getattr(PLAIN, group) for group in groups})

    def with_groups_of(self, other: Profile, groups) -> Profile:
        """This profile with the named groups' ranges taken from ``other``: ``default+shifted(weather)``."""
        return dataclasses.replace(self, name=f"{self.name}+{other.name}({_ordered(groups)})",
                                   **{group: getattr(other, group) for group in groups})


def _ordered(groups) -> str:
    """The groups joined by '+' in GROUPS order; ValueError naming any unknown one."""
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown randomisation group(s) {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(GROUPS)}")
    return "+".join(group for group in GROUPS if group in groups)


#: the switchable groups, in the order their random streams are spawned
GROUPS = ("camera", "light", "weather", "appearance", "sensor")

PLAIN = Profile(
    "plain",
    CameraRanges(focal=_r(0.95, 1.25), mount_height=_r(1.2, 1.8), pitch_deg=_r(0.0, 4.5), yaw_deg=_r(-6.0, 6.0),
                 roll_deg=_r(0.0, 0.0), k1=_r(0.0, 0.0)),
    LightRanges(sun_probability=0.55, dusk_probability=0.0, gain=_r(0.7, 1.2), dusk_gain=_r(0.5, 0.7),
                warmth=_r(-0.08, 0.1)),
    WeatherRanges(fog_probability=0.0, visibility=_r(300.0, 300.0), wet_probability=0.0, wet_darkening=_r(1.0, 1.0)),
    AppearanceRanges(palette="plain", marking_wear=_r(0.0, 0.0)),
    SensorRanges(noise=_r(1.0, 6.0), blur=_r(0.3, 1.1), motion_blur_probability=0.0, motion_blur_px=_r(0.0, 0.0),
                 jpeg_probability=0.0, jpeg_quality=_r(95.0, 95.0), vignetting=_r(0.0, 0.3)),
)

DEFAULT = Profile(
    "default",
    CameraRanges(focal=_r(0.75, 1.35), mount_height=_r(1.0, 2.0), pitch_deg=_r(-1.0, 6.0), yaw_deg=_r(-6.0, 6.0),
                 roll_deg=_r(-3.0, 3.0), k1=_r(-0.15, 0.05)),
    LightRanges(sun_probability=0.5, dusk_probability=0.2, gain=_r(0.55, 1.35), dusk_gain=_r(0.45, 0.7),
                warmth=_r(-0.15, 0.15)),
    WeatherRanges(fog_probability=0.3, visibility=_r(80.0, 400.0), wet_probability=0.2, wet_darkening=_r(0.55, 0.8)),
    AppearanceRanges(palette="default", marking_wear=_r(0.0, 0.7)),
    SensorRanges(noise=_r(0.5, 8.0), blur=_r(0.3, 1.5), motion_blur_probability=0.2, motion_blur_px=_r(2.0, 6.0),
                 jpeg_probability=0.3, jpeg_quality=_r(40.0, 95.0), vignetting=_r(0.0, 0.35)),
)

SHIFTED = Profile(
    "shifted",
    CameraRanges(focal=((0.55, 0.7), (1.45, 1.7)), mount_height=((0.6, 0.9), (2.2, 2.8)), pitch_deg=_r(-1.0, 6.0),
                 yaw_deg=_r(-6.0, 6.0), roll_deg=((-5.0, -3.0), (3.0, 5.0)), k1=_r(0.05, 0.12)),
    LightRanges(sun_probability=0.4, dusk_probability=0.5, gain=((0.35, 0.55), (1.35, 1.6)), dusk_gain=_r(0.3, 0.45),
                warmth=((-0.25, -0.15), (0.15, 0.25))),
    WeatherRanges(fog_probability=0.5, visibility=_r(25.0, 70.0), wet_probability=0.4, wet_darkening=_r(0.4, 0.55)),
    AppearanceRanges(palette="shifted", marking_wear=_r(0.7, 1.0)),
    SensorRanges(noise=_r(9.0, 12.0), blur=_r(1.5, 1.8), motion_blur_probability=0.4, motion_blur_px=_r(7.0, 12.0),
                 jpeg_probability=0.6, jpeg_quality=_r(15.0, 35.0), vignetting=_r(0.35, 0.5)),
)

PROFILES = {profile.name: profile for profile in (PLAIN, DEFAULT, SHIFTED)}


def ranges_table() -> str:
    """Markdown table of every range of every profile (docs/DATA.md holds it; a test keeps the two equal)."""
    lines = ["| group | parameter | " + " | ".join(PROFILES) + " |", "|---|---|" + "---|" * len(PROFILES)]
    for group in GROUPS:
        fields = dataclasses.fields(getattr(PLAIN, group))
        for field in fields:
            cells = [_cell(getattr(getattr(profile, group), field.name)) for profile in PROFILES.values()]
            lines.append(f"| {group} | {field.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if isinstance(value, tuple):
        return " or ".join(f"{low:g}" if low == high else f"{low:g} to {high:g}" for low, high in value)
    return f"{value:g}" if isinstance(value, float) else str(value)
