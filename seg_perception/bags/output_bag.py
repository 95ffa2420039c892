"""``OutputBag``: the input bag's topics plus the predictions, at the input's stamps, for Foxglove or RViz.

The predicted topics are what seg_node publishes (``node.contract``'s names,
absolute here): ``/segmentation/labels`` (mono8 trainIds),
``/segmentation/drivable_mask`` (mono8, 255 drivable) and
``/segmentation/color`` (rgb8, the palette blended over the frame as the
node's default overlay mode does). Each carries its
image's header and log time. Input topics with those names (a bag that is
itself an output) are replaced, not copied. Always MCAP, which Foxglove
opens directly.
"""

from __future__ import annotations

import os

import numpy as np

from ..inference import colorize_overlay
from ..node import contract
from ..node.params import SPECS
from .ground_truth import PairedFrame
from .messages import IMAGE, image_msg, rgb_of
from .reader import BagMessage, BagReader
from .writer import BagWriter

LABELS_TOPIC = "/" + contract.LABELS
DRIVABLE_TOPIC = "/" + contract.DRIVABLE_MASK
COLOR_TOPIC = "/" + contract.COLOR
PREDICTED_TOPICS = (LABELS_TOPIC, DRIVABLE_TOPIC, COLOR_TOPIC)
OVERLAY_ALPHA = SPECS["overlay_alpha"].default


class OutputBag:
    """Context manager around a ``BagWriter`` (so the bag appears only when complete)."""

    def __init__(self, path: str | os.PathLike, source: BagReader):
        self._writer = BagWriter(path, "mcap")
        self._source = source
        self.path = self._writer.path
        self._copied = {topic for topic in source.topics if topic not in PREDICTED_TOPICS}

    def __enter__(self) -> OutputBag:
        self._writer.__enter__()
        for topic in sorted(self._copied):
            info = self._source.topics[topic]
            self._writer.add_topic(topic, info.msgtype, info.msgdef, info.digest)
        for topic in PREDICTED_TOPICS:
            self._writer.add_topic(topic, IMAGE)
        return self

    def __exit__(self, *exc) -> bool:
        return self._writer.__exit__(*exc)

    def copy(self, message: BagMessage) -> None:
        """Copy an input message as it is (raw CDR, same log time)."""
        if message.topic in self._copied:
            self._writer.write_raw(message.topic, message.rawdata, message.log_time_ns)

    def predictions(self, item: PairedFrame, labels: np.ndarray, drivable: np.ndarray) -> None:
        """Write the three predicted images of one frame with its header and log time."""
        color = colorize_overlay(np.ascontiguousarray(rgb_of(item.frame)), labels, OVERLAY_ALPHA)
        for topic, pixels, encoding in ((LABELS_TOPIC, labels, "mono8"), (DRIVABLE_TOPIC, drivable, "mono8"),
                                        (COLOR_TOPIC, color, "rgb8")):
            self._writer.write(topic, image_msg(pixels, encoding, item.header), item.log_time_ns)
