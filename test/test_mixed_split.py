"""experiments/mixed_split.py: two generated datasets linked into one training split that seg-train reads."""

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.data import CityscapesDataset
from training.data.class_stats import count_pixels
from training.data.make_data import generate_split
from training.data.profiles import PROFILES

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "mixed_split.py"
SPEC = importlib.util.spec_from_file_location("mixed_split", SCRIPT)
mixed_split = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(mixed_split)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    for name, profile, size in (("default", "default", (64, 32)), ("shifted", "shifted", (64, 32)),
                                ("small", "shifted", (32, 16))):
        generate_split(root / name, "train", 4, *size, seed=1, progress=False, profile=PROFILES[profile])
        for split, split_profile in (("val", "default"), ("val_shifted", "shifted")):
            generate_split(root / name, split, 2, *size, seed=1, progress=False, profile=PROFILES[split_profile])
    return root


def test_scenes_come_from_each_source_by_index_and_the_split_reads_as_a_dataset(sources, tmp_path, capsys):
    out = tmp_path / "mix"
    assert mixed_split.main(["--first", str(sources / "default"), "--second", str(sources / "shifted"),
                             "--num", "4", "--split-at", "1", "--out", str(out)]) == 0
    images = sorted((out / "leftImg8bit" / "train" / "synth").iterdir())
    assert [path.resolve().parents[3].name for path in images] == ["default", "shifted", "shifted", "shifted"]
    assert len(CityscapesDataset(out, "train")) == 4 and len(CityscapesDataset(out, "val_shifted")) == 2
    labels = sorted((out / "gtFine" / "train" / "synth").glob("*_labelTrainIds.png"))
    expected = sum(count_pixels(cv2.imread(str(path), cv2.IMREAD_UNCHANGED)) for path in labels)
    report = json.loads((out / "class_frequencies_train.json").read_text())
    assert report["labelled_pixels"] + report["ignored_pixels"] == 4 * 64 * 32
    assert report["classes"]["road"]["pixels"] == int(expected[0]) and report["seed"] == [1, 1]
    assert report["profile"] == "default (scenes 0-0) + shifted (1-3)"
    assert np.array_equal(cv2.imread(str(images[0])), cv2.imread(str(sources / "default" / images[0].relative_to(out))))


@pytest.mark.parametrize("second, num, message", [
    ("shifted", 6, "shifted: train scene 4 has no synth_000004_000019_leftImg8bit.png; make the scenes with "
                   "seg-make-data --split train --num 5 or more"),
    ("small", 4, "[32, 16] scenes: sizes differ"),
    ("missing", 4, "class_frequencies_train.json does not exist"),
])
def test_a_source_that_cannot_give_its_scenes_stops_before_anything_is_written(sources, tmp_path, capsys, second,
                                                                               num, message):
    out = tmp_path / "mix"
    with pytest.raises(SystemExit) as exit_info:
        mixed_split.main(["--first", str(sources / "default"), "--second", str(sources / second), "--num", str(num),
                          "--out", str(out)])
    assert exit_info.value.code == 1 and message in capsys.readouterr().err and not out.exists()
