"""The size a trained model is served at: val and shifted-val figures of checkpoints at several input sizes.

    python experiments/serving_size.py --checkpoints A.pt [B.pt ...] --data DATA --out DIR \\
        [--sizes 512x256 448x224 384x192] [--input-filter denoise] [--splits val val_shifted]

Every checkpoint is scored by ``seg-eval --input-size WxH`` on ``DATA``'s splits (default ``val`` and
``val_shifted``; labels at the data's own resolution, so every size is scored against the same pixels).
Scenes of another shape than the model's (``seg-make-data --size 480x360``) measure what stretching a
camera's frames to the model's aspect ratio costs. Prints a markdown table, mean +- sample std over the
checkpoints and each one's figures, with the change against the first size, and writes
``serving_size.md`` into ``--out`` (the per-run metrics under it are reused).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from markdown_table import change_rows, markdown_table, publish  # noqa: E402
from seeds import score  # noqa: E402
from seg_perception.inference.preprocess import INPUT_FILTERS  # noqa: E402

FIGURES = ("miou", "drivable_iou")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, nargs="+", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sizes", nargs="+", default=["512x256", "448x224", "384x192"], metavar="WxH")
    parser.add_argument("--input-filter", choices=INPUT_FILTERS, default="none")
    parser.add_argument("--splits", nargs="+", default=["val", "val_shifted"])
    args = parser.parse_args(argv)
    # figures[size][split][figure] -> one value per checkpoint
    figures = {size: {split: {figure: [] for figure in FIGURES} for split in args.splits} for size in args.sizes}
    for number, checkpoint in enumerate(args.checkpoints):
        # the reused metrics are keyed by checkpoint and data, so one --out serves several of either
        key = hashlib.sha1(f"{checkpoint.resolve()}|{args.data.resolve()}".encode()).hexdigest()[:8]
        for size in args.sizes:
            for split in args.splits:
                out = args.out / f"{number}_{checkpoint.parent.parent.name}_{key}" / f"{size}_{args.input_filter}" / split
                result = score(checkpoint, args.data, split, out, size, args.input_filter)
                for figure in FIGURES:
                    figures[size][split][figure].append(result[figure])
    rows = change_rows(figures, args.sizes[0], args.splits, FIGURES)
    header = ["input size"] + [f"{split} {figure}" for split in args.splits for figure in FIGURES]
    publish(markdown_table(header, rows), args.out, "serving_size.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
