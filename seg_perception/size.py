"""Image sizes, always (width, height): what OpenCV, the configs, checkpoints and the Segmenter take.

numpy shapes are (height, width); ``Size.of`` and ``Size.shape`` convert between
the two, so no code swaps them by hand. Sizes on the command line and in
/diagnostics are written ``WxH``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

#: The largest side any tool or the node accepts (a model input, a generated scene).
MAX_SIDE = 8192
_WXH = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")


class Size(NamedTuple):
    width: int
    height: int

    @classmethod
    def of(cls, image: np.ndarray) -> Size:
        """The size of an H x W (x C) array."""
        height, width = image.shape[:2]
        return cls(width, height)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width), as numpy indexes an image of this size."""
        return self.height, self.width

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def parse_size(text: str, minimum: int = 1, maximum: int = MAX_SIDE) -> Size:
    """"WxH" -> Size with both sides within ``minimum``..``maximum``; ValueError naming the problem otherwise."""
    match = _WXH.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not WIDTHxHEIGHT (e.g. 1024x512)")
    size = Size(int(match[1]), int(match[2]))
    if not (minimum <= size.width <= maximum and minimum <= size.height <= maximum):
        raise ValueError(f"{text!r}: width and height must be within {minimum}..{maximum}")
    return size


def size_arg(minimum: int = 1) -> Callable[[str], Size]:
    """An argparse ``type`` for WxH sizes with sides of at least ``minimum``: a bad one is a usage error."""
    def size(text: str) -> Size:
        try:
            return parse_size(text, minimum)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return size
