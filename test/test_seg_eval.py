"""seg-eval --pred-dir: agrees with cityscapesscripts' evalPixelLevelSemanticLabeling, fails loudly on bad input."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs_eval
from cityscapesscripts.helpers.labels import name2label

from seg_perception import labels
from training.evaluate import main

FRAMES = ["aachen_000000_000019", "aachen_000001_000019", "bochum_000000_000313"]
HEIGHT, WIDTH = 32, 64
# Never in the ground truth: "bus" and "train" are predicted (IoU 0), "motorcycle" never is (no IoU).
GT_IDS = [c.id for c in name2label.values() if c.id >= 0 and c.name not in ("bus", "train", "motorcycle")]
PRED_IDS = [c.id for c in name2label.values() if c.id >= 0 and c.name != "motorcycle"]


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def gt_path(root: Path, frame: str) -> Path:
    return root / "gt" / "val" / frame.split("_")[0] / f"{frame}_gtFine_labelIds.png"


def pred_path(root: Path, frame: str) -> Path:
    return root / "pred" / frame.split("_")[0] / f"{frame}_leftImg8bit.png"


@pytest.fixture
def dataset(tmp_path):
    """3 labelId GT / prediction pairs; GT includes ignored ids (0 unlabeled, 9 parking, ...), predictions are
    60 % correct and otherwise any labelId, ignored ones included."""
    rng = np.random.default_rng(4)
    for frame in FRAMES:
        gt = rng.choice(GT_IDS, size=(HEIGHT, WIDTH)).astype(np.uint8)
        noise = rng.choice(PRED_IDS, size=(HEIGHT, WIDTH)).astype(np.uint8)
        write_png(gt_path(tmp_path, frame), gt)
        write_png(pred_path(tmp_path, frame), np.where(rng.random(gt.shape) < 0.6, gt, noise))
    return tmp_path


def run(root: Path, *extra: str) -> int:
    return main(["--pred-dir", str(root / "pred"), "--gt-dir", str(root / "gt"), "--out", str(root / "out"), *extra])


def official_results(root: Path) -> dict:
    """cityscapesscripts' own evaluation of the same files, in process; it writes nothing."""
    args = copy.copy(cs_eval.args)
    args.predictionPath = str(root / "pred")
    args.predictionWalk = None
    args.evalInstLevelScore = False  # needs *_instanceIds.png; only the nIoU uses them
    args.JSONOutput = False
    args.quiet = True
    gts = [str(gt_path(root, frame)) for frame in FRAMES]
    preds = [cs_eval.getPrediction(args, gt) for gt in gts]
    return cs_eval.evaluateImgLists(preds, gts, args)


def test_agrees_with_cityscapesscripts(dataset):
    assert run(dataset) == 0
    ours = json.loads((dataset / "out" / "metrics.json").read_text())
    theirs = official_results(dataset)

    assert list(ours["per_class_iou"]) == list(labels.CLASS_NAMES)
    for name, iou in ours["per_class_iou"].items():
        reference = theirs["classScores"][name]
        if np.isnan(reference):
            assert iou is None, name
        else:
            assert abs(iou - reference) < 1e-4, name
    assert abs(ours["miou"] - theirs["averageScoreClasses"]) < 1e-4
    # The case the averaging rules are about must be in the data: absent classes, predicted or not.
    assert ours["per_class_iou"]["motorcycle"] is None
    assert ours["per_class_iou"]["train"] == ours["per_class_iou"]["bus"] == 0.0

    # Pixel accuracy from the official confusion matrix (labelIds): rows of evaluated classes only.
    cm = np.array(theirs["confMatrix"], dtype=np.int64)
    evaluated = labels.TRAIN_ID_TO_LABEL_ID
    accuracy = cm[evaluated, evaluated].sum() / cm[evaluated].sum()
    assert abs(ours["pixel_accuracy"] - accuracy) < 1e-9
    assert ours["frames"] == 3
    # drivable IoU (road) from the official confusion matrix: unknown predictions count as not drivable
    road = labels.TRAIN_ID_TO_LABEL_ID[0]
    tp, fn = cm[road, road], cm[road].sum() - cm[road, road]
    fp = cm[evaluated, road].sum() - tp
    assert ours["drivable_iou"] == pytest.approx(tp / (tp + fp + fn), abs=1e-9)

    report = (dataset / "out" / "report.md").read_text()
    assert f"| mIoU (%) | {100 * ours['miou']:.2f} |" in report
    assert "| motorcycle | n/a |" in report


