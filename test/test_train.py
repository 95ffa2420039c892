"""The train loop for real on tiny generated scenes: checkpoints, exact resume, NaN stop, torchrun."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from seg_perception.checkpoint import load_checkpoint
from seg_perception.inference import Segmenter
from seg_perception.inference.aspect import stretch_advice
from seg_perception.size import Size
from tiny_models import write_tiny_checkpoint
from training.data.make_data import main as make_data
from training.train import main as train_main

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "config" / "train_tiny.yaml"


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes")
    assert make_data([str(root), "--split", "train", "--num", "32", "--size", "128x64", "--seed", "1"]) in (0, None)
    assert make_data([str(root), "--split", "val", "--num", "4", "--size", "128x64", "--seed", "1"]) in (0, None)
    return root


def train(scenes, out, *overrides, resume=False):
    argv = ["--config", str(TINY), "--data", str(scenes), "--out", str(out), "log.tensorboard=false", *overrides]
    return train_main(argv + (["--resume"] if resume else []))


def states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_tiny_config_trains_a_checkpoint_the_node_can_use(scenes, tmp_path, capsys, engine_cache):
    out = tmp_path / "run"
    assert train(scenes, out, "log.tensorboard=true") == 0
    assert {"best.pt", "last.pt", "config.yaml"} <= {p.name for p in out.iterdir()}
    assert list((out / "tb").glob("events.out.tfevents.*"))
    log = capsys.readouterr().out
    assert "epoch 1/4" in log and "epoch 4/4" in log
    raw = torch.load(out / "best.pt", weights_only=True)
    assert "resume" not in raw  # best.pt is for deployment: weights and spec only
    best = load_checkpoint(out / "best.pt")
    assert best.spec.name == "unet" and best.spec.input_size == (128, 64)
    assert best.training["val_miou"] == best.training["best_val_miou"]
    assert 0.0 < best.training["val_miou"] <= 1.0
    # the checkpoint alone rebuilds a model that beats chance on a held-out scene
    model = best.build_model()
    from training.data import CityscapesDataset
    image, label = CityscapesDataset(scenes, "val")[0]
    x = (torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255 - torch.tensor(best.spec.mean)[:, None, None]) \
        / torch.tensor(best.spec.std)[:, None, None]
    with torch.no_grad():
        pred = model(x).argmax(1)[0].numpy()
    valid = label != 255
    assert (pred[valid] == label[valid]).mean() > 0.3  # chance over 19 classes is ~0.05
    # The confidence floor is what the deployed Segmenter measures on the val frames: with 4 of them, fewer
    # than 5 % below it means the lowest frame's mean confidence, rounded down to the histogram's 0.001.
    segmenter = Segmenter.from_checkpoint(out / "last.pt", with_confidence=True, cache_dir=engine_cache)
    val = CityscapesDataset(scenes, "val")
    means = [segmenter.segment(val[i][0]).confidence.mean() / 255 for i in range(len(val))]
    floor = load_checkpoint(out / "last.pt").spec.confidence_floor
    assert 0.05 < floor <= min(means) + 0.002 and min(means) - floor < 0.004, (floor, means)
    assert f"confidence floor {floor:.3f}" in log


def test_a_4_by_3_cameras_frames_train_beside_2_by_1_scenes_into_a_checkpoint_of_the_cameras_shape(tmp_path, capsys,
                                                                                                 engine_cache):
    """README's fine-tuning recipe for a camera of another shape: its frames keep their size in the split beside
    generated 2:1 scenes (crops are cut from each frame at its own size), and ``data.input_size`` gives the
    checkpoint the camera's shape, so the node serves it unstretched."""
    root, own = tmp_path / "data", tmp_path / "own"
    assert make_data([str(root), "--split", "train", "--num", "8", "--size", "128x64", "--seed", "1"]) == 0
    assert make_data([str(own), "--split", "train", "--num", "8", "--size", "96x72", "--seed", "2"]) == 0
    assert make_data([str(root), "--split", "val", "--num", "2", "--size", "96x72", "--seed", "3"]) == 0
    for folder in ("leftImg8bit", "gtFine", "camera"):
        (own / folder / "train" / "synth").rename(root / folder / "train" / "robot")
    from training.data import CityscapesDataset
    train_set = CityscapesDataset(root, "train")
    assert sorted(train_set.load(i)[0].shape for i in range(len(train_set))) == [(64, 128, 3)] * 8 + [(72, 96, 3)] * 8
    out = tmp_path / "run"
    assert train(root, out, "data.input_size=[96,72]", "train.epochs=2") == 0
    assert "epoch 2/2" in capsys.readouterr().out
    checkpoint = load_checkpoint(out / "last.pt")
    assert checkpoint.spec.input_size == (96, 72) and 0 < checkpoint.training["val_miou"] <= 1
    assert Segmenter.from_checkpoint(out / "last.pt", cache_dir=engine_cache).input_size == Size(96, 72)
    assert stretch_advice(Size(96, 72), checkpoint.spec.input_size) is None  # the node has nothing to warn about
    assert stretch_advice(Size(96, 72), Size(128, 64)) is not None  # as it would at the 2:1 default


