"""Domain randomisation of the scene generator: profiles, switchable groups, label consistency, lens, weather."""

import dataclasses
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.data import scene_rng
from training.data import palette
from training.data.camera import Camera, record
from training.data.make_data import Mix, generate_split
from training.data.make_data import main as make_data
from training.data.class_stats import count_pixels
from training.data.profiles import DEFAULT, GROUPS, PLAIN, PROFILES, SHIFTED, draw, ranges_table
from training.data.scene_generator import generate_scene, sample_scene
from training.data.world import ID

W, H = 128, 64
PHOTOMETRIC = ("light", "weather", "appearance", "sensor")
REPO = Path(__file__).resolve().parent.parent


def fixed_camera(profile, **ranges):
    """``profile`` with its camera ranges pinned to single values (others as given)."""
    camera = dataclasses.replace(profile.camera, **{key: ((value, value),) for key, value in ranges.items()})
    return dataclasses.replace(profile, camera=camera)


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_is_deterministic_per_seed(name):
    profile = PROFILES[name]
    a = generate_scene(scene_rng(1, "train", 4), W, H, profile)
    b = generate_scene(scene_rng(1, "train", 4), W, H, profile)
    c = generate_scene(scene_rng(1, "train", 5), W, H, profile)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])


def test_photometric_groups_leave_the_labels_byte_identical():
    changed = 0
    for index in range(8):
        image, label = generate_scene(scene_rng(2, "train", index), W, H, SHIFTED)
        for group in PHOTOMETRIC:
            other_image, other_label = generate_scene(scene_rng(2, "train", index), W, H, SHIFTED.without([group]))
            np.testing.assert_array_equal(label, other_label)
            changed += not np.array_equal(image, other_image)
    assert changed >= 8 * 3  # the switches do change the pictures


def test_switching_the_camera_off_keeps_the_street_and_moves_the_labels():
    for index in range(4):
        scene = sample_scene(scene_rng(0, "val", index), W, H, SHIFTED)
        plain_camera = sample_scene(scene_rng(0, "val", index), W, H, SHIFTED.without(["camera"]))
        assert scene.street == plain_camera.street and scene.camera != plain_camera.camera
        assert PLAIN.camera.mount_height[0][0] <= plain_camera.camera.mount_height <= PLAIN.camera.mount_height[0][1]
        labels = [generate_scene(scene_rng(0, "val", index), W, H, p)[1] for p in (SHIFTED, SHIFTED.without(["camera"]))]
        assert (labels[0] != labels[1]).mean() > 0.05


def test_unknown_groups_are_refused_with_the_list():
    with pytest.raises(ValueError, match="unknown randomisation group.*lens.*choose from camera"):
        DEFAULT.without(["lens"])
    assert DEFAULT.without([]) is DEFAULT
    assert DEFAULT.without(["sensor", "camera"]).name == "default(off:camera+sensor)"