def test_labelids_prediction_wins_over_a_colour_image(dataset):
    frame = FRAMES[0]
    labelids = pred_path(dataset, frame).with_name(f"{frame}_leftImg8bit_labelIds.png")
    pred_path(dataset, frame).rename(labelids)
    write_png(labelids.with_name(f"{frame}_leftImg8bit_color.png"), np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    assert run(dataset) == 0


def test_two_candidate_predictions_are_an_error(dataset, capsys):
    frame = FRAMES[1]
    write_png(pred_path(dataset, frame).with_name(f"{frame}_other.png"), np.zeros((HEIGHT, WIDTH), np.uint8))
    assert run(dataset) == 1
    assert f"several predictions for {gt_path(dataset, frame)}" in capsys.readouterr().err


def test_missing_prediction_names_the_ground_truth_file(dataset, capsys):
    pred_path(dataset, FRAMES[2]).unlink()
    assert run(dataset) == 1
    assert str(gt_path(dataset, FRAMES[2])) in capsys.readouterr().err
    assert not (dataset / "out" / "metrics.json").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (np.zeros((HEIGHT // 2, WIDTH), np.uint8), "is 64x16 but"),
        (np.zeros((HEIGHT, WIDTH, 3), np.uint8), "not a single-channel 8-bit labelId PNG"),
        (np.zeros((HEIGHT, WIDTH), np.uint16), "not a single-channel 8-bit labelId PNG"),
        (b"not a png", "cannot read"),
    ],
    ids=["size", "rgb", "16bit", "garbage"],
)
def test_bad_prediction_file_is_named(dataset, capsys, content, message):
    path = pred_path(dataset, FRAMES[1])
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        write_png(path, content)
    assert run(dataset) == 1
    err = capsys.readouterr().err
    assert message in err and str(path) in err


def test_ground_truth_is_never_its_own_prediction(dataset, capsys):
    argv = ["--pred-dir", str(dataset), "--gt-dir", str(dataset / "gt"), "--out", str(dataset / "out")]
    assert main(argv) == 0  # finds the predictions under dataset/pred, not the GT files
    assert json.loads((dataset / "out" / "metrics.json").read_text())["miou"] < 0.9
    assert main(["--pred-dir", str(dataset / "gt"), *argv[2:]]) == 1
    assert "no prediction under" in capsys.readouterr().err


def test_empty_or_missing_directories(tmp_path, capsys):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    assert run(tmp_path) == 1
    assert f"no *_gtFine_labelIds.png files under {tmp_path / 'gt'}" in capsys.readouterr().err
    assert main(["--pred-dir", str(tmp_path / "nope"), "--gt-dir", str(tmp_path), "--out", str(tmp_path)]) == 1
    assert f"prediction directory {tmp_path / 'nope'} does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--pred-dir", "p", "--checkpoint", "c", "--gt-dir", "g", "--out", "o"],
        ["--pred-dir", "p", "--out", "o"],
        ["--pred-dir", "p", "--gt-dir", "g", "--data", "d", "--out", "o"],
        ["--checkpoint", "c", "--out", "o"],
        ["--gt-dir", "g", "--out", "o"],
    ],
    ids=["both_modes", "no_gt", "data_with_pred", "no_data", "no_mode"],
)
def test_argument_errors_exit_2(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_console_script(dataset):
    script = Path(sys.executable).parent / "seg-eval"
    out = dataset / "cli"
    argv = [str(script), "--pred-dir", str(dataset / "pred"), "--gt-dir", str(dataset / "gt"), "--out", str(out)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "mIoU" in result.stdout and (out / "report.md").exists()
    pred_path(dataset, FRAMES[0]).unlink()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert f"seg-eval: error: no prediction under {dataset / 'pred'} for {gt_path(dataset, FRAMES[0])}" in result.stderr
