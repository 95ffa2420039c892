"""Reader for data in the official Cityscapes layout (real, or written by ``seg-make-data``).

``leftImg8bit/{split}/{city}/*_leftImg8bit.png`` images pair with
``gtFine/{split}/{city}/*_gtFine_labelTrainIds.png`` when present, else with
``*_gtFine_labelIds.png``, whose ids are mapped to trainIds through the class table. A sample's
camera calibration, when the dataset has one, is ``camera/{split}/{city}/*_camera.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from torch.utils.data import Dataset
from tqdm import tqdm

from seg_perception.labels import IGNORE_ID, LABEL_ID_TO_TRAIN_ID, NUM_CLASSES

IMAGE_SUFFIX = "_leftImg8bit.png"
TRAIN_IDS_SUFFIX = "_gtFine_labelTrainIds.png"
LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"
CAMERA_SUFFIX = "_camera.json"
_INTRINSIC_KEYS = ("fx", "fy", "u0", "v0")

# trainId images may hold 0..18 and 255 only.
_VALID_TRAIN_ID = np.zeros(256, bool)
_VALID_TRAIN_ID[:NUM_CLASSES] = True
_VALID_TRAIN_ID[IGNORE_ID] = True


class DatasetError(ValueError):
    """A dataset file or folder is missing, unreadable or inconsistent; the message names it."""


def label_paths_for(image_path: str | Path) -> tuple[Path, Path]:
    """The (labelTrainIds, labelIds) annotation paths that belong to a ``*_leftImg8bit.png`` image."""
    image_path = Path(image_path)
    if not image_path.name.endswith(IMAGE_SUFFIX):
        raise DatasetError(f"{image_path}: not a Cityscapes image name (*{IMAGE_SUFFIX})")
    split_dir = image_path.parent.parent
    city, stem = image_path.parent.name, image_path.name[: -len(IMAGE_SUFFIX)]
    label_dir = split_dir.parent.parent / "gtFine" / split_dir.name / city
    return label_dir / f"{stem}{TRAIN_IDS_SUFFIX}", label_dir / f"{stem}{LABEL_IDS_SUFFIX}"


def camera_path_for(image_path: str | Path) -> Path:
    """The Cityscapes camera calibration path (``camera/{split}/{city}/*_camera.json``) of an image."""
    image_path = Path(image_path)
    if not image_path.name.endswith(IMAGE_SUFFIX):
        raise DatasetError(f"{image_path}: not a Cityscapes image name (*{IMAGE_SUFFIX})")
    split_dir = image_path.parent.parent
    stem = image_path.name[: -len(IMAGE_SUFFIX)]
    return split_dir.parent.parent / "camera" / split_dir.name / image_path.parent.name / f"{stem}{CAMERA_SUFFIX}"


def _read_calibration(path: str | Path):
    try:
        return json.loads(Path(path).read_text())
    except OSError as error:
        raise DatasetError(f"{path}: unreadable camera calibration ({error.strerror or error})") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise DatasetError(f"{path}: camera calibration is not valid JSON ({error})") from None


def read_distortion(path: str | Path) -> tuple[float, ...]:
    """plumb_bob D (k1, k2, p1, p2, k3) of a ``*_camera.json``: its ``distortion`` k1 (seg-make-data writes it),
    zeros when it has none (Cityscapes' own files are rectified). DatasetError naming the file when malformed."""
    calibration = _read_calibration(path)
    distortion = calibration.get("distortion", {}) if isinstance(calibration, dict) else {}
    k1 = distortion.get("k1", 0.0) if isinstance(distortion, dict) else None
    if not isinstance(k1, (int, float)) or isinstance(k1, bool) or not math.isfinite(k1):
        raise DatasetError(f"{path}: camera distortion must be an object with a finite k1, got {distortion!r}")
    return (float(k1), 0.0, 0.0, 0.0, 0.0)


def read_intrinsics(path: str | Path) -> tuple[float, float, float, float]:
    """(fx, fy, u0, v0) in pixels of a Cityscapes ``*_camera.json``; DatasetError naming the file when malformed."""
    calibration = _read_calibration(path)
    intrinsic = calibration.get("intrinsic") if isinstance(calibration, dict) else None
    if not isinstance(intrinsic, dict):
        raise DatasetError(f'{path}: camera calibration has no "intrinsic" object with fx, fy, u0, v0')
    missing = [key for key in _INTRINSIC_KEYS if key not in intrinsic]
    if missing:
        raise DatasetError(f"{path}: camera intrinsic lacks {', '.join(missing)}")
    values = [intrinsic[key] for key in _INTRINSIC_KEYS]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise DatasetError(f"{path}: camera intrinsics must be finite numbers, got fx, fy, u0, v0 = {values}")
    if values[0] <= 0 or values[1] <= 0:
        raise DatasetError(f"{path}: camera focal lengths must be > 0, got fx={values[0]}, fy={values[1]}")
    fx, fy, u0, v0 = (float(v) for v in values)
    return fx, fy, u0, v0


def label_path_for(image_path: str | Path) -> Path:
    """The annotation the reader uses for an image: labelTrainIds when it exists, else labelIds."""
    train_ids, label_ids = label_paths_for(image_path)
    return train_ids if train_ids.exists() else label_ids


def read_image(path: str | Path) -> np.ndarray:
    """H x W x 3 uint8 RGB image; DatasetError naming the file when it cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"{path}: unreadable image (missing, truncated or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_label(path: str | Path) -> np.ndarray:
    """H x W uint8 trainIds from a labelTrainIds or labelIds PNG (labelIds are mapped through the class table)."""
    path = Path(path)
    label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if label is None:
        raise DatasetError(f"{path}: unreadable label image (missing, truncated or not an image)")
    if label.ndim != 2 or label.dtype != np.uint8:
        raise DatasetError(f"{path}: label must be single-channel 8-bit, got shape {label.shape} {label.dtype}")
    if path.name.endswith(LABEL_IDS_SUFFIX):
        return LABEL_ID_TO_TRAIN_ID[label]
    if not _VALID_TRAIN_ID[label].all():
        bad = np.unique(label[~_VALID_TRAIN_ID[label]])
        raise DatasetError(f"{path}: trainIds must be 0..{NUM_CLASSES - 1} or {IGNORE_ID}, found {bad.tolist()}")
    return label


class CityscapesDataset(Dataset):
    """(image, label) pairs of one split: ``transform(image, label)``, or the raw pair without a transform.

    ``image`` is H x W x 3 uint8 RGB, ``label`` H x W uint8 trainIds (0..18, 255 ignore).
    ``scale`` < 1 shrinks both at load (area-averaged image, nearest label) for low-resolution training.
    Missing, unreadable or mis-sized files raise DatasetError naming the file; an empty split is an error.
    """

    def __init__(self, root: str | Path, split: str = "train",
                 transform: Callable[[np.ndarray, np.ndarray], object] | None = None, scale: float = 1.0):
        if not 0 < scale <= 1:
            raise DatasetError(f"scale must be in (0, 1], got {scale}")
        self.root, self.split, self.transform, self.scale = Path(root), split, transform, scale
        image_dir = self.root / "leftImg8bit" / split
        if not image_dir.is_dir():
            raise DatasetError(f"{image_dir}: no such split folder (expected the layout leftImg8bit/{split}/CITY/)")
        images = sorted(image_dir.glob(f"*/*{IMAGE_SUFFIX}"))
        if not images:
            raise DatasetError(f"{image_dir}: split {split!r} has no *{IMAGE_SUFFIX} images")
        self.files: list[tuple[Path, Path]] = []
        for image in images:
            label = label_path_for(image)
            if not label.exists():
                raise DatasetError(f"{image}: its label {label} is missing")
            self.files.append((image, label))

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The raw (image, label) pair of sample ``index``, down-scaled by ``scale``."""
        image_path, label_path = self.files[index]
        image, label = read_image(image_path), read_label(label_path)
        if image.shape[:2] != label.shape:
            raise DatasetError(f"{label_path}: label size {label.shape[1]}x{label.shape[0]} does not match "
                               f"its image {image_path} ({image.shape[1]}x{image.shape[0]})")
        if self.scale < 1:
            size = self._scaled_size(image.shape[1], image.shape[0])
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST_EXACT)
        return image, label

    def check(self, progress: bool = False) -> None:
        """Read every sample once, so that a label outside the class table or of another size than its
        image stops a run before it trains (DatasetError naming the file), not in a later epoch."""
        for index in tqdm(range(len(self)), desc=f"checking {self.split}", unit="image", disable=not progress):
            self.load(index)

    def _scaled_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of an image of that size after the load-time ``scale``."""
        return max(1, round(width * self.scale)), max(1, round(height * self.scale))

    def camera_path(self, index: int) -> Path | None:
        """Sample ``index``'s camera calibration JSON, or None when the dataset has none for it."""
        path = camera_path_for(self.files[index][0])
        return path if path.is_file() else None

    def distortion(self, index: int) -> tuple[float, ...]:
        """plumb_bob D of sample ``index`` (normalised units, so any load scale keeps it); zeros without a JSON."""
        path = self.camera_path(index)
        return (0.0,) * 5 if path is None else read_distortion(path)

    def intrinsics(self, index: int) -> tuple[float, float, float, float] | None:
        """(fx, fy, u0, v0) of sample ``index`` from its camera JSON, for the image ``load`` returns (pixel
        centres at integer coordinates); None without a JSON. DatasetError naming the file when it is malformed."""
        path = self.camera_path(index)
        if path is None:
            return None
        fx, fy, u0, v0 = read_intrinsics(path)
        if self.scale < 1:  # load() resized the image: u' + 0.5 = (u + 0.5) * new_width / width
            height, width = read_image(self.files[index][0]).shape[:2]
            new_width, new_height = self._scaled_size(width, height)
            sx, sy = new_width / width, new_height / height
            fx, fy, u0, v0 = fx * sx, fy * sy, (u0 + 0.5) * sx - 0.5, (v0 + 0.5) * sy - 0.5
        return fx, fy, u0, v0

    def __getitem__(self, index: int):
        image, label = self.load(index)
        return (image, label) if self.transform is None else self.transform(image, label)
