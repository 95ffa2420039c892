"""A training split of two profiles' scenes: the first K from one dataset, the rest from another.

EXPERIMENTS.md's "half default, half shifted" row trains on the default-profile scenes 0 .. K-1 of
``--first`` and the shifted-profile scenes K .. N-1 of ``--second`` (K = N/2; both made by seg-make-data with
the same split name, so their file names do not collide). The scenes are symlinked, not copied; the
class frequencies (which median-frequency weights and rare-class sampling read) are counted anew over
the linked labels; the val splits are linked from ``--first``.

    python experiments/mixed_split.py --first DATA --second ORACLE --num 2000 [--split-at 1000] --out MIX
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from training.data.class_stats import count_pixels, frequencies_path, frequency_report
from training.data.make_data import split_dirs

CITY = "synth"
VAL_SPLITS = ("val", "val_shifted")


def scene_index(path: Path) -> int:
    """The scene number in a seg-make-data file name (``synth_000123_...``)."""
    return int(path.name.split("_")[1])


def link_scenes(source: Path, out: Path, indices: range) -> np.ndarray:
    """Symlink the scenes of ``source``'s train split whose index is in ``indices``; their pixel counts."""
    counts = np.zeros(256, np.int64)
    for source_dir, out_dir in zip(split_dirs(source, "train", CITY), split_dirs(out, "train", CITY)):
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(source_dir.iterdir()):
            if scene_index(path) in indices:
                (out_dir / path.name).symlink_to(path.resolve())
    labels = [path for path in sorted(split_dirs(out, "train", CITY)[1].glob("*_gtFine_labelTrainIds.png"))
              if scene_index(path) in indices]
    if len(labels) != len(indices):
        raise SystemExit(f"mixed_split.py: {source} has {len(labels)} of the train scenes {indices.start} .. "
                         f"{indices.stop - 1}; make them with seg-make-data --num {indices.stop}")
    for path in tqdm(labels, desc=f"counting {source.name}", unit="label"):
        counts += count_pixels(cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--first", type=Path, required=True, help="dataset whose train scenes 0 .. K-1 are taken")
    parser.add_argument("--second", type=Path, required=True, help="dataset whose train scenes K .. N-1 are taken")
    parser.add_argument("--num", type=int, default=2000, help="N, scenes in the mixed split (default 2000)")
    parser.add_argument("--split-at", type=int, help="K, the first scene taken from --second (default N/2)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.out.exists():
        parser.error(f"{args.out} exists")
    split_at = args.num // 2 if args.split_at is None else args.split_at
    if not 0 < split_at < args.num:
        parser.error(f"--split-at must be in 1 .. {args.num - 1}")
    counts = (link_scenes(args.first, args.out, range(0, split_at))
              + link_scenes(args.second, args.out, range(split_at, args.num)))
    first, second = (json.loads(frequencies_path(root, "train").read_text()) for root in (args.first, args.second))
    profile = f"{first['profile']} (scenes 0-{split_at - 1}) + {second['profile']} ({split_at}-{args.num - 1})"
    report = frequency_report(counts, split="train", num_images=args.num, size=first["size"], seed=first["seed"],
                              city=CITY, profile=profile)
    frequencies_path(args.out, "train").write_text(json.dumps(report, indent=2) + "\n")
    for split in VAL_SPLITS:
        for source_dir, out_dir in zip(split_dirs(args.first, split, CITY), split_dirs(args.out, split, CITY)):
            out_dir.parent.mkdir(parents=True, exist_ok=True)
            out_dir.symlink_to(source_dir.resolve())
        frequencies_path(args.out, split).write_text(frequencies_path(args.first, split).read_text())
    print(f"{args.out}: {args.num} train scenes ({split_at} from {args.first}, {args.num - split_at} from {args.second})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
