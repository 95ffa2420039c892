"""The tiny model every test uses: a 2-level, 4-channel U-Net that runs in milliseconds on a CPU.

Untrained, its biases would pick one class everywhere with confidences of about 1/19; the
classifier is scaled instead, so frames show several classes with spread confidences. ROS-free,
so any test (and benchmarks/bench_node.py) imports it.
"""

from __future__ import annotations

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
