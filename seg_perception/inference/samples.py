"""Deterministic synthetic camera frames for export verification and benchmarks (no data set needed)."""

from __future__ import annotations

import cv2
import numpy as np


def synthetic_frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """An H x W x 3 uint8 RGB frame: smooth random colour regions plus sensor-like noise.

    Smooth regions give a model real structure to segment (unlike white
    noise), so label agreement between engines is measured on plausible
    inputs; the noise keeps borders between classes irregular.
    """
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(2, height // 64), max(2, width // 64), 3), dtype=np.uint8)
    frame = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = rng.integers(-12, 13, frame.shape, dtype=np.int16)
    return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)
