"""Drivable grids in a bag evaluation: predicted and ground-truth masks projected with the bag's camera_info.

Both masks go through the same ``navigation.DrivableGridMaker`` geometry (the
grid and mount of a seg_node parameter file), so the figure measures what
the segmentation changes in the grid a costmap would get, not the flat-ground
approximation. ``GridAgreement`` counts cells: rows are the ground-truth
grid's value, columns the predicted grid's (free, occupied, unknown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import numpy as np

from ..navigation import (
    FREE, OCCUPIED, CameraFields, CameraMount, DrivableGridMaker, GridFrame, GridSpec, vote_lut)

#: confusion order of the cell values FREE, OCCUPIED, UNKNOWN
CELL_NAMES = ("free", "occupied", "unknown")


class GridAgreement:
    """Cell confusion between ground-truth and predicted grids, and the figures derived from it."""

    def __init__(self):
        self.confusion = np.zeros((3, 3), np.int64)
        self.frames = 0

    def add(self, truth: np.ndarray, predicted: np.ndarray) -> None:
        """Count one frame's pair of grids (same shape, values FREE / OCCUPIED / UNKNOWN)."""
        index = np.full(256, 2, np.int64)  # int8 values seen as uint8: UNKNOWN (-1) -> 255 -> row 2
        index[FREE], index[OCCUPIED] = 0, 1
        pairs = 3 * index[truth.view(np.uint8).ravel()] + index[predicted.view(np.uint8).ravel()]
        self.confusion += np.bincount(pairs, minlength=9).reshape(3, 3)
        self.frames += 1

    def result(self) -> dict:
        """``agreement``: of the cells the ground-truth grid knows, the share the prediction gives the same
        value; ``free_iou`` / ``occupied_iou``: IoU of the cells with that value; ``cells_known``: cells the
        ground truth knows, summed over frames; ``confusion`` rows = truth, columns = prediction, in
        CELL_NAMES order. Figures are None when nothing defines them."""
        confusion = self.confusion
        known = int(confusion[:2].sum())
        agreement = float(np.trace(confusion[:2, :2]) / known) if known else None
        ious = {}
        for value, name in enumerate(CELL_NAMES[:2]):
            both = confusion[value, value]
            either = confusion[value].sum() + confusion[:, value].sum() - both
            ious[f"{name}_iou"] = float(both / either) if either else None
        return {"frames": self.frames, "cells_known": known, "agreement": agreement, **ious,
                "confusion": confusion.tolist(), "confusion_order": list(CELL_NAMES)}


class BagGrids:
    """The grids of one replay: the latest camera_info, a maker per mask, and their agreement."""

    def __init__(self, class_names: Sequence[str], drivable_classes: Sequence[str], grid: GridSpec,
                 mount: CameraMount, camera_info_topic: str):
        self.camera_info_topic = camera_info_topic
        self.grid = grid
        self._lut = vote_lut(len(class_names), [list(class_names).index(name) for name in drivable_classes])
        self._predicted, self._truth = DrivableGridMaker(grid, mount), DrivableGridMaker(grid, mount)
        self.agreement = GridAgreement()
        self.problems: dict[str, int] = {}  # why frames got no or an all-unknown grid, with their counts
        #: (camera image, predicted grid, truth grid or None) of the frame the report shows
        self.example: tuple[np.ndarray, GridFrame, GridFrame | None] | None = None

    def camera_info(self, info) -> None:
        """A sensor_msgs/CameraInfo from the bag: the intrinsics of the frames after it."""
        self._predicted.camera = self._truth.camera = CameraFields.of(info)

    def add(self, image: np.ndarray, predicted_labels: np.ndarray, truth_labels: np.ndarray | None,
            example: bool = False) -> GridFrame:
        """The predicted grid of one frame (camera-size RGB image and label images); counts its agreement
        with the truth's, when there is ground truth. The report shows the ``example`` frame, or the first
        with a grid until then."""
        size = (image.shape[1], image.shape[0])
        predicted = self._predicted.make(predicted_labels, self._lut, size)
        # Masks of one size share one table: where the camera changes every frame (randomised scenes),
        # building the table is most of the scoring's time.
        same_size = truth_labels is not None and truth_labels.shape == predicted_labels.shape
        truth_maker = self._predicted if same_size else self._truth
        truth = None if truth_labels is None else truth_maker.make(truth_labels, self._lut, size)
        if predicted.problem:
            self.problems[predicted.problem] = self.problems.get(predicted.problem, 0) + 1
        if predicted.values is not None and not predicted.problem:
            if truth is not None:
                self.agreement.add(truth.values, predicted.values)
            if example or self.example is None:
                self.example = (np.array(image), predicted, truth)
        return predicted

    @property
    def table_builds(self) -> int:
        """Projection tables built so far (one per change of camera or label size)."""
        return self._predicted.builds + self._truth.builds

    def result(self) -> dict:
        """Agreement figures, the grid, and the problems met (a frame without camera_info is one)."""
        grid = self.grid
        return {**self.agreement.result(), "camera_info_topic": self.camera_info_topic,
                "grid": {"frame_id": grid.frame_id, "resolution": grid.resolution, "x": [grid.x_min, grid.x_max],
                         "y": [grid.y_min, grid.y_max], "cells": [grid.width, grid.height]},
                "mount": asdict(self._predicted.mount), "problems": dict(self.problems)}
