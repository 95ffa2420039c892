"""Checkpoints rebuild their model alone, load with weights_only=True, and are written atomically."""

from pathlib import Path

import pytest
import torch

from seg_perception import checkpoint as ckpt
from seg_perception.checkpoint import CheckpointError, ModelSpec, load_checkpoint, save_checkpoint

SPEC = ModelSpec(name="unet", options={"base_channels": 4, "depth": 2}, input_size=(96, 48),
                 drivable_classes=("road", "sidewalk"), confidence_floor=0.713)


def trained_model():
    torch.manual_seed(3)
    model = SPEC.build()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    return model.eval()


def test_round_trip_rebuilds_the_same_model_without_config(tmp_path):
    model = trained_model()
    path = tmp_path / "model.pt"
    save_checkpoint(path, SPEC, model, training={"epoch": 3, "val_miou": 0.5})
    raw = torch.load(path, weights_only=True)  # the contract: no pickled code
    assert raw["model"]["name"] == "unet" and raw["model"]["input_size"] == [96, 48]
    assert raw["model"]["label_mapping"]["train_id_to_label_id"][:3] == [7, 8, 11]
    loaded = load_checkpoint(path)
    assert loaded.spec == SPEC
    assert loaded.training == {"epoch": 3, "val_miou": 0.5}
    assert loaded.resume is None
    x = torch.randn(1, 3, 48, 96)
    with torch.no_grad():
        assert torch.equal(loaded.build_model()(x), model(x))


def test_encoder_weight_paths_are_not_stored(tmp_path):
    spec = ModelSpec(name="unet_resnet18", options={"encoder_weights": "/home/me/r18.pth"})
    save_checkpoint(tmp_path / "m.pt", spec, spec.build())
    assert load_checkpoint(tmp_path / "m.pt").spec.options == {}


def test_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="missing.pt: no such checkpoint file; check the path"):
        load_checkpoint(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt.pt: not a seg_perception checkpoint, or unsafe"):
        load_checkpoint(corrupt)
    broken_zip = tmp_path / "broken_zip.pt"
    broken_zip.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(CheckpointError, match="broken_zip.pt: not a readable checkpoint"):
        load_checkpoint(broken_zip)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt: not a seg_perception checkpoint"):
        load_checkpoint(foreign)
    truncated = tmp_path / "truncated.pt"
    save_checkpoint(truncated, SPEC, trained_model())
    truncated.write_bytes(truncated.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        load_checkpoint(truncated)


def test_mismatched_weights_are_reported(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, SPEC, trained_model())
    payload = torch.load(path, weights_only=True)
    payload["model"]["options"]["depth"] = 3
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="weights do not fit model 'unet'"):
        load_checkpoint(path).build_model()


def test_drivable_classes_must_be_among_the_models_classes(tmp_path):
    with pytest.raises(ValueError, match="unknown drivable class 'road'"):
        ModelSpec(name="unet", class_names=("ground", "sky"))
    path = tmp_path / "model.pt"
    save_checkpoint(path, SPEC, trained_model())
    payload = torch.load(path, weights_only=True)
    payload["model"]["drivable_classes"] = ["runway"]  # written by some other tool
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"{path}: unknown drivable class 'runway'"):
        load_checkpoint(path)


def test_a_checkpoint_from_before_the_confidence_floor_loads_without_one(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(path, SPEC, trained_model())
    payload = torch.load(path, weights_only=True)
    assert payload["model"]["confidence_floor"] == 0.713
    del payload["model"]["confidence_floor"]
    torch.save(payload, path)
    assert load_checkpoint(path).spec.confidence_floor is None
    payload["model"]["confidence_floor"] = 1.2
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"confidence_floor is 1\.2, not a number within \[0, 1\]"):
        load_checkpoint(path)


def test_every_bad_checkpoint_is_refused_on_reading_in_one_line_file_problem_remedy(bad_checkpoints):
    for case, (path, message) in bad_checkpoints.items():
        with pytest.raises(CheckpointError) as error:
            load_checkpoint(path)
        text = str(error.value)
        assert text.startswith(f"{path}: ") and message in text and "\n" not in text, case
        assert "use a .pt written by" in text.rpartition("; ")[2], case  # what to do, after the problem


def test_an_unsafe_pickle_is_refused_without_suggesting_weights_only_false(bad_checkpoints):
    path, _ = bad_checkpoints["unsafe"]
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert "weights_only" not in str(error.value) and "not a seg_perception checkpoint, or unsafe" in str(error.value)


def test_a_crash_during_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, SPEC, trained_model(), training={"epoch": 1})
    before = path.read_bytes()

    def dying_save(obj, file):
        Path(file).write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. Ctrl-C or SIGTERM mid-write

    monkeypatch.setattr(ckpt.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, SPEC, trained_model(), training={"epoch": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert load_checkpoint(path).training == {"epoch": 1}


def test_file_hash_identifies_content(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"x" * 3_000_000)
    b.write_bytes(b"x" * 2_999_999 + b"y")
    assert ckpt.file_sha256(a) != ckpt.file_sha256(b)
    assert len(ckpt.file_sha256(a)) == 64
