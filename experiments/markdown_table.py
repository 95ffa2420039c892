"""The experiments' output: a markdown table printed, and written into ``--out`` when there is one."""

from __future__ import annotations

from pathlib import Path

from seeds import mean_std


def markdown_table(header: list[str], rows: list[str]) -> str:
    """``header`` as a markdown header row and its separator, then the already formatted ``rows``."""
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *rows])


def publish(table: str, out: Path | None, filename: str) -> None:
    """Print ``table``; with ``out``, also write it to ``out/filename`` (the folder made if needed)."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / filename).write_text(table + "\n")
    print(table)


def change_rows(figures: dict, baseline, splits: list[str], names: tuple[str, ...], digits: int = 3) -> list[str]:
    """One row per key of ``figures`` ({row: {split: {figure: [value per run]}}}): each split's figures as
    mean +- sample std, their change against row ``baseline`` and every run's value (``digits`` decimals)."""
    rows = []
    for row, by_split in figures.items():
        cells = []
        for split in splits:
            for name in names:
                values = by_split[split][name]
                mean, std = mean_std(values)
                change = mean - mean_std(figures[baseline][split][name])[0]
                each = " / ".join(f"{value:.{digits}f}" for value in values)
                cells.append(f"{mean:.3f} +- {std:.3f} ({change:+.{digits}f}; {each})")
        rows.append(f"| {row} | " + " | ".join(cells) + " |")
    return rows