def interior_agreement(lensed: np.ndarray, pinhole: np.ndarray, camera: Camera) -> float:
    """Share of the lensed label's pixels whose ideal-pinhole source pixel (inside the frame) has its label."""
    map_x, map_y = camera.lens_maps()
    u, v = np.rint(map_x).astype(int), np.rint(map_y).astype(int)
    inside = (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    assert inside.mean() > 0.8
    return float((lensed[inside] == pinhole[v[inside], u[inside]]).mean())


@pytest.mark.parametrize("lens", [{"focal": 1.0, "roll_deg": 8.0, "k1": 0.0},
                                  {"focal": 0.8, "roll_deg": 0.0, "k1": -0.2}], ids=["roll", "barrel"])
def test_roll_and_distortion_move_the_labels_with_the_pixels(lens):
    """The same street through the same pinhole, with and without the lens: the lensed label is the
    pinhole label resampled through the lens maps (nearest), not the pinhole label itself."""
    base = dict(mount_height=1.5, pitch_deg=2.0, yaw_deg=0.0)
    agree, unmoved = [], []
    for index in range(4):
        rng = scene_rng(3, "train", index)
        lensed = generate_scene(rng, 256, 128, fixed_camera(PLAIN, **base, **lens))[1]
        pinhole = generate_scene(scene_rng(3, "train", index), 256, 128,
                                 fixed_camera(PLAIN, **base, focal=lens["focal"], roll_deg=0.0, k1=0.0))[1]
        camera = sample_scene(scene_rng(3, "train", index), 256, 128, fixed_camera(PLAIN, **base, **lens)).camera
        agree.append(interior_agreement(lensed, pinhole, camera))
        unmoved.append(float((lensed == pinhole).mean()))
    # Measured 0.97-0.999: the rest are the edges of the bonnet and skyline, which are drawn relative to the
    # larger canvas the lens needs.
    assert min(agree) > 0.96
    assert np.mean(agree) > np.mean(unmoved) + 0.015  # measured 0.99 against 0.97 (barrel), 0.94 (roll)


def test_roll_turns_the_horizon_anticlockwise_for_a_clockwise_camera():
    camera = Camera(200, 100, focal=100.0, mount_height=1.5, pitch=0.0, yaw=0.0, roll=np.radians(5.0))
    far_left, far_right = camera.project(np.array([[-200.0, 0.0, 1000.0], [200.0, 0.0, 1000.0]]))
    left, right = camera.lens(np.array([far_left, far_right]))
    # A camera rolled to the right (clockwise seen from behind) sees the horizon rise on the right.
    assert right[1] < 50 < left[1]
    assert (left[1] - right[1]) / (right[0] - left[0]) == pytest.approx(np.tan(np.radians(5.0)), rel=1e-6)


def test_the_lens_map_inverts_the_lens():
    camera = Camera(160, 90, focal=110.0, mount_height=1.5, pitch=0.0, yaw=0.0, roll=0.05, k1=-0.15)
    map_x, map_y = camera.lens_maps()
    ideal = np.stack([map_x, map_y], axis=-1)[::7, ::9]
    recorded = camera.lens(ideal)
    v, u = np.mgrid[0:90:7, 0:160:9]
    np.testing.assert_allclose(recorded, np.stack([u, v], axis=-1), atol=1e-3)


def test_a_lens_that_folds_inside_the_frame_is_refused():
    with pytest.raises(ValueError, match="k1 = -0.3 at focal 70 px cannot image the corners of 128x64"):
        Camera(128, 64, focal=70.0, mount_height=1.5, pitch=0.0, yaw=0.0, k1=-0.3).lens_maps()


def test_a_lens_drawing_has_no_empty_corners():
    camera = Camera(128, 64, focal=80.0, mount_height=1.5, pitch=0.0, yaw=0.0, roll=np.radians(4), k1=-0.12)
    pinhole, map_x, map_y = camera.pinhole_view()
    assert pinhole.width > 128 and pinhole.height > 64 and pinhole.focal == camera.focal
    assert map_x.min() >= 0 and map_x.max() <= pinhole.width - 1
    assert map_y.min() >= 0 and map_y.max() <= pinhole.height - 1
    label = np.full((pinhole.height, pinhole.width), 7, np.uint8)
    image, recorded, depth = record(map_x, map_y, np.zeros((pinhole.height, pinhole.width, 3), np.float32), label)
    assert (recorded == 7).all() and depth is None and image.shape == (64, 128, 3)


def weather_only(profile, **weather):
    """``profile`` with fixed weather: fog visibility (0 = no fog) and wet darkening (1 = dry)."""
    visibility, wet = weather.get("visibility", 0.0), weather.get("wet", 1.0)
    ranges = dataclasses.replace(profile.weather, fog_probability=float(visibility > 0),
                                 visibility=((visibility, visibility),), wet_probability=float(wet < 1),
                                 wet_darkening=((wet, wet),))
    clean = dataclasses.replace(profile.sensor, noise=((0.0, 0.0),), blur=((0.01, 0.01),), jpeg_probability=0.0,
                                motion_blur_probability=0.0)
    return dataclasses.replace(profile, weather=ranges, sensor=clean)


def test_fog_veils_far_pixels_more_than_near_ones_and_keeps_the_labels():
    near_change, far_change = [], []
    for index in range(6):
        clear_image, label = generate_scene(scene_rng(4, "val", index), 256, 128, weather_only(PLAIN))
        foggy_image, foggy_label = generate_scene(scene_rng(4, "val", index), 256, 128,
                                                  weather_only(PLAIN, visibility=60.0))
        np.testing.assert_array_equal(label, foggy_label)
        change = np.abs(clear_image.astype(float) - foggy_image).mean(axis=2)
        road = label == ID["road"]
        rows = np.nonzero(road.any(axis=1))[0]
        near, far = road.copy(), road.copy()
        near[: rows[-1] - 5] = False  # the bottom rows of road: a few metres away
        far[rows[0] + 6:] = False  # the top rows of road: tens of metres away
        near_change.append(change[near].mean())
        far_change.append(change[far].mean())
        sky = label == ID["sky"]
        if sky.sum() > 20:  # the sky is the fog itself: its contrast is gone
            assert foggy_image[sky].std(axis=0).max() < 0.5 * clear_image[sky].std(axis=0).max() + 1
    assert np.mean(far_change) > 2 * np.mean(near_change)


def test_a_wet_road_is_darker_and_the_rest_unchanged():
    for index in range(4):
        dry, label = generate_scene(scene_rng(5, "val", index), 256, 128, weather_only(PLAIN))
        wet, wet_label = generate_scene(scene_rng(5, "val", index), 256, 128, weather_only(PLAIN, wet=0.6))
        np.testing.assert_array_equal(label, wet_label)
        road = cv2.erode((label == ID["road"]).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        sky = cv2.erode((label == ID["sky"]).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert wet[road].mean() / dry[road].mean() == pytest.approx(0.6, abs=0.05)
        if sky.any():
            assert np.abs(wet[sky].astype(int) - dry[sky]).max() <= 1


@pytest.mark.parametrize("name", list(PROFILES))
def test_sampled_scenes_stay_inside_their_profiles_ranges(name):
    profile = PROFILES[name]

    def inside(value, ranges):
        return any(low - 1e-9 <= value <= high + 1e-9 for low, high in ranges)

    for index in range(60):
        scene = sample_scene(scene_rng(6, "train", index), 64, 32, profile)
        camera, light = scene.camera, scene.light
        assert inside(camera.focal / 64, profile.camera.focal)
        assert inside(camera.mount_height, profile.camera.mount_height)
        assert inside(np.degrees(camera.roll), profile.camera.roll_deg)
        assert inside(camera.k1, profile.camera.k1)
        assert inside(light.gain, profile.light.dusk_gain if light.dusk else profile.light.gain)
        if scene.weather.visibility is not None:
            assert inside(scene.weather.visibility, profile.weather.visibility)
        assert scene.colours is palette.PALETTES[profile.appearance.palette]


def test_the_shifted_profile_lies_outside_the_default_one():
    """Camera heights and fields of view, dusk exposure, fog and the sensor's worst never overlap."""
    def overlaps(a, b):
        return any(lo_a < hi_b and lo_b < hi_a for lo_a, hi_a in a for lo_b, hi_b in b)

    pairs = [(SHIFTED.camera.focal, DEFAULT.camera.focal), (SHIFTED.camera.mount_height, DEFAULT.camera.mount_height),
             (SHIFTED.light.dusk_gain, DEFAULT.light.dusk_gain), (SHIFTED.weather.visibility, DEFAULT.weather.visibility),
             (SHIFTED.sensor.noise, DEFAULT.sensor.noise), (SHIFTED.sensor.jpeg_quality, DEFAULT.sensor.jpeg_quality),
             (SHIFTED.sensor.motion_blur_px, DEFAULT.sensor.motion_blur_px)]
    assert not any(overlaps(a, b) for a, b in pairs)
    # Every held-out colour is at least 20 grey levels (RGB distance) from every training colour of its surface.
    for field in dataclasses.fields(palette.Palette):
        shifted, default = getattr(palette.SHIFTED, field.name), getattr(palette.DEFAULT, field.name)
        distance = np.linalg.norm(shifted[:, None] - default[None], axis=2)
        assert distance.min() >= 20, field.name


def test_interval_draws_cover_every_interval_in_proportion():
    rng = np.random.default_rng(0)
    values = np.array([draw(rng, ((0.0, 1.0), (10.0, 13.0))) for _ in range(4000)])
    assert ((values <= 1) | ((values >= 10) & (values <= 13))).all()
    assert (values >= 10).mean() == pytest.approx(0.75, abs=0.03)
    assert draw(rng, ((2.0, 2.0),)) == 2.0


def test_the_data_docs_show_the_ranges_the_code_uses():
    text = (REPO / "docs" / "DATA.md").read_text()
    assert ranges_table() in text, "docs/DATA.md: paste python -c 'from training.data.profiles import ranges_table; print(ranges_table())'"
    assert set(re.findall(r"^\| (\w+) \| \w+ \|", ranges_table(), re.M)) - {"group"} == set(GROUPS)


def test_seg_make_data_profile_and_switches_are_recorded(tmp_path, capsys):
    assert make_data([str(tmp_path), "--split", "val_shifted", "--num", "2", "--size", "64x32", "--workers", "1",
                      "--profile", "shifted", "--off", "sensor,camera"]) == 0
    report = json.loads((tmp_path / "class_frequencies_val_shifted.json").read_text())
    assert report["profile"] == "shifted(off:camera+sensor)"
    image = cv2.imread(str(tmp_path / "leftImg8bit/val_shifted/synth/synth_000000_000019_leftImg8bit.png"))
    expected = generate_scene(scene_rng(0, "val_shifted", 0), 64, 32, SHIFTED.without(["camera", "sensor"]))[0]
    np.testing.assert_array_equal(image[..., ::-1], expected)
    with pytest.raises(SystemExit) as error:
        make_data([str(tmp_path / "x"), "--num", "1", "--off", "lens"])
    assert error.value.code == 2
    assert "unknown group(s) lens; choose from camera, light, weather, appearance, sensor" in capsys.readouterr().err


def test_a_mixed_split_holds_the_single_profile_splits_scenes_at_their_indices(tmp_path):
    for name, args in (("mix", ["--mix", "shifted:0.5"]), ("default", []), ("shifted", ["--profile", "shifted"])):
        assert make_data([str(tmp_path / name), "--num", "4", "--size", "64x32", "--seed", "2", "--workers", "2",
                          "--off", "light", *args]) == 0

    def scene(root, index, kind="leftImg8bit", suffix="leftImg8bit"):
        return cv2.imread(str(tmp_path / root / kind / "train" / "synth" / f"synth_{index:06d}_000019_{suffix}.png"),
                          cv2.IMREAD_UNCHANGED)

    for index, source in enumerate(["default", "default", "shifted", "shifted"]):
        other = "shifted" if source == "default" else "default"
        assert np.array_equal(scene("mix", index), scene(source, index))
        assert not np.array_equal(scene("mix", index), scene(other, index))
        # the profiles' cameras differ, so their labels do too
        assert np.array_equal(scene("mix", index, "gtFine", "gtFine_labelTrainIds"),
                              scene(source, index, "gtFine", "gtFine_labelTrainIds"))
        assert not np.array_equal(scene("mix", index, "gtFine", "gtFine_labelTrainIds"),
                                  scene(other, index, "gtFine", "gtFine_labelTrainIds"))
    report = json.loads((tmp_path / "mix" / "class_frequencies_train.json").read_text())
    assert report["profile"] == "default(off:light) (scenes 0-1) + shifted(off:light) (2-3)"
    counts = sum(count_pixels(scene(source, index, "gtFine", "gtFine_labelTrainIds"))
                 for index, source in enumerate(["default", "default", "shifted", "shifted"]))
    assert [entry["pixels"] for entry in report["classes"].values()] == counts[:len(report["classes"])].tolist()


@pytest.mark.parametrize("mix, num, message", [
    ("fog:0.25", 4, "unknown profile 'fog' in 'fog:0.25'; choose from plain, default, shifted"),
    ("shifted", 4, "'shifted' is not PROFILE:FRACTION (e.g. shifted:0.25)"),
    ("shifted:1", 4, "the fraction in 'shifted:1' must lie between 0 and 1 (exclusive)"),
    ("shifted:nan", 4, "the fraction in 'shifted:nan' must lie between 0 and 1 (exclusive)"),
    ("shifted:0.1", 4, "--mix shifted:0.1 gives 0 of the 4 scenes; choose a fraction that leaves scenes of both"),
    ("shifted:0.5", 1, "--mix shifted:0.5 gives 1 of the 1 scenes"),  # half up, where round(0.5) would give 0
    ("default:0.5", 4, "--mix default:0.5 draws from --profile default itself; name another profile"),
])
def test_a_mix_that_cannot_be_drawn_is_refused_before_anything_is_written(tmp_path, capsys, mix, num, message):
    with pytest.raises(SystemExit) as error:
        make_data([str(tmp_path / "out"), "--num", str(num), "--size", "64x32", "--mix", mix])
    assert error.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_mix_counts_its_scenes_half_up(tmp_path):
    # 2 x 0.25 = 0.5 scenes: one, where Python's round() would give none and refuse the mix
    assert make_data([str(tmp_path), "--num", "2", "--size", "64x32", "--workers", "1", "--mix", "shifted:0.25"]) == 0
    report = json.loads((tmp_path / "class_frequencies_train.json").read_text())
    assert report["profile"] == "default (scenes 0-0) + shifted (1-1)"


@pytest.mark.parametrize("first_scene", [0, 4])
def test_generate_split_refuses_a_mix_that_leaves_one_profile_without_scenes(tmp_path, first_scene):
    with pytest.raises(ValueError, match=f"a mix must leave scenes of both profiles: first_scene {first_scene} of 4"):
        generate_split(tmp_path / "out", "train", 4, 64, 32, progress=False, mix=Mix(SHIFTED, first_scene))
    assert not (tmp_path / "out").exists()


def test_a_profile_takes_named_groups_from_another_and_refuses_unknown_ones():
    foggy = DEFAULT.with_groups_of(SHIFTED, ["sensor", "weather"])
    assert foggy.name == "default+shifted(weather+sensor)"
    assert (foggy.weather, foggy.sensor) == (SHIFTED.weather, SHIFTED.sensor)
    assert (foggy.camera, foggy.light, foggy.appearance) == (DEFAULT.camera, DEFAULT.light, DEFAULT.appearance)
    with pytest.raises(ValueError, match="unknown randomisation group.s. fog; choose from camera, light"):
        DEFAULT.with_groups_of(SHIFTED, ["fog"])
