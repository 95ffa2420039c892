"""Frames under a low-pressure sodium street light, for the tests of the white balance and its gate."""

import numpy as np

#: the lamp's linear R, G, B against daylight: blue nearly gone (as in experiments/colour_casts.py)
LOW_PRESSURE_SODIUM = (1.0, 0.3, 0.01)


def sodium_lit(image: np.ndarray) -> np.ndarray:
    """The RGB uint8 ``image`` re-lit in linear light (gamma 2.2) by a low-pressure sodium lamp."""
    linear = (image[..., :3].astype(np.float64) / 255.0) ** 2.2 * LOW_PRESSURE_SODIUM
    return np.round(linear ** (1 / 2.2) * 255.0).astype(np.uint8)
