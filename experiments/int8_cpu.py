"""INT8 on the CPU (issue 17, optional item): ONNX Runtime static quantisation of a checkpoint's deployed graph
against its FP32 graph, on accuracy and on speed.

The FP32 graph is the cpu backend's own (the label head exported as the Segmenter exports it). The INT8 graph
is ``onnxruntime.quantization.quantize_static`` of it: QDQ format, per-channel int8 weights, uint8 activations,
MinMax calibration on ``--calib`` training frames. Both are scored on the val split exactly as ``seg-eval``
scores (pre-process, labels, nearest resize to the label size; the FP32 row is cross-checked against
``seg-eval --checkpoint``), then timed with 2 threads, interleaved, on one pre-processed frame.

    python experiments/int8_cpu.py --checkpoint demo_out/run/best.pt --data demo_out/data --out /tmp/int8

Ships only if it is at least 1.4x faster at no more than 0.01 mIoU loss (the issue's bar).
Writes ``<out>/int8_cpu.md``. Run on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from seeds import score  # noqa: E402
from seg_perception.checkpoint import load_checkpoint  # noqa: E402
from seg_perception.inference.backends import ort_session  # noqa: E402
from seg_perception.inference.graph import INPUT_NAME, export_onnx, export_program, label_head  # noqa: E402
from seg_perception.inference.postprocess import resize_nearest  # noqa: E402
from seg_perception.inference.preprocess import Preprocessor  # noqa: E402
from seg_perception.metrics import ConfusionMatrix  # noqa: E402
from seg_perception.size import Size  # noqa: E402
from training.data import CityscapesDataset  # noqa: E402

SPEEDUP_BAR, LOSS_BAR = 1.4, 0.01


class Frames:
    """Pre-processed model inputs of a split's images, one at a time (a quantisation calibration reader)."""

    def __init__(self, dataset: CityscapesDataset, preprocess: Preprocessor, count: int):
        self._dataset, self._pre = dataset, preprocess
        self._indices = iter(np.linspace(0, len(dataset) - 1, count).round().astype(int))

    def get_next(self) -> dict | None:
        index = next(self._indices, None)
        if index is None:
            return None
        width, height = self._pre.input_size
        buffer = np.empty((1, 3, height, width), np.float32)
        self._pre(self._dataset.load(int(index))[0], buffer)
        return {INPUT_NAME: buffer}


def quantise(fp32: Path, int8: Path, calibration: Frames) -> None:
    """Static QDQ quantisation of ``fp32`` into ``int8``: per-channel int8 weights, uint8 activations."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = fp32.with_name("prepared.onnx")
    quant_pre_process(str(fp32), str(prepared))
    quantize_static(str(prepared), str(int8), calibration, quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def evaluate(session, dataset: CityscapesDataset, preprocess: Preprocessor, drivable, name: str) -> dict:
    """mIoU, drivable IoU and per-class IoU of ``session`` over ``dataset``, scored as seg-eval scores."""
    width, height = preprocess.input_size
    buffer = np.empty((1, 3, height, width), np.float32)
    matrix = ConfusionMatrix()
    for index in tqdm(range(len(dataset)), desc=name, unit="image"):
        image, label = dataset.load(index)
        preprocess(image, buffer)
        labels = session.run(None, {INPUT_NAME: buffer})[0][0]
        matrix.update(resize_nearest(labels, Size(label.shape[1], label.shape[0])), label)
    metrics = matrix.compute()
    return {"miou": metrics.miou, "drivable_iou": matrix.drivable_iou(drivable),
            "per_class_iou": metrics.per_class_iou}


def time_interleaved(sessions: dict, frame: dict, runs: int) -> dict[str, list[float]]:
    """Milliseconds per run of each session, alternating sessions run by run."""
    for session in sessions.values():
        session.run(None, frame)
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in tqdm(range(runs), desc="timing", unit="round"):
        for name, session in sessions.items():
            start = time.perf_counter()
            session.run(None, frame)
            times[name].append((time.perf_counter() - start) * 1e3)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="dataset root with train and val splits")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--calib", type=int, default=32, help="training frames to calibrate on")
    parser.add_argument("--runs", type=int, default=40, help="timed rounds (each runs both graphs)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    checkpoint = load_checkpoint(args.checkpoint)
    spec = checkpoint.spec
    width, height = spec.input_size
    preprocess = Preprocessor(spec.input_size, spec.mean, spec.std)
    fp32, int8 = args.out / "fp32.onnx", args.out / "int8.onnx"
    export_onnx(export_program(label_head(checkpoint.build_model(), False), torch.zeros(1, 3, height, width)), fp32)
    quantise(fp32, int8, Frames(CityscapesDataset(args.data, "train"), preprocess, args.calib))

    sessions = {"fp32": ort_session(fp32, 2), "int8": ort_session(int8, 2)}
    val = CityscapesDataset(args.data, "val")
    scores = {name: evaluate(session, val, preprocess, spec.drivable_classes, name) for name, session in sessions.items()}
    seg_eval = score(args.checkpoint, args.data, "val", args.out / "seg_eval")
    frame = Frames(val, preprocess, 1).get_next()
    times = time_interleaved(sessions, frame, args.runs)
    medians = {name: statistics.median(values) for name, values in times.items()}
    speedup = medians["fp32"] / medians["int8"]
    loss = scores["fp32"]["miou"] - scores["int8"]["miou"]
    verdict = "ships" if speedup >= SPEEDUP_BAR and loss <= LOSS_BAR else "does not pay: not shipped"

    lines = [f"{args.checkpoint} ({spec.name}, {width}x{height}), val {len(val)} frames, "
             f"{args.calib} calibration frames, {args.runs} interleaved timing rounds, 2 threads",
             "", "| graph | val mIoU | drivable IoU | inference ms median | best | speed-up |", "|---|---|---|---|---|---|"]
    for name in sessions:
        lines.append(f"| {name} | {scores[name]['miou']:.4f} | {scores[name]['drivable_iou']:.4f} | "
                     f"{medians[name]:.1f} | {min(times[name]):.1f} | {medians['fp32'] / medians[name]:.2f}x |")
    lines += ["", f"seg-eval --checkpoint (cross-check of the fp32 row): mIoU {seg_eval['miou']:.4f}",
              f"mIoU loss {loss:+.4f}, speed-up {speedup:.2f}x: {verdict} "
              f"(bar: >= {SPEEDUP_BAR}x at <= {LOSS_BAR} loss)"]
    report = "\n".join(lines) + "\n"
    (args.out / "int8_cpu.md").write_text(report)
    (args.out / "int8_cpu.json").write_text(json.dumps({"scores": scores, "times_ms": times}, indent=1) + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
