"""ROS-free inference: checkpoint -> engine (tensorrt | cuda | cpu), pre/post-processing, colouring, export.

``Segmenter.from_checkpoint(path)`` picks the fastest backend available here
(``available_backends()``), logs which and why, and ``segment(image)`` returns
a SegmentationResult at the camera's resolution.

The names below load on first use, so that importing ``backend_table`` (the
backend and precision names) costs no torch import.
"""

from importlib import import_module

_EXPORTS = {"BackendUnavailable": "backends", "available_backends": "backends", "InputSizeError": "memory",
            "colorize": "postprocess",
            "colorize_overlay": "postprocess", "SegmentationResult": "segmenter", "Segmenter": "segmenter"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
