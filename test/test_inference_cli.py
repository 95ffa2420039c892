"""seg-export and seg-bench: real ONNX export verified against eager torch, benchmark rows and JSON, CLI errors."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import pytest
import torch

from seg_perception.checkpoint import file_sha256
from seg_perception.inference import bench, export
from seg_perception.inference.backends import OnnxRuntimeBackend, TorchBackend, ort_session
from seg_perception.inference.flops import model_gflop
from seg_perception.inference.preprocess import Preprocessor
from seg_perception.inference.samples import synthetic_frame
from seg_perception.models import build_model
from seg_perception.size import Size
from tiny_models import INPUT_SIZE, tiny_model, tiny_spec


def test_export_onnx_writes_a_verified_engine_and_manifest(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "engine"
    assert export.main(["--checkpoint", str(tiny_checkpoint), "--backend", "onnx", "--input-size", "128x64",
                        "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "label agreement 1.00000" in printed and "over 4 images" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["checkpoint_sha256"] == file_sha256(tiny_checkpoint)
    assert manifest["input"]["shape"] == [1, 3, 64, 128] and manifest["input"]["name"] == "image"
    assert [o["name"] for o in manifest["outputs"]] == ["labels", "confidence"]
    assert {"torch", "onnx", "onnxruntime"} <= set(manifest["versions"])
    verification = manifest["verification"]
    assert verification["passed"] and verification["agreement"] >= 0.999 and verification["pixels"] == 4 * 64 * 128

    # the written file, run by plain onnxruntime, agrees with eager torch
    session = onnxruntime.InferenceSession(str(out / "model.onnx"))
    x = torch.randn(1, 3, 64, 128)
    labels, confidence = session.run(None, {"image": x.numpy()})
    with torch.no_grad():
        expected = tiny_model()(x).argmax(1).numpy()
    assert labels.dtype == confidence.dtype == np.uint8
    assert len(np.unique(expected)) >= 3 and (labels == expected).mean() >= 0.999

    # --images: verification on files, as the CLI does it, against the engine just written
    images = tmp_path / "images"
    images.mkdir()
    for seed in range(2):
        cv2.imwrite(str(images / f"{seed}.png"), synthetic_frame(200, 100, seed))
    engine = OnnxRuntimeBackend((1, 3, 64, 128), lambda with_confidence: ort_session(out / "model.onnx"))
    loaded = export.load_images(images, 5)
    assert len(loaded) == 2 and loaded[0].shape == (100, 200, 3)
    spec = tiny_spec()
    report = export.verify(engine, TorchBackend(tiny_model(), (1, 3, 64, 128)),
                           Preprocessor((128, 64), spec.mean, spec.std), loaded)
    assert report["images"] == 2 and report["agreement"] >= 0.999
    with pytest.raises(export.ExportError, match="no .png"):
        export.load_images(tmp_path / "engine", 5)


def test_export_tensorrt_here_names_what_is_missing(tiny_checkpoint, tmp_path, capsys):
    assert export.main(["--checkpoint", str(tiny_checkpoint), "--backend", "tensorrt", "--out",
                        str(tmp_path)]) == 1
    error = capsys.readouterr().err
    if not torch.cuda.is_available():
        assert "CUDA is not available" in error
    assert error.count("\n") == 1 and "torch-tensorrt" in error


def test_cli_errors_are_one_line_without_traceback(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    for tool in (export, bench):
        extra = ["--backend", "onnx", "--out", str(tmp_path)] if tool is export else []
        for path in (tmp_path / "missing.pt", corrupt):
            assert tool.main(["--checkpoint", str(path)] + extra) == 1
            error = capsys.readouterr().err
            assert error.count("\n") == 1 and str(path) in error
        with pytest.raises(SystemExit) as exit_:
            tool.main(["--checkpoint", str(corrupt), "--input-size", "1024"] + extra)
        assert exit_.value.code == 2 and "WIDTHxHEIGHT" in capsys.readouterr().err
    script = Path(sys.executable).parent / "seg-export"
    result = subprocess.run([str(script), "--checkpoint", str(tmp_path / "missing.pt"), "--backend", "onnx",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr and "missing.pt" in result.stderr


def test_bench_prints_and_writes_every_row(tiny_checkpoint, engine_cache, tmp_path, capsys):
    json_path = tmp_path / "bench.json"
    assert bench.main(["--checkpoint", str(tiny_checkpoint), "--camera-size", "320x160", "--frames", "3",
                       "--warmup", "1", "--pause-ms", "0", "--cache-dir", str(engine_cache),
                       "--json", str(json_path)]) == 0
    report = json.loads(json_path.read_text())
    rows = {row["backend"]: row for row in report["rows"]}
    assert list(rows) == ["cpu", "torch-cpu", "torch-cpu-channels-last"]
    for row in rows.values():
        for stage in ("preprocess_ms", "inference_ms", "postprocess_ms", "total_ms"):
            assert 0 < row[stage]["median"] <= row[stage]["p95"]
        assert row["fps"] == pytest.approx(1000 / row["total_ms"]["median"])
        assert 0 < row["pre_post_share"] < 1
        assert row["achieved_gflops"] == pytest.approx(row["gflop_per_frame"] * 1000 / row["inference_ms"]["median"])
        assert row["peak_share"] == pytest.approx(row["achieved_gflops"] / report["conditions"]["cpu_fp32_peak_gflops"])
    # every row runs the same model: one count, the model's own
    assert {row["gflop_per_frame"] for row in rows.values()} == {report["conditions"]["gflop_per_frame"]}
    assert report["conditions"]["gflop_per_frame"] > 0 and report["conditions"]["cpu_fp32_peak_gflops"] > 1
    assert report["conditions"]["camera_size"] == [320, 160] and report["conditions"]["input_size"] == list(INPUT_SIZE)
    table = capsys.readouterr().out
    assert all(f"| {name} |" in table for name in rows)


def test_gflop_count_is_two_per_multiply_add():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)  # 8 outputs x 27 multiply-adds per pixel
    assert model_gflop(conv, Size(16, 8)) == pytest.approx(2 * 8 * 27 * 16 * 8 / 1e9)
    assert model_gflop(build_model("fpnlite_efficientnet_lite0", 19), Size(512, 256)) == pytest.approx(2.07, abs=0.01)


def test_bench_untrained_model_by_name(tmp_path, capsys):
    assert bench.main(["--model", "unet_small", "--input-size", "64x32", "--camera-size", "128x64",
                       "--backends", "torch-cpu", "--frames", "1", "--warmup", "0", "--pause-ms", "0"]) == 0
    assert "| torch-cpu | fp32 |" in capsys.readouterr().out
    json_path = tmp_path / "filtered.json"
    assert bench.main(["--model", "unet_small", "--input-size", "64x32", "--camera-size", "128x64",
                       "--backends", "torch-cpu", "--frames", "1", "--warmup", "0", "--pause-ms", "0",
                       "--input-filter", "denoise", "--json", str(json_path)]) == 0
    assert "input filter denoise;" in capsys.readouterr().out
    assert json.loads(json_path.read_text())["conditions"]["input_filter"] == "denoise"
    flipped_path = tmp_path / "flipped.json"
    assert bench.main(["--model", "unet_small", "--input-size", "64x32", "--camera-size", "128x64",
                       "--backends", "torch-cpu", "--frames", "1", "--warmup", "0", "--pause-ms", "0",
                       "--test-time-flip", "--json", str(flipped_path)]) == 0
    assert "input filter none, test-time flip;" in capsys.readouterr().out
    plain, flipped = (json.loads(path.read_text())["conditions"] for path in (json_path, flipped_path))
    assert (plain["test_time_flip"], flipped["test_time_flip"]) == (False, True)
    assert flipped["gflop_per_frame"] == pytest.approx(2 * plain["gflop_per_frame"])  # the model runs twice
    assert bench.main(["--model", "unet_small", "--backends", "tensorrt", "--frames", "1"]) == 1
    assert "torch-tensorrt" in capsys.readouterr().err
