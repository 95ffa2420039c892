"""Checkpoints that rebuild their model without the config that trained them.

A checkpoint is a plain dict of tensors, strings and numbers, so it loads with
``torch.load(..., weights_only=True)``: the architecture and its options, the
class names, normalisation, input size, label mapping and training metadata
travel with the weights. Writes are atomic: a crash mid-save leaves the
previous file intact.

``load_checkpoint`` is the one check every tool and the node rely on: a file it
returns describes a model that builds at its input size and fits its weights;
anything else is a ``CheckpointError`` of one line, "FILE: problem; what to do".
"""

from __future__ import annotations

import hashlib
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import labels
from .files import atomic_path
from .size import MAX_SIDE, Size
from .models import available_models, build_model, model_options

FORMAT = "seg_perception.checkpoint/1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: labels are uint8 with 255 meaning unknown
MAX_CLASSES = 254
_FROM_SEG_TRAIN = "use a .pt written by seg-train"
_OTHER_VERSION = "it may come from another version of seg_perception: use a .pt written by this version's seg-train"


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or unusable; the message is one line: file, problem, what to do."""


def _refuse(path: Path, problem: str, remedy: str) -> CheckpointError:
    return CheckpointError(f"{path}: {problem}; {remedy}")


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
    #: frame mean confidence that fewer than frame_confidence.FLOOR_PERCENTILE % of the validation frames fall
    #: below (seg-train measures it); None: not measured (checkpoints from before it was)
    confidence_floor: float | None = None

    def __post_init__(self):
        self.class_names = tuple(self.class_names)
        self.input_size = Size(*self.input_size)
        self.drivable_classes = labels.check_drivable_classes(self.drivable_classes, self.class_names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def architecture_options(self) -> dict[str, Any]:
        """The options without a pretrained-encoder path: what a checkpoint records and rebuilds."""
        return {k: v for k, v in self.options.items() if k != "encoder_weights"}

    def build(self) -> nn.Module:
        """The untrained model this spec describes (pretrained-encoder paths are not re-read)."""
        return build_model(self.name, self.num_classes, **self.architecture_options)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "options": self.architecture_options,
            "class_names": list(self.class_names),
            "normalization": {"mean": list(self.mean), "std": list(self.std)},
            "input_size": list(self.input_size),
            "label_mapping": {
                "kind": "cityscapes_train_id",
                "ignore_index": labels.IGNORE_ID,
                "train_id_to_label_id": labels.TRAIN_ID_TO_LABEL_ID.tolist()[: len(self.class_names)],
            },
            "drivable_classes": list(self.drivable_classes),
            "confidence_floor": self.confidence_floor,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ModelSpec:
        """The spec a checkpoint's ``model`` entry describes; ValueError naming the first problem (a wrong
        type, an unknown architecture or option, an empty size, ...) otherwise."""
        if not isinstance(data, dict):
            raise ValueError(f"its 'model' entry is a {type(data).__name__}, not a mapping")
        name, options = data.get("name"), data.get("options", {})
        if name not in available_models():
            raise ValueError(f"unknown architecture {name!r} (known: {', '.join(available_models())})")
        if not isinstance(options, dict):
            raise ValueError(f"model options are a {type(options).__name__}, not a mapping")
        unknown = sorted(map(str, set(options) - set(model_options(name))))
        if unknown:
            raise ValueError(f"model {name!r} has no option {', '.join(unknown)} "
                             f"(options: {', '.join(model_options(name))})")
        normalization = data.get("normalization")
        if not isinstance(normalization, dict):
            raise ValueError(f"normalization is {_short(normalization)}, not a mapping with mean and std")
        return cls(name=name, options=dict(options), class_names=_class_names(data.get("class_names")),
                   mean=_channel_triple("mean", normalization.get("mean")),
                   std=_channel_triple("std", normalization.get("std"), positive=True),
                   input_size=_input_size(data.get("input_size")),
                   drivable_classes=data.get("drivable_classes", labels.DEFAULT_DRIVABLE_CLASSES),
                   confidence_floor=_confidence_floor(data.get("confidence_floor")))


def _confidence_floor(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"confidence_floor is {_short(value)}, not a number within [0, 1]")
    return float(value)


def _class_names(value: Any) -> tuple[str, ...]:
    """A checkpoint's class names, checked: 1..MAX_CLASSES distinct non-empty strings."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(name, str) and name for name in value):
        raise ValueError(f"class_names must be a list of names, got {_short(value)}")
    if not 1 <= len(value) <= MAX_CLASSES or len(set(value)) != len(value):
        raise ValueError(f"class_names must be 1..{MAX_CLASSES} distinct names (labels are uint8, 255 = unknown), "
                         f"got {len(value)} with {len(value) - len(set(value))} repeated")
    return tuple(value)


