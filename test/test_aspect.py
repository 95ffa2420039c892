"""Camera frames of another aspect ratio than the model input: which are reported, and the size suggested."""

import pytest

from seg_perception.inference.aspect import MAX_SIZES, StretchCheck, aspect_kept_size, stretch_advice
from seg_perception.size import Size

MODEL = Size(448, 224)


@pytest.mark.parametrize("camera, kept", [
    (Size(640, 480), Size(448, 336)),    # 4:3
    (Size(1280, 720), Size(448, 256)),   # 16:9: 252, to the nearest multiple of 8
    (Size(400, 400), Size(448, 448)),
    (Size(4000, 10), Size(448, 8)),      # never below one step
])
def test_the_kept_size_has_the_models_width_and_the_cameras_shape(camera, kept):
    assert aspect_kept_size(camera, MODEL) == kept


@pytest.mark.parametrize("camera", [Size(2048, 1024), Size(512, 256), Size(1280, 720), Size(1920, 1080)])
def test_cameras_within_the_tolerance_are_not_reported(camera):
    assert stretch_advice(camera, MODEL) is None


def test_a_4_by_3_camera_is_told_the_input_size_that_keeps_its_shape_and_what_it_costs():
    advice = stretch_advice(Size(640, 480), MODEL)
    assert "640x480 (aspect 1.33)" in advice and "448x224 (aspect 2.00)" in advice
    assert "input_width: 448, input_height: 336" in advice and "--input-size 448x336" in advice
    assert "about 1.5x the model's time" in advice


def test_each_camera_size_is_reported_once_and_a_flood_of_sizes_stops_growing_the_memory():
    check = StretchCheck(MODEL)
    assert check(Size(640, 480)) is not None and check(Size(640, 480)) is None
    assert check(Size(2048, 1024)) is None  # remembered, never reported
    for side in range(100, 100 + MAX_SIZES):
        check(Size(side, side))
    assert len(check._seen) == MAX_SIZES
    assert check(Size(300, 900)) is None  # a new size after the limit: silence, not an ever larger set
