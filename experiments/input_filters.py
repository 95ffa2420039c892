"""Test-time photometric filters on the input frame: do they close part of the shifted gap without training?

    python experiments/input_filters.py --checkpoints A.pt [B.pt ...] --data DATA [--out DIR] \
        [--set NAME=ROOT:SPLIT ...] [--filters NAME ...]

Each checkpoint runs through the deployment Segmenter (cpu backend) on ``DATA``'s ``val`` and
``val_shifted`` splits (and each further ``--set``), once per filter applied to the frame before the
Segmenter, and once with each of the Segmenter's own ``input_filter`` values (bilateral, and bilateral then
shades-of-grey). The white balances estimate each channel's illuminant and scale the channels to its
common mean: grey-world by the channel means, shades-of-grey by a p-norm (led by the bright pixels), grey-edge
by the p-norm of the gradients, white-patch by the 99th percentile ("gains <= C": no channel scaled by more
than C or less than 1/C); "+ denoise" runs them before the Segmenter's bilateral filter. Prints a markdown
table (mIoU and drivable IoU per split and filter, and the change against no filter) and writes
``input_filters.md`` into ``--out`` when given.
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


def balance(image: np.ndarray, illuminant: np.ndarray, max_gain: float = np.inf) -> np.ndarray:
    """Scale each channel by the mean of the three ``illuminant`` estimates over its own, that factor kept
    within 1/``max_gain`` .. ``max_gain``."""
    illuminant = np.maximum(np.asarray(illuminant, np.float64), 1e-6)
    gains = np.clip(illuminant.mean() / illuminant, 1.0 / max_gain, max_gain)
    return np.clip(image.astype(np.float32) * gains.astype(np.float32), 0, 255).astype(np.uint8)


def p_norms(values: np.ndarray, p: float) -> np.ndarray:
    """The p-norm (mean of the p-th powers, p-th root) of each channel of H x W x 3 ``values`` in 0..1."""
    return ((values.reshape(-1, 3).astype(np.float64)) ** p).mean(axis=0) ** (1.0 / p)


def grey_world(image: np.ndarray) -> np.ndarray:
    """Scale each channel so that the three channel means are equal (a grey-world white balance)."""
    return balance(image, image.reshape(-1, 3).mean(axis=0))


def shades_of_grey(image: np.ndarray, p: float = 6, max_gain: float = np.inf) -> np.ndarray:
    """Equal channel p-norms (Finlayson and Trezzi; p=1 is grey-world, p=infinity white-patch)."""
    return balance(image, p_norms(image / 255.0, p), max_gain)


def grey_edge(image: np.ndarray, p: float = 6) -> np.ndarray:
    """Equal p-norms of the channels' gradient magnitudes, after a Gaussian of sigma 1 (van de Weijer)."""
    smooth = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 1.0)
    gradient = np.hypot(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1))
    return balance(image, p_norms(gradient / 255.0, p))


def white_patch(image: np.ndarray) -> np.ndarray:
    """Equal 99th percentiles of the channels."""
    return balance(image, np.percentile(image.reshape(-1, 3), 99, axis=0))


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
    "grey-world + denoise": (grey_world, "denoise"),
    "shades-of-grey p=3 + denoise": (lambda image: shades_of_grey(image, 3), "denoise"),
    "shades-of-grey p=6 + denoise": (shades_of_grey, "denoise"),
    "shades-of-grey p=12 + denoise": (lambda image: shades_of_grey(image, 12), "denoise"),
    "shades-of-grey p=6, gains <= 2 + denoise": (lambda image: shades_of_grey(image, 6, 2.0), "denoise"),
    "shades-of-grey p=6, gains <= 3 + denoise": (lambda image: shades_of_grey(image, 6, 3.0), "denoise"),
    "white-patch + denoise": (white_patch, "denoise"),
    "grey-edge p=1 + denoise": (lambda image: grey_edge(image, 1), "denoise"),
    "grey-edge p=6 + denoise": (grey_edge, "denoise"),
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
    parser.add_argument("--set", action="append", default=[], metavar="NAME=ROOT:SPLIT",
                        help="a further split to score on, e.g. one_colour=CROPS:one_colour (repeatable)")
    parser.add_argument("--filters", nargs="+", choices=list(FILTERS), default=list(FILTERS),
                        help="the filters to run (default all; 'none' is always run first)")
    args = parser.parse_args(argv)
    sets = {split: (args.data, split) for split in SPLITS}
    for item in args.set:
        name, _, place = item.partition("=")
        root, _, split = place.rpartition(":")
        if not (name and root and split):
            parser.error(f"--set wants NAME=ROOT:SPLIT, got {item!r}")
        sets[name] = (Path(root), split)
    datasets = {name: CityscapesDataset(root, split) for name, (root, split) in sets.items()}
    filters = {name: FILTERS[name] for name in dict.fromkeys(["none", *args.filters])}
    rows = []
    with tqdm(total=len(args.checkpoints) * len(filters) * len(datasets), desc="input filters", unit="pass") as bar:
        for checkpoint in args.checkpoints:
            segmenters = {name: Segmenter.from_checkpoint(checkpoint, backend="cpu", input_filter=name)
                          for name in INPUT_FILTERS}
            base = {}
            for name, (image_filter, input_filter) in filters.items():
                cells = []
                for split, dataset in datasets.items():
                    miou, drivable = score(segmenters[input_filter], dataset, image_filter)
                    base.setdefault(split, miou)
                    cells.append(f"{miou:.3f} ({miou - base[split]:+.3f}) | {drivable:.3f}")
                    bar.update()
                rows.append(f"| {checkpoint} | {name} | " + " | ".join(cells) + " |")
    header = [column for name in datasets for column in (f"{name} mIoU (change)", f"{name} drivable")]
    publish(markdown_table(["checkpoint", "filter", *header], rows), args.out, "input_filters.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
