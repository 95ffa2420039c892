"""Camera image -> normalised model input, written into the engine's own input array.

Resize with cv2 (bilinear, as the training pipeline does), split the channels
into reused planes, and normalise each straight into its N x C x H x W plane
with ``cv2.addWeighted(..., dtype=CV_32F)`` (one pass, ``x * scale + offset``).
RGB/BGR order is chosen by which plane feeds which input channel, so BGR
input costs nothing extra.

``input_filter`` cleans the resized frame first: ``denoise`` with a small
bilateral filter (edge-preserving), ``denoise_white_balance`` with that filter and
then a shades-of-grey white balance (Finlayson and Trezzi: each channel scaled so
that the channels' 6-norms, which weigh the bright pixels, become equal; saturating
at 255). Plain grey-world (equal means) gained as much on the shifted split but lost
three times as much on frames filled by one class. What they gain and why they are
off by default: docs/EXPERIMENTS.md, "Test-time input filters" and "Filtering only
the frames that look degraded".
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

INPUT_FILTERS = ("none", "denoise", "denoise_white_balance")
INPUT_FILTER_HELP = ("filter on each frame at the model's input size: none (default), denoise (bilateral) or "
                     "denoise_white_balance (bilateral, then shades-of-grey white balance); seg_node's input_filter")
#: cv2.bilateralFilter's diameter, colour sigma and space sigma, at the model's input resolution
BILATERAL = (5, 40.0, 5.0)
#: the Minkowski norm of the white balance's illuminant estimate (1 would be grey-world, infinity white-patch)
SHADES_OF_GREY_P = 6
# each grey level's share of a channel's 6-norm, looked up through the channel's histogram
_POWERS = (np.arange(256, dtype=np.float64) / 255.0) ** SHADES_OF_GREY_P
#: a frame whose white balance would scale a channel by more than this has a strong colour cast (an orange
#: sodium street light); no generated daylight frame reaches it (docs/EXPERIMENTS.md, "Street lights of one colour")
CAST_GAIN = 2.0
# the size a frame is judged at for its cast: the channels' 6-norms barely depend on it; 0.2-0.45 ms a frame
_CAST_SIZE = (224, 112)


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


def check_input_filter(name: str) -> str:
    """``name`` if it is one of INPUT_FILTERS, else ValueError."""
    if name not in INPUT_FILTERS:
        raise ValueError(f"input_filter must be one of: {', '.join(INPUT_FILTERS)}; got {name!r}")
    return name


class Preprocessor:
    """Resize (+ optional input filter) + normalise into a caller-owned 1 x 3 x H x W float32 array, with
    buffers reused between frames."""

    def __init__(self, input_size: tuple[int, int], mean: Sequence[float], std: Sequence[float],
                 input_filter: str = "none"):
        self.input_size = tuple(input_size)  # width, height, as cv2 wants it
        # (x / 255 - mean) / std == x * scale + offset
        self.scale = [1.0 / (255.0 * s) for s in std]
        self.offset = [-m / s for m, s in zip(mean, std)]
        self.input_filter = check_input_filter(input_filter)
        self._resized: np.ndarray | None = None
        self._filtered: np.ndarray | None = None
        self._colour: np.ndarray | None = None  # a 4-channel frame without its alpha
        self._planes: list[np.ndarray] = []

    def __call__(self, image: np.ndarray, out: np.ndarray, bgr: bool = False) -> None:
        """Write ``image`` (checked with ``check_image``), resized and normalised, into ``out`` (1 x 3 x H x W)."""
        width, height = self.input_size
        channels = image.shape[2]
        input_filter = self.input_filter  # read once: seg_node may change it from another thread
        if image.shape[:2] == (height, width):
            resized = image
        else:
            if self._resized is None or self._resized.shape[2] != channels:
                self._resized = np.empty((height, width, channels), np.uint8)
            resized = cv2.resize(image, self.input_size, dst=self._resized, interpolation=cv2.INTER_LINEAR)
        if input_filter != "none":
            resized = self._denoise(resized)
            channels = 3  # the filter drops alpha
        if len(self._planes) != channels:
            self._planes = [np.empty((height, width), np.uint8) for _ in range(channels)]
        planes = cv2.split(resized, self._planes)
        if input_filter == "denoise_white_balance":
            _balance_shades_of_grey(planes)
        order = (2, 1, 0) if bgr else (0, 1, 2)
        for channel, source in enumerate(order):
            cv2.addWeighted(planes[source], self.scale[channel], planes[source], 0.0, self.offset[channel],
                            dst=out[0, channel], dtype=cv2.CV_32F)

    def _denoise(self, resized: np.ndarray) -> np.ndarray:
        """The bilateral filter of the resized frame's three colour channels, into a reused buffer."""
        if resized.shape[2] == 4:  # the filter takes 1 or 3 channels; alpha is ignored anyway
            if self._colour is None or self._colour.shape[:2] != resized.shape[:2]:
                self._colour = np.empty(resized.shape[:2] + (3,), np.uint8)
            resized = cv2.cvtColor(resized, cv2.COLOR_BGRA2BGR, dst=self._colour)
        if self._filtered is None or self._filtered.shape != resized.shape:
            self._filtered = np.empty_like(resized)
        return cv2.bilateralFilter(resized, *BILATERAL, dst=self._filtered)


def white_balance_gains(planes: Sequence[np.ndarray]) -> list[float]:
    """The factor by which the shades-of-grey balance scales each uint8 colour plane: their
    SHADES_OF_GREY_P-norms' common mean over each plane's own."""
    norms = [float(cv2.calcHist([plane], [0], None, [256], [0, 256]).ravel() @ _POWERS / plane.size)
             ** (1.0 / SHADES_OF_GREY_P) for plane in planes]
    grey = sum(norms) / 3.0
    return [grey / max(norm, 1.0 / 255.0) for norm in norms]


def strong_colour_cast(image: np.ndarray) -> bool:
    """Whether the white balance would scale a colour channel of ``image`` (H x W x 3 or 4, either channel
    order) by more than CAST_GAIN."""
    small = cv2.resize(image, _CAST_SIZE, interpolation=cv2.INTER_LINEAR)
    return max(white_balance_gains(cv2.split(small)[:3])) > CAST_GAIN


def _balance_shades_of_grey(planes: Sequence[np.ndarray]) -> None:
    """Scale the three uint8 colour planes in place so that their SHADES_OF_GREY_P-norms become their common
    mean (saturated pixels keep part of the cast). The gains are not limited: under low-pressure sodium
    street lights a limit of 2 or 3 lost all or half of what the balance gains (docs/EXPERIMENTS.md)."""
    for plane, gain in zip(planes, white_balance_gains(planes)):
        cv2.multiply(plane, gain, dst=plane)
