"""On-disk cache of compiled engines (TensorRT programs, ONNX graphs), keyed by what makes them valid.

An engine is valid only for the exact weights, input shape, precision, GPU
and library versions it was built with; all of these go into the key, so a
change of any of them is a miss and the engine is rebuilt rather than a stale
one loaded. Entries are written atomically (temporary file, then rename) next
to a small JSON file listing the key's fields for people. A corrupt entry is
rebuilt with a warning; an unwritable cache directory only costs the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..files import atomic_path

log = logging.getLogger(__name__)

CACHE_ENV = "SEG_PERCEPTION_CACHE"
T = TypeVar("T")


def default_cache_dir() -> Path:
    """``$SEG_PERCEPTION_CACHE`` if set, else ``~/.cache/seg_perception``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "seg_perception")


def cache_key(fields: dict[str, Any]) -> str:
    """Stable hex digest of ``fields`` (JSON with sorted keys): any changed value gives another key."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class EngineCache:
    """Engines under ``root/<kind>/<key><suffix>``; ``root=None`` disables the cache (always build)."""

    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root is not None else None

    def path(self, fields: dict[str, Any], suffix: str) -> Path | None:
        """Where the engine for ``fields`` lives (``fields["kind"]`` names the subdirectory)."""
        if self.root is None:
            return None
        return self.root / str(fields["kind"]) / f"{cache_key(fields)}{suffix}"

    def load_or_build(self, fields: dict[str, Any], suffix: str, *, build: Callable[[Path], None],
                      load: Callable[[Path], T]) -> tuple[T, bool]:
        """Load the engine for ``fields``, building it first on a miss. Returns (engine, hit).

        ``build(path)`` writes the engine file, ``load(path)`` reads it; a freshly
        built entry is loaded from disk too, so a broken save shows at once.
        """
        path = self.path(fields, suffix)
        if path is None:
            with tempfile.TemporaryDirectory(prefix="seg_engine_") as tmp:
                path = Path(tmp) / f"engine{suffix}"
                build(path)
                return load(path), False
        if path.is_file():
            try:
                engine = load(path)
                log.info("engine cache hit: %s", path)
                return engine, True
            except Exception as exc:  # any failure to deserialise makes the entry unusable
                first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                log.warning("engine cache entry %s is unreadable (%s: %s); rebuilding it",
                            path, type(exc).__name__, first_line)
                path.unlink(missing_ok=True)
        try:
            self._build_into(path, fields, build)
        except OSError as exc:  # read-only or full disk: run uncached rather than fail
            log.warning("cannot write engine cache %s (%s); continuing without it", path, exc)
            return EngineCache(None).load_or_build(fields, suffix, build=build, load=load)
        log.info("engine cached: %s", path)
        return load(path), False

    @staticmethod
    def _build_into(path: Path, fields: dict[str, Any], build: Callable[[Path], None]) -> None:
        with atomic_path(path) as tmp:
            build(tmp)
        path.with_suffix(".json").write_text(json.dumps(fields, indent=2, sort_keys=True, default=str) + "\n")
