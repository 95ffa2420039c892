"""Camera frames of another shape than the model input, which every frame is resized to.

The resize stretches a frame whose aspect ratio differs from the input's, and the model sees squashed
streets: over three seeds of the default model, a 4:3 camera loses 0.019 mIoU and a square one 0.057
against the same frames served at an input of the camera's own aspect ratio (16:9 against 2:1: 0.002,
within the noise). The input suggested keeps the camera's shape at about the model input's pixels:
for a 4:3 camera and the default's 448x224, 384x288 scores as 448x336 on clear streets and better in
fog and dusk, at about the cost of 448x224. docs/EXPERIMENTS.md, "Cameras of another aspect ratio".
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

from ..size import MAX_SIDE, Size

#: how far (a factor, either way) the camera's aspect ratio may lie from the input's before it is reported
ASPECT_TOLERANCE = 1.15
#: the suggested input's sides are multiples of this: the models' output stride, to which they pad every input
SIDE_STEP = 32
#: stretched camera sizes a StretchCheck remembers: a stream of ever new sizes (hostile input) cannot
#: grow it further
MAX_SIZES = 16


def _shape_gap(width: float, height: float, aspect: float) -> float:
    """How far apart the aspect ratio of width x height and ``aspect`` are, either way (a log ratio)."""
    return abs(math.log(width / height / aspect))


@functools.lru_cache(maxsize=MAX_SIZES)  # once a second in seg_node's diagnostics while a camera is stretched
def aspect_kept_size(camera: Size, model_input: Size) -> Size:
    """The input of the camera's aspect ratio with about the model input's pixels, its sides multiples of
    SIDE_STEP within MAX_SIDE: the streets keep their shape, and a frame costs about what it did. Sizes
    that would themselves be reported as stretched come last; among the rest a misfit of shape counts
    twice one of pixels, and of two equal misfits the one with more pixels is taken."""
    aspect = camera.width / camera.height
    pixels = model_input.width * model_input.height

    def misfit(size: Size) -> tuple[bool, float, int]:
        shape = _shape_gap(*size, aspect)
        cost = abs(math.log(size.width * size.height / pixels))
        return shape > math.log(ASPECT_TOLERANCE), round(2 * shape + cost, 9), -size.width * size.height

    candidates = []
    for width in range(SIDE_STEP, MAX_SIDE + 1, SIDE_STEP):
        steps = width / aspect / SIDE_STEP  # the two heights on the grid nearest the camera's shape
        for height in {math.floor(steps) * SIDE_STEP, math.ceil(steps) * SIDE_STEP}:
            candidates.append(Size(width, min(max(height, SIDE_STEP), MAX_SIDE)))
    return min(candidates, key=misfit)


def stretch_advice(camera: Size, model_input: Size) -> str | None:
    """None when the camera's aspect ratio is within a factor ASPECT_TOLERANCE of the input's (or a size
    is empty); otherwise a sentence naming both sizes and the input size that keeps the camera's shape."""
    if min(*camera, *model_input) <= 0:
        return None
    camera_aspect = camera.width / camera.height
    input_aspect = model_input.width / model_input.height
    if _shape_gap(*model_input, camera_aspect) <= math.log(ASPECT_TOLERANCE):
        return None
    kept = aspect_kept_size(camera, model_input)
    cost = kept.width * kept.height / (model_input.width * model_input.height)
    return (f"camera frames of {camera} (aspect {camera_aspect:.2f}) are stretched to the model input "
            f"{model_input} (aspect {input_aspect:.2f}), which costs accuracy; an input of {kept} keeps their "
            f"shape (input_width: {kept.width}, input_height: {kept.height}; --input-size {kept}), "
            f"with {cost:.1f}x the model input's pixels")


def stretch_summary(camera_sizes: Iterable[Size], model_input: Size) -> str:
    """A report's line: 'ok', or the advice for each stretched size among ``camera_sizes``, joined by ' | '."""
    advice = (stretch_advice(Size(*size), model_input) for size in sorted(set(camera_sizes)))
    return " | ".join(line for line in advice if line) or "ok"


class StretchCheck:
    """``stretch_advice`` once per stretched camera size: a stream is reported when its size first shows
    (for the first MAX_SIZES stretched sizes; after them, silence). Sizes that are not stretched are
    checked again each time, which costs a few divisions, so they never take a place."""

    def __init__(self, model_input: Size):
        self.model_input = Size(*model_input)
        self._reported: set[Size] = set()

    @property
    def stretched_sizes(self) -> tuple[Size, ...]:
        """The stretched camera sizes seen so far (at most MAX_SIZES)."""
        return tuple(sorted(self._reported))

    def __call__(self, camera: Size) -> str | None:
        """The advice for ``camera`` the first time this stretched size is seen, else None."""
        if camera in self._reported or len(self._reported) >= MAX_SIZES:
            return None
        advice = stretch_advice(camera, self.model_input)
        if advice:
            self._reported.add(camera)
        return advice
