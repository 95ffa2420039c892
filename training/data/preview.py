"""A picture of generated scenes beside their colour labels (the one in docs/DATA.md).

    python -m training.data.preview docs/images/sample_scenes.png [--num 6] [--seed 0] [--split train]

Scene ``i`` is the same as ``seg-make-data`` writes for that seed and split.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from seg_perception.labels import colorize
from seg_perception.size import Size, size_arg

from .make_data import MIN_SIDE, scene_rng
from .scene_generator import generate_scene


def sample_grid(num: int, seed: int, split: str, width: int, height: int, columns: int, scale: float) -> np.ndarray:
    """RGB grid of (scene | colour label) pairs, ``columns`` pairs per row, shrunk by ``scale``."""
    gap = 4
    pairs = []
    for index in range(num):
        image, label = generate_scene(scene_rng(seed, split, index), width, height)
        size = (round(width * scale), round(height * scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        label = cv2.resize(colorize(label), size, interpolation=cv2.INTER_NEAREST)
        pairs.append(np.concatenate([image, np.full((size[1], gap, 3), 255, np.uint8), label], axis=1))
    blank = np.full_like(pairs[0], 255)
    pairs += [blank] * (-len(pairs) % columns)
    spacer = np.full((pairs[0].shape[0], 3 * gap, 3), 255, np.uint8)
    rows = [np.concatenate(sum(([p, spacer] for p in pairs[r:r + columns]), [])[:-1], axis=1)
            for r in range(0, len(pairs), columns)]
    divider = np.full((3 * gap, rows[0].shape[1], 3), 255, np.uint8)
    return np.concatenate(sum(([row, divider] for row in rows), [])[:-1], axis=0)


def main(argv: list[str] | None = None) -> int:
    """Write the sample picture."""
    parser = argparse.ArgumentParser(prog="python -m training.data.preview", description=__doc__.split("\n")[0])
    parser.add_argument("out", help="PNG to write")
    parser.add_argument("--num", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="train")
    parser.add_argument("--size", type=size_arg(MIN_SIDE), default=Size(512, 256), metavar="WxH", help="generated size")
    parser.add_argument("--columns", type=int, default=2, help="scene/label pairs per row")
    parser.add_argument("--scale", type=float, default=0.75, help="shrink factor of the picture")
    args = parser.parse_args(argv)
    grid = sample_grid(args.num, args.seed, args.split, *args.size, args.columns, args.scale)
    if not cv2.imwrite(args.out, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        parser.error(f"could not write {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
