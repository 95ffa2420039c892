"""The Cityscapes class table, derived from ``cityscapesscripts`` (never retyped).

Everything that maps class ids, names or colours goes through this module:
the 19 training classes (trainId 0..18), ``IGNORE_ID`` (255) for pixels that
belong to none of them, whole-image lookup tables and the drivable set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from cityscapesscripts.helpers.labels import labels as _CITYSCAPES_LABELS

IGNORE_ID = 255

_TRAIN_LABELS = sorted(
    (label for label in _CITYSCAPES_LABELS if 0 <= label.trainId < IGNORE_ID),
    key=lambda label: label.trainId,
)

NUM_CLASSES = len(_TRAIN_LABELS)
CLASS_NAMES: tuple[str, ...] = tuple(label.name for label in _TRAIN_LABELS)
#: (NUM_CLASSES, 3) uint8 RGB colour of each trainId.
PALETTE = np.array([label.color for label in _TRAIN_LABELS], dtype=np.uint8)
#: trainId -> Cityscapes labelId, for writing prediction PNGs the official evaluator reads.
TRAIN_ID_TO_LABEL_ID = np.array([label.id for label in _TRAIN_LABELS], dtype=np.uint8)

#: What counts as drivable unless a checkpoint or the user says otherwise (seg-train's eval.drivable_classes).
DEFAULT_DRIVABLE_CLASSES: tuple[str, ...] = ("road",)


def _label_id_lut() -> np.ndarray:
    lut = np.full(256, IGNORE_ID, dtype=np.uint8)
    for label in _CITYSCAPES_LABELS:
        if 0 <= label.id < 256 and 0 <= label.trainId < IGNORE_ID:
            lut[label.id] = label.trainId
    return lut


#: labelId -> trainId for whole images: ``LABEL_ID_TO_TRAIN_ID[label_id_image]``.
LABEL_ID_TO_TRAIN_ID = _label_id_lut()
LABEL_ID_TO_TRAIN_ID.setflags(write=False)


def _train_id_lut(values: np.ndarray, ignore_value) -> np.ndarray:
    lut = np.empty((256,) + values.shape[1:], dtype=np.uint8)
    lut[:] = ignore_value
    lut[: len(values)] = values
    return lut


#: trainId -> RGB for whole label images (ignore and unknown ids are black).
COLOR_LUT = _train_id_lut(PALETTE, 0)
#: trainId -> labelId for whole label images (ignore becomes 0, "unlabeled").
TRAIN_ID_TO_LABEL_ID_LUT = _train_id_lut(TRAIN_ID_TO_LABEL_ID, 0)
for _lut in (PALETTE, TRAIN_ID_TO_LABEL_ID, COLOR_LUT, TRAIN_ID_TO_LABEL_ID_LUT):
    _lut.setflags(write=False)


def class_ids(names: Iterable[str]) -> list[int]:
    """Return the trainIds of class ``names``; an unknown name raises ValueError listing the valid ones."""
    ids = []
    for name in names:
        if name not in CLASS_NAMES:
            raise ValueError(f"unknown class name {name!r}; valid names: {', '.join(CLASS_NAMES)}")
        ids.append(CLASS_NAMES.index(name))
    return ids


def check_drivable_classes(names, class_names: Sequence[str] = CLASS_NAMES) -> tuple[str, ...]:
    """``names`` as a tuple once checked: at least one, each one of ``class_names`` (a model's classes);
    ValueError naming the problem otherwise. Every tool and the node check drivable classes here."""
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise ValueError(f"drivable classes must be a list of class names, got {names!r}")
    names = tuple(names)
    if not names:
        raise ValueError("drivable classes must name at least one class")
    unknown = [name for name in names if name not in class_names]
    if unknown:
        raise ValueError(f"unknown drivable class{'es' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))}; valid names: {', '.join(class_names)}")
    return names


def drivable_lut(names: Iterable[str] = DEFAULT_DRIVABLE_CLASSES,
                 class_names: Sequence[str] = CLASS_NAMES) -> np.ndarray:
    """label -> 255 if its class is drivable else 0, as a 256-entry uint8 table (unknown, 255, is never drivable);
    ``names`` are checked against ``class_names``."""
    lut = np.zeros(256, dtype=np.uint8)
    lut[[list(class_names).index(name) for name in check_drivable_classes(names, class_names)]] = 255
    return lut


def colorize(train_ids: np.ndarray) -> np.ndarray:
    """H x W trainId image -> H x W x 3 RGB palette image."""
    return COLOR_LUT[train_ids]
