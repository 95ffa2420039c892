"""How much of the shifted gap lies in pixels that fog has hidden: the model scored separately on pixels
the fog leaves visible and on pixels of things behind the meteorological visibility (less than 5 % of
their contrast left; sky is never hidden: fog-coloured sky is still sky).

    python experiments/indiscernible_pixels.py --checkpoints A.pt [B.pt ...] [--num 100] [--out DIR]

Regenerates scene i of ``val`` (profile ``default``) and ``val_shifted`` (profile ``shifted``) with seed 0,
the scenes ``make demo`` scores, recording each pixel's fog transmission (exp(-3 d / V): 1 in clear
air, 0.05 at the visibility distance V). For each split and checkpoint it prints the share of
labelled pixels below 5 % transmission, mIoU over all pixels, mIoU over the visible pixels only (the
hidden ones set to ignore), and the pixel accuracy on each kind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seg_perception.inference import Segmenter  # noqa: E402
from seg_perception.labels import CLASS_NAMES  # noqa: E402
from seg_perception.metrics import ConfusionMatrix  # noqa: E402
from training.data import scene_generator  # noqa: E402
from training.data.make_data import scene_rng  # noqa: E402
from training.data.profiles import PROFILES  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from markdown_table import markdown_table, publish  # noqa: E402

#: transmission at the meteorological visibility distance: less than this is "hidden by fog"
VISIBLE = 0.05
SPLITS = {"val": "default", "val_shifted": "shifted"}
SKY = CLASS_NAMES.index("sky")


def scenes_with_transmission(split: str, profile: str, num: int, width: int = 512, height: int = 256):
    """(image, label, transmission) of scene 0..num-1 of ``split``, as seg-make-data draws them with seed 0."""
    recorded = {}
    weather = scene_generator._weather

    def recording_weather(image, label, depth, fog, rng):
        clear = np.ones(label.shape, np.float32)
        recorded["t"] = clear if fog.visibility is None else np.exp(
            depth * np.float32(-scene_generator._FOG_EXTINCTION / fog.visibility))
        weather(image, label, depth, fog, rng)

    # _weather's own transmission formula, evaluated on the depth the generator hands it
    scene_generator._weather = recording_weather
    try:
        for index in range(num):
            image, label = scene_generator.generate_scene(scene_rng(0, split, index), width, height,
                                                          PROFILES[profile])
            yield image, label, recorded["t"]
    finally:
        scene_generator._weather = weather


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, nargs="+", required=True)
    parser.add_argument("--num", type=int, default=100)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    segmenters = {path: Segmenter.from_checkpoint(path, backend="cpu") for path in args.checkpoints}
    rows = []
    for split, profile in SPLITS.items():
        everything = {path: ConfusionMatrix() for path in segmenters}
        visible = {path: ConfusionMatrix() for path in segmenters}
        correct = {path: np.zeros(2) for path in segmenters}  # visible, hidden
        counted = np.zeros(2)
        for image, label, transmission in tqdm(scenes_with_transmission(split, profile, args.num),
                                               total=args.num, desc=split, unit="scene"):
            labelled = label != 255
            hidden = labelled & (transmission < VISIBLE) & (label != SKY)
            counted += (np.count_nonzero(labelled & ~hidden), np.count_nonzero(hidden))
            for path, segmenter in segmenters.items():
                predicted = segmenter.segment(image).labels
                everything[path].update(predicted, label)
                visible[path].update(predicted, np.where(hidden, 255, label).astype(np.uint8))
                right = (predicted == label) & labelled
                correct[path] += (np.count_nonzero(right & ~hidden), np.count_nonzero(right & hidden))
        share = counted[1] / counted.sum()
        for path in segmenters:
            accuracy = correct[path] / np.maximum(counted, 1)
            rows.append(f"| {split} | {path} | {share:.3f} | {everything[path].compute().miou:.3f} | "
                        f"{visible[path].compute().miou:.3f} | {accuracy[0]:.3f} | {accuracy[1]:.3f} |")
    publish(markdown_table(["split", "checkpoint", "labelled pixels hidden by fog", "mIoU, all pixels",
                            "mIoU, visible pixels", "pixel accuracy, visible", "pixel accuracy, hidden"], rows),
            args.out, "indiscernible_pixels.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
