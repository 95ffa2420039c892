"""ROS-free inference: checkpoint -> engine (tensorrt | cuda | cpu), pre/post-processing, colouring, export.

``Segmenter.from_checkpoint(path)`` picks the fastest backend available here
(``available_backends()``), logs which and why, and ``segment(image)`` returns
a SegmentationResult at the camera's resolution.
"""

from .backends import BackendUnavailable, available_backends
from .postprocess import colorize, colorize_overlay
from .segmenter import SegmentationResult, Segmenter

__all__ = ["BackendUnavailable", "SegmentationResult", "Segmenter", "available_backends", "colorize",
           "colorize_overlay"]
