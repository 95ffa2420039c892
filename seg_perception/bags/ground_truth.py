"""Ground truth in a bag: one mono8 label image per camera frame, matched by header stamp.

``check_stamps`` reads only the headers of both topics (deserialising a
message is a view of its bytes, so this costs little more than reading the
file) and refuses a bag whose images and ground truth do not pair one to
one, before any frame is segmented. ``paired_frames`` then yields each
decoded camera frame with its ground truth, in whatever order they were logged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..node.frames import Frame, FrameError
from ..labels import IGNORE_ID, LABEL_ID_TO_TRAIN_ID, NUM_CLASSES
from .messages import IMAGE, IMAGE_TYPES, LABEL_ENCODINGS, format_stamp, frame_of, mono8_of, stamp_ns
from .reader import BagError, BagMessage, BagReader

COMPRESSED_SUFFIX = "/compressed"


def resolve_image_topic(reader: BagReader, image_topic: str) -> tuple[str, str]:
    """(image topic, its type): ``image_topic`` falls back to ``image_topic/compressed`` (image_transport's
    name) when only that exists; BagError naming the topic and listing the bag's topics if neither is an
    Image or CompressedImage topic."""
    if image_topic not in reader.topics and image_topic + COMPRESSED_SUFFIX in reader.topics:
        image_topic += COMPRESSED_SUFFIX
    return image_topic, reader.require(image_topic, IMAGE_TYPES)


def resolve_topics(reader: BagReader, image_topic: str, gt_topic: str) -> tuple[str, str]:
    """(image topic, its type) after checking both topics: the image topic as ``resolve_image_topic``
    finds it; the ground truth must be a sensor_msgs/Image. BagError naming the topic otherwise."""
    image_topic, image_type = resolve_image_topic(reader, image_topic)
    reader.require(gt_topic, (IMAGE,))
    return image_topic, image_type


def _stamps(reader: BagReader, topic: str, label_encodings: bool = False) -> list[int]:
    """The header stamps on ``topic``; with ``label_encodings``, BagError unless every message is a mono8
    label image (an rgb8 camera topic named as ground truth would otherwise pair with nothing)."""
    stamps = []
    for message in reader.messages([topic]):
        msg = reader.deserialize(message)
        if label_encodings and msg.encoding not in LABEL_ENCODINGS:
            raise BagError(f"{reader.path}: {topic} is not ground truth: it holds {msg.encoding} images, "
                           f"not {' or '.join(LABEL_ENCODINGS)} label images")
        stamps.append(stamp_ns(msg.header))
    return stamps


def _first(stamps) -> str:
    return format_stamp(min(stamps))


def check_stamps(reader: BagReader, image_topic: str, gt_topic: str) -> int:
    """The number of frames, once every image on ``image_topic`` has exactly one ground-truth image on
    ``gt_topic`` with the same header stamp and vice versa; BagError saying how many do not, and the first."""
    if gt_topic == image_topic:
        raise BagError(f"{reader.path}: the ground-truth topic {gt_topic} is the image topic itself")
    stamps = {image_topic: _stamps(reader, image_topic), gt_topic: _stamps(reader, gt_topic, label_encodings=True)}
    for topic, values in stamps.items():
        if not values:
            raise BagError(f"{reader.path}: topic {topic} has no messages")
        repeated = [stamp for stamp, count in Counter(values).items() if count > 1]
        if repeated:
            raise BagError(f"{reader.path}: {len(repeated)} stamps occur more than once on {topic} "
                           f"(first {_first(repeated)}); frames must have distinct stamps")
    images, truths = set(stamps[image_topic]), set(stamps[gt_topic])
    for missing, have, lack in ((images - truths, image_topic, gt_topic), (truths - images, gt_topic, image_topic)):
        if missing:
            raise BagError(f"{reader.path}: {len(missing)} of the {len(stamps[have])} messages on {have} have no "
                           f"message with the same stamp on {lack} (first {_first(missing)})")
    return len(images)


def gt_train_ids(msg, label_ids: bool = False) -> np.ndarray:
    """The trainIds of a mono8 ground-truth Image: as stored, or mapped from Cityscapes labelIds.

    ids outside the class table (0..18, 255) raise FrameError: they usually mean the bag holds
    labelIds and ``label_ids`` should be set.
    """
    labels = mono8_of(msg)
    if label_ids:
        return LABEL_ID_TO_TRAIN_ID[labels]
    bad = labels[(labels >= NUM_CLASSES) & (labels != IGNORE_ID)]
    if bad.size:
        raise FrameError(f"ground truth holds {int(bad.max())}, not a trainId (0..{NUM_CLASSES - 1} or {IGNORE_ID}); "
                         f"are these Cityscapes labelIds (--gt-label-ids)?")
    return labels


class StampPairs:
    """Pairs images with ground truth by stamp as they arrive, in any order (what waits is held)."""

    def __init__(self):
        self._images: dict[int, object] = {}
        self._truths: dict[int, object] = {}

    def image(self, stamp: int, item) -> tuple[object, object] | None:
        """Offer an image; (image, gt) once its ground truth has come, else None."""
        if stamp in self._truths:
            return item, self._truths.pop(stamp)
        self._images[stamp] = item
        return None

    def truth(self, stamp: int, item) -> tuple[object, object] | None:
        """Offer a ground-truth item; (image, gt) once its image has come, else None."""
        if stamp in self._images:
            return self._images.pop(stamp), item
        self._truths[stamp] = item
        return None


@dataclass(frozen=True)
class PairedFrame:
    """A camera frame with its ground truth; ``header`` and ``log_time_ns`` are the image message's."""

    stamp_ns: int
    header: object  # std_msgs/Header (rosbags)
    log_time_ns: int
    frame: Frame
    gt: np.ndarray | None  # H x W uint8 trainIds; None for a bag without ground truth


