"""``seg-make-bag --data DIR --split val --out BAG``: a rosbag2 of a Cityscapes-layout split, with ground truth.

Topics, one message each per scene and all with the same header stamp
(frame ``camera``, stamps ``--rate`` apart from a fixed start, so the same
data always gives the same bag):

* ``/camera/image_raw`` (sensor_msgs/Image, rgb8 or bgr8, ``--pad`` bytes of row padding), or
  ``/camera/image_raw/compressed`` (sensor_msgs/CompressedImage, jpeg or png) with ``--encoding jpeg|png``;
* ``/camera/camera_info`` (sensor_msgs/CameraInfo, plumb_bob): the intrinsics and lens distortion (k1) of
  the sample's Cityscapes ``camera/{split}/{city}/*_camera.json`` when the dataset has one (real
  Cityscapes, ``seg-make-data``), else a centred principal point, a Cityscapes-like focal length and
  no distortion;
* ``/camera/semantic_gt`` (sensor_msgs/Image mono8, trainIds, 255 = ignore).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from tqdm import tqdm

from seg_perception.bags.messages import (
    CAMERA_INFO,
    COMPRESSED_FORMATS,
    COMPRESSED_IMAGE,
    IMAGE,
    camera_info_msg,
    compressed_msg,
    image_msg,
    make_header,
)
from seg_perception.bags.reader import BagError
from seg_perception.bags.writer import STORAGES, BagWriter

from .data import CityscapesDataset, DatasetError

RAW_ENCODINGS = ("rgb8", "bgr8")
ENCODINGS = RAW_ENCODINGS + COMPRESSED_FORMATS
IMAGE_TOPIC = "/camera/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera_info"
GT_TOPIC = "/camera/semantic_gt"
FRAME_ID = "camera"
#: Stamp of the first frame (2023-11-14T22:13:20Z): fixed, so a bag is reproducible, and far from 0 (= "unset").
START_NS = 1_700_000_000 * 1_000_000_000


def image_topic_for(encoding: str) -> str:
    """The camera topic an encoding is written on (image_transport's ``/compressed`` for jpeg and png)."""
    return f"{IMAGE_TOPIC}/compressed" if encoding in COMPRESSED_FORMATS else IMAGE_TOPIC


def write_bag(dataset: CityscapesDataset, out: str | Path, storage: str = "mcap", rate: float = 10.0,
              encoding: str = "rgb8", pad: int = 0, progress: bool = True) -> int:
    """Write every sample of ``dataset`` to a new bag ``out``; returns the number of frames.

    The bag appears at ``out`` only when complete (BagError if ``out`` exists).
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    if pad and encoding not in RAW_ENCODINGS:
        raise ValueError("row padding (pad) only exists for raw encodings (rgb8, bgr8)")
    image_topic = image_topic_for(encoding)
    period_ns = round(1e9 / rate)
    with BagWriter(out, storage) as bag:
        bag.add_topic(image_topic, COMPRESSED_IMAGE if encoding in COMPRESSED_FORMATS else IMAGE)
        bag.add_topic(CAMERA_INFO_TOPIC, CAMERA_INFO)
        bag.add_topic(GT_TOPIC, IMAGE)
        for index in tqdm(range(len(dataset)), desc="seg-make-bag", unit="frame", disable=not progress):
            image, label = dataset.load(index)
            stamp = START_NS + index * period_ns
            header = make_header(stamp, FRAME_ID)
            if encoding in COMPRESSED_FORMATS:
                bag.write(image_topic, compressed_msg(image, encoding, header), stamp)
            else:
                pixels = image if encoding == "rgb8" else image[..., ::-1]
                bag.write(image_topic, image_msg(pixels, encoding, header, pad), stamp)
            info = camera_info_msg(image.shape[1], image.shape[0], header, dataset.intrinsics(index),
                                   dataset.distortion(index))
            bag.write(CAMERA_INFO_TOPIC, info, stamp)
            bag.write(GT_TOPIC, image_msg(label, "mono8", header), stamp)
    return len(dataset)


def _positive_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"rate must be a positive number of Hz, got {text!r}")
    return value


def _padding(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"padding must be >= 0 bytes, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seg-make-bag", description=__doc__.split("\n")[0].split(": ", 1)[1])
    parser.add_argument("--data", type=Path, required=True, help="dataset root in the Cityscapes layout")
    parser.add_argument("--split", default="val", help="split to write (default val)")
    parser.add_argument("--out", type=Path, required=True, help="bag directory to create (must not exist)")
    parser.add_argument("--storage", choices=sorted(STORAGES), default="mcap", help="storage plugin (default mcap)")
    parser.add_argument("--rate", type=_positive_rate, default=10.0, help="frames per second of the stamps (default 10)")
    parser.add_argument("--encoding", choices=ENCODINGS, default="rgb8",
                        help="camera image encoding; jpeg and png write CompressedImage (default rgb8)")
    parser.add_argument("--pad", type=_padding, default=0, help="bytes of row padding in raw images (default 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``seg-make-bag``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.pad and args.encoding not in RAW_ENCODINGS:
        parser.error("--pad only applies to raw encodings (rgb8, bgr8)")
    try:
        dataset = CityscapesDataset(args.data, args.split)
        frames = write_bag(dataset, args.out, args.storage, args.rate, args.encoding, args.pad)
    except (DatasetError, BagError) as error:
        print(f"seg-make-bag: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {frames} frames of {args.split!r} ({args.encoding}, {args.storage}) to {args.out}: "
          f"{image_topic_for(args.encoding)}, {CAMERA_INFO_TOPIC}, {GT_TOPIC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
