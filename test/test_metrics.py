"""Confusion matrix, IoU and report files, checked against numbers worked out by hand."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from seg_perception import labels
from seg_perception.metrics import ConfusionMatrix, SegMetrics, confusion_matrix, iou_from_confusion
from seg_perception.reports import write_metrics

# 3 classes; "ignore" gt pixels at [1, 1] and [1, 2]; predicted 255 at [0, 3] and 7 (out of range) at [1, 3].
GT = np.array([[0, 0, 1, 1], [2, 255, 255, 1]], dtype=np.uint8)
PRED = np.array([[0, 1, 1, 255], [0, 2, 0, 7]], dtype=np.uint8)
# rows = gt, columns = pred 0, 1, 2 and "no valid class"
EXPECTED_CM = [
    [1, 1, 0, 0],
    [0, 1, 0, 2],
    [1, 0, 0, 0],
]
# class 0: tp 1, fn 1, fp 1 (gt 2 -> 0); class 1: tp 1, fn 2 (both invalid predictions), fp 1;
# class 2: tp 0, fn 1, and its prediction on an ignored pixel is no false positive.
EXPECTED_IOU = [1 / 3, 1 / 4, 0.0]


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(PRED, GT, num_classes=3)
    assert cm.dtype == np.int64
    assert cm.tolist() == EXPECTED_CM
    np.testing.assert_allclose(iou_from_confusion(cm), EXPECTED_IOU)


def test_iou_from_square_matrix():
    # The C x C form: no invalid predictions to account for.
    cm = np.array([[3, 1], [2, 4]])
    np.testing.assert_allclose(iou_from_confusion(cm), [3 / 6, 4 / 7])
    with pytest.raises(ValueError, match="shape"):
        iou_from_confusion(np.zeros((2, 4)))


def test_compute_by_hand_with_absent_and_false_positive_classes():
    names = ["a", "b", "c", "d", "e"]
    pred = PRED.copy()
    pred[1, 2] = 3  # class 3 predicted only where the gt is ignored: still absent
    matrix = ConfusionMatrix(num_classes=5, class_names=names)
    matrix.update(pred, GT)
    result = matrix.compute()
    assert result.per_class_iou == {"a": 1 / 3, "b": 1 / 4, "c": 0.0, "d": None, "e": None}
    assert result.miou == pytest.approx((1 / 3 + 1 / 4) / 3)
    assert result.pixel_accuracy == pytest.approx(2 / 6)

    pred[0, 1] = 4  # class 4 predicted on a valid pixel: IoU 0, and it now counts in the mean
    matrix = ConfusionMatrix(num_classes=5, class_names=names)
    matrix.update(pred, GT)
    result = matrix.compute()
    # "a" keeps IoU 1/3 (its false negative moved to "e"); "b" lost its false positive.
    assert result.per_class_iou == {"a": 1 / 3, "b": 1 / 3, "c": 0.0, "d": None, "e": 0.0}
    assert result.miou == pytest.approx((1 / 3 + 1 / 3) / 4)
    json.dumps(result.to_dict(), allow_nan=False)


def test_accumulate_and_merge_equal_one_pass():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 4, size=(6, 5, 7)).astype(np.uint8)
    gt[gt == 3] = 255
    pred = rng.integers(0, 3, size=gt.shape)
    whole = confusion_matrix(pred, gt, num_classes=3)

    first, second = ConfusionMatrix(3), ConfusionMatrix(3)
    for i in range(3):
        first.update(pred[i], gt[i])
    second.update(pred[3:], gt[3:])
    assert first.merge(second).matrix.tolist() == whole.tolist()
    assert ConfusionMatrix(3).merge(whole).matrix.tolist() == whole.tolist()
    with pytest.raises(ValueError, match="merge"):
        first.merge(ConfusionMatrix(4))


def test_defaults_are_the_cityscapes_classes():
    matrix = ConfusionMatrix()
    assert matrix.matrix.shape == (labels.NUM_CLASSES, labels.NUM_CLASSES + 1)
    matrix.update(np.zeros((2, 2), np.uint8), np.array([[0, 0], [labels.IGNORE_ID, 0]], np.uint8))
    result = matrix.compute()
    assert list(result.per_class_iou) == list(labels.CLASS_NAMES)
    assert result.per_class_iou["road"] == 1.0
    assert result.miou == 1.0


def test_nothing_to_score_is_none():
    matrix = ConfusionMatrix(3)
    matrix.update(np.zeros((2, 2)), np.full((2, 2), 255))
    assert matrix.compute() == SegMetrics(None, None, {"0": None, "1": None, "2": None})


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="id 7"):
        confusion_matrix(np.zeros(2), np.array([0, 7]), num_classes=3)
    with pytest.raises(ValueError, match="class names"):
        ConfusionMatrix(3, class_names=["a"])


def test_metrics_module_imports_without_torch():
    code = "import sys, seg_perception.metrics, seg_perception.reports; sys.exit('torch' in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def _hand_metrics():
    matrix = ConfusionMatrix(num_classes=4, class_names=["a", "b", "c", "d"])
    matrix.update(PRED, GT)
    return matrix.compute()


def test_write_metrics_json_and_report(tmp_path):
    out = tmp_path / "eval"
    image = tmp_path / "figs" / "frame 1.png"
    extra = {"num_images": np.int64(3), "latency_ms": float("nan"), "sizes": np.array([1, 2]),
             "fog": {"seconds": 2.5, "spans": [[1.0, 3.5]], "free_iou": 0.5}}
    json_path, md_path = write_metrics(out, _hand_metrics(), extra, title="Bag eval", images=[image])

    data = json.loads(json_path.read_text())
    assert list(data) == ["miou", "pixel_accuracy", "per_class_iou", "num_images", "latency_ms", "sizes", "fog"]
    assert data["miou"] == pytest.approx((1 / 3 + 1 / 4) / 3)
    assert data["per_class_iou"] == {"a": pytest.approx(1 / 3), "b": 0.25, "c": 0.0, "d": None}
    assert (data["latency_ms"], data["sizes"], data["num_images"]) == (None, [1, 2], 3)

    report = md_path.read_text()
    assert report.startswith("# Bag eval\n")
    for row in ("| mIoU (%) | 19.44 |", "| pixel accuracy (%) | 33.33 |", "| classes scored | 3 / 4 |",
                "| num_images | 3 |", "| fog seconds | 2.5 |", "| fog free_iou (%) | 50.00 |", "| a | 33.33 |", "| b | 25.00 |", "| d | n/a |",
                "![frame 1.png](<../figs/frame 1.png>)"):
        assert row in report.splitlines()
    assert "sizes" not in report and "spans" not in report  # lists stay in the JSON
    assert sorted(os.listdir(out)) == ["metrics.json", "report.md"]
    assert json_path.stat().st_mode & 0o777 == 0o644


def test_write_metrics_takes_a_mapping_and_refuses_clashes(tmp_path):
    metrics = _hand_metrics().to_dict()
    write_metrics(tmp_path, metrics)
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    with pytest.raises(ValueError, match="miou"):
        write_metrics(tmp_path, metrics, extra={"miou": 1.0})
    with pytest.raises(ValueError, match="per_class_iou"):
        write_metrics(tmp_path, {"miou": 0.5, "pixel_accuracy": 0.5})


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    write_metrics(tmp_path, _hand_metrics(), {"run": 1})
    before = (tmp_path / "metrics.json").read_text()

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_metrics(tmp_path, _hand_metrics(), {"run": 2})
    assert (tmp_path / "metrics.json").read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["metrics.json", "report.md"]


def test_drivable_counts_take_the_union_of_classes_and_count_unknown_predictions_as_not_drivable():
    matrix = ConfusionMatrix(3, class_names=("road", "sidewalk", "car"))
    matrix.update(PRED, GT)
    # drivable = road alone: tp 1 (0 -> 0), fp 1 (gt 2 -> 0), fn 1 (0 -> 1), tn 3 (1 -> 1, 1 -> unknown twice)
    assert matrix.drivable_counts(["road"]) == (1, 1, 1, 3)
    assert matrix.drivable_iou(["road"]) == pytest.approx(1 / 3)
    # road and sidewalk: the 0 -> 1 pixel is now a hit, the unknown predictions of sidewalk are misses
    assert matrix.drivable_counts(["road", "sidewalk"]) == (3, 1, 2, 0)
