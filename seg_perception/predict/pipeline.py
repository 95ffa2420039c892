"""The seg-predict pass: read and decode (reader threads) -> segment (one thread per stream) -> write PNGs
(writer threads), with this thread handing frames on in the source's order.

With several streams, as many frames are segmented at once, each by its own
Segmenter (on the cpu backend each with its share of the cores: on two cores
two single-threaded model runs get through more frames than one run on both).
The reader thread also decides which frames are already done (every output
PNG exists): those are not decoded at all, except in a bag, whose output
bag is rewritten whole by every run and takes their labels back from the
trainId (or labelId) PNG instead of running the model again. Every queue
is bounded, so memory stays a few frames deep however long the input.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import cv2
import numpy as np
from tqdm import tqdm

from ..bags.output_bag import OVERLAY_ALPHA, OutputBag
from ..node.frames import Frame, FrameError
from ..inference import colorize_overlay
from ..inference.aspect import StretchCheck
from ..labels import drivable_lut
from ..labels import LABEL_ID_TO_TRAIN_ID
from ..size import Size
from .sources import CopyMessage, FrameItem
from .writer import LABEL_KINDS, PngWriter, WriteJob, output_path

if TYPE_CHECKING:
    from ..inference import Segmenter


@dataclass
class Stats:
    """What a pass did, and where its time went (seconds), for the closing line and the benchmark."""

    frames: int = 0  # frames met: segmented + skipped + unreadable
    segmented: int = 0
    skipped: int = 0  # already done by an earlier run
    unreadable: int = 0
    first_unreadable: str | None = None  # "origin: reason" of the first one
    elapsed_s: float = 0.0  # first frame asked for to last PNG written
    cpu_s: float = 0.0  # CPU time of the whole process meanwhile, all threads
    segment_s: float = 0.0  # in the Segmenters, summed over the streams
    wait_input_s: float = 0.0  # this thread waiting for the reader thread
    wait_segment_s: float = 0.0  # this thread waiting for the next frame in order to be segmented
    wait_writer_s: float = 0.0  # this thread waiting for room in the writer's queue (and for it to finish)
    reader_busy_s: float = 0.0
    writer_busy_s: float = 0.0
    written: int = 0  # frames whose PNGs are all written

    @property
    def fps(self) -> float | None:
        """Segmented frames per second of the whole pass (reading and writing included)."""
        return self.segmented / self.elapsed_s if self.segmented and self.elapsed_s > 0 else None


class _Ready(NamedTuple):
    item: FrameItem
    frame: Frame


class _Done(NamedTuple):
    item: FrameItem
    frame: Frame | None  # bag frames only
    labels: np.ndarray | None  # bag frames only: read back from the PNG


class _Failed(NamedTuple):
    item: FrameItem
    reason: str


class _BagFrame(NamedTuple):
    """What ``OutputBag.predictions`` needs of a frame."""

    frame: Frame
    header: object
    log_time_ns: int


class Prefetcher:
    """Iterates ``source`` on a thread, ``prepare``-ing each element (on ``workers`` threads when more than
    one: decoding is most of it, and OpenCV releases the GIL); yields the results in the source's order.

    Errors of the source (e.g. a bag damaged halfway) are raised in the iterating thread. The source is
    iterated and closed on the reader thread (an sqlite3 bag must be read by the thread that opened it).
    """

    _END = object()

    def __init__(self, source, prepare: Callable, workers: int = 1, depth: int = 4):
        self._queue: queue.Queue = queue.Queue(maxsize=max(depth, workers))
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="seg-predict-decode") if workers > 1 else None
        self._lock = threading.Lock()
        self.busy_s = 0.0  # seconds in the source and in prepare, summed over the threads
        self._thread = threading.Thread(target=self._run, args=(source, prepare), name="seg-predict-reader",
                                        daemon=True)
        self._thread.start()

    def _timed(self, prepare: Callable, element):
        start = time.perf_counter()
        try:
            return prepare(element)
        finally:
            with self._lock:
                self.busy_s += time.perf_counter() - start

    def _run(self, source, prepare) -> None:
        try:
            with closing(iter(source)) as elements:
                while True:
                    start = time.perf_counter()
                    element = next(elements, self._END)
                    with self._lock:
                        self.busy_s += time.perf_counter() - start
                    if element is self._END:
                        break
                    # In order: the queue holds futures in the source's order, whichever finishes first.
                    prepared = (self._pool.submit(self._timed, prepare, element) if self._pool is not None
                                else self._timed(prepare, element))
                    if not self._put(prepared):
                        return
        except BaseException as error:  # noqa: BLE001 - handed to the consuming thread, which raises it
            self._put(error)
        finally:
            self._put(self._END)

    def _put(self, element) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(element, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self):
        while True:
            element = self._queue.get()
            if element is self._END:
                return
            if isinstance(element, Future):
                element = element.result()
            if isinstance(element, BaseException):
                raise element
            yield element

    def stop(self) -> None:
        """Stop reading (the source is closed by the reader thread) and wait for the threads."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.1)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def read_back_labels(out_dir: Path, kinds, item: FrameItem, shape: tuple[int, int]) -> np.ndarray | None:
    """A done frame's trainIds from its trainId or labelId PNG, or None when neither is written or usable."""
    for kind in LABEL_KINDS:
        if kind in kinds:
            labels = cv2.imread(str(output_path(out_dir, kind, item.name)), cv2.IMREAD_UNCHANGED)
            if labels is None or labels.shape != shape or labels.dtype != np.uint8:
                return None
            return labels if kind == "trainIds" else LABEL_ID_TO_TRAIN_ID[labels]
    return None


