"""Frames under strongly coloured street lights (sodium, tungsten, a blue hour), for scoring the white balance
of ``input_filter`` where its gains grow large.

    python experiments/colour_casts.py --data DATA --out DIR [--split val] [--light NAME ...] [--gain G] [--noise S]

Each scene of ``DATA``'s split is re-lit in linear light (sRGB decoded with gamma 2.2): every channel scaled
by the lamp's colour and the exposure ``--gain``, Gaussian sensor noise of ``--noise`` grey levels added
after encoding (seeded per frame), into ``DIR``'s split ``cast_NAME`` (Cityscapes layout, labels copied:
light moves no pixel; an earlier run's frames of that split are removed first). Prints the largest gain the
product's shades-of-grey white balance applies to each frame at the model's input (resized to 448x224, the
default's, and bilateral-filtered), median and largest over the set: below 2 on the generated val and
shifted splits, up to 3.4 under sodium light and 7.8 under low-pressure sodium.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seg_perception.inference.preprocess import BILATERAL, white_balance_gains  # noqa: E402
from training.data.cityscapes import IMAGE_SUFFIX, label_paths_for  # noqa: E402

#: the default model's input size, at which the product balances the frame
INPUT_SIZE = (448, 224)
#: name -> the lamp's linear R, G, B relative to daylight (low-pressure sodium is nearly monochrome orange,
#: high-pressure "sodium" the common orange street light)
LIGHTS = {
    "low_pressure_sodium": (1.0, 0.3, 0.01),
    "sodium": (1.0, 0.45, 0.08),
    "tungsten": (1.0, 0.7, 0.4),
    "blue_hour": (0.45, 0.7, 1.0),
}


def relight(image_bgr: np.ndarray, rgb: tuple[float, float, float], gain: float, noise: float,
            rng: np.random.Generator) -> np.ndarray:
    """``image_bgr`` under a lamp of linear colour ``rgb`` at exposure ``gain``, with sensor noise."""
    linear = (image_bgr.astype(np.float32) / 255.0) ** 2.2
    linear *= np.array(rgb[::-1], np.float32) * gain
    encoded = np.clip(linear, 0.0, 1.0) ** (1.0 / 2.2) * 255.0
    if noise > 0:
        encoded += rng.normal(0.0, noise, encoded.shape).astype(np.float32)
    return np.clip(encoded + 0.5, 0, 255).astype(np.uint8)


def largest_gain(image_bgr: np.ndarray) -> float:
    """The largest channel gain the product's white balance gives ``image_bgr`` at the model's input."""
    resized = cv2.resize(image_bgr, INPUT_SIZE, interpolation=cv2.INTER_LINEAR)
    return max(white_balance_gains(cv2.split(cv2.bilateralFilter(resized, *BILATERAL))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--light", nargs="+", choices=list(LIGHTS), default=list(LIGHTS))
    parser.add_argument("--gain", type=float, default=1.0, help="exposure in linear light (default 1)")
    parser.add_argument("--noise", type=float, default=0.0, help="sensor noise sigma in grey levels (default 0)")
    args = parser.parse_args(argv)
    if args.gain <= 0 or args.noise < 0:
        parser.error(f"--gain must be > 0 and --noise >= 0, got {args.gain} and {args.noise}")
    images = sorted((args.data / "leftImg8bit" / args.split).glob(f"*/*{IMAGE_SUFFIX}"))
    if not images:
        parser.error(f"{args.data / 'leftImg8bit' / args.split}: no *{IMAGE_SUFFIX} images")
    for light in args.light:
        split = f"cast_{light}"
        for folder in ("leftImg8bit", "gtFine"):
            shutil.rmtree(args.out / folder / split, ignore_errors=True)
        gains = []
        for index, image_path in enumerate(images):
            image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
            if image is None:
                raise OSError(f"{image_path}: not a readable image")
            lit = relight(image, LIGHTS[light], args.gain, args.noise, np.random.default_rng(index))
            city = image_path.parent.name
            target = args.out / "leftImg8bit" / split / city / image_path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(target), lit):
                raise OSError(f"{target}: could not write")
            for label in (path for path in label_paths_for(image_path) if path.exists()):
                copy = args.out / "gtFine" / split / city / label.name
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(label, copy)
            gains.append(largest_gain(lit))
        print(f"{split}: {len(images)} frames into {args.out / 'leftImg8bit' / split}; largest white-balance gain "
              f"per frame: median {statistics.median(gains):.2f}, max {max(gains):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
