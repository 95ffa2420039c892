"""Every tool reads checkpoints through load_checkpoint and reports a bad one alike: one line naming the file,
the problem and what to do, exit 1, no traceback (seg_node's own cases are in test_node_inprocess.py)."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from seg_perception.inference import bench, export
from seg_perception.predict.cli import main as seg_predict
from seg_perception.ros.bag_eval import main as seg_bag_eval
from test_bags import write_pairs
from training.data.make_data import generate_split
from training.evaluate import main as seg_eval


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """What the tools read besides the checkpoint: a Cityscapes-layout split, a bag, an image folder."""
    root = tmp_path_factory.mktemp("inputs")
    generate_split(root / "data", "val", 2, 64, 32, seed=1, progress=False)
    write_pairs(root / "bag", [10**18], [10**18])
    (root / "images").mkdir()
    cv2.imwrite(str(root / "images" / "a.png"), np.zeros((32, 64, 3), np.uint8))
    return root


def _tools(inputs: Path, out: Path) -> dict:
    """tool name -> a function running the tool's main on a checkpoint path, returning its exit status."""
    return {
        "seg-export": lambda path: export.main(["--checkpoint", str(path), "--backend", "onnx", "--out", str(out)]),
        "seg-bench": lambda path: bench.main(["--checkpoint", str(path), "--frames", "1"]),
        "seg-eval": lambda path: seg_eval(["--checkpoint", str(path), "--data", str(inputs / "data"),
                                           "--out", str(out)]),
        "seg-bag-eval": lambda path: seg_bag_eval([str(inputs / "bag"), "--checkpoint", str(path), "--out", str(out),
                                                   "--quiet"]),
        "seg-predict": lambda path: seg_predict([str(inputs / "images"), "--checkpoint", str(path), "--out",
                                                 str(out), "--quiet"]),
    }


@pytest.mark.parametrize("tool", ["seg-export", "seg-bench", "seg-eval", "seg-bag-eval", "seg-predict"])
def test_every_tool_refuses_every_bad_checkpoint_in_the_same_line(bad_checkpoints, inputs, tmp_path, capfd, tool):
    run = _tools(inputs, tmp_path / "out")[tool]
    for case, (path, message) in bad_checkpoints.items():
        capfd.readouterr()
        assert run(path) == 1, case
        err = capfd.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"{tool}: error: {path}: ") and message in err, (case, err)
        assert "weights_only" not in err, case


def test_the_installed_command_prints_no_traceback(bad_checkpoints, tmp_path):
    path, message = bad_checkpoints["zero_input_size"]  # seg-export ran into a convolution error with it
    result = subprocess.run([str(Path(sys.executable).parent / "seg-export"), "--checkpoint", str(path),
                             "--backend", "onnx", "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_seg_eval_reports_a_damaged_dataset_file_met_halfway_in_one_line(inputs, tiny_checkpoint, tmp_path, capfd):
    data = tmp_path / "data"
    generate_split(data, "val", 2, 64, 32, seed=1, progress=False)
    damaged = sorted(data.rglob("*_leftImg8bit.png"))[-1]
    damaged.write_bytes(damaged.read_bytes()[:40])  # the split lists it; reading it fails on the way
    assert seg_eval(["--checkpoint", str(tiny_checkpoint), "--data", str(data), "--out", str(tmp_path / "out"),
                     "--pictures", "0"]) == 1
    err = [line for line in capfd.readouterr().err.splitlines() if "seg-eval:" in line and "error" in line]
    assert len(err) == 1 and err[0].startswith(f"seg-eval: error: {damaged}: unreadable image"), err
