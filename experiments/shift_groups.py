"""Which part of the shifted split costs the most: one checkpoint scored on the same val streets drawn from
``default``, from ``default`` with one group's ranges taken from ``shifted``, and from ``shifted``.

    python experiments/shift_groups.py --checkpoint demo_out/run/best.pt --out /tmp/shift_groups [--num 50] \
        [--items sensor:noise sensor:motion_blur_probability+motion_blur_px ...] [--input-size WxH]

Every variant draws scene i of split ``val`` with seed 0, and each group has its own random stream, so the
streets (and, for photometric groups, the labels) are the same across rows: the differences are the group's.
``--items GROUP:FIELD[+FIELD]`` adds a row per item: ``default`` with only those fields of the group taken
from ``shifted``, to split a group's cost into its parts. (A probability field changes how many draws
the group's stream makes, so the rows after it see other noise windows: the same distribution, other
samples.) ``--input-size`` serves the model at another size than the checkpoint's (the scenes and labels
stay at ``--size``). Prints a markdown table and writes ``shift_groups.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from markdown_table import markdown_table, publish  # noqa: E402
from seeds import score  # noqa: E402
from training.data.make_data import generate_split  # noqa: E402
from training.data.profiles import DEFAULT, GROUPS, SHIFTED  # noqa: E402


def shifted_item(item: str):
    """``default`` with the fields of ``item`` ("GROUP:FIELD[+FIELD]") taken from ``shifted``."""
    group, _, fields = item.partition(":")
    if group not in GROUPS:
        raise SystemExit(f"--items {item}: unknown group {group!r}; choose from {', '.join(GROUPS)}")
    known = [field.name for field in dataclasses.fields(getattr(SHIFTED, group))]
    unknown = [field for field in fields.split("+") if field not in known]
    if unknown:
        raise SystemExit(f"--items {item}: unknown field(s) {', '.join(unknown)} of {group}; choose from "
                         f"{', '.join(known)}")
    shifted = {field: getattr(getattr(SHIFTED, group), field) for field in fields.split("+")}
    return dataclasses.replace(DEFAULT, name=f"default+shifted:{item}",
                               **{group: dataclasses.replace(getattr(DEFAULT, group), **shifted)})


def variants(items=()) -> dict:
    """default, default with each group shifted, with each item shifted, and shifted, by name."""
    one_group = {f"shifted {group}": DEFAULT.with_groups_of(SHIFTED, [group]) for group in GROUPS}
    one_item = {f"shifted {item}": shifted_item(item) for item in items}
    return {"default": DEFAULT, **one_group, **one_item, "shifted (all)": SHIFTED}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--num", type=int, default=50)
    parser.add_argument("--size", default="512x256")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--items", nargs="*", default=[], metavar="GROUP:FIELD[+FIELD]")
    parser.add_argument("--input-size", metavar="WxH", help="serve the model at this size (default: the checkpoint's)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    rows, base = [], None
    for name, profile in variants(args.items).items():
        data = args.out / "".join(c if c.isalnum() else "_" for c in name)
        if not (data / "class_frequencies_val.json").exists():
            generate_split(data, "val", args.num, width, height, seed=0, workers=args.workers, profile=profile)
        served = f"eval_{args.input_size}" if args.input_size else "eval"
        result = score(args.checkpoint, data, "val", data / served, args.input_size)
        base = base or result
        rows.append(f"| {name} | {result['miou']:.3f} | {result['miou'] - base['miou']:+.3f} | "
                    f"{result['drivable_iou']:.3f} | {result['rare5_miou']:.3f} |")
    publish(markdown_table(["val streets drawn from", "mIoU", "vs default", "drivable IoU", "rare-5 mIoU"], rows),
            args.out, "shift_groups.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
