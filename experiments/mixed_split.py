"""A training split of two profiles' scenes: the first K from one dataset, the rest from another.

EXPERIMENTS.md's "half default, half shifted" row trains on the default-profile scenes 0 .. K-1 of
``--first`` and the shifted-profile scenes K .. N-1 of ``--second`` (K = N/2; both made by
seg-make-data with the same split name and size, so their file names do not collide). The scenes are
symlinked, not copied; the val splits are linked from ``--first``. The class-frequency report
(what seg-class-stats shows; seg-train counts its own) is counted anew over the linked labels.

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
from training.data.make_data import FOLDERS, scene_stem, split_dirs

CITY = "synth"
VAL_SPLITS = ("val", "val_shifted")


class MixError(Exception):
    """A source that cannot give the scenes asked of it."""


def scene_files(source: Path, index: int) -> list[Path]:
    """Every file of train scene ``index`` in ``source`` (image, labels, camera); MixError if the image or
    the trainId labels are missing."""
    stem = scene_stem(CITY, index)
    files = [path for folder in split_dirs(source, "train", CITY) if folder.is_dir()
             for path in sorted(folder.glob(f"{stem}_*"))]
    for needed in (f"{stem}_leftImg8bit.png", f"{stem}_gtFine_labelTrainIds.png"):
        if needed not in {path.name for path in files}:
            raise MixError(f"{source}: train scene {index} has no {needed}; make the scenes with seg-make-data "
                           f"--split train --num {index + 1} or more")
    return files


def report_of(source: Path) -> dict:
    path = frequencies_path(source, "train")
    if not path.is_file():
        raise MixError(f"{path} does not exist: {source} is not a seg-make-data dataset")
    return json.loads(path.read_text())


def mix(first: Path, second: Path, num: int, split_at: int, out: Path) -> dict:
    """Link the scenes into ``out`` (checked first: nothing is written for a source that cannot give them);
    returns the frequency report written."""
    reports = report_of(first), report_of(second)
    if reports[0]["size"] != reports[1]["size"]:
        raise MixError(f"{first} has {reports[0]['size']} scenes, {second} {reports[1]['size']} scenes: sizes differ")
    for split in VAL_SPLITS:
        if not split_dirs(first, split, CITY)[0].is_dir():
            raise MixError(f"{first} has no {split} split to link")
    plan = [(index, scene_files(first if index < split_at else second, index)) for index in range(num)]
    counts = np.zeros(256, np.int64)
    for folder in split_dirs(out, "train", CITY):
        folder.mkdir(parents=True)
    for index, files in tqdm(plan, desc="linking", unit="scene"):
        for path in files:
            (out / path.relative_to(path.parents[3])).symlink_to(path.resolve())
        labels = next(path for path in files if path.name.endswith("_gtFine_labelTrainIds.png"))
        counts += count_pixels(cv2.imread(str(labels), cv2.IMREAD_UNCHANGED))
    for folder in FOLDERS:
        for split in VAL_SPLITS:
            (out / folder / split).symlink_to((first / folder / split).resolve())
    for split in VAL_SPLITS:
        frequencies_path(out, split).write_text(frequencies_path(first, split).read_text())
    profile = f"{reports[0]['profile']} (scenes 0-{split_at - 1}) + {reports[1]['profile']} ({split_at}-{num - 1})"
    report = frequency_report(counts, split="train", num_images=num, size=reports[0]["size"],
                              seed=[reports[0]["seed"], reports[1]["seed"]], city=CITY, profile=profile)
    frequencies_path(out, "train").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--first", type=Path, required=True, help="dataset whose train scenes 0 .. K-1 are taken")
    parser.add_argument("--second", type=Path, required=True, help="dataset whose train scenes K .. N-1 are taken")
    parser.add_argument("--num", type=int, default=2000, help="N, scenes in the mixed split (default 2000)")
    parser.add_argument("--split-at", type=int, help="K, the first scene taken from --second (default N/2)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    split_at = args.num // 2 if args.split_at is None else args.split_at
    if not 0 < split_at < args.num:
        parser.error(f"--split-at must be in 1 .. {args.num - 1}")
    if args.out.exists():
        parser.error(f"{args.out} exists")
    try:
        mix(args.first, args.second, args.num, split_at, args.out)
    except MixError as error:
        parser.exit(1, f"mixed_split.py: error: {error}\n")
    print(f"{args.out}: {args.num} train scenes ({split_at} from {args.first}, {args.num - split_at} from "
          f"{args.second})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
