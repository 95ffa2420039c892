"""The deployed graph: a model plus its label head, and how it is exported.

Every backend runs the same computation: logits -> argmax (and optionally the
max softmax probability) on the engine's device, cast to uint8, so only
H x W bytes per output ever leave the engine, never the C x H x W logits.
``torch.export`` of this graph is what Torch-TensorRT compiles; the ONNX
export of it is what ONNX Runtime runs.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

#: Bump when the head's computation or outputs change, so cached engines are rebuilt.
GRAPH_VERSION = 1
INPUT_NAME = "image"
OUTPUT_NAMES = ("labels", "confidence")


def decode(logits: torch.Tensor, with_confidence: bool) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """N x C x H x W logits -> N x H x W uint8 labels, plus uint8 confidence if asked.

    Confidence is the max softmax probability x 255, rounded, computed as
    ``1 / sum(exp(logits - max))`` in FP32 so an FP16 engine cannot overflow.
    """
    if not with_confidence:
        return logits.argmax(dim=1).to(torch.uint8)
    best, labels = logits.max(dim=1)
    confidence = 1.0 / torch.exp(logits.float() - best.float().unsqueeze(1)).sum(dim=1)
    return labels.to(torch.uint8), torch.round(confidence * 255.0).to(torch.uint8)


class FlipAveraged(nn.Module):
    """Test-time flip: the mean of ``model``'s logits on the image and on its mirror image (mirrored back).

    Both run as one batch of two, so an engine sees a single static-shape graph.
    Averaging logits rather than softmax probabilities is one operation less and
    scored the same (docs/EXPERIMENTS.md, "Test-time flip").
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(torch.cat([x, x.flip(3)]))
        count = x.shape[0]
        return (logits[:count] + logits[count:].flip(3)) * 0.5


def deployed_model(model: nn.Module, test_time_flip: bool) -> nn.Module:
    """The network an engine runs: ``model`` itself, or FlipAveraged(``model``) with ``test_time_flip``."""
    return FlipAveraged(model) if test_time_flip else model


class LabelHead(nn.Module):
    """``model`` followed by ``decode``: the graph every engine compiles."""

    def __init__(self, model: nn.Module, with_confidence: bool):
        super().__init__()
        self.model = model
        self.with_confidence = with_confidence
        # Exporters restore the wrapper's training flag on all children: keep the whole tree in eval.
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        return decode(self.model(x), self.with_confidence)


def label_head(model: nn.Module, with_confidence: bool, dtype: torch.dtype = torch.float32,
               device: str | torch.device = "cpu", channels_last: bool = False) -> LabelHead:
    """A copy of ``model`` on ``device``/``dtype`` in a LabelHead, in eval mode; the caller's model is untouched."""
    model = copy.deepcopy(model).to(device=device, dtype=dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return LabelHead(model, with_confidence)


def export_program(head: LabelHead, example: torch.Tensor) -> torch.export.ExportedProgram:
    """``torch.export`` of ``head`` for the static shape, dtype and device of ``example`` (Torch-TensorRT's input)."""
    with torch.no_grad():
        return torch.export.export(head, (example,))


@contextlib.contextmanager
def _quiet_onnx_exporter():
    """The exporter narrates every step (stdout and INFO logs) and warns about its own internals."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export_onnx(program: torch.export.ExportedProgram, path: str | Path) -> None:
    """Write an exported LabelHead program as ONNX (static shape) with named input and outputs."""
    outputs = list(OUTPUT_NAMES[:len(program.graph_signature.user_outputs)])
    with _quiet_onnx_exporter():
        onnx_program = torch.onnx.export(program, (), dynamo=True, verbose=False, external_data=False,
                                         input_names=[INPUT_NAME], output_names=outputs)
    onnx_program.save(str(path))
