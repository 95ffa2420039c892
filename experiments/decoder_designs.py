"""Light decoders for EfficientNet-Lite0 compared on work and CPU speed at 512x256 (issue 17's design choice).

Rows: today's U-Net decoder, the U-Net decoder with small channels (a registry
option), an LR-ASPP head (Howard et al., MobileNetV3, defined here: it lost),
and FPN-lite (the registry's ``fpnlite_efficientnet_lite0``). Each is exported
with the deployed label head and timed in ONNX Runtime with 2 threads,
interleaved, so a noisy machine slows every row alike.

    python experiments/decoder_designs.py [--size 512x256] [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seg_perception.inference.backends import ort_session
from seg_perception.inference.flops import model_gflop
from seg_perception.inference.graph import export_onnx, export_program, label_head
from seg_perception.labels import NUM_CLASSES
from seg_perception.models import build_model
from seg_perception.models.base import SegmentationModel
from seg_perception.models.encoders import build_encoder
from seg_perception.models.fpn_lite import conv_bn_relu
from seg_perception.size import size_arg


class LRASPP(SegmentationModel):
    """LR-ASPP: stride-32 features gated by their global average, classified, plus a stride-8 classifier."""

    def __init__(self, num_classes: int, inter: int = 128):
        super().__init__()
        self.encoder = build_encoder("efficientnet_lite0", None)
        high, low = self.encoder.channels[4], self.encoder.channels[2]
        self.project = conv_bn_relu(high, inter)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high, inter, 1, bias=False), nn.Sigmoid())
        self.high_classifier = nn.Conv2d(inter, num_classes, 1)
        self.low_classifier = nn.Conv2d(low, num_classes, 1)

    def forward_aligned(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)
        high = features[4]
        y = self.high_classifier(self.project(high) * self.gate(high))
        y = F.interpolate(y, scale_factor=4.0, mode="bilinear", align_corners=False)
        y = y + self.low_classifier(features[2])
        return F.interpolate(y, scale_factor=8.0, mode="bilinear", align_corners=False)


def designs() -> dict[str, nn.Module]:
    return {
        "U-Net decoder (256, 128, 64, 32, 16), the previous default": build_model("unet_efficientnet_lite0", NUM_CLASSES),
        "U-Net decoder (64, 32, 24, 16, 8), bilinear": build_model(
            "unet_efficientnet_lite0", NUM_CLASSES, decoder_channels=(64, 32, 24, 16, 8), upsampling="bilinear"),
        "LR-ASPP (strides 32 + 8, 128 wide)": LRASPP(NUM_CLASSES),
        "FPN-lite (strides 4..32, 64 wide)": build_model("fpnlite_efficientnet_lite0", NUM_CLASSES),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=size_arg(), default="512x256")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    width, height = args.size
    sessions, work, params = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, model) in enumerate(designs().items()):
            model.eval()
            work[name] = model_gflop(model, args.size)
            params[name] = sum(p.numel() for p in model.parameters()) / 1e6
            path = f"{tmp}/{index}.onnx"
            export_onnx(export_program(label_head(model, False), torch.zeros(1, 3, height, width)), path)
            sessions[name] = ort_session(path, 2)
        image = np.random.default_rng(0).random((1, 3, height, width), np.float32)
        times = {name: [] for name in sessions}
        load = os.getloadavg()[0]
        for run in range(3 + args.runs):
            for name, session in sessions.items():
                time.sleep(0.05)  # let the previous session's threads go idle
                started = time.perf_counter()
                session.run(None, {"image": image})
                if run >= 3:
                    times[name].append((time.perf_counter() - started) * 1e3)
    print(f"{width}x{height}, ONNX Runtime 2 threads, {args.runs} interleaved runs, load {load:.1f} -> "
          f"{os.getloadavg()[0]:.1f}")
    print("| decoder | GFLOP | params M | median ms | min ms |\n|---|---|---|---|---|")
    for name, milliseconds in times.items():
        print(f"| {name} | {work[name]:.2f} | {params[name]:.2f} | {statistics.median(milliseconds):.1f} "
              f"| {min(times[name]):.1f} |")


if __name__ == "__main__":
    main()
