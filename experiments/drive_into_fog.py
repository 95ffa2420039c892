"""A recording that drives out of clear streets into the shifted profile's fog, dusk and noise, and back:
where seg-bag-eval (offline) says seg_node would have warned that its input looks degraded.

    python experiments/drive_into_fog.py --data DATA --checkpoint CKPT --out DIR [--rate 5]

``DATA`` holds the ``val`` and ``val_shifted`` splits of ``make demo`` (100 scenes each). The drive is
val scenes 0-49, val_shifted 0-99, val 50-99, linked in that order into ``DIR/drive`` as one split, and
written by seg-make-bag as ``DIR/drive_bag`` at ``--rate`` frames per second (5: 10 s clear, 20 s
degraded, 10 s clear). seg-bag-eval then scores it with the ground truth and writes ``DIR/eval``
(metrics.json's ``degraded_input``, confidence.png).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seg_perception.ros.bag_eval import main as bag_eval  # noqa: E402
from training import make_bag  # noqa: E402
from training.data.make_data import FOLDERS, scene_stem  # noqa: E402

DRIVE = [("val", range(50)), ("val_shifted", range(100)), ("val", range(50, 100))]


def link_drive(data: Path, root: Path) -> int:
    """Link the drive's scenes, renumbered in driving order, into split ``drive`` of ``root``; their count."""
    index = 0
    for split, scenes in DRIVE:
        for scene in scenes:
            for folder in FOLDERS:
                for city in sorted(path.name for path in (data / folder / split).iterdir()):
                    stem, renamed = scene_stem(city, scene), scene_stem(city, index)
                    for source in sorted((data / folder / split / city).glob(f"{stem}_*")):
                        target = root / folder / "drive" / city / source.name.replace(stem, renamed)
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.symlink_to(source.resolve())
            index += 1
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset root with val and val_shifted")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="new directory for the drive, its bag and eval")
    parser.add_argument("--rate", type=float, default=5.0, help="frames per second of the bag (default 5)")
    args = parser.parse_args(argv)
    frames = link_drive(args.data, args.out)
    print(f"{frames} frames linked into {args.out / 'drive'}")
    bag = args.out / "drive_bag"
    if make_bag.main(["--data", str(args.out), "--split", "drive", "--out", str(bag), "--rate", str(args.rate)]):
        return 1
    if bag_eval([str(bag), "--checkpoint", str(args.checkpoint), "--out", str(args.out / "eval"), "--quiet"]):
        return 1
    degraded = json.loads((args.out / "eval" / "metrics.json").read_text())["degraded_input"]
    print(json.dumps(degraded))
    return 0


if __name__ == "__main__":
    sys.exit(main())
