"""``seg-export``: a deployable engine plus manifest, verified against eager torch.

    seg-export --checkpoint C --backend onnx|tensorrt --input-size WxH [--precision fp16|fp32] --out DIR

writes ``DIR/model.onnx`` (or ``DIR/model.ep``, a Torch-TensorRT program that
is also put in the engine cache so the first ``Segmenter`` start skips the
compile) and ``DIR/manifest.json`` (checkpoint hash, input/output names,
shapes and dtypes, normalisation, versions, verification). The engine maps a
normalised 1 x 3 x H x W float32 image to uint8 ``labels`` and
``confidence`` (with ``--test-time-flip``, of the logits averaged with the
mirror image's). Verification runs the written engine and eager torch FP32 on
sample images (``--images DIR``, or synthetic frames) and fails unless their
argmax labels agree on at least ``--min-agreement`` of the pixels.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from ..checkpoint import CheckpointError, file_sha256, load_checkpoint
from ..size import Size, size_arg
from .backend_table import PRECISIONS, TEST_TIME_FLIP_HELP
from .backends import (BackendUnavailable, OnnxRuntimeBackend, TorchBackend, create_backend, missing_for,
                       ort_session, probe_platform)
from .engine_cache import EngineCache, default_cache_dir
from .memory import check_input_size
from .graph import INPUT_NAME, OUTPUT_NAMES, deployed_model, export_onnx, export_program, label_head
from .preprocess import Preprocessor
from .samples import synthetic_frame

MANIFEST_FORMAT = "seg_perception.engine/1"
FLIP_MEANING = ", of the logits averaged with those of the mirror image (test-time flip)"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


class ExportError(Exception):
    """Bad input or failed verification: reported on stderr with exit status 1."""


def load_images(directory: Path, limit: int) -> list[np.ndarray]:
    """Up to ``limit`` RGB images from ``directory`` (sorted by name)."""
    if not directory.is_dir():
        raise ExportError(f"image directory {directory} does not exist")
    paths = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not paths:
        raise ExportError(f"no {'/'.join(IMAGE_SUFFIXES)} images in {directory}")
    images = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ExportError(f"cannot read image {path}")
        images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return images


def verify(engine, reference, preprocess: Preprocessor, images: list[np.ndarray]) -> dict:
    """Fraction of pixels where ``engine`` and ``reference`` backends give the same label, per image and overall."""
    per_image, same, total = [], 0, 0
    for image in images:
        preprocess(image, engine.input)
        preprocess(image, reference.input)
        labels = engine.run(False)[0]
        expected = reference.run(False)[0]
        agree = int(np.count_nonzero(labels == expected))
        per_image.append(agree / labels.size)
        same, total = same + agree, total + labels.size
    return {"reference": "eager torch FP32 on CPU", "images": len(images), "pixels": total,
            "agreement": same / total, "per_image": per_image}


def versions(*packages: str) -> dict[str, str]:
    """Installed versions of ``packages`` (those not installed are left out)."""
    found = {"torch": torch.__version__}
    for package in packages:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def export(args: argparse.Namespace) -> dict:
    """Write the engine and manifest into ``args.out``; returns the manifest."""
    checkpoint = load_checkpoint(args.checkpoint)
    spec = checkpoint.spec
    width, height = args.input_size or spec.input_size
    flip = args.test_time_flip
    check_input_size(spec, Size(width, height), batch=1 + flip)
    shape = (1, 3, height, width)
    if args.backend == "tensorrt":
        missing = missing_for("tensorrt", probe_platform())
        if missing:
            raise BackendUnavailable(f"cannot export a TensorRT engine here: {'; '.join(missing)}")
    model = checkpoint.build_model()
    network = deployed_model(model, flip)  # what the engine computes
    sha256 = file_sha256(args.checkpoint)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.backend == "onnx":
        precision, engine_path = "fp32", args.out / "model.onnx"
        export_onnx(export_program(label_head(network, True), torch.zeros(shape)), engine_path)
        engine = OnnxRuntimeBackend(shape, lambda with_confidence: ort_session(engine_path))
        engine_versions = versions("seg_perception", "onnx", "onnxruntime")
    else:
        precision, engine_path = args.precision, args.out / "model.ep"
        cache = EngineCache(args.cache_dir or default_cache_dir())
        engine = create_backend("tensorrt", model, shape, precision=precision, cache=cache, weights_sha256=sha256,
                                test_time_flip=flip)
        shutil.copyfile(cache.path(engine.cache_fields, ".ep"), engine_path)
        engine_versions = {**versions("seg_perception"),
                           **{k: engine.cache_fields[k] for k in ("gpu", "tensorrt", "torch_tensorrt")}}
    images = load_images(args.images, args.samples) if args.images else [
        synthetic_frame(width, height, seed) for seed in range(args.samples)]
    report = verify(engine, TorchBackend(network, shape), Preprocessor((width, height), spec.mean, spec.std), images)
    report["min_agreement"] = args.min_agreement
    report["passed"] = report["agreement"] >= args.min_agreement
    manifest = {
        "format": MANIFEST_FORMAT,
        "backend": args.backend,
        "engine": engine_path.name,
        "precision": precision,
        "test_time_flip": flip,
        "checkpoint": str(args.checkpoint),
        "checkpoint_sha256": sha256,
        "model": spec.to_dict(),
        "input": {"name": INPUT_NAME, "shape": list(shape), "dtype": "float32", "layout": "NCHW",
                  "channel_order": "RGB", "resize": "bilinear",
                  "normalization": "(pixel / 255 - mean) / std", "mean": list(spec.mean), "std": list(spec.std)},
        "outputs": [{"name": OUTPUT_NAMES[0], "shape": [1, height, width], "dtype": "uint8",
                     "meaning": "class index (trainId) by argmax" + (FLIP_MEANING if flip else "")},
                    {"name": OUTPUT_NAMES[1], "shape": [1, height, width], "dtype": "uint8",
                     "meaning": "max softmax probability x 255" + (FLIP_MEANING if flip else "")}],
        "versions": engine_versions,
        "verification": report,
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seg-export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="seg_perception checkpoint (.pt)")
    parser.add_argument("--backend", choices=("onnx", "tensorrt"), required=True)
    parser.add_argument("--input-size", type=size_arg(), default=None,
                        help="static engine input WIDTHxHEIGHT (default: the checkpoint's)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp16",
                        help="TensorRT precision (ONNX engines are FP32)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--test-time-flip", action="store_true", help=TEST_TIME_FLIP_HELP)
    parser.add_argument("--images", type=Path, default=None,
                        help="directory of sample images for verification (default: synthetic frames)")
    parser.add_argument("--samples", type=int, default=4, help="number of verification images (default 4)")
    parser.add_argument("--min-agreement", type=float, default=0.999,
                        help="required fraction of pixels with the same label as eager torch (default 0.999)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="TensorRT engine cache (default $SEG_PERCEPTION_CACHE or ~/.cache/seg_perception)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``seg-export``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.samples < 1 or not 0.0 <= args.min_agreement <= 1.0:
        parser.error("--samples must be >= 1 and --min-agreement within [0, 1]")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        manifest = export(args)
    except (CheckpointError, ExportError, BackendUnavailable, ValueError) as exc:
        print(f"seg-export: error: {exc}", file=sys.stderr)
        return 1
    report = manifest["verification"]
    per_image = ", ".join(f"{a:.5f}" for a in report["per_image"])
    print(f"wrote {args.out / manifest['engine']} and {args.out / 'manifest.json'}")
    print(f"verification against {report['reference']}: label agreement {report['agreement']:.5f} "
          f"over {report['images']} images ({report['pixels']} pixels; per image {per_image}); "
          f"required {report['min_agreement']}")
    if not report["passed"]:
        print("seg-export: error: verification failed: the engine disagrees with eager torch", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
