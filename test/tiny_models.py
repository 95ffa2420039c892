"""The tiny model every test uses: a 2-level, 4-channel U-Net that runs in milliseconds on a CPU.

Untrained, its biases would pick one class everywhere with confidences of about 1/19; the
classifier is scaled instead, so frames show several classes with spread confidences. ROS-free,
so any test (and benchmarks/bench_node.py) imports it.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from seg_perception.checkpoint import ModelSpec, save_checkpoint
from seg_perception.labels import NUM_CLASSES
from seg_perception.models import build_model
from seg_perception.size import Size

OPTIONS = {"base_channels": 4, "depth": 2}
INPUT_SIZE = Size(64, 32)


def tiny_model(num_classes: int = NUM_CLASSES) -> torch.nn.Module:
    """The tiny U-Net in eval mode, the same weights on every call."""
    torch.manual_seed(0)
    model = build_model("unet", num_classes, **OPTIONS)
    with torch.no_grad():
        model.classifier.bias.zero_()
        model.classifier.weight.mul_(100)
    return model.eval()


def tiny_spec(**fields) -> ModelSpec:
    """The tiny model's spec (input INPUT_SIZE, Cityscapes classes), with ``fields`` replaced."""
    return ModelSpec("unet", OPTIONS, **{"input_size": INPUT_SIZE, **fields})


def write_tiny_checkpoint(path: Path, **fields) -> Path:
    """A checkpoint of the tiny model at ``path``; ``fields`` replace ModelSpec fields (class_names,
    input_size, drivable_classes)."""
    spec = tiny_spec(**fields)
    save_checkpoint(path, spec, tiny_model(spec.num_classes))
    return path


#: Checkpoints that torch reads but that describe no usable model, or are unsafe: how each is made from the
#: tiny checkpoint's payload, and a fragment of the one-line error every tool gives for it.
BAD_CHECKPOINTS = {
    "unknown_architecture": (lambda p: p["model"].update(name="segformer_b9"), "unknown architecture 'segformer_b9'"),
    "unknown_option": (lambda p: p["model"]["options"].update(dropout=0.1), "model 'unet' has no option dropout"),
    "zero_input_size": (lambda p: p["model"].update(input_size=[0, 0]),
                        "input_size must be [width, height] within 1..8192, got [0, 0]"),
    "model_entry_type": (lambda p: p.update(model="unet"), "its 'model' entry is a str, not a mapping"),
    "option_value_type": (lambda p: p["model"]["options"].update(base_channels="four"), "cannot be built"),
    "zero_std": (lambda p: p["model"]["normalization"].update(std=[0, 0, 0]),
                 "normalization std must be three positive numbers"),
    "class_names_type": (lambda p: p["model"].update(class_names="road"), "class_names must be a list of names"),
    "unknown_drivable": (lambda p: p["model"].update(drivable_classes=["runway"]), "unknown drivable class 'runway'"),
    "confidence_floor": (lambda p: p["model"].update(confidence_floor="high"),
                         "confidence_floor is 'high', not a number within [0, 1]"),
    "weights_misfit": (lambda p: p["model"]["options"].update(depth=3), "weights do not fit model 'unet'"),
    "unsafe": (None, "not a seg_perception checkpoint, or unsafe"),
}


def write_bad_checkpoints(directory: Path) -> dict[str, tuple[Path, str]]:
    """Every BAD_CHECKPOINTS case written into ``directory``: {case: (path, error fragment)}."""
    import argparse  # an arbitrary class: torch's safe loader must refuse it without running anything

    good = torch.load(write_tiny_checkpoint(directory / "good.pt"), weights_only=True)
    written = {}
    for case, (change, message) in BAD_CHECKPOINTS.items():
        path = directory / f"{case}.pt"
        if change is None:
            torch.save({"format": good["format"], "model": argparse.Namespace(name="unet")}, path)
        else:
            payload = copy.deepcopy(good)
            change(payload)
            torch.save(payload, path)
        written[case] = (path, message)
    return written
