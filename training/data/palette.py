"""Surface colours of generated scenes (RGB rows). Classes deliberately share colours: grey road, wall and
building; green vegetation and terrain; cars in any paint. The class must come from shape and context.

The surfaces that vary most between streets (road, paving, façades, walls, fences, plants, vehicle
paint, clothes) come as a ``Palette`` per appearance profile: ``plain`` (the generator's first
colours), ``default`` (those and more: worn and fresh asphalt, sandstone, painted façades, bright
cars) and ``shifted`` (colours neither of the others has: red-brick paving, autumn leaves, dry
grass, pastel and glass façades, vivid paints and hi-vis clothes) for a held-out test split.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


def _rgb(*colours) -> np.ndarray:
    return np.array(colours, float)


GREYS = _rgb((70, 70, 72), (95, 95, 98), (120, 120, 122), (145, 143, 140), (170, 168, 165), (195, 195, 192))
ASPHALT = _rgb((68, 68, 70), (82, 82, 84), (96, 95, 95), (110, 110, 112), (128, 127, 125), (145, 145, 142))
PAVING = np.vstack([GREYS[1:], _rgb((160, 140, 120), (150, 110, 95), (185, 175, 155))])
FACADES = np.vstack([GREYS, _rgb((200, 185, 150), (215, 200, 170), (180, 120, 90), (150, 85, 65), (225, 220, 205),
                                 (190, 160, 120), (160, 170, 175), (210, 190, 120))])
WALLS = np.vstack([GREYS, _rgb((150, 85, 65), (190, 175, 145), (120, 110, 95))])
FENCES = _rgb((40, 40, 40), (70, 75, 70), (35, 70, 45), (110, 80, 55), (150, 150, 150), (90, 90, 95))
FOLIAGE = _rgb((45, 75, 35), (60, 95, 40), (80, 110, 50), (35, 60, 35), (95, 115, 55), (110, 105, 50), (70, 85, 45))
GRASS = _rgb((85, 115, 50), (105, 130, 60), (120, 125, 70), (95, 100, 60), (130, 115, 80), (75, 100, 45))
BARK = _rgb((70, 55, 45), (95, 85, 75), (60, 60, 55))
CAR_PAINTS = _rgb((230, 230, 228), (30, 30, 33), (155, 158, 160), (100, 102, 106), (35, 55, 110), (140, 25, 28),
                  (25, 65, 40), (200, 185, 150), (95, 65, 45), (210, 140, 30), (60, 60, 65), (180, 180, 185))
BUS_PAINTS = _rgb((230, 230, 225), (220, 190, 40), (170, 30, 30), (40, 80, 150), (90, 140, 60), (200, 120, 30))
VEHICLE_PAINTS = np.vstack([CAR_PAINTS, BUS_PAINTS])
CARGO = np.vstack([GREYS, BUS_PAINTS])
CLOTHES = _rgb((25, 25, 28), (40, 40, 60), (70, 70, 72), (110, 100, 90), (30, 45, 80), (150, 30, 35),
               (200, 200, 195), (60, 80, 50), (180, 150, 110), (90, 60, 40), (200, 170, 40), (130, 140, 170))
HAIR = CLOTHES[:5]
SKIN = _rgb((230, 190, 160), (200, 150, 115), (160, 110, 80), (110, 75, 50))
POLE_METAL = _rgb((80, 82, 85), (110, 112, 115), (140, 140, 138), (45, 60, 50), (60, 60, 62))
GLASS = _rgb((40, 48, 58), (60, 75, 90), (90, 105, 120), (30, 33, 38), (120, 135, 150))




@dataclass(frozen=True)
class Palette:
    """The varying surface colours of one appearance profile (RGB rows per surface)."""

    asphalt: np.ndarray
    paving: np.ndarray
    facades: np.ndarray
    walls: np.ndarray
    fences: np.ndarray
    foliage: np.ndarray
    grass: np.ndarray
    car_paints: np.ndarray
    bus_paints: np.ndarray
    clothes: np.ndarray

    @property
    def vehicle_paints(self) -> np.ndarray:
        return np.vstack([self.car_paints, self.bus_paints])

    def __add__(self, other: Palette) -> Palette:
        return Palette(*(np.vstack([getattr(self, f.name), getattr(other, f.name)]) for f in fields(Palette)))


PLAIN = Palette(ASPHALT, PAVING, FACADES, WALLS, FENCES, FOLIAGE, GRASS, CAR_PAINTS, BUS_PAINTS, CLOTHES)
DEFAULT = PLAIN + Palette(
    asphalt=_rgb((55, 55, 58), (118, 112, 106), (100, 104, 110)),
    paving=_rgb((178, 166, 140), (125, 121, 118), (140, 128, 110)),
    facades=_rgb((235, 235, 230), (170, 200, 215), (235, 215, 150), (120, 95, 80), (200, 150, 140)),
    walls=_rgb((205, 200, 190), (95, 95, 90)),
    fences=_rgb((20, 20, 22), (130, 130, 125)),
    foliage=_rgb((30, 50, 28), (90, 125, 60)),
    grass=_rgb((70, 90, 40), (140, 140, 85)),
    car_paints=_rgb((245, 245, 245), (80, 20, 25), (20, 40, 80), (200, 200, 40)),
    bus_paints=_rgb((245, 120, 20), (60, 60, 70)),
    clothes=_rgb((225, 225, 220), (20, 20, 60), (170, 60, 90), (90, 120, 80)),
)
SHIFTED = Palette(
    asphalt=_rgb((36, 36, 40), (155, 128, 120), (120, 100, 80)),
    paving=_rgb((185, 95, 75), (80, 110, 100), (110, 120, 150)),
    facades=_rgb((90, 150, 200), (235, 160, 185), (45, 40, 40), (110, 180, 140), (250, 230, 90)),
    walls=_rgb((200, 110, 145), (60, 90, 130), (230, 140, 60)),
    fences=_rgb((200, 40, 40), (40, 90, 170), (230, 200, 40)),
    foliage=_rgb((150, 95, 40), (175, 125, 50), (125, 70, 35), (160, 60, 40)),
    grass=_rgb((175, 160, 100), (160, 150, 100), (195, 175, 115)),
    car_paints=_rgb((0, 150, 170), (150, 60, 160), (235, 90, 150), (120, 190, 60), (255, 215, 0)),
    bus_paints=_rgb((120, 40, 140), (0, 160, 150)),
    clothes=_rgb((255, 120, 0), (0, 185, 225), (255, 80, 175), (230, 235, 60)),
)
PALETTES = {"plain": PLAIN, "default": DEFAULT, "shifted": SHIFTED}


def pick(rng: np.random.Generator, colours: np.ndarray, jitter: float = 12.0) -> np.ndarray:
    """One of ``colours`` with a little random variation (drawing clips to 0..255).

    The choice is one float draw whatever the number of colours, so a scene drawn with another
    palette consumes the same random numbers and keeps its geometry and labels.
    """
    return colours[int(rng.random() * len(colours))] + jitter * rng.standard_normal(3)