def _channel_triple(key: str, value: Any, positive: bool = False) -> tuple[float, float, float]:
    """Normalisation ``mean`` or ``std``: three finite numbers (positive for std, which divides)."""
    numbers = isinstance(value, (list, tuple)) and len(value) == 3 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and (v > 0 or not positive)
        for v in value)
    if not numbers:
        kind = "positive" if positive else "finite"
        raise ValueError(f"normalization {key} must be three {kind} numbers (R, G, B), got {_short(value)}")
    return tuple(float(v) for v in value)


def _input_size(value: Any) -> Size:
    """A checkpoint's input size: [width, height], integers within 1..MAX_SIDE."""
    if not (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIDE for v in value)):
        raise ValueError(f"input_size must be [width, height] within 1..{MAX_SIDE}, got {_short(value)}")
    return Size(*value)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


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
        """The trained model in eval mode on the CPU (``load_checkpoint`` has checked that the weights fit)."""
        model = self.spec.build()
        model.load_state_dict(self.state_dict)
        return model.eval()


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and check a checkpoint; every problem raises a one-line CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise _refuse(path, "no such checkpoint file", f"check the path ({_FROM_SEG_TRAIN})")
    payload = _read(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise _refuse(path, f"not a seg_perception checkpoint (format {found!r}, expected {FORMAT!r})",
                      _FROM_SEG_TRAIN)
    try:
        spec = ModelSpec.from_dict(payload.get("model"))
        _check_weights(spec, payload.get("state_dict"))
    except ValueError as exc:
        raise _refuse(path, " ".join(str(exc).split()), _OTHER_VERSION) from None
    return Checkpoint(spec, payload["state_dict"], payload.get("training", {}), payload.get("resume"), path)


def _read(path: Path) -> Any:
    """``torch.load`` of ``path`` without running any pickled code; CheckpointError when that fails."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message suggests weights_only=False, which would run whatever code the file holds.
        # Garbage and pickled objects other than tensors, strings and numbers both end here.
        raise _refuse(path, "not a seg_perception checkpoint, or unsafe: torch's safe loader refused it "
                            "(nothing in it was run)",
                      f"{_FROM_SEG_TRAIN}, and load this file by no other means unless you trust its source") from None
    except Exception as exc:  # truncated zip, wrong file type, I/O errors
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise _refuse(path, f"not a readable checkpoint ({type(exc).__name__}: {reason})",
                      f"the file may be truncated or damaged: copy it again, or {_FROM_SEG_TRAIN}") from None


def _check_weights(spec: ModelSpec, state_dict: Any) -> None:
    """ValueError unless ``spec`` builds and ``state_dict`` has exactly its tensors' names and shapes.

    The model is built on the meta device: no memory for weights, so even a large model costs
    milliseconds, and a bad option value (a string for a channel count) fails here, not in a tool.
    """
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in spec.build().state_dict().items()}
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"model {spec.name!r} cannot be built with options {spec.options}: {exc}") from None
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError("its state_dict is not a mapping of tensors")
    found = {k: tuple(v.shape) for k, v in state_dict.items()}
    missing, unexpected = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    wrong = sorted(k for k in expected.keys() & found.keys() if expected[k] != found[k])
    for what, names in (("missing", missing), ("unexpected", unexpected), ("of the wrong shape", wrong)):
        if names:
            more = f" and {len(names) - 1} more" if len(names) > 1 else ""
            raise ValueError(f"weights do not fit model {spec.name!r} {spec.options}: {what} {names[0]}{more}")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file (checkpoint identity for engine caches and manifests)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
