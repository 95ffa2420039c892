"""Camera frames of another aspect ratio than the model input: which are reported, and the size suggested."""

import pytest

from seg_perception.inference.aspect import (MAX_SIZES, SIDE_STEP, StretchCheck, aspect_kept_size, stretch_advice,
                                             stretch_summary)
from seg_perception.size import MAX_SIDE, Size

MODEL = Size(448, 224)


@pytest.mark.parametrize("camera, kept", [
    (Size(640, 480), Size(384, 288)),    # 4:3 exactly, 1.10x the pixels
    (Size(400, 400), Size(320, 320)),    # 1.02x
    (Size(1280, 1024), Size(352, 288)),  # 5:4 -> 1.22:1 on the grid
    (Size(720, 1280), Size(224, 416)),   # a camera on its side
    (Size(2048, 512), Size(640, 160)),   # a wide 4:1 strip
])
def test_the_kept_size_has_the_cameras_shape_and_about_the_models_pixels_on_the_32_grid(camera, kept):
    assert aspect_kept_size(camera, MODEL) == kept
    assert kept.width % SIDE_STEP == 0 and kept.height % SIDE_STEP == 0
    assert abs(kept.width / kept.height / (camera.width / camera.height) - 1) < 0.05
    assert 0.8 < kept.width * kept.height / (MODEL.width * MODEL.height) < 1.25


@pytest.mark.parametrize("camera, kept", [
    (Size(10000, 1), Size(MAX_SIDE, SIDE_STEP)),  # never below one step,
    (Size(1, 10000), Size(SIDE_STEP, MAX_SIDE)),  # nor above what every tool accepts
])
def test_the_kept_size_of_an_extreme_camera_stays_within_the_sizes_every_tool_accepts(camera, kept):
    assert aspect_kept_size(camera, MODEL) == kept


@pytest.mark.parametrize("model_input", [Size(64, 32), Size(128, 64), Size(448, 224), Size(512, 256), Size(2048, 1024)])
def test_the_suggested_size_is_never_itself_stretched_even_for_a_small_model_input(model_input):
    # On a coarse grid a small input's best pixel count can lie on another shape: a 640x480 camera and a
    # 64x32 model would otherwise be told 64x32, the very input it is stretched to.
    for width in (24, 100, 320, 480, 640, 1080, 1280, 1920, 4000):
        for height in (24, 100, 240, 480, 720, 1024, 1080, 3000):
            kept = aspect_kept_size(Size(width, height), model_input)
            if width / height < 40 and height / width < 40:  # the grid holds a size of that shape within MAX_SIDE
                assert stretch_advice(Size(width, height), kept) is None, (width, height, kept)


def test_of_two_sizes_that_fit_equally_the_one_with_more_pixels_is_suggested():
    # a square camera and a 64x32 model: 32x32 has half its pixels, 64x64 twice
    assert aspect_kept_size(Size(24, 24), Size(64, 32)) == Size(64, 64)


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
    assert "input_width: 384, input_height: 288" in advice and "--input-size 384x288" in advice
    assert "with 1.1x the model input's pixels" in advice


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


def test_a_report_line_names_each_stretched_size_once_or_says_ok():
    assert stretch_summary([Size(1024, 512), Size(2048, 1024)], MODEL) == "ok"
    assert stretch_summary([], MODEL) == "ok"
    line = stretch_summary([Size(640, 480), Size(1024, 512), Size(400, 400), Size(640, 480)], MODEL)
    parts = line.split(" | ")
    assert len(parts) == 2 and parts[0] == stretch_advice(Size(400, 400), MODEL)
    assert parts[1] == stretch_advice(Size(640, 480), MODEL)
    check = StretchCheck(MODEL)
    for size in (Size(640, 480), Size(1024, 512), Size(400, 400)):
        check(size)
    assert check.stretched_sizes == (Size(400, 400), Size(640, 480))
