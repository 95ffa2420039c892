"""seg-predict's PNG outputs: their names, atomic writes, and the writer thread that overlaps them with inference.

Every kind of output has its own root under DIR (``DIR/labelIds``,
``DIR/trainIds``, ``DIR/color``, ``DIR/overlay``), each mirroring the input's
relative paths, and the kind also ends the file name: ``X_leftImg8bit.png``
gives ``DIR/labelIds/.../X_leftImg8bit_labelIds.png``. Separate roots because
cityscapesscripts' evaluator refuses a frame with more than one PNG starting
with ``{city}_{seq}_{frame}`` anywhere under its results folder; the suffix
because ``seg-eval --pred-dir DIR`` then still picks the labelId file.

A PNG is encoded to memory, written under a hidden temporary name and
renamed, so no reader ever sees half a file. Encoding and writing happen on
a thread fed by a bounded queue: OpenCV and file writes release the GIL, so
the next frame is segmented meanwhile.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from ..bags.output_bag import OVERLAY_ALPHA
from ..node.frames import Frame
from ..inference import colorize, colorize_overlay
from ..labels import TRAIN_ID_TO_LABEL_ID_LUT
from ..size import Size

KINDS = ("labelIds", "trainIds", "color", "overlay")
DEFAULT_KINDS = ("labelIds", "trainIds", "overlay")
LABEL_KINDS = ("trainIds", "labelIds")  # either gives back a frame's trainIds (for a rerun's output bag)
TMP_SUFFIX = ".tmp"
# OpenCV's PNG defaults are zlib level 1, the run-length strategy and the Sub filter: for label and colour
# images (runs of a few values) the fastest and as small as any tried. Naming IMWRITE_PNG_COMPRESSION (even 1)
# would switch to libpng's adaptive filters and zlib's default strategy: 3-4x slower, no smaller (BENCHMARKS.md).
_LABEL_PNG = [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
# A camera image has few runs: Huffman coding alone after the Up filter is 15 % faster than the defaults and
# as small (2048x1024: 47 vs 56 ms); only no compression at all is faster, at twice the size.
_OVERLAY_PNG = [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP,
                cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]


def output_path(out_dir: Path, kind: str, name: PurePosixPath) -> Path:
    """Where the ``kind`` PNG of the frame ``name`` goes: ``out_dir/kind/<name>_<kind>.png``."""
    return out_dir / kind / f"{name}_{kind}.png"


def write_png(path: Path, image: np.ndarray, params=()) -> None:
    """Write ``image`` (mono or BGR) as a PNG at ``path`` atomically: a temporary name beside it, then a rename."""
    write_atomically(path, encode_png(image, params))


def encode_png(image: np.ndarray, params=()) -> np.ndarray:
    """``image`` (mono or BGR) as PNG bytes, with OpenCV's ``params``."""
    ok, data = cv2.imencode(".png", image, list(params))
    if not ok:
        raise OSError(f"OpenCV could not encode a {image.shape} image as PNG")
    return data


def write_atomically(path: Path, data) -> None:
    """``data`` into ``path`` under a temporary name beside it, then renamed (no fsync: outputs, not state)."""
    # Hidden and not *.png, so even a temporary left by a killed process is never taken for an output.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}{TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@dataclass
class WriteJob:
    """One segmented frame to write: its name, trainIds at the frame's size, the frame, the trainIds at the
    model's resolution when they differ (colours are drawn from them: the same pixels, since the frame's
    labels are their nearest-neighbour resize, for a fraction of the work), and its RGB overlay when
    already made (for the output bag)."""

    name: PurePosixPath
    labels: np.ndarray
    frame: Frame
    model_labels: np.ndarray | None = None
    overlay: np.ndarray | None = None

    @property
    def drawn_labels(self) -> np.ndarray:
        """The labels colours are drawn from: the model's resolution when known, else the frame's."""
        return self.labels if self.model_labels is None else self.model_labels


def render(kind: str, job: WriteJob) -> tuple[np.ndarray, list[int]]:
    """The image of one kind of output (mono, or BGR as cv2 encodes it) and its PNG parameters."""
    if kind == "labelIds":
        return cv2.LUT(job.labels, TRAIN_ID_TO_LABEL_ID_LUT), _LABEL_PNG
    if kind == "trainIds":
        return job.labels, _LABEL_PNG
    if kind == "color":
        return cv2.cvtColor(colorize(job.drawn_labels, Size.of(job.labels)), cv2.COLOR_RGB2BGR), _LABEL_PNG
    overlay = job.overlay
    if overlay is None:
        overlay = colorize_overlay(job.frame.image, job.drawn_labels, OVERLAY_ALPHA, bgr=job.frame.bgr)
    return cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR), _OVERLAY_PNG


class PngWriter:
    """``threads`` threads writing each job's PNGs (``kinds``) under ``out_dir``; ``put`` blocks while ``depth``
    jobs wait. Frames are independent files, so several threads may write them in any order.

    A write error stops the writing and is raised, as an OSError naming the file, by the next ``put`` or
    by ``close``. ``close`` writes what is queued; a Ctrl-C during it abandons the queue after the files
    in progress.
    """

    _STOP = object()

    def __init__(self, out_dir: Path, kinds, threads: int = 1, depth: int = 4):
        self.out_dir = out_dir
        self.kinds = tuple(kinds)
        self.written = 0  # frames whose PNGs are all written
        self.busy_s = 0.0  # seconds spent rendering, encoding and writing, summed over the threads
        self.error: OSError | None = None  # the first failure, naming its file
        self._queue: queue.Queue = queue.Queue(maxsize=max(depth, threads))
        self._abandon = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, name=f"seg-predict-writer-{i}", daemon=True)
                         for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def put(self, job: WriteJob) -> None:
        """Queue a frame's outputs (waits while the queue is full); raises the writer's error if it failed."""
        self._raise()
        self._queue.put(job)

    def close(self) -> None:
        """Write everything queued and stop; raises the writer's error if it failed."""
        stops = len(self._threads)
        while stops:
            try:
                self._queue.put(self._STOP)
                stops -= 1
            except KeyboardInterrupt:  # a second Ctrl-C: stop after the files being written
                self._abandon.set()
        for thread in self._threads:
            while thread.is_alive():
                try:
                    thread.join()
                except KeyboardInterrupt:
                    self._abandon.set()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is self._STOP:
                return
            if self.error is not None or self._abandon.is_set():
                continue  # keep taking jobs, so a waiting put never blocks forever
            start = time.perf_counter()
            try:
                self._write(job)
            except OSError as error:  # reported to the main thread, which raises it
                self.error = self.error or error
            else:
                with self._lock:
                    self.written += 1
            with self._lock:
                self.busy_s += time.perf_counter() - start

    def _write(self, job: WriteJob) -> None:
        for kind in self.kinds:
            path = output_path(self.out_dir, kind, job.name)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                image, params = render(kind, job)
                write_png(path, image, params)
            except Exception as error:  # noqa: BLE001 - whatever it was, the file it was for goes with it
                reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
                raise OSError(f"cannot write {path}: {reason}") from error
