"""The report's PNGs: a row-normalised confusion matrix, a strip of sample frames, the drivable grid, and
the frame confidence along the recording.

matplotlib is imported inside the plotting functions (Agg backend), so importing
this module, or the package, stays cheap.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..inference.postprocess import colorize as colorize_labels
from ..labels import IGNORE_ID
from ..labels import colorize as colorize_truth
from ..metrics import ConfusionMatrix
from ..navigation import FREE, OCCUPIED, GridFrame
from ..node.confidence_watch import WINDOW_S
from .confidence_timeline import ConfidenceTimeline
from .evaluation import BagEvaluation

STRIP_TITLES = ("input", "prediction", "ground truth", "drivable")
LEGEND = "drivable: green = hit, red = false drivable, blue = missed drivable"
#: a bag without ground truth: the predicted drivable area alone
UNSCORED_TITLES = ("input", "prediction", "drivable")
UNSCORED_LEGEND = "drivable: green = predicted drivable (no ground truth)"
MAX_PANEL_WIDTH = 512  # wider frames are shrunk in the strip, so a 2048-pixel camera stays viewable
_HIT, _FALSE, _MISSED = (0, 200, 0), (230, 0, 0), (0, 90, 255)  # RGB
_FREE_CELL, _OCCUPIED_CELL, _UNKNOWN_CELL = (90, 200, 90), (200, 40, 40), (128, 128, 128)  # RGB
GRID_LEGEND = "green = drivable, red = not drivable, grey = unknown"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def _save(figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    figure.savefig(path, dpi=110)
    _pyplot().close(figure)
    return path


def confusion_plot(matrix: ConfusionMatrix, path: str | os.PathLike) -> Path:
    """Write the confusion matrix as a PNG: rows = ground truth normalised to 1, columns = prediction
    (the last, "unknown", counts valid pixels predicted as no class). Rows without ground truth stay blank."""
    plt = _pyplot()

    counts = matrix.matrix.astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rows = np.where(totals > 0, counts / totals, np.nan)
    names = list(matrix.class_names)
    size = 3 + 0.45 * len(names)
    figure, axes = plt.subplots(figsize=(size + 1.5, size))
    shown = axes.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for (row, column), value in np.ndenumerate(rows):
        if value >= 0.005:
            axes.text(column, row, f"{100 * value:.0f}", ha="center", va="center", fontsize=7,
                      color="white" if value > 0.5 else "black")
    axes.set_xticks(range(len(names) + 1), names + ["unknown"], rotation=90)
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("prediction")
    axes.set_ylabel("ground truth")
    axes.set_title("Confusion matrix (% of each ground-truth row)")
    figure.colorbar(shown, ax=axes, fraction=0.04)
    figure.tight_layout()
    return _save(figure, path)


def confidence_plot(timeline: ConfidenceTimeline, path: str | os.PathLike) -> Path:
    """Write the sampled frames' mean confidence along the recording: each sample, the window mean the
    node judges by, the floor, and the stretches the node would have warned through shaded red."""
    plt = _pyplot()
    times = [t for t, _, _ in timeline.samples]
    figure, axes = plt.subplots(figsize=(9, 3.2))
    for index, (start, end) in enumerate(timeline.closed_spans()):
        axes.axvspan(start, max(end, start + 0.2), color=(0.9, 0.2, 0.2), alpha=0.2,
                     label="warned: input looks degraded" if index == 0 else None)
    axes.plot(times, [value for _, value, _ in timeline.samples], ".", color="0.45", label="sampled frame")
    window = [(t, mean) for t, _, mean in timeline.samples if mean is not None]
    if window:
        axes.plot(*zip(*window), "-", color="tab:blue", label=f"mean of the last {WINDOW_S:g} s")
    axes.axhline(timeline.floor, color="tab:red", linestyle="--", label=f"floor {timeline.floor:.3f}")
    axes.set_xlabel(f"seconds from the first frame ({timeline.clock})")
    axes.set_ylabel("frame mean confidence")
    axes.set_ylim(0, 1)
    axes.legend(loc="lower left", fontsize=7, ncol=2)
    axes.set_title("Frame confidence along the recording")
    figure.tight_layout()
    return _save(figure, path)


def drivable_panel(image: np.ndarray, predicted: np.ndarray, truth: np.ndarray, ignored: np.ndarray) -> np.ndarray:
    """The image with drivable hits green, false drivable red and missed drivable blue (RGB);
    ``predicted`` and ``truth`` are boolean masks, ``ignored`` pixels are left as they are."""
    colours = np.zeros_like(image)
    colours[predicted & truth] = _HIT
    colours[predicted & ~truth] = _FALSE
    colours[~predicted & truth] = _MISSED
    marked = (predicted | truth) & ~ignored
    out = image.copy()
    out[marked] = cv2.addWeighted(image, 0.4, colours, 0.6, 0.0)[marked]
    return out


def _sample_panels(evaluation: BagEvaluation, sample) -> list[np.ndarray]:
    predicted = sample.drivable != 0
    if sample.gt is None:
        return [sample.image, colorize_labels(sample.labels),
                drivable_panel(sample.image, predicted, predicted, np.zeros_like(predicted))]
    return [sample.image, colorize_labels(sample.labels), colorize_truth(sample.gt),
            drivable_panel(sample.image, predicted, evaluation.gt_drivable(sample.gt), sample.gt == IGNORE_ID)]


def sample_strip(evaluation: BagEvaluation, path: str | os.PathLike) -> Path | None:
    """Write input | prediction | ground truth | drivable (input | prediction | drivable without ground
    truth) for the evaluation's samples, one row each, under a title band; returns the path, or None
    when there are no samples."""
    samples = evaluation.samples
    if not samples:
        return None
    rows = []
    for sample in samples:
        panels = _sample_panels(evaluation, sample)
        height, width = sample.image.shape[:2]
        scale = min(1.0, MAX_PANEL_WIDTH / width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rows.append(np.concatenate([cv2.resize(p, size, interpolation=cv2.INTER_AREA) if scale < 1 else p
                                    for p in panels], axis=1))
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, ((0, 4), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    titles, legend = (STRIP_TITLES, LEGEND) if evaluation.ground_truth else (UNSCORED_TITLES, UNSCORED_LEGEND)
    strip = np.concatenate([_title_band(width, titles, legend)] + rows, axis=0)
    path = Path(path)
    if not cv2.imwrite(str(path), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path


def _title_band(width: int, titles: tuple[str, ...], legend: str) -> np.ndarray:
    """Column titles, and the drivable colours' legend below them, black on white."""
    panel = width // len(titles)
    scale = max(0.35, min(0.6, panel / 600))
    line = int(30 * scale) + 8
    band = np.full((2 * line + 4, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for index, title in enumerate(titles):
        cv2.putText(band, title, (index * panel + 4, line - 4), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(band, legend, (4, 2 * line - 2), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return band


def top_down(values: np.ndarray, height: int) -> np.ndarray:
    """An OccupancyGrid's values seen from above, forward up and left to the left, ``height`` pixels tall."""
    colours = np.empty((256, 3), np.uint8)
    colours[:] = _UNKNOWN_CELL
    colours[FREE], colours[OCCUPIED] = _FREE_CELL, _OCCUPIED_CELL
    # values: rows along y (right to left), columns along x (near to far)
    view = colours[values.T[::-1, ::-1].view(np.uint8)]
    width = max(1, round(view.shape[1] * height / view.shape[0]))
    return cv2.resize(view, (width, height), interpolation=cv2.INTER_NEAREST)


def grid_picture(image: np.ndarray, predicted: GridFrame, truth: GridFrame | None, path: str | os.PathLike) -> Path:
    """Write the camera frame beside the predicted and (when there is ground truth) the ground-truth grids,
    seen from above."""
    height = min(image.shape[0], 2 * MAX_PANEL_WIDTH)
    scale = height / image.shape[0]
    frame = cv2.resize(image, (max(1, round(image.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
    gap = np.full((height, 6, 3), 255, np.uint8)
    named = [("camera", frame), ("grid from prediction", top_down(predicted.values, height))]
    if truth is not None:
        named.append(("grid from ground truth", top_down(truth.values, height)))
    band = np.full((44, sum(panel.shape[1] for _, panel in named) + gap.shape[1] * (len(named) - 1), 3), 255,
                   np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    x = 0
    for title, panel in named:
        cv2.putText(band, title, (x + 4, 16), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        x += panel.shape[1] + gap.shape[1]
    picture = np.concatenate([part for _, panel in named for part in (panel, gap)][:-1], axis=1)
    grid = predicted.grid
    cv2.putText(band, f"{GRID_LEGEND}; x {grid.x_min:g}..{grid.x_max:g} m up, y {grid.y_min:g}..{grid.y_max:g} m, "
                f"{grid.resolution:g} m cells", (4, 36), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    path = Path(path)
    if not cv2.imwrite(str(path), cv2.cvtColor(np.concatenate([band, picture]), cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path
