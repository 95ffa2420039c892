"""The class table must equal cityscapesscripts' entry by entry."""

import numpy as np
import pytest
from cityscapesscripts.helpers import labels as cs

from seg_perception import labels


def test_nineteen_train_classes_match_cityscapesscripts():
    assert labels.NUM_CLASSES == 19
    for train_id, name in enumerate(labels.CLASS_NAMES):
        ref = cs.trainId2label[train_id]
        assert ref.name == name
        assert tuple(labels.PALETTE[train_id]) == ref.color
        assert labels.TRAIN_ID_TO_LABEL_ID[train_id] == ref.id


def test_label_id_lut_covers_every_cityscapes_label():
    for ref in cs.labels:
        if ref.id < 0:
            continue  # license plate: id -1, never in label images
        expected = ref.trainId if 0 <= ref.trainId < 255 else labels.IGNORE_ID
        assert labels.LABEL_ID_TO_TRAIN_ID[ref.id] == expected, ref.name
    assert labels.LABEL_ID_TO_TRAIN_ID[200] == labels.IGNORE_ID


def test_whole_image_lookups_round_trip():
    train_ids = np.array([[0, 1, 18], [255, 13, 7]], dtype=np.uint8)
    label_ids = labels.TRAIN_ID_TO_LABEL_ID_LUT[train_ids]
    assert label_ids.tolist() == [[7, 8, 33], [0, 26, 20]]
    back = labels.LABEL_ID_TO_TRAIN_ID[label_ids]
    assert back.tolist() == train_ids.tolist()
    rgb = labels.colorize(train_ids)
    assert rgb.shape == (2, 3, 3)
    assert tuple(rgb[0, 0]) == cs.name2label["road"].color
    assert tuple(rgb[1, 0]) == (0, 0, 0)


def test_drivable_lut_by_names():
    lut = labels.drivable_lut()
    assert np.flatnonzero(lut).tolist() == [0]
    assert lut[0] == 255
    lut = labels.drivable_lut(["road", "sidewalk", "terrain"])
    assert np.flatnonzero(lut).tolist() == [0, 1, 9]
    assert lut[255] == 0


def test_unknown_class_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown drivable class 'raod'; valid names: road, sidewalk"):
        labels.drivable_lut(["raod"])


@pytest.mark.parametrize(("names", "reason"), [
    ([], "at least one class"),
    ("road", "a list of class names"),
    (["road", 3], "a list of class names"),
    (["lava", "moat"], "unknown drivable classes 'lava', 'moat'; valid names: road, sidewalk"),
])
def test_drivable_classes_are_checked_in_one_place(names, reason):
    with pytest.raises(ValueError, match=reason):
        labels.check_drivable_classes(names)


def test_drivable_classes_are_checked_against_a_models_own_classes():
    assert labels.check_drivable_classes(["road", "terrain"]) == ("road", "terrain")
    assert labels.check_drivable_classes(["ground"], ("ground", "sky")) == ("ground",)
    with pytest.raises(ValueError, match="valid names: ground, sky"):
        labels.check_drivable_classes(["road"], ("ground", "sky"))


def test_tables_are_read_only():
    with pytest.raises(ValueError):
        labels.LABEL_ID_TO_TRAIN_ID[7] = 3
