"""Camera frames of another aspect ratio than the model input: which are reported, and the size suggested."""

import pytest

from seg_perception.inference.aspect import MAX_SIZES, StretchCheck, aspect_kept_size, stretch_advice
from seg_perception.size import MAX_SIDE, Size

MODEL = Size(448, 224)


@pytest.mark.parametrize("camera, kept", [
    (Size(640, 480), Size(448, 336)),    # 4:3
    (Size(1280, 720), Size(448, 256)),   # 16:9: 252, to the nearest multiple of 8
    (Size(400, 400), Size(448, 448)),
    (Size(4000, 10), Size(448, 8)),      # never below one step
    (Size(100, 4000), Size(448, MAX_SIDE)),  # never above what every tool accepts
])
def test_the_kept_size_has_the_models_width_and_the_cameras_shape(camera, kept):
    assert aspect_kept_size(camera, MODEL) == kept


@pytest.mark.parametrize("camera", [Size(2048, 1024), Size(512, 256), Size(1280, 720), Size(1920, 1080),
                                    Size(228, 100), Size(175, 100)])  # 2.28:1 and 1.75:1, within 1.15x either way
def test_cameras_within_the_tolerance_are_not_reported(camera):
    assert stretch_advice(camera, MODEL) is None


@pytest.mark.parametrize("camera", [Size(232, 100), Size(172, 100), Size(600, 200)])  # just outside, either way
def test_cameras_wider_or_narrower_than_the_tolerance_are_reported(camera):
    assert "stretched" in stretch_advice(camera, MODEL)


def test_a_4_by_3_camera_is_told_the_input_size_that_keeps_its_shape_and_what_it_costs():
    advice = stretch_advice(Size(640, 480), MODEL)
    assert "640x480 (aspect 1.33)" in advice and "448x224 (aspect 2.00)" in advice
    assert "input_width: 448, input_height: 336" in advice and "--input-size 448x336" in advice
    assert "with 1.5x the model input's pixels" in advice


def test_empty_sizes_are_not_advised_on():
    assert stretch_advice(Size(0, 480), MODEL) is None and stretch_advice(Size(640, 480), Size(448, 0)) is None


def test_each_stretched_size_is_reported_once_and_a_flood_of_sizes_stops_growing_the_memory():
    check = StretchCheck(MODEL)
    for width in range(400, 400 + 3 * MAX_SIZES):  # 2:1 sizes, not stretched: they take no place
        assert check(Size(width, width // 2)) is None
    assert check(Size(640, 480)) is not None and check(Size(640, 480)) is None
    for side in range(100, 100 + MAX_SIZES):
        check(Size(side, side))
    assert len(check._reported) == MAX_SIZES
    assert check(Size(300, 900)) is None  # a new size after the limit: silence, not an ever larger set
