"""An RGB image and its trainId label drawn together, so every shape lands on both with the same pixels."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from seg_perception.labels import IGNORE_ID

# Sub-pixel vertex precision for OpenCV drawing: small far objects keep their shape.
_SHIFT = 4
_ONE = 1 << _SHIFT


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(points) * _ONE).astype(np.int32)


def _fixed_list(polygons) -> list[np.ndarray]:
    """Polygons (a list, or an (N, K, 2) array converted in one go) in OpenCV's fixed-point format."""
    if isinstance(polygons, np.ndarray):
        return list(_fixed(polygons))
    return [_fixed(p) for p in polygons if p is not None and len(p) >= 2]


def _color(rgb) -> list[float]:
    """OpenCV colour; it saturates values outside 0..255 itself."""
    return rgb.tolist() if isinstance(rgb, np.ndarray) else list(rgb)


class Canvas:
    """``image`` (H x W x 3 uint8 RGB) and ``label`` (H x W uint8 trainIds, IGNORE_ID where nothing was drawn).

    Drawing calls take ``class_id``: a trainId (or IGNORE_ID) also writes the label,
    ``None`` paints the image only (details inside an already labelled shape, shadows).

    With ``depth`` (H x W float32 metres, e.g. for fog) set, labelled drawing also writes
    ``depth_value`` there when it is not None: the depth of the item being drawn.
    """

    def __init__(self, width: int, height: int):
        self.image = np.zeros((height, width, 3), np.uint8)
        self.label = np.full((height, width), IGNORE_ID, np.uint8)
        self.depth: np.ndarray | None = None
        self.depth_value: float | None = None

    def _writes_depth(self, class_id) -> bool:
        return class_id is not None and self.depth is not None and self.depth_value is not None

    def fill(self, polygons: Sequence[np.ndarray] | np.ndarray, rgb, class_id: int | None = None) -> None:
        """Fill pixel polygons (each (N, 2), None skipped); they must not overlap (OpenCV fills even-odd)."""
        pts = _fixed_list(polygons)
        if not pts:
            return
        cv2.fillPoly(self.image, pts, _color(rgb), cv2.LINE_8, _SHIFT)
        if class_id is not None:
            cv2.fillPoly(self.label, pts, int(class_id), cv2.LINE_8, _SHIFT)
        if self._writes_depth(class_id):
            cv2.fillPoly(self.depth, pts, self.depth_value, cv2.LINE_8, _SHIFT)

    def lines(self, polylines: Sequence[np.ndarray] | np.ndarray, thickness: float, rgb,
              class_id: int | None = None, closed: bool = False) -> None:
        """Draw pixel polylines (each (N, 2), None skipped) ``thickness`` pixels wide (at least one)."""
        pts = _fixed_list(polylines)
        if not pts:
            return
        width = max(1, int(round(thickness)))
        cv2.polylines(self.image, pts, closed, _color(rgb), width, cv2.LINE_8, _SHIFT)
        if class_id is not None:
            cv2.polylines(self.label, pts, closed, int(class_id), width, cv2.LINE_8, _SHIFT)
        if self._writes_depth(class_id):
            cv2.polylines(self.depth, pts, closed, self.depth_value, width, cv2.LINE_8, _SHIFT)

    def disc(self, center: np.ndarray, radius: float, rgb, class_id: int | None = None) -> None:
        """Filled circle of ``radius`` pixels."""
        c = tuple(int(v) for v in _fixed(center))
        r = max(_ONE // 2, int(round(radius * _ONE)))
        cv2.circle(self.image, c, r, _color(rgb), -1, cv2.LINE_8, _SHIFT)
        if class_id is not None:
            cv2.circle(self.label, c, r, int(class_id), -1, cv2.LINE_8, _SHIFT)
        if self._writes_depth(class_id):
            cv2.circle(self.depth, c, r, self.depth_value, -1, cv2.LINE_8, _SHIFT)

    def shade(self, polygons: Sequence[np.ndarray], factor: float, class_id: int | None = None) -> None:
        """Multiply the image inside the union of the polygons by ``factor`` (shadows, see-through fence mesh)."""
        polygons = [p for p in polygons if p is not None and len(p) >= 3]
        if not polygons:
            return
        h, w = self.label.shape
        allpts = np.concatenate(polygons)
        x0, y0 = np.maximum(np.floor(allpts.min(axis=0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(allpts.max(axis=0)).astype(int) + 1, (w, h))
        if x0 >= x1 or y0 >= y1:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for p in polygons:  # one call each: a union, where a single fillPoly would cut overlaps out
            cv2.fillPoly(mask, [_fixed(p - (x0, y0))], 1, cv2.LINE_8, _SHIFT)
        inside = mask.astype(bool)
        roi = self.image[y0:y1, x0:x1]
        np.copyto(roi, cv2.convertScaleAbs(roi, alpha=factor), where=inside[..., None])
        if class_id is not None:
            self.label[y0:y1, x0:x1][inside] = class_id
        if self._writes_depth(class_id):
            self.depth[y0:y1, x0:x1][inside] = self.depth_value