@pytest.mark.parametrize("sampling", [[], ["data.rare_class_temperature=0.01"]], ids=["shuffle", "rare-class"])
def test_resume_continues_exactly(scenes, tmp_path, sampling):
    straight, sliced = tmp_path / "straight", tmp_path / "sliced"
    assert train(scenes, straight, *sampling) == 0
    assert train(scenes, sliced, "train.stop_after_epochs=1", *sampling) == 0
    assert load_checkpoint(sliced / "last.pt").resume["epoch"] == 1
    assert train(scenes, sliced, *sampling, resume=True) == 0
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(sliced / "last.pt")
    assert b.resume["epoch"] == 4
    assert states_equal(a.state_dict, b.state_dict)
    assert a.training["val_miou"] == b.training["val_miou"]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(scenes, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(scenes, out, "train.stop_after_epochs=1") == 0
    good = (out / "last.pt").read_bytes()
    assert train(scenes, out, "train.optimizer=sgd", "train.lr=1e12", "train.warmup_iters=0") == 1
    err = capsys.readouterr().err
    assert "loss became" in err and "Last good checkpoint" in err
    assert (out / "last.pt").read_bytes() == good


def test_bad_config_key_and_missing_data_are_named(scenes, tmp_path, capsys):
    assert train(scenes, tmp_path / "run", "train.learning_rate=0.1") == 2
    assert "unknown config key 'train.learning_rate'" in capsys.readouterr().err
    assert train(scenes, tmp_path / "run", "data.rare_class_temperature=-1") == 2
    assert "'data.rare_class_temperature' must be >= 0.0, got -1.0" in capsys.readouterr().err
    assert train_main(["--config", str(TINY), "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    assert "nowhere" in capsys.readouterr().err


@pytest.mark.parametrize("split, damage, message", [
    ("val", "value", "trainIds must be 0..18 or 255, found [40]"),
    ("train", "size", "does not match its image"),
])
def test_a_bad_label_file_stops_training_before_the_first_epoch(scenes, tmp_path, capsys, split, damage, message):
    import shutil

    import cv2

    data = tmp_path / "data"
    shutil.copytree(scenes, data)
    label = sorted((data / "gtFine" / split).glob("*/*_gtFine_labelTrainIds.png"))[-1]
    pixels = cv2.imread(str(label), cv2.IMREAD_UNCHANGED)
    pixels = np.where(pixels == 0, 40, pixels).astype(np.uint8) if damage == "value" else pixels[:, :-2]
    cv2.imwrite(str(label), pixels)
    assert train(data, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert f"seg-train: error: {label}" in err and message in err, err
    assert "epoch 1/" not in err and not (tmp_path / "run" / "last.pt").exists()


def test_class_weighted_loss_reads_the_histogram(scenes, tmp_path):
    out = tmp_path / "run"
    assert train(scenes, out, "train.epochs=1", "loss.terms=[{type: ce, class_weights: median}, "
                 "{type: dice, weight: 0.5}]") == 0
    assert load_checkpoint(out / "last.pt").training["config"]["loss"]["terms"][0]["class_weights"] == "median"


def test_torchrun_two_processes_gloo(scenes, tmp_path):
    """DistributedDataParallel on the CPU: ranks agree on weights, only rank 0 writes and logs."""
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         "-m", "training.train", "--config", str(TINY), "--data", str(scenes),
         "--out", str(out), "train.epochs=1", "data.batch_size=2"],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "weights identical across 2 ranks" in result.stdout
    assert result.stdout.count("epoch 1/1") == 1  # only rank 0 logs
    assert result.stdout.count("seg-train: done") == 1
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "config.yaml", "last.pt", "tb"]
    assert len(list((out / "tb").iterdir())) == 1
    assert load_checkpoint(out / "last.pt").training["world_size"] == 2
    assert np.isfinite(load_checkpoint(out / "last.pt").training["train_loss"])


@pytest.mark.parametrize("budget, epochs", [("0.001", 1), ("1e6", 4)], ids=["too-short", "ample"])
def test_a_time_budget_trains_the_whole_epochs_that_fit_exactly_as_train_epochs_would(scenes, tmp_path, capsys,
                                                                                        budget, epochs):
    budgeted, plain = tmp_path / "budgeted", tmp_path / "plain"
    assert train(scenes, budgeted, f"train.time_budget_s={budget}") == 0
    log = capsys.readouterr().out
    assert f"so {epochs} of 4 epochs" in log
    assert ("does not fit" in log) == (epochs == 1)
    assert train(scenes, plain, f"train.epochs={epochs}") == 0
    a, b = load_checkpoint(budgeted / "last.pt"), load_checkpoint(plain / "last.pt")
    assert a.resume["epoch"] == a.training["epochs"] == epochs
    # the calibration trains a throw-away copy: the run itself is the plain run of that many epochs
    assert states_equal(a.state_dict, b.state_dict)
    assert a.training["val_miou"] == b.training["val_miou"]


def test_a_budgeted_run_resumes_with_the_epochs_it_chose(scenes, tmp_path):
    straight, sliced = tmp_path / "straight", tmp_path / "sliced"
    assert train(scenes, straight) == 0
    assert train(scenes, sliced, "train.time_budget_s=1e6", "train.stop_after_epochs=1") == 0
    # a budget that would now allow one epoch does not shrink the run the checkpoint belongs to
    assert train(scenes, sliced, "train.time_budget_s=0.001", resume=True) == 0
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(sliced / "last.pt")
    assert b.resume["epoch"] == 4
    assert states_equal(a.state_dict, b.state_dict)


@pytest.fixture(scope="module")
def trained(scenes, tmp_path_factory):
    """A tiny model trained for 2 epochs: the checkpoint the init_from tests fine-tune."""
    out = tmp_path_factory.mktemp("trained")
    assert train(scenes, out, "train.epochs=2") == 0
    return out / "last.pt"


@pytest.mark.parametrize("budget", [(), ("train.time_budget_s=3600",)], ids=["epochs", "time-budget"])
def test_init_from_starts_from_the_trained_weights(scenes, trained, tmp_path, capsys, budget):
    tuned, scratch = tmp_path / "tuned", tmp_path / "scratch"
    start = load_checkpoint(trained)
    # At a learning rate of 1e-12 one epoch leaves the parameters where they started: the weights the
    # run ends with are the checkpoint's, not a fresh initialisation's. An encoder_weights file that does
    # not exist shows that init_from skips loading it. A time budget builds the model twice (after
    # calibrating on the first): both start from the checkpoint.
    crawl = ("train.epochs=1", "train.lr=1e-12", "train.warmup_iters=0")
    assert train(scenes, tuned, *crawl, *budget, f"model.init_from={trained}",
                 "model.encoder_weights=/nowhere.pth") == 0
    assert f"starting from {trained}" in capsys.readouterr().out
    assert train(scenes, scratch, *crawl) == 0
    tuned_ckpt, scratch_ckpt = load_checkpoint(tuned / "last.pt"), load_checkpoint(scratch / "last.pt")
    parameters = [name for name, _ in start.build_model().named_parameters()]
    for name in parameters:
        assert torch.allclose(tuned_ckpt.state_dict[name], start.state_dict[name], atol=1e-6), name
    assert not all(torch.allclose(scratch_ckpt.state_dict[n], start.state_dict[n], atol=1e-3) for n in parameters)
    # most of the trained model's val score carries over (its batch-norm statistics move with one epoch of crops)
    before, after, fresh = (c.training["val_miou"] for c in (start, tuned_ckpt, scratch_ckpt))
    assert after > fresh + 0.5 * (before - fresh), (before, after, fresh)
    assert tuned_ckpt.training["config"]["model"]["init_from"] == str(trained)


def test_a_fine_tuning_run_resumes_from_its_own_last_checkpoint(scenes, trained, tmp_path, capsys):
    """Resuming, last.pt holds the weights: the init_from file is not read again (it may be gone)."""
    straight, sliced, source = tmp_path / "straight", tmp_path / "sliced", tmp_path / "source.pt"
    source.write_bytes(trained.read_bytes())
    assert train(scenes, straight, "train.epochs=2", f"model.init_from={source}") == 0
    assert train(scenes, sliced, "train.epochs=2", "train.stop_after_epochs=1", f"model.init_from={source}") == 0
    source.unlink()
    capsys.readouterr()
    assert train(scenes, sliced, "train.epochs=2", f"model.init_from={source}", resume=True) == 0
    assert "starting from" not in capsys.readouterr().out
    assert states_equal(load_checkpoint(straight / "last.pt").state_dict, load_checkpoint(sliced / "last.pt").state_dict)


def test_init_from_refuses_a_missing_damaged_or_other_architecture_checkpoint(scenes, tmp_path, capsys):
    other = tmp_path / "other"
    assert train(scenes, other, "train.epochs=1", "model.options={base_channels: 4, depth: 3}") == 0
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes((other / "last.pt").read_bytes()[:1000])
    three = write_tiny_checkpoint(tmp_path / "three.pt", class_names=("road", "car", "sky"), drivable_classes=("road",))
    for path, message, options in [
            (tmp_path / "missing.pt", "no such checkpoint file", ()),
            (damaged, "not a readable checkpoint", ()),
            (other / "last.pt", "holds unet {'base_channels': 4, 'depth': 3}, but the config trains "
                                "unet {'base_channels': 8, 'depth': 3}", ()),
            (three, "predicts 3 classes, seg-train trains the 19 Cityscapes classes",
             ("model.options={base_channels: 4, depth: 2}",))]:
        out = tmp_path / f"run_{path.stem}"
        assert train(scenes, out, f"model.init_from={path}", *options) == 2
        err = capsys.readouterr().err
        assert f"seg-train: error: {path}: {message}" in err, err
        assert not out.exists()  # refused before the run directory, the data check or any training
