"""Model-resolution uint8 labels -> camera-resolution labels, drivable mask, confidence and colours.

Everything here is a uint8 image operation in cv2: the confidence threshold
is a compare + max at model resolution, labels are resized with nearest
neighbour (never the logits), and the drivable mask and colours are lookup
tables built from the class table.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..labels import COLOR_LUT, PALETTE

#: trainId -> RGB as cv2.LUT wants a 3-channel table; BGR is the same table reversed.
_COLOR_LUT_RGB = np.ascontiguousarray(COLOR_LUT.reshape(256, 1, 3))
_COLOR_LUT_BGR = np.ascontiguousarray(_COLOR_LUT_RGB[..., ::-1])


def drivable_lut_for(class_names: Sequence[str], drivable_classes: Sequence[str]) -> np.ndarray:
    """label -> 255 if its class is drivable else 0, as a 256-entry uint8 table (unknown, 255, is never drivable)."""
    lut = np.zeros(256, np.uint8)
    for name in drivable_classes:
        if name not in class_names:
            raise ValueError(f"unknown drivable class {name!r}; valid names: {', '.join(class_names)}")
        lut[list(class_names).index(name)] = 255
    return lut


def confidence_threshold(min_confidence: float) -> int:
    """The uint8 confidence level below which a pixel is unknown: round(min_confidence * 255)."""
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be within [0, 1], got {min_confidence}")
    return round(min_confidence * 255)


def mask_low_confidence(labels: np.ndarray, confidence: np.ndarray, threshold: int, scratch: np.ndarray) -> None:
    """Set ``labels`` to 255 (unknown) in place where ``confidence < threshold``; ``scratch`` is a same-size buffer."""
    # compare gives 255 where too low, else 0; the max then writes 255, which is labels.IGNORE_ID
    cv2.compare(confidence, threshold, cv2.CMP_LT, dst=scratch)
    cv2.max(labels, scratch, dst=labels)


def resize_nearest(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A new H x W uint8 array: ``image`` resized to ``size`` = (height, width) with pixel-centred nearest neighbour."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image.copy()
    out = np.empty((height, width), np.uint8)
    return cv2.resize(image, (width, height), dst=out, interpolation=cv2.INTER_NEAREST_EXACT)


def colorize(labels: np.ndarray, bgr: bool = False) -> np.ndarray:
    """H x W labels -> H x W x 3 palette image (RGB, or BGR if asked); unknown labels are black."""
    labels3 = cv2.merge([labels, labels, labels])
    return cv2.LUT(labels3, _COLOR_LUT_BGR if bgr else _COLOR_LUT_RGB)


def colorize_overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.5, bgr: bool = False) -> np.ndarray:
    """Blend the palette over ``image``: ``(1 - alpha) * image + alpha * colour``, rounded to uint8.

    Pixels whose label is unknown (not a class) keep the image. ``alpha=1``
    gives the plain palette over known pixels. ``bgr`` says ``image`` is BGR
    (the result then is too).
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an H x W x 3 uint8 array, got "
                         f"{getattr(image, 'shape', type(image).__name__)} {getattr(image, 'dtype', '')}")
    if not isinstance(labels, np.ndarray) or labels.dtype != np.uint8 or labels.shape != image.shape[:2]:
        raise ValueError(f"labels must be an H x W uint8 array matching the image {image.shape[:2]}, got "
                         f"{getattr(labels, 'shape', type(labels).__name__)} {getattr(labels, 'dtype', '')}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    out = cv2.addWeighted(image, 1.0 - alpha, colorize(labels, bgr), alpha, 0.0)
    unknown = cv2.compare(labels, len(PALETTE), cv2.CMP_GE)
    cv2.copyTo(image, unknown, dst=out)
    return out


class Postprocessor:
    """Backend label/confidence maps -> camera-size labels, drivable mask and confidence."""

    def __init__(self, class_names: Sequence[str], drivable_classes: Sequence[str]):
        self.class_names = tuple(class_names)
        self.drivable_lut = drivable_lut_for(self.class_names, drivable_classes)
        self._scratch: np.ndarray | None = None

    def __call__(self, labels: np.ndarray, confidence: np.ndarray | None, size: tuple[int, int],
                 threshold: int, with_confidence: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(labels, drivable, confidence or None) at ``size`` = (height, width); ``labels`` is masked in place."""
        if threshold > 0:
            if self._scratch is None or self._scratch.shape != labels.shape:
                self._scratch = np.empty_like(labels)
            mask_low_confidence(labels, confidence, threshold, self._scratch)
        labels_out = resize_nearest(labels, size)
        drivable = cv2.LUT(labels_out, self.drivable_lut)
        confidence_out = resize_nearest(confidence, size) if with_confidence else None
        return labels_out, drivable, confidence_out

