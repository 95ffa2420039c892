"""``metrics.json`` and ``report.md``: the evaluation output every tool writes (ROS-free)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .files import atomic_path
from .metrics import SegMetrics

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"


def write_metrics(
    out_dir: str | os.PathLike,
    metrics: SegMetrics | Mapping,
    extra: Mapping | None = None,
    title: str = "Segmentation evaluation",
    images: Sequence[str | os.PathLike] = (),
) -> tuple[Path, Path]:
    """Write ``out_dir/metrics.json`` and ``out_dir/report.md`` atomically; return their paths.

    ``metrics`` is a ``SegMetrics`` or a mapping with ``miou``, ``pixel_accuracy`` and
    ``per_class_iou``; ``extra`` keys (which must not collide) follow them in the JSON,
    and its scalar values (IoUs in percent, other floats to 4 significant digits), and
    the scalar entries of its dicts, also appear in the report's summary. ``images`` are embedded
    in the report by paths relative to ``out_dir``. NaN and infinity become null.
    """
    data = dict(metrics.to_dict() if isinstance(metrics, SegMetrics) else metrics)
    missing = {"miou", "pixel_accuracy", "per_class_iou"} - data.keys()
    if missing:
        raise ValueError(f"metrics lack {sorted(missing)}")
    extra = dict(extra or {})
    clash = sorted(data.keys() & extra.keys())
    if clash:
        raise ValueError(f"extra keys {clash} would overwrite metrics")
    data = _jsonable({**data, **extra})

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / METRICS_FILE, out / REPORT_FILE
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    with atomic_path(md_path) as tmp:
        tmp.write_text(_markdown(data, [str(k) for k in extra], title, [os.path.relpath(p, out) for p in images]),
                       encoding="utf-8")
    return json_path, md_path


def _jsonable(value):
    # NaN is not JSON; numpy scalars and arrays are not serialisable as they come.
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def _summary_rows(data: dict, extra_keys):
    """(name, text) of the scalar extras: IoUs (``*_iou``) in percent like the mIoU, other floats to 4
    significant digits; a dict (e.g. latency percentiles) gives one row per scalar entry."""
    for key in extra_keys:
        value = data[key]
        entries = ((f"{key} {k}", k, v) for k, v in value.items()) if isinstance(value, dict) else [(key, key, value)]
        for name, leaf, entry in entries:
            if leaf.endswith("_iou") and (entry is None or isinstance(entry, float)):
                yield f"{name} (%)", _percent(entry)
            elif not isinstance(entry, (dict, list)):
                yield name, _scalar(entry)


def _scalar(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _markdown(data: dict, extra_keys, title: str, images: list[str]) -> str:
    ious = data["per_class_iou"]
    scored = sum(v is not None for v in ious.values())
    lines = [
        f"# {title}",
        "",
        "| metric | value |",
        "|---|---|",
        f"| mIoU (%) | {_percent(data['miou'])} |",
        f"| pixel accuracy (%) | {_percent(data['pixel_accuracy'])} |",
        f"| classes scored | {scored} / {len(ious)} |",
    ]
    lines += [f"| {name} | {text} |" for name, text in _summary_rows(data, extra_keys)]
    lines += [
        "",
        "Classes with no ground truth that were never predicted are n/a and do not count in the mIoU.",
        "",
        "| class | IoU (%) |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {_percent(v)} |" for name, v in ious.items()]
    if images:
        lines += ["", "## Images", ""] + [f"![{Path(p).name}](<{Path(p).as_posix()}>)" for p in images]
    return "\n".join(lines) + "\n"


