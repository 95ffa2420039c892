"""Checkpoints that rebuild their model without the config that trained them.

A checkpoint is a plain dict of tensors, strings and numbers, so it loads with
``torch.load(..., weights_only=True)``: the architecture and its options, the
class names, normalisation, input size, label mapping and training metadata
travel with the weights. Writes are atomic: a crash mid-save leaves the
previous file intact.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import labels
from .files import atomic_path
from .size import Size
from .models import build_model

FORMAT = "seg_perception.checkpoint/1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or not a seg_perception checkpoint."""


@dataclass
class ModelSpec:
    """Everything needed to rebuild and feed a trained model; drivable classes that are not among its
    classes raise ValueError."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    class_names: tuple[str, ...] = labels.CLASS_NAMES
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    input_size: Size = Size(512, 256)
    drivable_classes: tuple[str, ...] = labels.DEFAULT_DRIVABLE_CLASSES

    def __post_init__(self):
        self.class_names = tuple(self.class_names)
        self.input_size = Size(*self.input_size)
        self.drivable_classes = labels.check_drivable_classes(self.drivable_classes, self.class_names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def build(self) -> nn.Module:
        """The untrained model this spec describes (pretrained-encoder paths are not re-read)."""
        options = {k: v for k, v in self.options.items() if k != "encoder_weights"}
        return build_model(self.name, self.num_classes, **options)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "options": {k: v for k, v in self.options.items() if k != "encoder_weights"},
            "class_names": list(self.class_names),
            "normalization": {"mean": list(self.mean), "std": list(self.std)},
            "input_size": list(self.input_size),
            "label_mapping": {
                "kind": "cityscapes_train_id",
                "ignore_index": labels.IGNORE_ID,
                "train_id_to_label_id": labels.TRAIN_ID_TO_LABEL_ID.tolist()[: len(self.class_names)],
            },
            "drivable_classes": list(self.drivable_classes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        return cls(
            name=data["name"],
            options=dict(data.get("options", {})),
            class_names=data["class_names"],
            mean=tuple(data["normalization"]["mean"]),
            std=tuple(data["normalization"]["std"]),
            input_size=data["input_size"],
            drivable_classes=data.get("drivable_classes", labels.DEFAULT_DRIVABLE_CLASSES),
        )


def save_checkpoint(path: str | Path, spec: ModelSpec, model: nn.Module,
                    training: dict[str, Any] | None = None, resume: dict[str, Any] | None = None) -> None:
    """Write ``model``'s weights with ``spec``; ``training`` is metadata, ``resume`` optimizer/RNG state."""
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    payload = {
        "format": FORMAT,
        "model": spec.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "training": training or {},
        "versions": {"torch": str(torch.__version__)},
    }
    if resume is not None:
        payload["resume"] = resume
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


@dataclass
class Checkpoint:
    spec: ModelSpec
    state_dict: dict[str, torch.Tensor]
    training: dict[str, Any]
    resume: dict[str, Any] | None
    path: Path

    def build_model(self) -> nn.Module:
        """The trained model in eval mode on the CPU."""
        model = self.spec.build()
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:  # missing/unexpected keys or shape mismatches
            detail = " ".join(str(exc).split())[:300]
            raise CheckpointError(f"{self.path}: weights do not fit model {self.spec.name!r}: {detail}") from None
        return model.eval()


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint; every problem raises CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle errors, wrong file type
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(exc).__name__}: {reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path} is not a seg_perception checkpoint (format {found!r}, expected {FORMAT!r})")
    try:
        spec = ModelSpec.from_dict(payload["model"])
        state_dict = payload["state_dict"]
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: checkpoint lacks {exc}") from None
    except ValueError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return Checkpoint(spec, state_dict, payload.get("training", {}), payload.get("resume"), path)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file (checkpoint identity for engine caches and manifests)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
