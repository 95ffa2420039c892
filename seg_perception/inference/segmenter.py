"""``Segmenter``: camera image in, labels / drivable mask / confidence out, on the best backend here."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint import ModelSpec, file_sha256, load_checkpoint
from ..labels import drivable_lut
from ..size import Size
from .backend_table import PRECISIONS, effective_precision
from .backends import choose_backend, create_backend, probe_platform
from .engine_cache import EngineCache, default_cache_dir
from .memory import check_input_size
from .postprocess import Postprocessor, confidence_threshold
from .preprocess import Preprocessor, check_image, check_input_filter

log = logging.getLogger("seg_perception.inference")


@dataclass
class SegmentationResult:
    """One frame's output at camera resolution; the arrays are the caller's to keep."""

    labels: np.ndarray  # H x W uint8 trainIds, 255 = unknown
    drivable: np.ndarray  # H x W uint8, 255 drivable, 0 not
    confidence: np.ndarray | None  # H x W uint8 max class probability x 255, when asked for
    model_labels: np.ndarray  # h x w uint8 trainIds at model resolution, which ``labels`` is resized from
    timings: dict[str, float] = field(default_factory=dict)  # preprocess_ms, inference_ms, postprocess_ms, total_ms


def state_dict_sha256(model: nn.Module) -> str:
    """Hex SHA-256 of a model's weights (names, dtypes, shapes, bytes): engine identity for in-memory models."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy() if tensor.numel() else b"")
    return digest.hexdigest()


