"""The motion-blur kernel that the scene generator's sensor and the training augmentation share."""

from __future__ import annotations

import cv2
import numpy as np

#: shorter lines hardly blur at all: the training augmentation's shortest, and its config key's least nonzero value
MIN_LENGTH_PX = 3.0


def motion_kernel(length: float, angle: float) -> np.ndarray:
    """A normalised line kernel ``length`` pixels long at ``angle`` (radians): a camera moving while exposed."""
    size = max(3, int(np.ceil(length)) | 1)
    kernel = np.zeros((size, size), np.float32)
    c = (size - 1) / 2
    dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
    cv2.line(kernel, (round((c - dx) * 16), round((c - dy) * 16)), (round((c + dx) * 16), round((c + dy) * 16)),
             1.0, 1, cv2.LINE_AA, 4)
    return kernel / kernel.sum()
