"""How far does colour alone go? A per-pixel colour classifier fitted on train, scored on val.

The classifier is the Bayes-optimal rule on quantised RGB: every colour bin
(``--levels`` per channel) predicts the class most often seen with it in the
training labels; bins never seen predict the most frequent class. No per-pixel
colour classifier (k-NN included) can beat it at that quantisation on the
training distribution, so a network scoring far above it on val must use
shape and context.

    python experiments/colour_baseline.py --data DATA [--levels 32] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from seg_perception.labels import NUM_CLASSES
from seg_perception.metrics import ConfusionMatrix
from training.data import CityscapesDataset


def colour_bins(image: np.ndarray, levels: int) -> np.ndarray:
    q = (image.astype(np.int64) * levels) // 256
    return (q[..., 0] * levels + q[..., 1]) * levels + q[..., 2]


def fit(dataset: CityscapesDataset, levels: int) -> np.ndarray:
    """Colour bin -> most frequent trainId over the dataset."""
    counts = np.zeros(levels ** 3 * NUM_CLASSES, dtype=np.int64)
    for image, label in tqdm(dataset, desc="fit colour table"):
        valid = label < NUM_CLASSES
        pairs = colour_bins(image, levels)[valid] * NUM_CLASSES + label[valid]
        counts += np.bincount(pairs, minlength=counts.size)
    counts = counts.reshape(levels ** 3, NUM_CLASSES)
    table = counts.argmax(1).astype(np.uint8)
    table[counts.sum(1) == 0] = counts.sum(0).argmax()
    return table


def evaluate(dataset: CityscapesDataset, table: np.ndarray, levels: int) -> ConfusionMatrix:
    matrix = ConfusionMatrix()
    for image, label in tqdm(dataset, desc="score val"):
        matrix.update(table[colour_bins(image, levels)], label)
    return matrix


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--levels", type=int, default=32, help="quantisation levels per RGB channel")
    parser.add_argument("--out", type=Path, help="write metrics.json here")
    args = parser.parse_args(argv)
    table = fit(CityscapesDataset(args.data, "train"), args.levels)
    metrics = evaluate(CityscapesDataset(args.data, "val"), table, args.levels).compute()
    print(f"colour-only classifier ({args.levels}^3 bins): val mIoU {metrics.miou:.4f}, "
          f"pixel accuracy {metrics.pixel_accuracy:.4f}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "metrics.json").write_text(json.dumps(metrics.to_dict(), indent=2))


if __name__ == "__main__":
    main()