class Segmenting:
    """Frames segmented ``len(segmenters)`` at a time, one thread per Segmenter (ONNX Runtime and OpenCV
    release the GIL). ``submit`` gives a Future of the frame's SegmentationResult; ``busy_s`` is the time
    spent in the Segmenters, summed over the threads."""

    def __init__(self, segmenters: Sequence[Segmenter]):
        self.streams = len(segmenters)
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for segmenter in segmenters:
            self._free.put(segmenter)
        self._pool = ThreadPoolExecutor(self.streams, thread_name_prefix="seg-predict-segment")
        self._lock = threading.Lock()
        self.busy_s = 0.0

    def submit(self, frame: Frame) -> Future:
        return self._pool.submit(self._segment, frame)

    def _segment(self, frame: Frame):
        segmenter = self._free.get()  # never waits: as many threads as Segmenters
        start = time.perf_counter()
        try:
            return segmenter.segment(frame.image, bgr=frame.bgr)
        finally:
            with self._lock:
                self.busy_s += time.perf_counter() - start
            self._free.put(segmenter)

    def close(self) -> None:
        """Drop the frames not started yet and wait for those being segmented (a frame's time at most)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class Predictor:
    """One seg-predict pass of ``segmenters`` (that many frames segmented at once) over ``source`` into ``out_dir``; ``stats`` is current at any time, so a caller that catches Ctrl-C can
    report what was done."""

    def __init__(self, source, segmenters: Sequence[Segmenter], out_dir: Path, kinds,
                 overwrite: bool = False, out_bag: OutputBag | None = None, progress: bool = True,
                 warn: Callable[[str], None] = print, threads: int = 1):
        self.source = source
        self.segmenters = list(segmenters)
        self.out_dir = out_dir
        self.kinds = tuple(kinds)
        self.overwrite = overwrite
        self.out_bag = out_bag
        self.progress = progress
        self.warn = warn
        self.threads = threads  # decoding threads, and as many writing threads
        self.stats = Stats()
        # A frame can be skipped only when its outputs say everything: for a bag, its labels too.
        self._skippable = bool(self.kinds) and (out_bag is None or any(k in self.kinds for k in LABEL_KINDS))
        first = self.segmenters[0]
        self._drivable_lut = drivable_lut(first.drivable_classes, first.spec.class_names)
        self._stretch_check = StretchCheck(first.input_size)

    def _done(self, item: FrameItem) -> bool:
        return self._skippable and not self.overwrite and all(
            output_path(self.out_dir, kind, item.name).is_file() for kind in self.kinds)

    def _prepare(self, element):
        """On the reader thread: decode the frame unless it is done (a bag's: decode and read its labels back)."""
        if isinstance(element, CopyMessage):
            return element
        try:
            done = self._done(element)
            if done and self.out_bag is None:
                return _Done(element, None, None)
            frame = element.load()
            if done:
                labels = read_back_labels(self.out_dir, self.kinds, element, frame.image.shape[:2])
                if labels is not None:
                    return _Done(element, frame, labels)
            return _Ready(element, frame)
        except FrameError as error:
            return _Failed(element, str(error))

    def run(self) -> Stats:
        """Segment every frame not done yet and write its outputs; Ctrl-C (or an error) stops the reading
        and the segmenting, writes the frames already handed to the writer, then propagates. A source that
        fails halfway first has the frames read before it handed on."""
        stats = self.stats
        bar = tqdm(total=self.source.total, desc="seg-predict", unit="frame", disable=not self.progress)
        start, cpu = time.perf_counter(), time.process_time()
        reader = Prefetcher(self.source, self._prepare, workers=self.threads)
        segmenting = Segmenting(self.segmenters)
        writer = PngWriter(self.out_dir, self.kinds, threads=self.threads) if self.kinds else None
        # Events in the source's order, each with the Future of its segmentation (frames to segment only).
        # One frame more than the streams is submitted, so a stream never idles while this thread hands on.
        pending: deque[tuple[object, Future | None]] = deque()
        in_flight = 0
        try:
            events = iter(reader)
            while True:
                waited = time.perf_counter()
                try:
                    event = next(events, None)
                except Exception:  # the source failed (a bag damaged halfway): finish the frames before
                    while pending:
                        self._hand_on(*pending.popleft(), writer, bar)
                    raise
                stats.wait_input_s += time.perf_counter() - waited
                if event is None:
                    break
                future = segmenting.submit(event.frame) if isinstance(event, _Ready) else None
                in_flight += future is not None
                pending.append((event, future))
                while pending and (pending[0][1] is None or in_flight > segmenting.streams):
                    in_flight -= self._hand_on(*pending.popleft(), writer, bar)
            while pending:
                self._hand_on(*pending.popleft(), writer, bar)
        finally:
            reader.stop()
            try:
                segmenting.close()
            finally:
                if writer is not None:
                    waited = time.perf_counter()
                    try:
                        writer.close()
                    finally:
                        stats.wait_writer_s += time.perf_counter() - waited
                        stats.written, stats.writer_busy_s = writer.written, writer.busy_s
                stats.segment_s, stats.reader_busy_s = segmenting.busy_s, reader.busy_s
                stats.elapsed_s, stats.cpu_s = time.perf_counter() - start, time.process_time() - cpu
                bar.close()
        return stats

    def _hand_on(self, event, future: Future | None, writer: PngWriter | None, bar) -> int:
        """Copy, write or report one event, in the source's order; returns 1 when it was a segmented frame."""
        if isinstance(event, CopyMessage):
            self.out_bag.copy(event.message)
            return 0
        result = None
        if future is not None:
            waited = time.perf_counter()
            result = future.result()
            self.stats.wait_segment_s += time.perf_counter() - waited
        if self.out_bag is not None:  # the input image too, whatever becomes of the frame
            self.out_bag.copy(event.item.message)
        self._handle(event, result, writer)
        self.stats.frames += 1
        bar.update(1)
        return int(future is not None)

    def _handle(self, event, result, writer: PngWriter | None) -> None:
        stats = self.stats
        if isinstance(event, _Failed):
            stats.unreadable += 1
            stats.first_unreadable = stats.first_unreadable or f"{event.item.origin}: {event.reason}"
            self.warn(f"seg-predict: warning: {event.item.origin}: {event.reason}; skipped")
            return
        item, frame = event.item, event.frame
        if isinstance(event, _Done):
            stats.skipped += 1
            if self.out_bag is not None:
                self.out_bag.predictions(_BagFrame(frame, item.header, item.log_time_ns), event.labels,
                                         cv2.LUT(event.labels, self._drivable_lut))
            return
        stats.segmented += 1
        stretched = self._stretch_check(Size.of(frame.image))
        if stretched:
            self.warn(f"seg-predict: warning: {item.origin}: {stretched}")
        overlay = None
        if self.out_bag is not None:  # made once, for the bag's colour topic and the overlay PNG
            overlay = colorize_overlay(frame.image, result.model_labels, OVERLAY_ALPHA, bgr=frame.bgr)
            self.out_bag.predictions(_BagFrame(frame, item.header, item.log_time_ns), result.labels,
                                     result.drivable, color=overlay)
        if writer is not None:
            waited = time.perf_counter()
            writer.put(WriteJob(item.name, result.labels, frame, result.model_labels, overlay))
            stats.wait_writer_s += time.perf_counter() - waited
