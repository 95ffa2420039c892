"""Camera frames of another shape than the model input, which every frame is resized to.

The resize stretches a frame whose aspect ratio differs from the input's, and the model sees squashed
streets: over three seeds of the default model, a 4:3 camera loses 0.019 mIoU and a square one 0.057
against the same frames served at an input of the camera's own aspect ratio (16:9 against 2:1: 0.002,
within the noise). docs/EXPERIMENTS.md, "Cameras of another aspect ratio".
"""

from __future__ import annotations

import math

from ..size import MAX_SIDE, Size

#: how far (a factor, either way) the camera's aspect ratio may lie from the input's before it is reported
ASPECT_TOLERANCE = 1.15
#: the suggested input height is a multiple of this (the sizes the measurements used)
HEIGHT_STEP = 8
#: stretched camera sizes a StretchCheck remembers: a stream of ever new sizes (hostile input) cannot
#: grow it further
MAX_SIZES = 16


def aspect_kept_size(camera: Size, model_input: Size) -> Size:
    """The model input's width with the camera's aspect ratio (height a multiple of HEIGHT_STEP, within
    MAX_SIDE): the streets keep their shape, and objects across the frame their size in pixels."""
    height = model_input.width * camera.height / camera.width
    steps = min(max(1, int(height / HEIGHT_STEP + 0.5)), MAX_SIDE // HEIGHT_STEP)
    return Size(model_input.width, steps * HEIGHT_STEP)


def stretch_advice(camera: Size, model_input: Size) -> str | None:
    """None when the camera's aspect ratio is within a factor ASPECT_TOLERANCE of the input's (or a size
    is empty); otherwise a sentence naming both sizes and the input size that keeps the camera's shape."""
    if min(*camera, *model_input) <= 0:
        return None
    camera_aspect = camera.width / camera.height
    input_aspect = model_input.width / model_input.height
    if abs(math.log(camera_aspect / input_aspect)) <= math.log(ASPECT_TOLERANCE):
        return None
    kept = aspect_kept_size(camera, model_input)
    cost = kept.width * kept.height / (model_input.width * model_input.height)
    return (f"camera frames of {camera} (aspect {camera_aspect:.2f}) are stretched to the model input "
            f"{model_input} (aspect {input_aspect:.2f}), which costs accuracy; an input of {kept} keeps their "
            f"shape (input_width: {kept.width}, input_height: {kept.height}; --input-size {kept}), "
            f"with {cost:.1f}x the model input's pixels")


class StretchCheck:
    """``stretch_advice`` once per stretched camera size: a stream is reported when its size first shows
    (for the first MAX_SIZES stretched sizes; after them, silence). Sizes that are not stretched are
    checked again each time, which costs a few divisions, so they never take a place."""

    def __init__(self, model_input: Size):
        self.model_input = Size(*model_input)
        self._reported: set[Size] = set()

    def __call__(self, camera: Size) -> str | None:
        """The advice for ``camera`` the first time this stretched size is seen, else None."""
        if camera in self._reported or len(self._reported) >= MAX_SIZES:
            return None
        advice = stretch_advice(camera, self.model_input)
        if advice:
            self._reported.add(camera)
        return advice
