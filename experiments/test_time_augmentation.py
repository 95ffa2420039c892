"""Test-time augmentation of trained models: the mirror image and other input sizes, averaged.

    python experiments/test_time_augmentation.py --checkpoints A.pt [B.pt ...] --data DATA --out DIR \\
        [--splits val val_shifted] [--sizes 384x192 448x224 512x256]

Each checkpoint runs in eager torch (fp32, CPU) over each split, and each frame is scored under every
variant: ``none`` (the frame at the checkpoint's input size), ``flip`` (its logits averaged with the
mirror image's, mirrored back: what ``--test-time-flip`` deploys), ``flip_probabilities`` (the same
with softmax probabilities averaged), ``sizes`` (probabilities at every ``--sizes`` input, resized
bilinearly to the checkpoint's input size and averaged) and ``sizes_flip`` (both). Labels are resized
to the frame (nearest), as the Segmenter does. Prints a markdown table, mean +- sample std over the
checkpoints and the change against ``none``, and writes ``test_time_augmentation.md`` into ``--out``.
``seg-eval --test-time-flip`` scores ``flip`` through the deployed engine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from markdown_table import change_rows, markdown_table, publish  # noqa: E402
from seg_perception.checkpoint import load_checkpoint  # noqa: E402
from seg_perception.inference.preprocess import Preprocessor  # noqa: E402
from seg_perception.metrics import ConfusionMatrix  # noqa: E402
from seg_perception.size import Size, size_arg  # noqa: E402
from training.data import CityscapesDataset  # noqa: E402

VARIANTS = ("none", "flip", "flip_probabilities", "sizes", "sizes_flip")
FIGURES = ("miou", "drivable_iou")


def _outputs(model, spec, image: np.ndarray, sizes: list[Size], preprocessors: dict) -> dict:
    """{(size, mirrored): N x C x H x W logits at the checkpoint's input size} for every size, both ways."""
    outputs = {}
    for size in sizes:
        if size not in preprocessors:
            preprocessors[size] = Preprocessor(size, spec.mean, spec.std)
        buffer = np.empty((1, 3, size.height, size.width), np.float32)
        preprocessors[size](image, buffer)
        x = torch.from_numpy(buffer)
        logits = model(torch.cat([x, x.flip(3)]))
        logits = torch.stack([logits[0], logits[1].flip(2)])
        if size != spec.input_size:
            logits = F.interpolate(logits, size=(spec.input_size.height, spec.input_size.width), mode="bilinear",
                                   align_corners=False)
        outputs[size, False], outputs[size, True] = logits[:1], logits[1:]
    return outputs


def _variant_scores(outputs: dict, native: Size, sizes: list[Size]) -> dict[str, torch.Tensor]:
    """What each variant takes the argmax of."""
    probabilities = {key: logits.softmax(1) for key, logits in outputs.items()}
    return {"none": outputs[native, False],
            "flip": outputs[native, False] + outputs[native, True],
            "flip_probabilities": probabilities[native, False] + probabilities[native, True],
            "sizes": sum(probabilities[size, False] for size in sizes),
            "sizes_flip": sum(probabilities[size, mirrored] for size in sizes for mirrored in (False, True))}


@torch.inference_mode()
def score_checkpoint(checkpoint: Path, data: Path, split: str, sizes: list[Size]) -> dict[str, dict[str, float]]:
    """{variant: {miou, drivable_iou}} of ``checkpoint`` over ``data``/``split``."""
    loaded = load_checkpoint(checkpoint)
    model, spec = loaded.build_model().eval(), loaded.spec
    every = sorted(set(sizes) | {spec.input_size})
    matrices = {variant: ConfusionMatrix() for variant in VARIANTS}
    dataset, preprocessors = CityscapesDataset(data, split), {}
    for index in tqdm(range(len(dataset)), desc=f"{checkpoint.parent.parent.name} {split}", unit="image"):
        image, label = dataset[index]
        outputs = _outputs(model, spec, image, every, preprocessors)
        for variant, scores in _variant_scores(outputs, spec.input_size, sizes).items():
            labels = scores.argmax(1)[0].numpy().astype(np.uint8)
            matrices[variant].update(cv2.resize(labels, label.shape[::-1], interpolation=cv2.INTER_NEAREST), label)
    return {variant: {"miou": matrix.compute().miou, "drivable_iou": matrix.drivable_iou(spec.drivable_classes)}
            for variant, matrix in matrices.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, nargs="+", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--splits", nargs="+", default=["val", "val_shifted"])
    parser.add_argument("--sizes", type=size_arg(), nargs="+", default=[Size(384, 192), Size(448, 224), Size(512, 256)],
                        metavar="WxH")
    args = parser.parse_args(argv)
    # figures[variant][split][figure] -> one value per checkpoint
    figures = {variant: {split: {figure: [] for figure in FIGURES} for split in args.splits} for variant in VARIANTS}
    for checkpoint in args.checkpoints:
        for split in args.splits:
            for variant, values in score_checkpoint(checkpoint, args.data, split, args.sizes).items():
                for figure in FIGURES:
                    figures[variant][split][figure].append(values[figure])
    rows = change_rows(figures, "none", args.splits, FIGURES, digits=4)
    header = ["variant"] + [f"{split} {figure}" for split in args.splits for figure in FIGURES]
    publish(markdown_table(header, rows), args.out, "test_time_augmentation.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
