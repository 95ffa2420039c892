"""CityscapesDataset on hand-made official-layout folders: id mapping, pairing, errors that name the file."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from seg_perception.labels import IGNORE_ID, LABEL_ID_TO_TRAIN_ID, TRAIN_ID_TO_LABEL_ID, class_ids
from training.data import CityscapesDataset, DatasetError, cityscapes, label_path_for
from training.data.make_data import main as make_data

ROAD, CAR, PERSON = class_ids(["road", "car", "person"])
UNLABELED_ID = 0  # Cityscapes labelId 0 ('unlabeled') has no trainId


def stem(city: str, seq: int) -> str:
    return f"{city}_{seq:06d}_000019"


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def write_gray(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), values)


def known_label_ids(h: int = 6, w: int = 8) -> np.ndarray:
    """labelIds with road on top, car bottom-left, person bottom-right and one unlabeled pixel."""
    ids = np.full((h, w), TRAIN_ID_TO_LABEL_ID[ROAD], np.uint8)
    ids[h // 2:, : w // 2] = TRAIN_ID_TO_LABEL_ID[CAR]
    ids[h // 2:, w // 2:] = TRAIN_ID_TO_LABEL_ID[PERSON]
    ids[0, 0] = UNLABELED_ID
    return ids


def expected_train_ids(h: int = 6, w: int = 8) -> np.ndarray:
    train = np.full((h, w), ROAD, np.uint8)
    train[h // 2:, : w // 2] = CAR
    train[h // 2:, w // 2:] = PERSON
    train[0, 0] = IGNORE_ID
    return train


def write_sample(root: Path, split: str, city: str, seq: int, rgb: np.ndarray, label_ids: np.ndarray | None) -> Path:
    image = root / "leftImg8bit" / split / city / f"{stem(city, seq)}_leftImg8bit.png"
    write_rgb(image, rgb)
    if label_ids is not None:
        write_gray(root / "gtFine" / split / city / f"{stem(city, seq)}_gtFine_labelIds.png", label_ids)
    return image


@pytest.fixture
def root(tmp_path):
    rng = np.random.default_rng(0)
    for city, seq in (("zurich", 3), ("aachen", 1), ("aachen", 0)):
        write_sample(tmp_path, "train", city, seq, rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), known_label_ids())
    return tmp_path


def test_reads_rgb_images_and_maps_label_ids_to_train_ids(root):
    dataset = CityscapesDataset(root, "train")
    assert len(dataset) == 3
    image, label = dataset[0]
    expected_rgb = cv2.cvtColor(cv2.imread(str(dataset.files[0][0])), cv2.COLOR_BGR2RGB)
    assert image.dtype == np.uint8 and image.shape == (6, 8, 3)
    np.testing.assert_array_equal(image, expected_rgb)
    assert label.dtype == np.uint8
    np.testing.assert_array_equal(label, expected_train_ids())


def test_files_are_sorted_pairs_across_cities(root):
    dataset = CityscapesDataset(root, "train")
    names = [image.name for image, _ in dataset.files]
    assert names == [f"{stem('aachen', 0)}_leftImg8bit.png", f"{stem('aachen', 1)}_leftImg8bit.png",
                     f"{stem('zurich', 3)}_leftImg8bit.png"]
    for image, label in dataset.files:
        assert label == label_path_for(image)
        assert label.parent == root / "gtFine" / "train" / image.parent.name
        assert label.name == image.name.replace("_leftImg8bit.png", "_gtFine_labelIds.png")


def test_prefers_label_train_ids_when_present(root):
    image = root / "leftImg8bit" / "train" / "aachen" / f"{stem('aachen', 0)}_leftImg8bit.png"
    train_ids = np.full((6, 8), CAR, np.uint8)
    train_ids[:, :2] = IGNORE_ID
    write_gray(root / "gtFine" / "train" / "aachen" / f"{stem('aachen', 0)}_gtFine_labelTrainIds.png", train_ids)
    dataset = CityscapesDataset(root, "train")
    assert dataset.files[0] == (image, label_path_for(image))
    assert dataset.files[0][1].name.endswith("_gtFine_labelTrainIds.png")
    np.testing.assert_array_equal(dataset[0][1], train_ids)
    np.testing.assert_array_equal(dataset[1][1], expected_train_ids())  # the others still use labelIds


def test_every_label_id_maps_through_the_class_table(tmp_path):
    ids = np.arange(256, dtype=np.uint8).reshape(16, 16)
    write_sample(tmp_path, "val", "lindau", 0, np.zeros((16, 16, 3), np.uint8), ids)
    _, label = CityscapesDataset(tmp_path, "val")[0]
    np.testing.assert_array_equal(label, LABEL_ID_TO_TRAIN_ID[ids])
    assert set(np.unique(label)) == set(range(19)) | {IGNORE_ID}


def test_transform_receives_the_pair(root):
    calls = []

    def transform(image, label):
        calls.append((image.shape, label.shape))
        return "x", "y"

    assert CityscapesDataset(root, "train", transform=transform)[2] == ("x", "y")
    assert calls == [((6, 8, 3), (6, 8))]


def test_scale_shrinks_image_by_area_and_label_by_nearest(tmp_path):
    rgb = np.zeros((8, 12, 3), np.uint8)
    rgb[:, 6:] = 200
    ids = np.full((8, 12), TRAIN_ID_TO_LABEL_ID[ROAD], np.uint8)
    ids[:, 6:] = TRAIN_ID_TO_LABEL_ID[CAR]
    write_sample(tmp_path, "train", "bonn", 0, rgb, ids)
    image, label = CityscapesDataset(tmp_path, "train", scale=0.5)[0]
    assert image.shape == (4, 6, 3) and label.shape == (4, 6)
    np.testing.assert_array_equal(image[:, :3], 0)
    np.testing.assert_array_equal(image[:, 3:], 200)
    np.testing.assert_array_equal(label[:, :3], ROAD)
    np.testing.assert_array_equal(label[:, 3:], CAR)
    with pytest.raises(DatasetError, match="scale"):
        CityscapesDataset(tmp_path, "train", scale=1.5)


def test_missing_label_names_the_image_and_the_label(root):
    image = write_sample(root, "train", "zurich", 9, np.zeros((6, 8, 3), np.uint8), None)
    with pytest.raises(DatasetError) as error:
        CityscapesDataset(root, "train")
    message = str(error.value)
    assert str(image) in message and f"{stem('zurich', 9)}_gtFine_labelIds.png" in message
    assert "missing" in message


def test_label_of_the_wrong_size_names_the_file(root):
    bad = root / "gtFine" / "train" / "zurich" / f"{stem('zurich', 3)}_gtFine_labelIds.png"
    write_gray(bad, np.zeros((5, 8), np.uint8))
    dataset = CityscapesDataset(root, "train")
    with pytest.raises(DatasetError) as error:
        dataset[2]
    assert str(bad) in str(error.value) and "8x5" in str(error.value) and "8x6" in str(error.value)


def test_unreadable_image_names_the_file(root):
    bad = root / "leftImg8bit" / "train" / "aachen" / f"{stem('aachen', 1)}_leftImg8bit.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="unreadable image") as error:
        CityscapesDataset(root, "train")[1]
    assert str(bad) in str(error.value)


def test_unreadable_or_colour_label_names_the_file(root):
    bad = root / "gtFine" / "train" / "aachen" / f"{stem('aachen', 0)}_gtFine_labelIds.png"
    bad.write_bytes(b"\x89PNG truncated")
    dataset = CityscapesDataset(root, "train")
    with pytest.raises(DatasetError, match="unreadable label") as error:
        dataset[0]
    assert str(bad) in str(error.value)
    write_rgb(bad, np.zeros((6, 8, 3), np.uint8))
    with pytest.raises(DatasetError, match="single-channel") as error:
        dataset[0]
    assert str(bad) in str(error.value)


def test_train_ids_outside_the_table_name_the_file(root):
    bad = root / "gtFine" / "train" / "aachen" / f"{stem('aachen', 0)}_gtFine_labelTrainIds.png"
    values = np.zeros((6, 8), np.uint8)
    values[1, 1] = 19
    write_gray(bad, values)
    with pytest.raises(DatasetError, match=r"\[19\]") as error:
        CityscapesDataset(root, "train")[0]
    assert str(bad) in str(error.value)


def test_empty_or_missing_split_is_an_error_naming_the_folder(root):
    (root / "leftImg8bit" / "val" / "frankfurt").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no .*_leftImg8bit.png images") as error:
        CityscapesDataset(root, "val")
    assert str(root / "leftImg8bit" / "val") in str(error.value)
    with pytest.raises(DatasetError, match="no such split folder") as error:
        CityscapesDataset(root, "test")
    assert str(root / "leftImg8bit" / "test") in str(error.value)


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)


@pytest.mark.parametrize("text, reader, message", [
    ("{not json", "read_intrinsics", "camera calibration is not valid JSON"),
    ('{"extrinsic": {}}', "read_intrinsics", 'has no "intrinsic" object'),
    ('{"intrinsic": {"fx": 1, "fy": 1, "u0": 0}}', "read_intrinsics", "camera intrinsic lacks v0"),
    ('{"intrinsic": {"fx": 0, "fy": 1, "u0": 0, "v0": 0}}', "read_intrinsics", "focal lengths must be > 0"),
    ('{"distortion": {"k1": "big"}}', "read_distortion", "distortion must be an object with a finite k1"),
    ('{"distortion": [0.1]}', "read_distortion", "distortion must be an object with a finite k1"),
])
def test_malformed_camera_calibrations_name_the_file_and_the_problem(tmp_path, text, reader, message):
    path = tmp_path / "x_camera.json"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message) as error:
        getattr(cityscapes, reader)(path)
    assert str(path) in str(error.value)


def test_a_calibration_without_distortion_is_a_rectified_camera(tmp_path):
    path = tmp_path / "x_camera.json"
    path.write_text('{"intrinsic": {"fx": 2262.5, "fy": 2265.3, "u0": 1096.98, "v0": 513.137}}')
    assert cityscapes.read_distortion(path) == (0.0,) * 5
    path.write_text('{"distortion": {"model": "plumb_bob", "k1": -0.07}}')
    assert cityscapes.read_distortion(path) == (-0.07, 0.0, 0.0, 0.0, 0.0)


def test_generated_scenes_join_your_own_frames_in_one_split_without_touching_them(root):
    """The fine-tuning recipe (docs/EXPERIMENTS.md): seg-make-data into the root of your labelled frames adds a
    city of its own beside them, and the reader trains on both."""
    yours = sorted(p for p in root.rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in yours}
    assert make_data([str(root), "--split", "train", "--num", "2", "--size", "64x32", "--seed", "0"]) == 0
    assert {p: p.read_bytes() for p in yours} == before
    cities = [Path(image).parent.name for image, _ in CityscapesDataset(root, "train").files]
    assert sorted(cities) == ["aachen", "aachen", "synth", "synth", "zurich"]
    image, label = CityscapesDataset(root, "train")[2]  # a generated scene, among yours
    assert image.shape == (32, 64, 3) and label.shape == (32, 64)
    assert (label != IGNORE_ID).mean() > 0.5 and label[label != IGNORE_ID].max() < 19
