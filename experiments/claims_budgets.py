"""The seed's claims at several training budgets side by side: does each claim's ordering hold?

``experiments/claims.py`` compares recipes on a small budget, which shows how fast each learns; a
claim's verdict carries over to the full budget only if the ranking of its variants does not change
as training grows. This reads the ``claims.json`` of runs made with other ``--iters`` (the same
variants, seeds and eval splits) and prints, per claim, each variant's figures at every budget with
its rank in the claim, then whether the ranking by mean mIoU is the same at every budget.

    python experiments/claims_budgets.py --runs 100=DIR100 400=DIR400 [--eval val] [--out DIR]

``--eval`` names one eval split of the runs (``val@1024x512`` for the scaled variants of the scale
claim); claims with fewer than two variants scored on it are left out. Writes DIR/claims_budgets.md
with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from claims import CLAIMS, FIGURES
from markdown_table import markdown_table, publish
from seeds import mean_std, mean_std_text

def parse_run(text: str) -> tuple[str, Path]:
    """``BUDGET=DIR`` -> (budget label, folder holding claims.json)."""
    budget, _, folder = text.partition("=")
    if not (budget and folder):
        raise argparse.ArgumentTypeError(f"--runs {text!r} is not BUDGET=DIR")
    if not (Path(folder) / "claims.json").is_file():
        raise argparse.ArgumentTypeError(f"--runs {text!r}: no claims.json in {folder}")
    return budget, Path(folder)


def figures_by_variant(results: list[dict], split: str) -> dict[str, dict[str, list[float]]]:
    """{variant: {figure: [value per seed]}} for the runs scored on ``split``."""
    table: dict[str, dict[str, list[float]]] = {}
    for run in results:
        if split in run["scores"]:
            figures = table.setdefault(run["variant"], {name: [] for name, _ in FIGURES})
            for name, _ in FIGURES:
                figures[name].append(run["scores"][split][name])
    return table


def ranking(members: list[str], figures: dict[str, dict[str, list[float]]]) -> list[str]:
    """The claim's variants, best mean mIoU first."""
    return sorted(members, key=lambda variant: -mean_std(figures[variant]["miou"])[0])


def budget_table(runs: dict[str, list[dict]], split: str) -> str:
    """Markdown: per claim a row per variant (figures and rank at each budget), then its rankings."""
    by_budget = {budget: figures_by_variant(results, split) for budget, results in runs.items()}
    header = ["claim", "variant"] + [f"{budget} it.: {label}" for budget in runs for _, label in FIGURES] \
        + [f"rank at {budget}" for budget in runs]
    rows, verdicts = [], []
    for claim, variants in CLAIMS.items():
        members = [v for v in variants if all(v in figures for figures in by_budget.values())]
        if len(members) < 2:
            continue
        ranks = {budget: ranking(members, figures) for budget, figures in by_budget.items()}
        for variant in members:
            cells = [mean_std_text(by_budget[budget][variant][name]) for budget in runs for name, _ in FIGURES]
            cells += [str(ranks[budget].index(variant) + 1) for budget in runs]
            rows.append(f"| {claim} | {variant} | " + " | ".join(cells) + " |")
        orders = {budget: " > ".join(order) for budget, order in ranks.items()}
        same = len(set(orders.values())) == 1
        verdicts.append(f"- {claim}: " + "; ".join(f"{budget} it. {order}" for budget, order in orders.items())
                        + (" (the same at every budget)" if same else " (**the ranking changes**)"))
    return markdown_table(header, rows) + "\n\nRanking by mean mIoU on " + split + ":\n" + "\n".join(verdicts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=parse_run, nargs="+", required=True, metavar="BUDGET=DIR",
                        help="claims.py output folders, smallest budget first")
    parser.add_argument("--eval", default="val", help="the eval split to rank on (default val)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    runs = {budget: json.loads((folder / "claims.json").read_text()) for budget, folder in args.runs}
    publish(budget_table(runs, args.eval), args.out, "claims_budgets.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
