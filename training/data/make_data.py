"""``seg-make-data OUT --split train --num N --size WxH --seed S --profile P``: procedural scenes in the Cityscapes layout.

Writes ``OUT/leftImg8bit/{split}/{city}/{city}_{seq:06d}_000019_leftImg8bit.png`` and beside it in
``OUT/gtFine/{split}/{city}/`` the ``_gtFine_labelIds``, ``_gtFine_labelTrainIds`` and
``_gtFine_color`` PNGs, in ``OUT/camera/{split}/{city}/`` the scene's camera as a Cityscapes
``_camera.json``, plus ``OUT/class_frequencies_{split}.json``. Scene ``i`` of a split depends
only on (seed, split, i), so the output is the same for any number of workers, and splits never
share scenes. ``--profile`` picks the domain-randomisation ranges (``profiles``: ``default``,
``shifted`` for a test split outside them, ``plain`` for the unrandomised generator) and
``--off camera,light,...`` switches groups of it off; ``--mix shifted:0.25`` draws the last quarter
of the scenes from a second profile (a training split for the conditions a robot will meet). All
three are recorded in the frequency JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from seg_perception.labels import COLOR_LUT, TRAIN_ID_TO_LABEL_ID_LUT
from seg_perception.size import Size, size_arg

from .class_stats import count_pixels, frequencies_path, frequency_report
from .profiles import GROUPS, PROFILES, Profile
from .scene_generator import generate_scene, sample_scene

#: Cityscapes annotates frame 19 of every 30-frame snippet; generated scenes keep that naming.
FRAME = 19
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
#: The smallest side the scene generator draws sensibly.
MIN_SIDE = 16


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of scene ``index`` of ``split``: keyed by seed, split name and index."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(zlib.crc32(split.encode()), index)))


def scene_stem(city: str, index: int) -> str:
    """Cityscapes file stem of scene ``index``: ``{city}_{seq:06d}_{frame:06d}``."""
    return f"{city}_{index:06d}_{FRAME:06d}"


#: the dataset's top folders: images, annotations, camera calibration (Cityscapes layout)
FOLDERS = ("leftImg8bit", "gtFine", "camera")


def split_dirs(root: Path, split: str, city: str) -> tuple[Path, Path, Path]:
    """The image, annotation and camera calibration folders of one city of a split."""
    return tuple(root / folder / split / city for folder in FOLDERS)


def _write_png(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


@dataclass(frozen=True)
class Mix:
    """Scenes ``first_scene`` .. N-1 of a split are drawn from ``profile``, the others from the split's own.

    Scene ``i`` keeps its random stream, so a mixed split holds exactly the scenes that the two
    single-profile splits hold at those indices.
    """

    profile: Profile
    first_scene: int

    def profile_of(self, index: int, base: Profile) -> Profile:
        """The profile scene ``index`` is drawn from."""
        return self.profile if index >= self.first_scene else base

    def describe(self, base: Profile, num: int) -> str:
        """``default (scenes 0-1499) + shifted (1500-1999)``: what the frequency JSON records as the profile."""
        return f"{base.name} (scenes 0-{self.first_scene - 1}) + {self.profile.name} ({self.first_scene}-{num - 1})"


def _make_scene(job: tuple[str, str, str, int, int, int, int, Profile]) -> np.ndarray:
    """Generate and write one scene; returns its label's pixel counts (runs in worker processes)."""
    root, split, city, seed, index, width, height, profile = job
    image, label = generate_scene(scene_rng(seed, split, index), width, height, profile)
    # generate_scene samples the scene first, so the same stream gives its camera again
    camera = sample_scene(scene_rng(seed, split, index), width, height, profile).camera
    image_dir, label_dir, camera_dir = split_dirs(Path(root), split, city)
    stem = scene_stem(city, index)
    _write_png(image_dir / f"{stem}_leftImg8bit.png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    _write_png(label_dir / f"{stem}_gtFine_labelIds.png", TRAIN_ID_TO_LABEL_ID_LUT[label])
    _write_png(label_dir / f"{stem}_gtFine_labelTrainIds.png", label)
    # Official colour annotations are RGBA.
    _write_png(label_dir / f"{stem}_gtFine_color.png", cv2.cvtColor(COLOR_LUT[label], cv2.COLOR_RGB2BGRA))
    (camera_dir / f"{stem}_camera.json").write_text(json.dumps(camera.calibration(), indent=4) + "\n")
    return count_pixels(label)


def _init_worker() -> None:
    # Parallelism comes from processes; OpenCV's own threads would only contend with them.
    cv2.setNumThreads(1)


def generate_split(root: str | Path, split: str, num: int, width: int, height: int, seed: int = 0,
                   workers: int = 1, city: str = "synth", progress: bool = True,
                   profile: Profile = PROFILES["default"], mix: Mix | None = None) -> dict:
    """Write ``num`` scenes of ``split`` under ``root`` (those from ``mix.first_scene`` on drawn from
    ``mix.profile``) and their frequency JSON; returns the frequency report."""
    if mix is not None and not 0 < mix.first_scene < num:
        raise ValueError(f"a mix must leave scenes of both profiles: first_scene {mix.first_scene} of {num}")
    root = Path(root)
    for folder in split_dirs(root, split, city):
        folder.mkdir(parents=True, exist_ok=True)
    jobs = [(str(root), split, city, seed, index, width, height, mix.profile_of(index, profile) if mix else profile)
            for index in range(num)]
    counts = np.zeros(256, np.int64)
    bar = tqdm(total=num, desc=f"seg-make-data {split}", unit="scene", disable=not progress)
    if workers == 1:
        results = map(_make_scene, jobs)
        pool = None
    else:
        # spawn, not fork: a forked child of a process that has used OpenCV's thread pool can deadlock.
        pool = multiprocessing.get_context("spawn").Pool(workers, _init_worker)
        results = pool.imap(_make_scene, jobs, chunksize=4)
    try:
        for scene_counts in results:
            counts += scene_counts
            bar.update()
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    report = frequency_report(counts, split=split, num_images=num, size=[width, height], seed=seed, city=city,
                              profile=mix.describe(profile, num) if mix else profile.name)
    frequencies_path(root, split).write_text(json.dumps(report, indent=2) + "\n")
    return report


def _bounded_int(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {minimum}")
        return value

    return parse


def _folder_name(text: str) -> str:
    if not _NAME.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} must be letters, digits, '_' or '-' (it becomes a folder)")
    return text


def _groups(text: str) -> tuple[str, ...]:
    groups = tuple(group.strip() for group in text.split(",") if group.strip())
    unknown = [group for group in groups if group not in GROUPS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    return groups


def _mix(text: str) -> tuple[str, float, str]:
    name, _, fraction = text.partition(":")
    if name not in PROFILES:
        raise argparse.ArgumentTypeError(f"unknown profile {name!r} in {text!r}; choose from {', '.join(PROFILES)}")
    try:
        value = float(fraction)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not PROFILE:FRACTION (e.g. shifted:0.25)") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"the fraction in {text!r} must lie between 0 and 1 (exclusive)")
    return name, value, text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seg-make-data", description=__doc__.split("\n")[0].split(": ", 1)[1])
    parser.add_argument("out", type=Path, help="dataset root (Cityscapes layout)")
    parser.add_argument("--split", type=_folder_name, default="train", help="split folder name (default train)")
    parser.add_argument("--num", type=_bounded_int(1), required=True, help="number of scenes")
    parser.add_argument("--size", type=size_arg(MIN_SIDE), default=Size(512, 256), metavar="WxH",
                        help="image size (512x256)")
    parser.add_argument("--seed", type=_bounded_int(0), default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=_bounded_int(1), default=min(2, os.cpu_count() or 1),
                        help="worker processes (default: up to 2); the output does not depend on it")
    parser.add_argument("--city", type=_folder_name, default="synth", help="city folder and file prefix")
    parser.add_argument("--profile", choices=list(PROFILES), default="default",
                        help="domain-randomisation ranges (docs/DATA.md): default, shifted (a test split "
                             "outside them) or plain (no randomisation)")
    parser.add_argument("--off", type=_groups, default=(), metavar="GROUP[,GROUP]",
                        help=f"switch randomisation groups off (plain ranges): {','.join(GROUPS)}")
    parser.add_argument("--mix", type=_mix, metavar="PROFILE:FRACTION",
                        help="draw that fraction of the scenes (rounded half up), the last ones, from a second profile "
                             "(with the same --off), e.g. shifted:0.25 for a model that will drive in fog and at dusk")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace this split's existing scenes instead of refusing")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of ``seg-make-data``."""
    parser = _parser()
    args = parser.parse_args(argv)
    width, height = args.size
    mix = None
    if args.mix:
        name, fraction, text = args.mix
        if name == args.profile:
            parser.error(f"--mix {text} draws from --profile {args.profile} itself; name another profile")
        mixed = int(args.num * fraction + 0.5)  # halves round up, whatever Python's round() would do
        if not 0 < mixed < args.num:
            parser.error(f"--mix {text} gives {mixed} of the {args.num} scenes; choose a fraction that "
                         f"leaves scenes of both profiles")
        mix = Mix(PROFILES[name].without(args.off), args.num - mixed)
    existing = [d for d in split_dirs(args.out, args.split, args.city) if d.is_dir() and any(d.iterdir())]
    if existing and not args.overwrite:
        parser.error(f"{existing[0]} already holds scenes; pass --overwrite to replace them")
    for folder in existing:
        shutil.rmtree(folder)
    profile = PROFILES[args.profile].without(args.off)
    report = generate_split(args.out, args.split, args.num, width, height, args.seed, args.workers, args.city,
                            profile=profile, mix=mix)
    print(f"wrote {args.num} scenes of {width}x{height} ({report['profile']}) to {args.out} (split {args.split!r}); "
          f"class frequencies in {frequencies_path(args.out, args.split)}", file=sys.stderr)
    missing = [name for name, entry in report["classes"].items() if entry["pixels"] == 0]
    if missing:
        print(f"note: no pixels of {', '.join(missing)} in this split (too few scenes?)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
