"""Frames filled by one class (a camera facing a hedge, a wall, a car close up): where grey-world white balance
should hurt, for scoring ``input_filter`` on them with seg-eval.

    python experiments/one_colour_frames.py --data DATA --out DIR [--split val] [--zoom 3]

For each scene of ``DATA``'s split, the window of 1/``zoom`` of the frame's width and height (stride 8 px) in
which one class other than road covers the largest share is cut out and enlarged back to the frame's size
(image bilinear, labels nearest) into ``DIR``'s split ``one_colour`` (Cityscapes layout, no camera files:
the crops have no calibration). Prints the dominant classes, their median share, and how far grey-world
moves the crops' colours (the ratio of the largest to the smallest channel mean) against the whole frames'.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seg_perception.labels import CLASS_NAMES, IGNORE_ID  # noqa: E402
from training.data.cityscapes import IMAGE_SUFFIX, label_paths_for  # noqa: E402

SPLIT = "one_colour"
ROAD = CLASS_NAMES.index("road")
STRIDE = 8


def dominant_window(train_ids: np.ndarray, zoom: float) -> tuple[int, int, int, int, int, float]:
    """(x, y, w, h, class, share) of the window whose largest non-road class share is the highest."""
    height, width = train_ids.shape
    w, h = round(width / zoom), round(height / zoom)
    best = (0, 0, w, h, ROAD, -1.0)
    for cls in np.unique(train_ids):
        if cls in (ROAD, IGNORE_ID):
            continue
        # the share of ``cls`` in every window, from an integral image
        integral = cv2.integral((train_ids == cls).astype(np.uint8))
        counts = integral[h:, w:] - integral[:-h, w:] - integral[h:, :-w] + integral[:-h, :-w]
        counts = counts[::STRIDE, ::STRIDE]
        y, x = np.unravel_index(int(np.argmax(counts)), counts.shape)
        share = counts[y, x] / (w * h)
        if share > best[5]:
            best = (x * STRIDE, y * STRIDE, w, h, int(cls), float(share))
    return best


def colour_cast(image_bgr: np.ndarray) -> float:
    """Largest over smallest channel mean: 1 for a grey frame, what grey-world divides away."""
    means = image_bgr.reshape(-1, 3).mean(axis=0)
    return float(means.max() / max(means.min(), 1e-6))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--zoom", type=float, default=3.0, help="the crop is 1/zoom of the frame's sides (default 3)")
    args = parser.parse_args(argv)
    images = sorted((args.data / "leftImg8bit" / args.split).glob(f"*/*{IMAGE_SUFFIX}"))
    classes, shares, casts, frame_casts = Counter(), [], [], []
    for image_path in images:
        image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        train_path, ids_path = label_paths_for(image_path)
        train_ids = cv2.imread(str(train_path), cv2.IMREAD_UNCHANGED)
        label_ids = cv2.imread(str(ids_path), cv2.IMREAD_UNCHANGED)
        x, y, w, h, cls, share = dominant_window(train_ids, args.zoom)
        size = (image.shape[1], image.shape[0])
        crop = cv2.resize(image[y:y + h, x:x + w], size, interpolation=cv2.INTER_LINEAR)
        city = image_path.parent.name
        targets = {args.out / "leftImg8bit" / SPLIT / city / image_path.name: crop}
        for path, labels in ((train_path, train_ids), (ids_path, label_ids)):
            targets[args.out / "gtFine" / SPLIT / city / path.name] = cv2.resize(
                labels[y:y + h, x:x + w], size, interpolation=cv2.INTER_NEAREST)
        for path, pixels in targets.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(path), pixels):
                raise OSError(f"{path}: could not write")
        classes[CLASS_NAMES[cls]] += 1
        shares.append(share)
        casts.append(colour_cast(crop))
        frame_casts.append(colour_cast(image))
    print(f"{len(images)} crops into {args.out / 'leftImg8bit' / SPLIT}; dominant class: "
          + ", ".join(f"{name} {count}" for name, count in classes.most_common()))
    print(f"median share of the dominant class {statistics.median(shares):.2f}; median colour cast (largest / "
          f"smallest channel mean) {statistics.median(casts):.2f} against {statistics.median(frame_casts):.2f} "
          "for the whole frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