def image_frames(reader: BagReader, image_topic: str,
                 on_message: Callable[[BagMessage], None] | None = None) -> Iterator[PairedFrame]:
    """Decode the bag's images, for a bag without ground truth (``gt`` is None); ``on_message`` as in
    ``paired_frames``. Undecodable frames raise BagError naming the topic and stamp."""
    for message in reader.messages(None if on_message else (image_topic,)):
        if on_message is not None:
            on_message(message)
        if message.topic != image_topic:
            continue
        msg = reader.deserialize(message)
        stamp = stamp_ns(msg.header)
        try:
            frame = frame_of(msg, message.msgtype)
        except FrameError as error:
            raise BagError(f"{reader.path}: {message.topic} at stamp {format_stamp(stamp)}: {error}") from None
        yield PairedFrame(stamp, msg.header, message.log_time_ns, frame, None)


def paired_frames(reader: BagReader, image_topic: str, gt_topic: str, label_ids: bool = False,
                  on_message: Callable[[BagMessage], None] | None = None) -> Iterator[PairedFrame]:
    """Decode the bag's images and ground truth and yield them paired by stamp (``check_stamps`` first).

    ``on_message``, when given, sees every message of every topic as it is read (to copy the bag).
    Undecodable frames and ground truth of another size than its image raise BagError naming the
    topic and stamp.
    """
    pairs = StampPairs()
    for message in reader.messages(None if on_message else (image_topic, gt_topic)):
        if on_message is not None:
            on_message(message)
        if message.topic not in (image_topic, gt_topic):
            continue
        msg = reader.deserialize(message)
        stamp = stamp_ns(msg.header)
        try:
            if message.topic == image_topic:
                pair = pairs.image(stamp, (msg.header, message.log_time_ns, frame_of(msg, message.msgtype)))
            else:
                pair = pairs.truth(stamp, gt_train_ids(msg, label_ids))
        except FrameError as error:
            raise BagError(f"{reader.path}: {message.topic} at stamp {format_stamp(stamp)}: {error}") from None
        if pair is None:
            continue
        (header, log_time, frame), gt = pair
        if frame.image.shape[:2] != gt.shape:
            raise BagError(f"{reader.path}: at stamp {format_stamp(stamp)} the ground truth on {gt_topic} is "
                           f"{gt.shape[1]}x{gt.shape[0]} but the image on {image_topic} is "
                           f"{frame.image.shape[1]}x{frame.image.shape[0]}")
        yield PairedFrame(stamp, header, log_time, frame, gt)
