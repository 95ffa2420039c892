"""The procedural scene generator and seg-make-data: geometry, determinism, classes, layout on disk."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from seg_perception.labels import CLASS_NAMES, COLOR_LUT, IGNORE_ID, LABEL_ID_TO_TRAIN_ID, NUM_CLASSES
from training.data import CityscapesDataset, generate_scene, scene_rng
from training.data.camera import Camera
from training.data.canvas import Canvas
from training.data.furniture import sign_post, traffic_light
from training.data.class_stats import main as class_stats_main
from training.data.make_data import main as make_data
from training.data.preview import main as preview_main
from training.data.people import pedestrian, two_wheeler
from training.data.scene_generator import draw_items, sample_scene, scene_items
from training.data.scenery import buildings
from training.data.vehicles import bus, car, tram, truck
from training.data.world import ID, Light, Scene, Street

W, H = 128, 64


def fixed_scene(width: int = 256, height: int = 128) -> Scene:
    """A level camera in the right lane of a straight two-lane street, overcast."""
    camera = Camera(width, height, focal=1.1 * width, mount_height=1.5, pitch=0.0, yaw=0.0)
    street = Street(lanes=2, lane_width=3.5, camera_lane=1, parking=(False, False), curb_height=0.15,
                    verge=(0.0, 0.0), sidewalk=(3.0, 3.0), garden=(0.0, 0.0), built=(True, True), curvature=0.0,
                    end=200.0, closed=False, tram_lane=None, crosswalk=None)
    return Scene(camera, street, Light(None, 1.0, np.ones(3, np.float32)))


def drawn(scene: Scene, *items) -> Canvas:
    canvas = Canvas(scene.camera.width, scene.camera.height)
    draw_items(canvas, scene.camera, list(items))
    return canvas


def pixels_of(canvas: Canvas, name: str) -> int:
    return int((canvas.label == ID[name]).sum())


def test_scene_is_rgb_uint8_with_valid_train_ids():
    image, label = generate_scene(np.random.default_rng(0), W, H)
    assert image.shape == (H, W, 3) and image.dtype == np.uint8
    assert label.shape == (H, W) and label.dtype == np.uint8
    assert set(np.unique(label)) <= set(range(NUM_CLASSES)) | {IGNORE_ID}
    assert image.std() > 10  # a picture, not a blank frame


def test_same_seed_same_scene_and_other_seeds_other_scenes():
    a = generate_scene(np.random.default_rng(7), W, H)
    b = generate_scene(np.random.default_rng(7), W, H)
    c = generate_scene(np.random.default_rng(8), W, H)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_splits_and_indices_have_independent_streams():
    train = [generate_scene(scene_rng(0, "train", i), W, H)[0] for i in range(3)]
    val = [generate_scene(scene_rng(0, "val", i), W, H)[0] for i in range(3)]
    for i in range(3):
        assert not np.array_equal(train[i], val[i])
        assert not np.array_equal(train[i], train[(i + 1) % 3])
    np.testing.assert_array_equal(train[1], generate_scene(scene_rng(0, "train", 1), W, H)[0])


def test_camera_is_a_pinhole_over_a_flat_ground():
    camera = Camera(200, 100, focal=100.0, mount_height=1.5, pitch=0.0, yaw=0.0)
    assert camera.horizon == pytest.approx(50.0)
    np.testing.assert_allclose(camera.project(np.array([[0.0, 0.0, 10.0], [2.0, 0.0, 10.0], [0.0, 1.5, 30.0]])),
                               [[100.0, 65.0], [120.0, 65.0], [100.0, 50.0]])
    turned = Camera(200, 100, focal=100.0, mount_height=1.5, pitch=0.05, yaw=0.1)
    assert turned.project(np.array([[0.0, 1.5, 50.0]]))[0, 0] < 100  # looking right, straight ahead moves left
    assert turned.horizon < 50  # looking down, the horizon rises
    crossing = np.array([[-1.0, 0.0, -5.0], [1.0, 0.0, -5.0], [1.0, 0.0, 5.0], [-1.0, 0.0, 5.0]])
    polygon = camera.polygon(crossing)
    assert polygon is not None and np.isfinite(polygon).all() and polygon[:, 1].min() > camera.horizon
    assert camera.polygon(crossing - [0.0, 0.0, 20.0]) is None


def test_frustum_culling_is_conservative():
    camera = Camera(200, 100, focal=100.0, mount_height=1.5, pitch=0.0, yaw=0.0)
    assert camera.may_see(np.array([[0.0, 1.0, 10.0], [1.0, 1.0, 10.0]]))
    assert not camera.may_see(np.array([[30.0, 1.0, 10.0], [40.0, 1.0, 12.0]]))  # right of the view
    assert not camera.may_see(np.array([[0.0, 1.0, -5.0], [1.0, 1.0, -3.0]]))  # behind
    assert camera.may_see(np.array([[-30.0, 1.0, -5.0], [30.0, 1.0, 5.0]]))  # straddles the lens
    # Whatever is culled in real scenes would not have drawn a pixel.
    culled = 0
    for index in range(6):
        scene = sample_scene(scene_rng(3, "train", index), W, H)
        for item in scene_items(scene, scene_rng(4, "train", index)):
            if not scene.camera.may_see(item.bounds):
                canvas = Canvas(W, H)
                item.draw(canvas)
                assert (canvas.label == IGNORE_ID).all() and not canvas.image.any()
                culled += 1
    assert culled > 10


def test_canvas_writes_image_and_label_with_the_same_pixels():
    canvas = Canvas(64, 48)
    canvas.fill([np.array([[3.3, 4.1], [40.7, 9.2], [22.5, 30.6]])], (90, 120, 30), ID["car"])
    canvas.lines([np.array([[5.0, 40.0], [60.0, 35.5], [50.0, 10.0]])], 3.4, (200, 10, 10), ID["pole"])
    canvas.disc(np.array([50.2, 40.7]), 5.3, (10, 200, 10), ID["person"])
    painted = canvas.image.any(axis=2)
    labelled = canvas.label != IGNORE_ID
    assert painted.sum() > 300
    np.testing.assert_array_equal(painted, labelled)
    assert (canvas.image[canvas.label == ID["person"]] == (10, 200, 10)).all()


def test_objects_shrink_with_distance():
    scene = fixed_scene()
    lane = scene.street.lane_center(1)
    near = pixels_of(drawn(scene, car(scene, np.random.default_rng(1), lane, 10.0, 0.0)[0]), "car")
    far = pixels_of(drawn(scene, car(scene, np.random.default_rng(1), lane, 20.0, 0.0)[0]), "car")
    assert 3.0 < near / far < 5.0  # area falls with the square of distance


def test_painter_draws_far_before_near_whatever_the_order():
    scene = fixed_scene()
    lane = scene.street.lane_center(1)
    person = pedestrian(scene, np.random.default_rng(2), lane, 8.0, 0.0)
    vehicle, _ = car(scene, np.random.default_rng(3), lane, 14.0, 0.0)
    alone = pixels_of(drawn(scene, person), "person")
    both = drawn(scene, person, vehicle)
    assert pixels_of(both, "person") == alone > 0 and pixels_of(both, "car") > 0
    np.testing.assert_array_equal(both.label, drawn(scene, vehicle, person).label)
    # Buildings are a lower layer: drawn first even when nearer than a street object.
    facade = buildings(scene, np.random.default_rng(4))
    np.testing.assert_array_equal(drawn(scene, person, *facade).label, drawn(scene, *facade, person).label)
    assert pixels_of(drawn(scene, *facade, person), "person") == alone


@pytest.mark.parametrize("name, build", [
    ("train", lambda s, r: tram(s, r, s.street.lane_center(0), 15.0, np.pi)[0]),
    ("bus", lambda s, r: bus(s, r, s.street.lane_center(0), 12.0, np.pi)[0]),
    ("truck", lambda s, r: truck(s, r, s.street.lane_center(1), 12.0, 0.0)[0]),
    ("motorcycle", lambda s, r: two_wheeler(s, r, s.street.lane_center(1), 8.0, 0.0, True, True)),
    ("bicycle", lambda s, r: two_wheeler(s, r, 4.5, 8.0, np.pi / 2, False, False)),
    ("traffic light", lambda s, r: traffic_light(s, r, 4.0, 25.0, 1, True)),
    ("traffic sign", lambda s, r: sign_post(s, r, 4.0, 8.0)),
])
def test_rare_classes_are_drawn(name, build):
    scene = fixed_scene()
    canvas = drawn(scene, build(scene, np.random.default_rng(5)))
    assert pixels_of(canvas, name) > 20
    if name == "motorcycle":
        assert pixels_of(canvas, "rider") > 20
    if name == "traffic light":
        assert pixels_of(canvas, "pole") > 20


@pytest.fixture(scope="module")
def scenes():
    return [generate_scene(scene_rng(0, "train", i), W, H) for i in range(24)]


def test_class_frequencies_are_cityscapes_like(scenes):
    counts = sum(np.bincount(label.ravel(), minlength=256) for _, label in scenes)[:NUM_CLASSES]
    fraction = dict(zip(CLASS_NAMES, counts / counts.sum()))
    assert fraction["road"] + fraction["building"] + fraction["vegetation"] + fraction["sky"] > 0.6
    assert fraction["road"] == max(fraction.values())
    for name in ("person", "rider", "bicycle", "motorcycle", "traffic light", "traffic sign"):
        assert fraction[name] < 0.03, name
    common = ("road", "sidewalk", "building", "vegetation", "sky", "car", "pole", "person")
    assert all(fraction[name] > 0.001 for name in common)


def test_colour_alone_does_not_give_the_class(scenes):
    """A per-pixel colour lookup (16^3 bins, majority class) trained on some scenes does poorly on others."""
    def bins(image):
        q = image.reshape(-1, 3) // 16
        return (q[:, 0].astype(int) * 16 + q[:, 1]) * 16 + q[:, 2]

    table = np.zeros((16 ** 3, 256), np.int64)
    for image, label in scenes[:12]:
        np.add.at(table, (bins(image), label.ravel()), 1)
    table[:, IGNORE_ID] = 0
    truth = np.concatenate([label.ravel() for _, label in scenes[12:]])
    guess = np.concatenate([table.argmax(axis=1)[bins(image)] for image, _ in scenes[12:]])
    valid = truth != IGNORE_ID
    accuracy = (guess[valid] == truth[valid]).mean()
    ious = [((guess == c) & (truth == c)).sum() / ((guess == c) | (truth == c))[valid].sum()
            for c in np.unique(truth[valid])]
    assert accuracy < 0.7 and np.mean(ious) < 0.3


def stems(folder):
    return sorted(p.name for p in folder.iterdir())


def test_make_data_writes_the_official_layout(tmp_path):
    assert make_data([str(tmp_path), "--split", "val", "--num", "3", "--size", "64x32", "--seed", "5",
                      "--workers", "1"]) == 0
    images, labels = tmp_path / "leftImg8bit" / "val" / "synth", tmp_path / "gtFine" / "val" / "synth"
    names = [f"synth_{i:06d}_000019" for i in range(3)]
    assert stems(images) == [f"{n}_leftImg8bit.png" for n in names]
    assert stems(labels) == sorted(f"{n}_gtFine_{kind}.png" for n in names for kind in ("color", "labelIds",
                                                                                       "labelTrainIds"))
    for name in names:
        train_ids = cv2.imread(str(labels / f"{name}_gtFine_labelTrainIds.png"), cv2.IMREAD_UNCHANGED)
        label_ids = cv2.imread(str(labels / f"{name}_gtFine_labelIds.png"), cv2.IMREAD_UNCHANGED)
        colour = cv2.imread(str(labels / f"{name}_gtFine_color.png"), cv2.IMREAD_UNCHANGED)
        assert train_ids.shape == (32, 64) and colour.shape == (32, 64, 4)
        np.testing.assert_array_equal(LABEL_ID_TO_TRAIN_ID[label_ids], train_ids)
        np.testing.assert_array_equal(cv2.cvtColor(colour, cv2.COLOR_BGRA2RGB), COLOR_LUT[train_ids])
    image, label = CityscapesDataset(tmp_path, "val")[2]
    np.testing.assert_array_equal(image, generate_scene(scene_rng(5, "val", 2), 64, 32)[0])
    np.testing.assert_array_equal(label, generate_scene(scene_rng(5, "val", 2), 64, 32)[1])


def test_make_data_writes_class_frequencies(tmp_path):
    assert make_data([str(tmp_path), "--num", "4", "--size", "64x32", "--workers", "1"]) == 0
    report = json.loads((tmp_path / "class_frequencies_train.json").read_text())
    labels = [lab for _, lab in CityscapesDataset(tmp_path, "train")]
    counts = sum(np.bincount(lab.ravel(), minlength=256) for lab in labels)
    assert list(report["classes"]) == list(CLASS_NAMES)
    assert report["num_images"] == 4 and report["size"] == [64, 32] and report["split"] == "train"
    assert report["ignored_pixels"] == counts[IGNORE_ID]
    assert report["labelled_pixels"] + report["ignored_pixels"] == 4 * 64 * 32
    for train_id, name in enumerate(CLASS_NAMES):
        assert report["classes"][name]["pixels"] == counts[train_id]
        assert report["classes"][name]["fraction"] == pytest.approx(counts[train_id] / report["labelled_pixels"])


def test_frequency_table_and_sample_picture_tools(tmp_path, capsys):
    assert make_data([str(tmp_path), "--num", "2", "--size", "64x32", "--workers", "1"]) == 0
    assert class_stats_main([str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert all(f"| {name} |" in table for name in CLASS_NAMES) and "| road | " in table
    assert preview_main([str(tmp_path / "grid.png"), "--num", "3", "--size", "64x32", "--columns", "2",
                         "--scale", "1"]) == 0
    grid = cv2.imread(str(tmp_path / "grid.png"))
    assert grid.shape == (2 * 32 + 12, 2 * (2 * 64 + 4) + 12, 3)
    with pytest.raises(SystemExit):
        class_stats_main([str(tmp_path), "--split", "val"])


def test_output_does_not_depend_on_the_number_of_workers(tmp_path):
    for workers in ("1", "2"):
        assert make_data([str(tmp_path / workers), "--num", "5", "--size", "64x32", "--workers", workers]) == 0
    for kind in ("leftImg8bit", "gtFine"):
        one, two = tmp_path / "1" / kind / "train" / "synth", tmp_path / "2" / kind / "train" / "synth"
        assert stems(one) == stems(two)
        for name in stems(one):
            assert (one / name).read_bytes() == (two / name).read_bytes(), name


@pytest.mark.parametrize("args, message", [
    (["--num", "2", "--size", "12"], "not WIDTHxHEIGHT"),
    (["--num", "2", "--size", "8x8"], "within 16..8192"),
    (["--num", "-1"], "below the minimum 1"),
    (["--num", "0"], "below the minimum 1"),
    (["--num", "2", "--seed", "-3"], "below the minimum 0"),
    (["--num", "two"], "not an integer"),
    (["--num", "2", "--split", "../x"], "becomes a folder"),
])
def test_bad_arguments_exit_with_a_clear_message(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        make_data([str(tmp_path)] + args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "leftImg8bit").exists()


def test_existing_split_needs_overwrite(tmp_path, capsys):
    args = [str(tmp_path), "--num", "2", "--size", "64x32", "--workers", "1"]
    assert make_data(args) == 0
    with pytest.raises(SystemExit) as exit_info:
        make_data(args[:2] + ["1"] + args[3:])
    assert exit_info.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert make_data(args[:2] + ["1"] + args[3:] + ["--overwrite"]) == 0
    assert len(CityscapesDataset(tmp_path, "train")) == 1


def test_runs_as_a_module(tmp_path):
    result = subprocess.run([sys.executable, "-m", "training.data.make_data", str(tmp_path), "--num", "1",
                             "--size", "32x16", "--workers", "1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "leftImg8bit" / "train" / "synth" / "synth_000000_000019_leftImg8bit.png").is_file()
