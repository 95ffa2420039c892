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

from ..labels import COLOR_LUT, PALETTE, drivable_lut
from ..size import Size

#: trainId -> RGB as cv2.LUT wants a 3-channel table; BGR is the same table reversed.
_COLOR_LUT_RGB = np.ascontiguousarray(COLOR_LUT.reshape(256, 1, 3))
_COLOR_LUT_BGR = np.ascontiguousarray(_COLOR_LUT_RGB[..., ::-1])


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


def resize_nearest(image: np.ndarray, size: Size, out: np.ndarray | None = None) -> np.ndarray:
    """``image`` (H x W or H x W x C uint8) resized to ``size`` (width, height) with pixel-centred nearest
    neighbour, into ``out`` when given (it must have the result's shape), else into a new array."""
    size = Size(*size)
    if out is None:
        out = np.empty(size.shape + image.shape[2:], np.uint8)
    if Size.of(image) == size:
        np.copyto(out, image)
        return out
    return cv2.resize(image, size, dst=out, interpolation=cv2.INTER_NEAREST_EXACT)


def _check_labels(labels) -> None:
    if not isinstance(labels, np.ndarray) or labels.dtype != np.uint8 or labels.ndim != 2 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty H x W uint8 array, got "
                         f"{getattr(labels, 'shape', type(labels).__name__)} {getattr(labels, 'dtype', '')}")


def _output(out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if out is None:
        return np.empty(shape, np.uint8)
    if out.dtype != np.uint8 or out.shape != shape:
        raise ValueError(f"out must be a {' x '.join(map(str, shape))} uint8 array, got {out.shape} {out.dtype}")
    return out


def _palette(labels: np.ndarray, size: Size, lut: np.ndarray, out: np.ndarray) -> np.ndarray:
    # Colours are looked up at the labels' resolution (the model's: small) and only then resized.
    # Nearest neighbour picks the same source pixel for every channel, so this is exactly the
    # palette of the resized labels, for a fraction of the work at camera resolution.
    return resize_nearest(cv2.LUT(cv2.merge([labels, labels, labels]), lut), size, out)


def colorize(labels: np.ndarray, size: Size | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """H x W labels -> RGB palette image of ``size`` (width, height), default the labels' own size.

    Labels of another size are resized as the labels topic is (pixel-centred
    nearest neighbour). Unknown labels are black. ``out`` (H x W x 3 uint8)
    receives the image when given, e.g. a message buffer.
    """
    _check_labels(labels)
    size = Size(*size) if size else Size.of(labels)
    return _palette(labels, size, _COLOR_LUT_RGB, _output(out, size.shape + (3,)))


def colorize_overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.5, bgr: bool = False,
                     size: Size | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """The RGB image ``(1 - alpha) * image + alpha * colour``, rounded to uint8, at ``size`` (width,
    height; default the image's, else the image is first resized bilinearly, as the model's input is).

    ``labels`` may be at any resolution (the model's is cheapest); they are
    resized to the image's as the labels topic is (pixel-centred nearest
    neighbour). Pixels whose label is unknown (not a class) keep the image.
    ``alpha=1`` gives the plain palette over known pixels. ``bgr`` says
    ``image`` is BGR; the result is RGB either way. ``out`` (H x W x 3 uint8,
    not ``image``) receives the result when given, e.g. a message buffer.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an H x W x 3 uint8 array, got "
                         f"{getattr(image, 'shape', type(image).__name__)} {getattr(image, 'dtype', '')}")
    _check_labels(labels)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    if size is not None and Size(*size) != Size.of(image):
        image = cv2.resize(image, Size(*size), interpolation=cv2.INTER_LINEAR)
    size = Size.of(image)
    out = _output(out, image.shape)
    # Blend in the image's channel order, so the camera image is read once, as it is.
    _palette(labels, size, _COLOR_LUT_BGR if bgr else _COLOR_LUT_RGB, out)
    cv2.addWeighted(image, 1.0 - alpha, out, alpha, 0.0, dst=out)
    unknown = cv2.compare(labels, len(PALETTE), cv2.CMP_GE)
    if cv2.countNonZero(unknown):  # only with min_confidence > 0: the argmax never gives 255
        cv2.copyTo(image, resize_nearest(unknown, size), dst=out)
    if bgr:  # one in-place pass; swapping the camera image first would cost the same plus a buffer
        cv2.cvtColor(out, cv2.COLOR_BGR2RGB, dst=out)
    return out


class Postprocessor:
    """Backend label/confidence maps -> camera-size labels, drivable mask and confidence."""

    def __init__(self, class_names: Sequence[str], drivable_classes: Sequence[str]):
        self.class_names = tuple(class_names)
        self.drivable_lut = drivable_lut(drivable_classes, self.class_names)
        self._scratch: np.ndarray | None = None

    def __call__(self, labels: np.ndarray, confidence: np.ndarray | None, size: Size,
                 threshold: int, with_confidence: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(labels, drivable, confidence or None) at ``size`` (width, height); ``labels`` is masked in place."""
        if threshold > 0:
            if self._scratch is None or self._scratch.shape != labels.shape:
                self._scratch = np.empty_like(labels)
            mask_low_confidence(labels, confidence, threshold, self._scratch)
        labels_out = resize_nearest(labels, size)
        drivable = cv2.LUT(labels_out, self.drivable_lut)
        confidence_out = resize_nearest(confidence, size) if with_confidence else None
        return labels_out, drivable, confidence_out

