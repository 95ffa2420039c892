"""The experiments' output: a markdown table printed, and written into ``--out`` when there is one."""

from __future__ import annotations

from pathlib import Path


def markdown_table(header: list[str], rows: list[str]) -> str:
    """``header`` as a markdown header row and its separator, then the already formatted ``rows``."""
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *rows])


def publish(table: str, out: Path | None, filename: str) -> None:
    """Print ``table``; with ``out``, also write it to ``out/filename`` (the folder made if needed)."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / filename).write_text(table + "\n")
    print(table)
