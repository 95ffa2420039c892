"""seg-predict's inputs: an image folder, a video or a bag's image topic, as a stream of named frames.

Each source yields ``FrameItem``s whose ``name`` is the output name without
its kind suffix, relative to each output root (it mirrors the input's
relative path), and whose ``load()`` returns the decoded frame or raises
FrameError. A bag also yields ``CopyMessage``s for every other message, so
the output bag gets the whole input in log-time order.

Sources are iterated on seg-predict's reader thread: a bag is opened by the
iterator itself, since an sqlite3 bag may only be read by the thread that
opened it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2

from ..bags.ground_truth import resolve_image_topic
from ..bags.messages import format_stamp, frame_of, stamp_ns
from ..bags.reader import BagError, BagMessage, BagReader
from ..node.frames import Frame, FrameError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
BAG_SUFFIXES = (".mcap", ".db3")


class InputError(ValueError):
    """An INPUT that cannot be used at all: missing, empty, not a video, names that collide."""


@dataclass
class FrameItem:
    """One input frame: its output name, where it came from (for messages) and how to decode it."""

    name: PurePosixPath  # e.g. frankfurt/frankfurt_000000_000294_leftImg8bit
    origin: str  # file, "video frame N" or "bag topic at stamp", for warnings
    load: Callable[[], Frame]  # FrameError when it cannot be decoded
    header: object = None  # bag frames: the image's std_msgs/Header
    log_time_ns: int | None = None  # bag frames: the image's log time
    message: BagMessage | None = None  # bag frames: the image message as stored, for the output bag


@dataclass(frozen=True)
class CopyMessage:
    """A bag message that is not a frame, to copy into the output bag as it is."""

    message: BagMessage


def read_image(path: Path) -> Frame:
    """An image file as a BGR frame (OpenCV's order); FrameError when OpenCV cannot decode it."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameError("cannot read image (missing, truncated or not an image)")
    return Frame(image, bgr=True)


class ImageFolder:
    """Every .png/.jpg/.jpeg under ``root`` (recursively, sorted), or the one image ``root`` names.

    Files under ``exclude`` (the output directory, when it lies inside the input) are not inputs.
    """

    kind = "images"

    def __init__(self, root: Path, exclude: Path | None = None):
        self.root = root
        if root.is_file():
            paths = [root]
            base = root.parent
        else:
            skip = exclude.resolve() if exclude is not None else None
            paths = sorted(path for path in root.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES
                           and path.is_file() and not (skip and path.resolve().is_relative_to(skip)))
            base = root
        if not paths:
            raise InputError(f"{root}: no {'/'.join(s[1:] for s in IMAGE_SUFFIXES)} images (searched recursively)")
        self._items: list[tuple[PurePosixPath, Path]] = []
        seen: dict[PurePosixPath, Path] = {}
        for path in paths:
            name = PurePosixPath(path.relative_to(base).with_suffix("").as_posix())
            if name in seen:  # a.png and a.jpg: their outputs would overwrite each other
                raise InputError(f"{seen[name]} and {path} would write the same outputs ({name}_*.png); "
                                 "rename one of them")
            seen[name] = path
            self._items.append((name, path))
        self.total = len(self._items)

    def __iter__(self) -> Iterator[FrameItem]:
        for name, path in self._items:
            yield FrameItem(name, str(path), lambda path=path: read_image(path))


class Video:
    """The frames of a video file (OpenCV VideoCapture), named ``<stem>/<stem>_<index:06d>`` from index 0."""

    kind = "video"

    def __init__(self, path: Path):
        self.path = path
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our error line says it, once
        try:
            capture = cv2.VideoCapture(str(path))
        finally:
            cv2.utils.logging.setLogLevel(level)
        try:
            if not capture.isOpened():
                raise InputError(f"{path}: not an image folder, bag or video OpenCV can open")
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            capture.release()
        self.total = count if count > 0 else None  # None: the container has no frame count

    def __iter__(self) -> Iterator[FrameItem]:
        capture = cv2.VideoCapture(str(self.path))
        stem = self.path.stem
        try:
            index = 0
            while True:
                ok, image = capture.read()
                if not ok:
                    break
                frame = Frame(image, bgr=True)
                yield FrameItem(PurePosixPath(stem, f"{stem}_{index:06d}"), f"{self.path} frame {index}",
                                lambda frame=frame: frame)
                index += 1
        finally:
            capture.release()


class BagImages:
    """The image topic of a bag (Image or CompressedImage, falling back to ``TOPIC/compressed``), frames
    named ``<bag name>/<sec>_<nanosec>`` by header stamp; with ``copy_all`` every other message too."""

    kind = "bag"

    def __init__(self, path: Path, image_topic: str, copy_all: bool = True):
        self.path = path
        self.name = path.stem if path.is_file() else path.name
        self.copy_all = copy_all
        with BagReader(path) as reader:  # checked here, before any model loads
            self.image_topic, _ = resolve_image_topic(reader, image_topic)
            self.topics = dict(reader.topics)
        self.total = self.topics[self.image_topic].count
        if not self.total:
            raise BagError(f"{path}: topic {self.image_topic} has no messages")

    def __iter__(self) -> Iterator[FrameItem | CopyMessage]:
        seen: dict[int, int] = {}
        with BagReader(self.path) as reader:
            for message in reader.messages(None if self.copy_all else [self.image_topic]):
                if message.topic != self.image_topic:
                    yield CopyMessage(message)
                    continue
                msg = reader.deserialize(message)
                stamp = stamp_ns(msg.header)
                # Two frames with one stamp (rare, a driver's clock) must not share outputs.
                repeat = seen[stamp] = seen.get(stamp, -1) + 1
                name = f"{stamp // 1_000_000_000}_{stamp % 1_000_000_000:09d}" + (f"_{repeat}" if repeat else "")
                yield FrameItem(PurePosixPath(self.name, name),
                                f"{self.path}: {self.image_topic} at stamp {format_stamp(stamp)}",
                                lambda msg=msg, msgtype=message.msgtype: frame_of(msg, msgtype),
                                header=msg.header, log_time_ns=message.log_time_ns, message=message)


def open_input(path: Path, out_dir: Path, image_topic: str):
    """The source for INPUT ``path``: a bag (a directory with metadata.yaml, or a .mcap/.db3 file), an image
    folder (or one image), else a video. InputError / BagError with the reason when it is none of them."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if (path.is_dir() and (path / "metadata.yaml").is_file()) or path.suffix.lower() in BAG_SUFFIXES:
        return BagImages(path, image_topic)
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageFolder(path, exclude=out_dir)
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable")
    return Video(path)
