"""Test-time photometric filters on the input frame: do they close part of the shifted gap without training?

    python experiments/input_filters.py --checkpoints A.pt [B.pt ...] --data DATA [--out DIR]

Each checkpoint runs through the deployment Segmenter (cpu backend) on ``DATA``'s ``val`` and
``val_shifted`` splits, once per filter applied to the frame before the Segmenter, and once with each of
the Segmenter's own ``input_filter`` values (bilateral, and bilateral then grey-world). The scenes are
512x256, the default model's input size, so a filter here sees what it would see applied after the
node's resize. Prints a markdown table (mIoU and drivable IoU per split and filter, and the change
against no filter) and writes ``input_filters.md``
into ``--out`` when given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seg_perception.inference import Segmenter  # noqa: E402
from seg_perception.inference.preprocess import INPUT_FILTERS  # noqa: E402
from seg_perception.metrics import ConfusionMatrix  # noqa: E402
from training.data import CityscapesDataset  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from markdown_table import markdown_table, publish  # noqa: E402

SPLITS = ("val", "val_shifted")


def grey_world(image: np.ndarray) -> np.ndarray:
    """Scale each channel so that the three channel means are equal (a grey-world white balance)."""
    pixels = image.astype(np.float32)
    means = pixels.reshape(-1, 3).mean(axis=0)
    return np.clip(pixels * (means.mean() / np.maximum(means, 1.0)), 0, 255).astype(np.uint8)


def stretch(image: np.ndarray) -> np.ndarray:
    """Stretch the 1st-99th percentile of all channels to 0-255."""
    pixels = image.astype(np.float32)
    low, high = np.percentile(pixels, (1, 99))
    return np.clip((pixels - low) * 255.0 / max(high - low, 1.0), 0, 255).astype(np.uint8)


def clahe(image: np.ndarray) -> np.ndarray:
    """CLAHE (clip 2, 8x8 tiles) on the L channel of Lab."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    lab[..., 0] = cv2.createCLAHE(2.0, (8, 8)).apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def unchanged(image: np.ndarray) -> np.ndarray:
    """The frame as it is."""
    return image


#: name -> (filter applied to the frame here, the Segmenter's input_filter)
FILTERS = {
    "none": (unchanged, "none"),
    "the Segmenter's input_filter=denoise": (unchanged, "denoise"),
    "the Segmenter's input_filter=denoise_white_balance": (unchanged, "denoise_white_balance"),
    "grey-world": (grey_world, "none"),
    "Gaussian 5x5, sigma 1": (lambda image: cv2.GaussianBlur(image, (5, 5), 1.0), "none"),
    "percentile stretch": (stretch, "none"),
    "CLAHE": (clahe, "none"),
}


def score(segmenter: Segmenter, dataset: CityscapesDataset, image_filter=unchanged) -> tuple[float, float]:
    """(mIoU, drivable IoU) of ``segmenter`` on ``dataset`` with ``image_filter`` applied to every frame."""
    matrix = ConfusionMatrix()
    for index in range(len(dataset)):
        image, label = dataset[index]
        matrix.update(segmenter.segment(image_filter(image)).labels, label)
    return matrix.compute().miou, matrix.drivable_iou(segmenter.drivable_classes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, nargs="+", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    datasets = {split: CityscapesDataset(args.data, split) for split in SPLITS}
    rows = []
    with tqdm(total=len(args.checkpoints) * len(FILTERS) * len(SPLITS), desc="input filters", unit="pass") as bar:
        for checkpoint in args.checkpoints:
            segmenters = {name: Segmenter.from_checkpoint(checkpoint, backend="cpu", input_filter=name)
                          for name in INPUT_FILTERS}
            base = {}
            for name, (image_filter, input_filter) in FILTERS.items():
                cells = []
                for split, dataset in datasets.items():
                    miou, drivable = score(segmenters[input_filter], dataset, image_filter)
                    base.setdefault(split, miou)
                    cells.append(f"{miou:.3f} ({miou - base[split]:+.3f}) | {drivable:.3f}")
                    bar.update()
                rows.append(f"| {checkpoint} | {name} | " + " | ".join(cells) + " |")
    publish(markdown_table(["checkpoint", "filter", "val mIoU (change)", "val drivable", "shifted mIoU (change)",
                            "shifted drivable"], rows), args.out, "input_filters.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
