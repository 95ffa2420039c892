"""Surface colours of generated scenes (RGB rows). Classes deliberately share colours: grey road, wall and
building; green vegetation and terrain; cars in any paint. The class must come from shape and context."""

from __future__ import annotations

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


def pick(rng: np.random.Generator, colours: np.ndarray, jitter: float = 12.0) -> np.ndarray:
    """One of ``colours`` with a little random variation (drawing clips to 0..255)."""
    return colours[rng.integers(len(colours))] + jitter * rng.standard_normal(3)
