"""Our models beside torchvision's segmentation models, measured in the same run on this CPU.

    .venv/bin/python benchmarks/bench_yardsticks.py [--sizes 512x256,1024x512] [--frames 5] [--json FILE]

Rows: fcn8s_resnet18 and unet_small on our ``cpu`` backend (ONNX Runtime)
and eager torch FP32 (NCHW), and torchvision's lraspp_mobilenet_v3_large and
fcn_resnet50 (weights=None, eval, eager torch FP32) as yardsticks. Every row
is the same measurement: a normalised 1 x 3 x H x W input to uint8 labels
(network + argmax), no camera resize, so the numbers compare networks and
runtimes only. Rows of one size are interleaved frame by frame with a pause
before each frame (see seg-bench), and medians are reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

from seg_perception.inference.backends import TorchBackend, create_backend
from seg_perception.inference.engine_cache import EngineCache, default_cache_dir
from seg_perception.size import parse_size
from seg_perception.inference.segmenter import state_dict_sha256
from seg_perception.models import build_model

OURS = ("fcn8s_resnet18", "unet_small")
YARDSTICKS = ("lraspp_mobilenet_v3_large", "fcn_resnet50")


class OutOnly(nn.Module):
    """torchvision segmentation models return {"out": logits, ...}; keep the logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def backends_for(size: tuple[int, int], cache: EngineCache) -> dict[str, object]:
    """Row name -> backend at ``size`` (width, height)."""
    shape = (1, 3, size[1], size[0])
    rows = {}
    torch.manual_seed(0)
    for name in OURS:
        model = build_model(name, 19).eval()
        rows[f"{name} / cpu backend"] = create_backend("cpu", model, shape, precision="fp32", cache=cache,
                                                       weights_sha256=state_dict_sha256(model))
        rows[f"{name} / eager"] = TorchBackend(model, shape)
    for name in YARDSTICKS:
        model = torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=19)
        rows[f"{name} (torchvision) / eager"] = TorchBackend(OutOnly(model.eval()), shape)
    return rows


def measure(rows: dict[str, object], frames: int, pause_s: float) -> dict[str, float]:
    """Median milliseconds per frame of each row, rows interleaved frame by frame after one warm-up frame."""
    rng = np.random.default_rng(0)
    for backend in rows.values():
        backend.input[:] = rng.standard_normal(backend.input.shape, dtype=np.float32)
        backend.run(False)
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(frames):
        for name, backend in rows.items():
            time.sleep(pause_s)
            start = time.perf_counter()
            backend.run(False)
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: float(np.median(values)) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="512x256,1024x512", help="comma-separated input sizes WxH")
    parser.add_argument("--frames", type=int, default=5, help="measured frames per row and size (default 5)")
    parser.add_argument("--pause-ms", type=float, default=50.0, help="idle time before each frame (default 50)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    sizes = [parse_size(text) for text in args.sizes.split(",")]
    cache = EngineCache(default_cache_dir())
    results = {}
    for size in sizes:
        label = f"{size[0]}x{size[1]}"
        results[label] = measure(backends_for(size, cache), args.frames, args.pause_ms / 1e3)
        print(f"measured {label}", file=sys.stderr)
    names = list(next(iter(results.values())))
    print(f"median of {args.frames} frames, {torch.get_num_threads()} torch threads; FPS (ms per frame)")
    print("| model / runtime | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for name in names:
        cells = " | ".join(f"{1000 / results[s][name]:.2f} ({results[s][name]:.0f} ms)" for s in results)
        print(f"| {name} | {cells} |")
    if args.json:
        args.json.write_text(json.dumps({"frames": args.frames, "median_ms": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
