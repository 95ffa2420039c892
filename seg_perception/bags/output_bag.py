"""``OutputBag``: the input bag's topics plus the predictions, at the input's stamps, for Foxglove or RViz.

The predicted topics are what seg_node publishes (``node.contract``'s names,
absolute here): ``/segmentation/labels`` (mono8 trainIds),
``/segmentation/drivable_mask`` (mono8, 255 drivable) and
``/segmentation/color`` (rgb8, the palette blended over the frame as the
node's default overlay mode does), and with a grid
``/segmentation/drivable_grid`` (nav_msgs/OccupancyGrid) and
``/segmentation/obstacle_points`` (PointCloud2). Each carries its image's
stamp and log time. Input topics with those names (a bag that is
itself an output) are replaced, not copied. Always MCAP, which Foxglove
opens directly.
"""

from __future__ import annotations

import os

import numpy as np

from ..inference import colorize_overlay
from ..navigation import GridFrame
from ..node import contract
from ..node.params import SPECS
from .ground_truth import PairedFrame
from .messages import IMAGE, OCCUPANCY_GRID, POINT_CLOUD, image_msg, occupancy_grid_msg, point_cloud_msg, rgb_of
from .reader import BagMessage, BagReader
from .writer import BagWriter

LABELS_TOPIC = "/" + contract.LABELS
DRIVABLE_TOPIC = "/" + contract.DRIVABLE_MASK
COLOR_TOPIC = "/" + contract.COLOR
GRID_TOPIC = "/" + contract.DRIVABLE_GRID
POINTS_TOPIC = "/" + contract.OBSTACLE_POINTS
PREDICTED_TOPICS = (LABELS_TOPIC, DRIVABLE_TOPIC, COLOR_TOPIC)
GRID_TOPICS = {GRID_TOPIC: OCCUPANCY_GRID, POINTS_TOPIC: POINT_CLOUD}
OVERLAY_ALPHA = SPECS["overlay_alpha"].default


class OutputBag:
    """Context manager around a ``BagWriter`` (so the bag appears only when complete)."""

    def __init__(self, path: str | os.PathLike, source: BagReader, with_grid: bool = False):
        self._writer = BagWriter(path, "mcap")
        self._source = source
        self.path = self._writer.path
        self._with_grid = with_grid
        self._copied = {topic for topic in source.topics if topic not in PREDICTED_TOPICS + tuple(GRID_TOPICS)}

    def __enter__(self) -> OutputBag:
        self._writer.__enter__()
        for topic in sorted(self._copied):
            info = self._source.topics[topic]
            self._writer.add_topic(topic, info.msgtype, info.msgdef, info.digest)
        for topic in PREDICTED_TOPICS:
            self._writer.add_topic(topic, IMAGE)
        for topic, msgtype in GRID_TOPICS.items() if self._with_grid else ():
            self._writer.add_topic(topic, msgtype)
        return self

    def __exit__(self, *exc) -> bool:
        return self._writer.__exit__(*exc)

    def copy(self, message: BagMessage) -> None:
        """Copy an input message as it is (raw CDR, same log time)."""
        if message.topic in self._copied:
            self._writer.write_raw(message.topic, message.rawdata, message.log_time_ns)

    def predictions(self, item: PairedFrame, labels: np.ndarray, drivable: np.ndarray,
                    grid: GridFrame | None = None, color: np.ndarray | None = None) -> None:
        """Write the three predicted images of one frame, and its grid and points when it has them, with the
        frame's stamp and log time. ``item`` needs ``frame``, ``header`` and ``log_time_ns`` (a PairedFrame or
        seg-predict's bag frame); ``color`` is the RGB overlay when the caller has made it already."""
        if color is None:
            color = colorize_overlay(np.ascontiguousarray(rgb_of(item.frame)), labels, OVERLAY_ALPHA)
        for topic, pixels, encoding in ((LABELS_TOPIC, labels, "mono8"), (DRIVABLE_TOPIC, drivable, "mono8"),
                                        (COLOR_TOPIC, color, "rgb8")):
            self._writer.write(topic, image_msg(pixels, encoding, item.header), item.log_time_ns)
        if self._with_grid and grid is not None and grid.values is not None:
            self._writer.write(GRID_TOPIC, occupancy_grid_msg(item.header, grid.grid, grid.values), item.log_time_ns)
            self._writer.write(POINTS_TOPIC, point_cloud_msg(item.header, grid.grid.frame_id, grid.points),
                               item.log_time_ns)
