"""Camera image -> normalised model input, written into the engine's own input array.

Resize with cv2 (bilinear, as the training pipeline does), split the channels
into reused planes, and normalise each straight into its N x C x H x W plane
with ``cv2.addWeighted(..., dtype=CV_32F)`` (one pass, ``x * scale + offset``).
RGB/BGR order is chosen by which plane feeds which input channel, so BGR
input costs nothing extra.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def check_image(image) -> None:
    """ValueError unless ``image`` is a non-empty H x W x 3 (or x 4, alpha ignored) uint8 array."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"image must be H x W x 3 (RGB or BGR) or H x W x 4 (alpha ignored), "
                         f"got shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape})")


class Preprocessor:
    """Resize + normalise into a caller-owned 1 x 3 x H x W float32 array, with buffers reused between frames."""

    def __init__(self, input_size: tuple[int, int], mean: Sequence[float], std: Sequence[float]):
        self.input_size = tuple(input_size)  # width, height, as cv2 wants it
        # (x / 255 - mean) / std == x * scale + offset
        self.scale = [1.0 / (255.0 * s) for s in std]
        self.offset = [-m / s for m, s in zip(mean, std)]
        self._resized: np.ndarray | None = None
        self._planes: list[np.ndarray] = []

    def __call__(self, image: np.ndarray, out: np.ndarray, bgr: bool = False) -> None:
        """Write ``image`` (checked with ``check_image``), resized and normalised, into ``out`` (1 x 3 x H x W)."""
        width, height = self.input_size
        channels = image.shape[2]
        if image.shape[:2] == (height, width):
            resized = image
        else:
            if self._resized is None or self._resized.shape[2] != channels:
                self._resized = np.empty((height, width, channels), np.uint8)
            resized = cv2.resize(image, self.input_size, dst=self._resized, interpolation=cv2.INTER_LINEAR)
        if len(self._planes) != channels:
            self._planes = [np.empty((height, width), np.uint8) for _ in range(channels)]
        planes = cv2.split(resized, self._planes)
        order = (2, 1, 0) if bgr else (0, 1, 2)
        for channel, source in enumerate(order):
            cv2.addWeighted(planes[source], self.scale[channel], planes[source], 0.0, self.offset[channel],
                            dst=out[0, channel], dtype=cv2.CV_32F)
