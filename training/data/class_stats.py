"""Class pixel frequencies of a label set, and how they compare with real Cityscapes.

``python -m training.data.class_stats OUT --split train`` prints the comparison table
(markdown) from the ``class_frequencies_{split}.json`` that ``seg-make-data`` wrote.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from seg_perception.labels import CLASS_NAMES, IGNORE_ID, NUM_CLASSES

#: Approximate published pixel fractions of the 19 classes over Cityscapes gtFine train
#: (commonly reported figures; rounded, they are a reference, not ground truth).
CITYSCAPES_FINE_TRAIN_FRACTIONS = {
    "road": 0.369, "sidewalk": 0.061, "building": 0.228, "wall": 0.0066, "fence": 0.0088, "pole": 0.0123,
    "traffic light": 0.0021, "traffic sign": 0.0055, "vegetation": 0.159, "terrain": 0.0116, "sky": 0.040,
    "person": 0.0122, "rider": 0.0014, "car": 0.070, "truck": 0.0027, "bus": 0.0023, "train": 0.0023,
    "motorcycle": 0.0010, "bicycle": 0.0041,
}


def frequencies_path(root: str | Path, split: str) -> Path:
    """Where ``seg-make-data`` writes the frequency report of ``split``."""
    return Path(root) / f"class_frequencies_{split}.json"


def count_pixels(label: np.ndarray) -> np.ndarray:
    """Pixels per value 0..255 of a uint8 label image (int64, length 256)."""
    return np.bincount(label.ravel(), minlength=256)


def frequency_report(counts: np.ndarray, **meta) -> dict:
    """JSON-ready report: ``meta`` fields, pixel totals, and per class name its trainId, pixels and fraction.

    Fractions are of labelled pixels (ignore excluded), as the published Cityscapes figures are.
    """
    labelled = int(counts[:NUM_CLASSES].sum())
    return {
        **meta,
        "labelled_pixels": labelled,
        "ignored_pixels": int(counts[IGNORE_ID]),
        "classes": {
            name: {"train_id": train_id, "pixels": int(counts[train_id]),
                   "fraction": float(counts[train_id]) / labelled if labelled else 0.0}
            for train_id, name in enumerate(CLASS_NAMES)
        },
    }


def comparison_table(report: dict) -> str:
    """Markdown table of a report's class fractions beside the Cityscapes reference."""
    lines = ["| class | generated | Cityscapes (approx.) | ratio |", "|---|---:|---:|---:|"]
    for name in CLASS_NAMES:
        ours, real = report["classes"][name]["fraction"], CITYSCAPES_FINE_TRAIN_FRACTIONS[name]
        lines.append(f"| {name} | {ours:.4f} | {real:.4f} | {ours / real:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the comparison table of a generated split."""
    parser = argparse.ArgumentParser(prog="python -m training.data.class_stats", description=__doc__.split("\n")[0])
    parser.add_argument("root", help="dataset root written by seg-make-data")
    parser.add_argument("--split", default="train")
    args = parser.parse_args(argv)
    path = frequencies_path(args.root, args.split)
    if not path.is_file():
        parser.error(f"{path} does not exist; generate the split with seg-make-data first")
    report = json.loads(path.read_text())
    print(f"{report.get('num_images', '?')} images of split {args.split!r}, "
          f"{report['labelled_pixels']} labelled and {report['ignored_pixels']} ignored pixels\n")
    print(comparison_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
