"""Pictures of generated scenes (the ones in docs/DATA.md): each beside its colour label, or one street
under every randomisation profile.

    python -m training.data.preview docs/images/sample_scenes.png [--num 6] [--seed 0] [--split train] [--profile P]
    python -m training.data.preview docs/images/profiles.png --profiles --num 3 --scale 0.5

Scene ``i`` is the same as ``seg-make-data`` writes for that seed, split and profile.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from seg_perception.labels import colorize
from seg_perception.size import Size, size_arg

from .make_data import MIN_SIDE, scene_rng
from .profiles import PROFILES, Profile
from .scene_generator import generate_scene

_GAP = 4


def sample_grid(num: int, seed: int, split: str, width: int, height: int, columns: int, scale: float,
                profile: Profile = PROFILES["default"]) -> np.ndarray:
    """RGB grid of (scene | colour label) pairs, ``columns`` pairs per row, shrunk by ``scale``."""
    pairs = []
    for index in range(num):
        image, label = generate_scene(scene_rng(seed, split, index), width, height, profile)
        size = (round(width * scale), round(height * scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        label = cv2.resize(colorize(label), size, interpolation=cv2.INTER_NEAREST)
        pairs.append(np.concatenate([image, np.full((size[1], _GAP, 3), 255, np.uint8), label], axis=1))
    return _layout(pairs, columns)


def profile_grid(num: int, seed: int, split: str, width: int, height: int, scale: float) -> np.ndarray:
    """RGB grid with one row per scene and one column per profile (plain, default, shifted)."""
    size = (round(width * scale), round(height * scale))
    tiles = [cv2.resize(generate_scene(scene_rng(seed, split, index), width, height, profile)[0], size,
                        interpolation=cv2.INTER_AREA)
             for index in range(num) for profile in PROFILES.values()]
    return _layout(tiles, len(PROFILES))


def _layout(pairs: list[np.ndarray], columns: int) -> np.ndarray:
    """Equal tiles in rows of ``columns``, white gaps between them."""
    gap = _GAP
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
    parser.add_argument("--profile", choices=list(PROFILES), default="default", help="randomisation profile")
    parser.add_argument("--profiles", action="store_true",
                        help="one row per scene, one column per profile, images only")
    args = parser.parse_args(argv)
    if args.profiles:
        grid = profile_grid(args.num, args.seed, args.split, *args.size, args.scale)
    else:
        grid = sample_grid(args.num, args.seed, args.split, *args.size, args.columns, args.scale,
                           PROFILES[args.profile])
    if not cv2.imwrite(args.out, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        parser.error(f"could not write {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
