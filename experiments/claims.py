"""The seed's training claims, each checked with three seeds on one small budget.

Every variant is the default recipe (``config/train_default.yaml``) with a few
overrides, trained for ``--iters`` iterations (2 epochs; batch 8 of 256x128
crops) and scored with ``seg-eval`` on ``last.pt`` against every ``--eval``
split (``NAME=DATA:SPLIT[@WxH]``, e.g. ``shifted=/data/dr:val_shifted``). The
``scale`` claim is also scored at half and double the input size.

    python experiments/claims.py --data DATA --out DIR --eval val=DATA:val [--eval ...]
        [--seeds 0 1 2] [--variants base fcn8s ...] [--iters 200] [--equal-time ITERS]

Jobs run seed by seed (every variant at seed 0 first), so a cut-short run
still compares every variant. Trained runs and their scores are reused, so a
new ``--eval`` only scores. Writes DIR/claims.json and DIR/claims.md (per
claim: mean +- std of mIoU, rare-5 and drivable IoU per eval split).
Run on a quiet machine for the wall times (accuracy does not depend on load:
seeded runs are deterministic). Whether a verdict holds on a longer budget:
run again with a larger ``--iters`` into another DIR, then ``experiments/claims_budgets.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from seeds import mean_std, mean_std_text, score, train

BASE_CONFIG = Path(__file__).resolve().parent.parent / "config" / "train_default.yaml"
FCN = "model.name=fcn{}s_efficientnet_lite0"
CE = "loss.terms=[{type: ce, weight: 1.0}]"
#: the camera-like training augmentation on top of the default colour jitter
AUGMENT = ["data.blur=true", "data.gamma=0.3", "data.noise=8.0", "data.jpeg_quality=40"]

#: claim -> {variant: overrides of the default recipe}; "base" is the default recipe itself.
CLAIMS: dict[str, dict[str, list[str]]] = {
    "skips: FCN-32s < 16s < 8s (EfficientNet-Lite0, ImageNet)": {
        "fcn32s": [FCN.format(32)], "fcn16s": [FCN.format(16)], "fcn8s": [FCN.format(8)]},
    "U-Net vs FCN-8s at equal training time": {
        "unet": ["model.name=unet_efficientnet_lite0"], "fcn8s_time": [FCN.format(8)]},
    "pretrained encoder vs from scratch": {"base": [], "scratch": ["model.encoder_weights=null"]},
    "losses on the rare classes": {
        "ce": [CE], "base": [],
        "focal": ["loss.terms=[{type: focal, weight: 1.0, gamma: 2.0}]"],
        "dice": ["loss.terms=[{type: dice, weight: 1.0}]"],
        "ce_dice": ["loss.terms=[{type: ce, weight: 1.0}, {type: dice, weight: 1.0}]"]},
    "multi-scale vs single-scale training": {"base": [], "single_scale": ["data.scale_range=[1.0, 1.0]"]},
    "LR schedule": {"base": [], "cosine": ["train.schedule=cosine"], "constant": ["train.schedule=constant"]},
    # run once on randomised data and once on plain data (--data): the four corners of the claim
    "training augmentation (with and without randomised data)": {"base": [], "augment": AUGMENT},
}
LOSS_NOTES = {"base": "CE, median-frequency weights (the default)"}
#: the figures each claim is compared on: (key in a run's scores, column label)
FIGURES = (("miou", "mIoU"), ("rare5_miou", "rare-5"), ("drivable_iou", "drivable"))
#: the variants scored at other input sizes, and those sizes (the default serves 512x256)
SCALED = {"base", "single_scale"}
SCALES = ("256x128", "1024x512")


def variants() -> dict[str, list[str]]:
    """Every variant once, in claim order."""
    table: dict[str, list[str]] = {}
    for members in CLAIMS.values():
        table.update(members)
    return table


def parse_eval(text: str) -> tuple[str, Path, str, str | None]:
    """``NAME=DATA:SPLIT[@WxH]`` -> (name, data, split, input size)."""
    name, _, rest = text.partition("=")
    where, _, size = rest.partition("@")
    data, _, split = where.rpartition(":")
    if not (name and data and split):
        raise argparse.ArgumentTypeError(f"--eval {text!r} is not NAME=DATA:SPLIT[@WxH]")
    return name, Path(data), split, size or None


def run_variant(name: str, overrides: list[str], seed: int, args, iterations: int) -> dict:
    """Train (or reuse) one variant at one seed and score it on every eval split."""
    out = args.out / f"{name}_s{seed}"
    budget = [f"train.epochs={args.epochs}", f"train.max_iters_per_epoch={iterations // args.epochs}",
              "eval.val_max_images=20", "log.images=0", "log.tensorboard=false"]
    timing = train(BASE_CONFIG, seed, args.data, out / "run", budget + overrides + args.overrides)
    scores = {}
    for eval_name, data, split, size in args.eval:
        scores[eval_name] = score(out / "run" / "last.pt", data, split, out / f"eval_{eval_name}", size)
        if name in SCALED and size is None:
            for scale in SCALES:
                scores[f"{eval_name}@{scale}"] = score(out / "run" / "last.pt", data, split,
                                                       out / f"eval_{eval_name}_{scale}", scale)
    return {"variant": name, "seed": seed, "iterations": iterations, "overrides": overrides, **timing,
            "scores": scores}


def claims_table(results: list[dict]) -> str:
    """Markdown: per claim, per variant, mean +- std over seeds of the figures on each eval split."""
    evals = list(dict.fromkeys(key for r in results for key in r["scores"]))
    lines = []
    for claim, members in CLAIMS.items():
        lines += [f"\n**{claim}**\n", "| variant | seeds | iters | train s | "
                  + " | ".join(f"{e} {label}" for e in evals for _, label in FIGURES) + " |",
                  "|---|---|---|---|" + "---|---|---|" * len(evals)]
        for variant in members:
            runs = [r for r in results if r["variant"] == variant]
            if not runs:
                continue
            cells = []
            for e in evals:
                for figure, _ in FIGURES:
                    values = [r["scores"][e][figure] for r in runs if e in r["scores"]]
                    cells.append(mean_std_text(values) if values else "-")
            seconds = mean_std([r["train_seconds"] for r in runs])[0]
            label = LOSS_NOTES.get(variant, variant) if claim.startswith("losses") else variant
            lines.append(f"| {label} | {len(runs)} | {runs[0]['iterations']} | {seconds:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="training data (Cityscapes layout)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--eval", type=parse_eval, action="append", required=True, metavar="NAME=DATA:SPLIT[@WxH]")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(variants()), choices=list(variants()))
    parser.add_argument("--iters", type=int, default=200, help="training iterations per run (default 200)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--equal-time", type=int, default=None, metavar="ITERS",
                        help="iterations of fcn8s_time: as many as fit in unet's measured wall time")
    parser.add_argument("overrides", nargs="*", help="key=value overrides for every run (after --)")
    args = parser.parse_args(argv)
    table = variants()
    # fcn8s_time needs the unet runs' wall time first: it runs once --equal-time says how long that is
    names = [n for n in args.variants if n != "fcn8s_time" or args.equal_time]
    jobs = [(seed, name) for seed in args.seeds for name in names]
    results, started = [], time.perf_counter()
    for index, (seed, name) in enumerate(jobs):
        iterations = args.equal_time if name == "fcn8s_time" else args.iters
        results.append(run_variant(name, table[name], seed, args, iterations))
        elapsed = time.perf_counter() - started
        eta = elapsed / (index + 1) * (len(jobs) - index - 1)
        first = next(iter(results[-1]["scores"].values()))
        print(f"[claims] {index + 1}/{len(jobs)} {name} seed {seed}: mIoU {first['miou']:.3f}, "
              f"{elapsed / 60:.1f} min elapsed, ETA {eta / 60:.1f} min", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "claims.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "claims.md").write_text(claims_table(results))
    print(claims_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