class Segmenter:
    """Semantic segmentation of camera frames with a checkpoint's model on one backend.

    ``segment(image)`` takes an H x W x 3 uint8 image (RGB, or BGR with
    ``bgr=True``; an H x W x 4 RGBA/BGRA image is accepted and its alpha
    ignored) of any size and returns a SegmentationResult at that size.
    ``drivable_classes``, ``min_confidence``, ``with_confidence`` and
    ``input_filter`` (preprocess.INPUT_FILTERS) may be changed between frames.
    The first frame with confidence on the ``cpu`` backend builds (or loads from
    the cache) the graph variant that computes it.

    The constructor takes an in-memory model (tests, evaluation); without a
    ``cache_dir`` it builds engines afresh. ``from_checkpoint`` is the
    deployment entry and caches engines on disk. ``threads`` caps the ``cpu``
    backend's ONNX Runtime threads (default one per core): fewer let several
    Segmenters, one per thread, segment frames at once (seg-predict's
    ``--streams``). One Segmenter is not for several threads at a time.
    ``test_time_flip`` averages the model's logits on each frame and its mirror
    image inside the engine: about twice the inference time, a little more
    accuracy (docs/EXPERIMENTS.md, "Test-time flip").
    """

    def __init__(self, model: nn.Module, spec: ModelSpec, *, backend: str = "auto", precision: str = "fp16",
                 input_size: tuple[int, int] | None = None, drivable_classes=None, min_confidence: float = 0.0,
                 with_confidence: bool = False, cache_dir: str | Path | None = None, bgr: bool = False,
                 weights_sha256: str | None = None, threads: int | None = None,
                 input_filter: str = "none", test_time_flip: bool = False):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        check_input_filter(input_filter)  # before a backend builds anything
        if spec.num_classes >= 255:
            raise ValueError(f"at most 254 classes fit uint8 labels with 255 = unknown, got {spec.num_classes}")
        self.spec = spec
        size = tuple(input_size or spec.input_size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"input_size must be (width, height) of positive ints, got {input_size}")
        self.input_size = Size(*size)
        # before the engine allocates anything of that size
        check_input_size(spec, self.input_size, batch=1 + test_time_flip)
        self.bgr = bgr
        self._post = Postprocessor(spec.class_names, spec.drivable_classes)
        self.drivable_classes = drivable_classes
        self.min_confidence = min_confidence
        self.with_confidence = with_confidence

        name, reason = choose_backend(backend, probe_platform())
        runs_at = effective_precision(name, precision)
        width, height = self.input_size
        self._backend = create_backend(name, model, (1, 3, height, width), precision=runs_at,
                                       cache=EngineCache(cache_dir),
                                       weights_sha256=weights_sha256 or self._weights_id(model, cache_dir),
                                       threads=threads, test_time_flip=test_time_flip)
        self.test_time_flip = test_time_flip
        self._pre = Preprocessor(self.input_size, spec.mean, spec.std, input_filter)
        log.info("inference backend: %s, %s, input %dx%d%s%s (%s)", name, runs_at, width, height,
                 "" if input_filter == "none" else f", input filter {input_filter}",
                 ", test-time flip" if test_time_flip else "", reason)
        self.warm_up()

    @staticmethod
    def _weights_id(model: nn.Module, cache_dir) -> str:
        # Hashing a large model's weights takes a while; it only matters when engines are cached.
        return state_dict_sha256(model) if cache_dir is not None else "uncached"

    @classmethod
    def from_checkpoint(cls, path: str | Path, backend: str = "auto", precision: str = "fp16",
                        input_size: tuple[int, int] | None = None, drivable_classes=None,
                        min_confidence: float = 0.0, with_confidence: bool = False,
                        cache_dir: str | Path | None = None, bgr: bool = False,
                        threads: int | None = None, input_filter: str = "none",
                        test_time_flip: bool = False) -> Segmenter:
        """Load ``path`` (CheckpointError if missing or corrupt) and set up the backend; engines are
        cached under ``cache_dir`` (default ``$SEG_PERCEPTION_CACHE`` or ``~/.cache/seg_perception``)."""
        checkpoint = load_checkpoint(path)
        return cls(checkpoint.build_model(), checkpoint.spec, backend=backend, precision=precision,
                   input_size=input_size, drivable_classes=drivable_classes, min_confidence=min_confidence,
                   with_confidence=with_confidence, cache_dir=cache_dir or default_cache_dir(), bgr=bgr,
                   weights_sha256=file_sha256(path), threads=threads, input_filter=input_filter,
                   test_time_flip=test_time_flip)

    @property
    def backend_name(self) -> str:
        """The backend actually running: tensorrt, cuda, cpu, or a torch-cpu reference."""
        return self._backend.name

    @property
    def precision(self) -> str:
        """fp16 or fp32, as the backend actually runs."""
        return self._backend.precision

    @property
    def drivable_classes(self) -> tuple[str, ...]:
        """The classes marked drivable; setting None (or no class at all) gives the checkpoint's own."""
        return self._drivable_classes

    @drivable_classes.setter
    def drivable_classes(self, names) -> None:
        names = (names,) if isinstance(names, str) else tuple(names or ()) or self.spec.drivable_classes
        self._post.drivable_lut = drivable_lut(names, self.spec.class_names)
        self._drivable_classes = names

    @property
    def input_filter(self) -> str:
        """The filter applied to each resized frame before the model (preprocess.INPUT_FILTERS)."""
        return self._pre.input_filter

    @input_filter.setter
    def input_filter(self, name: str) -> None:
        self._pre.input_filter = check_input_filter(name)

    @property
    def min_confidence(self) -> float:
        return self._min_confidence

    @min_confidence.setter
    def min_confidence(self, value: float) -> None:
        self._threshold = confidence_threshold(value)
        self._min_confidence = float(value)

    @property
    def _needs_confidence(self) -> bool:
        return self.with_confidence or self._threshold > 0

    def warm_up(self, frames: int = 2) -> None:
        """Segment blank frames so lazy initialisation (engine, cv2, allocator) happens before real ones."""
        width, height = self.input_size
        blank = np.zeros((2 * height, 2 * width, 3), np.uint8)  # not the input size, so resizing warms up too
        for _ in range(frames):
            self.segment(blank)

    def prepare_variants(self) -> None:
        """Build (or load from the engine cache) both graph variants, with and without confidence, now
        rather than on the first frame that needs one."""
        for with_confidence in (False, True):
            self._backend.run(with_confidence)

    def segment(self, image: np.ndarray, bgr: bool | None = None) -> SegmentationResult:
        """Segment one frame (ValueError for anything but a non-empty H x W x 3|4 uint8 array)."""
        start = time.perf_counter()
        check_image(image)
        self._pre(image, self._backend.input, self.bgr if bgr is None else bgr)
        preprocessed = time.perf_counter()
        model_labels, confidence = self._backend.run(self._needs_confidence)
        inferred = time.perf_counter()
        labels, drivable, confidence = self._post(model_labels, confidence, Size.of(image), self._threshold,
                                                  self.with_confidence)
        model_labels = model_labels.copy()  # the backend's buffer, overwritten by the next run
        end = time.perf_counter()
        timings = {"preprocess_ms": (preprocessed - start) * 1e3, "inference_ms": (inferred - preprocessed) * 1e3,
                   "postprocess_ms": (end - inferred) * 1e3, "total_ms": (end - start) * 1e3}
        return SegmentationResult(labels, drivable, confidence, model_labels, timings)
