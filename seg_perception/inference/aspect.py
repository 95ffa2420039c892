"""Camera frames of another shape than the model input, which every frame is resized to.

The resize stretches a frame whose aspect ratio differs from the input's, and the model sees squashed
streets: over three seeds of the default model, a 4:3 camera loses 0.019 mIoU and a square one 0.057
against the same frames served at an input of the camera's own aspect ratio (16:9 against 2:1: 0.002,
within the noise). docs/EXPERIMENTS.md, "Cameras of another aspect ratio".
"""

from __future__ import annotations

from ..size import Size

#: relative difference between the camera's and the input's aspect ratios from which stretching is reported
ASPECT_TOLERANCE = 0.15
#: the suggested input height is a multiple of this (convolution kernels prefer such sizes)
HEIGHT_STEP = 8
#: camera sizes a StretchCheck remembers: a stream of ever new sizes (hostile input) cannot grow it further
MAX_SIZES = 16


def aspect_kept_size(camera: Size, model_input: Size) -> Size:
    """The model input's width with the camera's aspect ratio (height a multiple of HEIGHT_STEP): the
    streets keep their shape, and objects across the frame their size in pixels."""
    height = model_input.width * camera.height / camera.width
    return Size(model_input.width, max(HEIGHT_STEP, int(height / HEIGHT_STEP + 0.5) * HEIGHT_STEP))


def stretch_advice(camera: Size, model_input: Size) -> str | None:
    """None when the camera's aspect ratio is within ASPECT_TOLERANCE of the input's; otherwise a sentence
    naming both sizes and the input size that keeps the camera's shape."""
    camera_aspect = camera.width / camera.height
    input_aspect = model_input.width / model_input.height
    if abs(camera_aspect / input_aspect - 1) <= ASPECT_TOLERANCE:
        return None
    kept = aspect_kept_size(camera, model_input)
    cost = kept.width * kept.height / (model_input.width * model_input.height)
    return (f"camera frames of {camera} (aspect {camera_aspect:.2f}) are stretched to the model input "
            f"{model_input} (aspect {input_aspect:.2f}), which costs accuracy; an input of {kept} keeps their "
            f"shape (input_width: {kept.width}, input_height: {kept.height}; --input-size {kept}), "
            f"at about {cost:.1f}x the model's time")


class StretchCheck:
    """``stretch_advice`` once per camera size: a stream of frames is reported when its size first shows
    (for the first MAX_SIZES sizes; after them, silence)."""

    def __init__(self, model_input: Size):
        self.model_input = Size(*model_input)
        self._seen: set[Size] = set()

    def __call__(self, camera: Size) -> str | None:
        """The advice for ``camera`` the first time this size is seen, else None."""
        if camera in self._seen or len(self._seen) >= MAX_SIZES:
            return None
        self._seen.add(camera)
        return stretch_advice(camera, self.model_input)
