"""``score_bag``: every frame of a bag through a predictor, scored against its ground truth.

The predictor is the only difference between the modes: offline it runs the
Segmenter on the frame, live it waits for what seg_node answers to the
frame's stamp (None when it answered nothing: a dropped frame) while the
replay runs (``replay.LiveScoring``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from ..frame_confidence import mean_confidence
from ..inference.aspect import StretchCheck
from ..node.confidence_watch import WHEN_DEGRADED, gated_filter
from ..size import Size
from .confidence_timeline import ConfidenceTimeline
from .evaluation import BagEvaluation
from .grids import BagGrids
from .ground_truth import PairedFrame, image_frames, paired_frames
from .messages import rgb_of
from .output_bag import OutputBag
from .reader import BagError, BagReader
from .replay import AnswerBook


class Prediction(NamedTuple):
    """A predictor's answer for one frame."""

    labels: np.ndarray  # H x W uint8 trainIds
    drivable: np.ndarray  # H x W uint8, non-zero drivable
    latency_ms: float | None


Predictor = Callable[[PairedFrame], "Prediction | None"]


class SegmenterPredictor:
    """Offline: an ``inference.Segmenter`` on the frame as decoded (its latency is the Segmenter's total).
    With ``timeline``, the frames it asks for are sampled as seg_node samples them: the confidence map is
    computed for those frames only, so the latencies stay those of the node. ``input_filter`` is seg_node's
    setting (default the Segmenter's own filter); WHEN_DEGRADED, which needs ``timeline``, filters the
    frames while the timeline's window says degraded and those of a strong colour cast, the sampled frames
    excepted, as the node does (``node.confidence_watch.gated_filter``). ``filtered`` counts the frames
    segmented through a filter.
    Frames the model input stretches (``inference.aspect``) are reported to ``warn`` once per size, as
    seg_node logs them."""

    def __init__(self, segmenter, timeline: ConfidenceTimeline | None = None,
                 warn: Callable[[str], None] = print, input_filter: str | None = None):
        self._setting = segmenter.input_filter if input_filter is None else input_filter
        if self._setting == WHEN_DEGRADED and timeline is None:
            raise ValueError(f"input_filter {WHEN_DEGRADED} needs a confidence timeline to judge the frames by")
        self._segmenter, self._timeline, self._warn = segmenter, timeline, warn
        self._stretch_check = StretchCheck(segmenter.input_size)
        self.filtered = 0

    def __call__(self, item: PairedFrame) -> Prediction:
        stretched = self._stretch_check(Size.of(item.frame.image))
        if stretched:
            self._warn(stretched)
        timeline = self._timeline
        sample = timeline is not None and timeline.due(item.stamp_ns, item.log_time_ns)
        degraded = self._setting == WHEN_DEGRADED and timeline.degraded()
        self._segmenter.input_filter = gated_filter(self._setting, degraded, sample, item.frame.image)
        self.filtered += self._segmenter.input_filter != "none"
        self._segmenter.with_confidence = sample
        result = self._segmenter.segment(item.frame.image, bgr=item.frame.bgr)
        if sample:
            timeline.add(mean_confidence(result.confidence))
        return Prediction(result.labels, result.drivable, result.timings["total_ms"])


def answer_predictor(book: AnswerBook) -> Predictor:
    """Live: seg_node's answer to the frame's stamp, taken from ``book`` as soon as it is known (labels,
    drivable mask, publish-to-answer latency); None when the node did not answer it."""
    def predict(item: PairedFrame) -> Prediction | None:
        answer = book.take(item.stamp_ns)
        return None if answer is None else Prediction(answer.labels, answer.drivable, answer.latency_ms)
    return predict


def score_bag(reader: BagReader, evaluation: BagEvaluation, predict: Predictor, image_topic: str,
              gt_topic: str | None, frames: int, label_ids: bool = False, out: OutputBag | None = None, progress: bool = True,
              grids: BagGrids | None = None) -> None:
    """Pair the bag's images with their ground truth, predict each, add it to ``evaluation`` (or count it
    dropped when ``predict`` gives None) and, with ``out``, copy the bag and write the predictions.
    With ``grids``, both masks are also projected onto the drivable grid (with the latest camera_info
    on ``grids.camera_info_topic``) and compared; ``out`` then gets the predicted grid and points too.
    Without ``gt_topic`` (a bag without ground truth) frames are predicted and timed, not scored.
    ``frames`` (from ``ground_truth.check_stamps``, or the image count) sizes the progress bar."""
    def on_message(message) -> None:
        if out is not None:
            out.copy(message)
        if grids is not None and message.topic == grids.camera_info_topic:
            grids.camera_info(reader.deserialize(message))

    hook = on_message if out is not None or grids is not None else None
    items = (paired_frames(reader, image_topic, gt_topic, label_ids, on_message=hook) if gt_topic
             else image_frames(reader, image_topic, on_message=hook))
    for index, item in enumerate(tqdm(items, total=frames, desc="seg-bag-eval", unit="frame",
                                      disable=not progress)):
        prediction = predict(item)
        if prediction is None:
            evaluation.add_dropped(item.stamp_ns)
            continue
        try:
            evaluation.add(item.stamp_ns, rgb_of(item.frame), prediction.labels, prediction.drivable, item.gt,
                           prediction.latency_ms)
        except ValueError as error:
            raise BagError(f"{reader.path}: {image_topic}: {error}") from None
        grid = None if grids is None else grids.add(rgb_of(item.frame), prediction.labels, item.gt,
                                                     example=index == frames // 2)
        if out is not None:
            out.predictions(item, prediction.labels, prediction.drivable, grid)
