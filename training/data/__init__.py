"""Training data: the Cityscapes-layout reader and the procedural scene generator (``seg-make-data``).

Names load on first use (PEP 562), so the generator and its worker processes run without
importing torch, which only the reader needs.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "CityscapesDataset": "cityscapes",
    "DatasetError": "cityscapes",
    "label_path_for": "cityscapes",
    "read_image": "cityscapes",
    "read_label": "cityscapes",
    "generate_scene": "scene_generator",
    "generate_split": "make_data",
    "scene_rng": "make_data",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
