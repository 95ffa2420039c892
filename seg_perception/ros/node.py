"""seg_node: camera frames in, per-pixel labels, drivable mask, colour and confidence images out.

Thin glue (docs/ARCHITECTURE.md) over the ROS-free ``seg_perception.node``: topic names and
diagnostics keys from ``contract``, parameters from ``params``, frame decoding from
``frames`` (via ``image_msgs``), latest-frame-wins scheduling from
``latest_frame``, statistics from ``frame_stats`` and the model from
``inference.Segmenter``. The subscription callback only stamps the receive
time and hands the message to the worker thread, which decodes, segments and
publishes; so the executor never waits on the model and a slow model drops
old frames instead of queueing them.

Where rclpy passes the middleware's message info (Iron and newer), the input
subscription is gated (``FrameGate``): the executor takes a frame only when
the worker would start on it at once. Frames arriving meanwhile stay in the
middleware's depth-1 history, which keeps the newest; they are counted from
the gaps in the publisher's sequence numbers. Taking (deserialising) a 6 MB
frame costs several times what receiving it does, so under a fast camera
this frees most of a core for the model. On Humble every frame is taken and
the worker's slot does the dropping.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.subscription import Subscription
from sensor_msgs.msg import CompressedImage, Image

from .. import labels
from ..checkpoint import CheckpointError, load_checkpoint
from ..frame_confidence import mean_confidence
from ..inference import BackendUnavailable, InputSizeError, Segmenter, colorize, colorize_overlay
from ..inference.aspect import StretchCheck, stretch_advice
from ..node import contract
from ..node.confidence_watch import WHEN_DEGRADED, ConfidenceWatch, effective_floor, gated_filter
from ..node.contract import DiagnosticKey as Key
from ..node.frame_stats import FrameStats
from ..node.frames import Frame, FrameError
from ..node.health import WINDOW_S, AnswerWatch, FrameCounts, Problems, assess, error_report
from ..node.latest_frame import LatestFrameWorker
from ..node.params import (
    GEOMETRY_PARAMS, PARAMS, SPECS, ParamSpec, coerce_values, geometry_problem, model_input_size,
    navigation_geometry, unknown_params, validate_changes)
from ..node.shutdown import StopSignals
from ..size import Size
from .image_msgs import ImageOutput, compressed_to_frame, converter_name, image_to_frame
from .navigation_outputs import NavigationOutputs
from .qos import OUTPUT_QOS, InputSubscription

NODE_NAME = "seg_node"
REJECT_WARNING_PERIOD_S = 5.0
#: seconds between the spin loop's looks at a stop request
STOP_POLL_S = 0.1
#: rclpy >= 3.4 (Iron and newer) gives two-argument callbacks the message info; Humble's does not.
MESSAGE_INFO = hasattr(Subscription, "CallbackType")
#: rmw's RMW_MESSAGE_INFO_SEQUENCE_NUMBER_UNSUPPORTED (UINT64_MAX); DDS numbers start at 1, so 0 is none too.
SEQUENCE_UNSUPPORTED = 2**64 - 1


class StartupError(RuntimeError):
    """seg_node cannot start with this configuration; the message says why and what to change."""


@dataclass(frozen=True)
class OutputSettings:
    """The run-time output switches; replaced as a whole so the worker never sees half an update."""

    publish_color: bool
    color_mode: str
    overlay_alpha: float
    color_resolution: str
    publish_confidence: bool


class FrameGate(MutuallyExclusiveCallbackGroup):
    """A callback group whose entities the executor only waits on, and runs, while ``is_open()`` holds.

    rclpy builds its wait set from the entities whose group ``can_execute``, and
    takes a message only once ``beginning_execution`` agrees, so a closed gate
    leaves frames in the middleware. Whoever opens it must wake the executor
    (a guard condition), which then re-reads the gate.
    """

    def __init__(self, is_open):
        super().__init__()
        self._is_open = is_open

    def can_execute(self, entity) -> bool:
        return self._is_open() and super().can_execute(entity)

    def beginning_execution(self, entity) -> bool:
        return self._is_open() and super().beginning_execution(entity)


def _received_at(info) -> float:
    """When the middleware received a frame, on ``time.monotonic``'s clock (it stamps the system clock)."""
    now = time.monotonic()
    age_s = (time.time_ns() - info["received_timestamp"]) * 1e-9
    return now - age_s if 0.0 <= age_s < 60.0 else now  # unsupported (0) or a clock step: the callback's time


def _descriptor(spec: ParamSpec) -> ParameterDescriptor:
    # Float parameters are dynamically typed so that an integer (max_rate_hz:=5) is not refused by
    # rclpy's type check; ParamSpec.validate checks it and coerce_values makes it a float.
    descriptor = ParameterDescriptor(description=spec.description, read_only=not spec.runtime,
                                     additional_constraints=spec.constraints,
                                     dynamic_typing=isinstance(spec.default, float))
    if spec.min_value is not None and isinstance(spec.default, int):
        descriptor.integer_range = [IntegerRange(from_value=int(spec.min_value), to_value=int(spec.max_value),
                                                 step=1)]
    elif spec.min_value is not None:
        descriptor.floating_point_range = [FloatingPointRange(from_value=float(spec.min_value),
                                                              to_value=float(spec.max_value))]
    return descriptor


def _optional(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _draw_color(out: np.ndarray, frame: Frame, model_labels: np.ndarray, outputs: OutputSettings) -> None:
    """Draw the rgb8 segmentation/color image into ``out`` (camera or model size): class colours, alone or
    blended over the frame."""
    # From the model-resolution labels: colours are looked up there and resized once (postprocess.py).
    if outputs.color_mode == "palette":
        colorize(model_labels, Size.of(out), out=out)
    else:
        colorize_overlay(frame.image, model_labels, alpha=outputs.overlay_alpha, bgr=frame.bgr,
                         size=Size.of(out), out=out)


class SegNode(Node):
    """The segmentation node; construction fails with StartupError (or CheckpointError) on a bad set-up."""

    def __init__(self, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        try:
            self._set_up()
        except BaseException:
            # Leave no half-built node: rclpy's shutdown destroys the nodes it tracks, and our
            # destroy_node would then fail on the worker that was never made.
            super().destroy_node()
            raise

    def _set_up(self) -> None:
        """Parameters, model, publishers, input subscription and timer (the constructor's work)."""
        values = coerce_values({spec.name: self._declare(spec) for spec in PARAMS})
        # rclpy keeps the overrides it was given (command line, params file) in a private attribute, the same
        # from Humble to Kilted, and has no public accessor: without it the check is left out.
        for warning in unknown_params(getattr(self, "_parameter_overrides", {})):
            self.get_logger().warning(warning)
        self._segmenter = self._load_segmenter(values)
        self._stretch_check = StretchCheck(self._segmenter.input_size)
        # the size of the last frame the model ran on, and when (one tuple: the worker thread writes it whole)
        self._last_frame: tuple[Size, float] | None = None
        self._geometry = {name: values[name] for name in GEOMETRY_PARAMS}
        self._nav_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seg_node_navigation")
        self._nav = NavigationOutputs(self, self._segmenter.spec.class_names, *navigation_geometry(self._geometry),
                                      values["min_confidence"])
        self._outputs = OutputSettings(values["publish_color"], values["color_mode"], values["overlay_alpha"],
                                       values["color_resolution"], values["publish_confidence"])
        self._stats = FrameStats()
        # Gated intake needs the publishers' sequence numbers to count the frames it leaves behind.
        gated = MESSAGE_INFO
        wake = self.create_guard_condition(lambda: None) if gated else None
        self._worker = LatestFrameWorker(self._process, max_rate_hz=values["max_rate_hz"],
                                         on_error=self._on_frame_error, on_ready=wake.trigger if gated else None)
        self._pub_labels = self.create_publisher(Image, contract.LABELS, OUTPUT_QOS)
        self._pub_drivable = self.create_publisher(Image, contract.DRIVABLE_MASK, OUTPUT_QOS)
        self._pub_color = self.create_publisher(Image, contract.COLOR, OUTPUT_QOS)
        self._pub_confidence = self.create_publisher(Image, contract.CONFIDENCE, OUTPUT_QOS)
        # One reused message per output, written in place by the worker thread only.
        self._out_labels, self._out_drivable, self._out_confidence = (ImageOutput("mono8") for _ in range(3))
        self._out_color = ImageOutput("rgb8")
        self._pub_diagnostics = self.create_publisher(DiagnosticArray, contract.DIAGNOSTICS, 10)
        self._max_pixels = values["max_input_pixels"]
        compressed = values["image_transport"] == "compressed"
        self._decode = compressed_to_frame if compressed else image_to_frame
        # Without sequence numbers from the middleware nothing could count the frames the gate leaves
        # behind: it then stays open, and the worker's slot drops (and counts) as on Humble.
        self._numbered = True
        self._input = InputSubscription(
            self, CompressedImage if compressed else Image,
            contract.COMPRESSED_IMAGE_IN if compressed else contract.IMAGE_IN,
            self._on_frame if gated else self._on_image, values["qos_reliability"],
            on_incompatible=self._stats.note_error,
            callback_group=FrameGate(lambda: self._worker.ready or not self._numbered) if gated else None)
        self._idle_frames = 0
        self._last_reported = self._stats.snapshot()
        self._answers = AnswerWatch()
        self._confidence_watch = ConfidenceWatch()
        self._input_filter = values["input_filter"]
        self._confidence_floor = effective_floor(values["confidence_floor"], self._segmenter.spec.confidence_floor)
        self.create_timer(1.0, self._publish_diagnostics)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.get_logger().info(
            f"segmenting {self._input.topic_name} ({self._input.reliability}) with {self._segmenter.spec.name} "
            f"on {self._segmenter.backend_name} at {self._size_text()}; other encodings: {converter_name()}")

    @property
    def segmenter(self) -> Segmenter:
        """The model this node runs (tests compare its output with the published one)."""
        return self._segmenter

    @property
    def navigation(self) -> NavigationOutputs:
        """camera_info, label_info, grid and obstacle points (tests read its camera_info and table builds)."""
        return self._nav

    @property
    def worker(self) -> LatestFrameWorker:
        """The latest-frame-wins worker (counters: submitted, processed, dropped, failed)."""
        return self._worker

    @property
    def received_frames(self) -> int:
        """Frames that reached the node: the ones handed to the worker plus those left in the middleware."""
        return self._worker.submitted + self._stats.snapshot().missed

    @property
    def dropped_frames(self) -> int:
        """Frames never processed because a newer one came: replaced in the worker's slot or the middleware."""
        return self._worker.dropped + self._stats.snapshot().missed

    @property
    def stats(self) -> FrameStats:
        """Latency, fps and error statistics."""
        return self._stats

    @property
    def input_reliability(self) -> str:
        """The input subscription's current reliability ('reliable' or 'best_effort')."""
        return self._input.reliability

    def destroy_node(self):
        """Stop the worker (after the frame in flight) before the publishers go away."""
        self._worker.stop()
        self._nav_thread.shutdown()
        return super().destroy_node()

    def _declare(self, spec: ParamSpec):
        """Declare ``spec``'s parameter; returns its value (the override given, else the default)."""
        if spec.default == []:
            # rclpy would take an empty default for a byte array: declare the type, then the empty value.
            value = self.declare_parameter(spec.name, Parameter.Type.STRING_ARRAY, _descriptor(spec)).value
            if value is None:
                self.set_parameters([Parameter(spec.name, Parameter.Type.STRING_ARRAY, [])])
            return value or []
        return self.declare_parameter(spec.name, spec.default, _descriptor(spec)).value

    def _load_segmenter(self, values: dict) -> Segmenter:
        reason = (validate_changes({k: v for k, v in values.items() if k != "drivable_classes"})
                  or geometry_problem(values))
        if reason:
            raise StartupError(reason)
        try:
            input_size = model_input_size(values["input_width"], values["input_height"])
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        # Check the class table before building an engine: a TensorRT build can take minutes.
        classes = load_checkpoint(values["model_path"]).spec.class_names
        if len(classes) != labels.NUM_CLASSES:
            raise StartupError(f"{values['model_path']}: model has {len(classes)} classes, but seg_node "
                               f"publishes Cityscapes trainIds; use a model of the {labels.NUM_CLASSES} "
                               "Cityscapes classes")
        reason = SPECS["drivable_classes"].validate(values["drivable_classes"], classes)
        if reason:
            raise StartupError(reason)
        segmenter = Segmenter.from_checkpoint(
            values["model_path"], backend=values["backend"], precision=values["precision"],
            input_size=input_size, drivable_classes=tuple(values["drivable_classes"]),
            min_confidence=values["min_confidence"], with_confidence=values["publish_confidence"],
            input_filter=gated_filter(values["input_filter"], degraded=False, sample=False, image=None),
            test_time_flip=values["test_time_flip"])
        # Building a variant when publish_confidence or min_confidence changes at run time stalled frames
        # for seconds: both are built (or read from the engine cache) now.
        segmenter.prepare_variants()
        return segmenter

    def _size_text(self) -> str:
        width, height = self._segmenter.input_size
        return f"{width}x{height}"

    # --- frames ---------------------------------------------------------------------------------

    def _on_image(self, msg) -> None:
        self._worker.submit((msg, time.monotonic()))

    def _on_frame(self, msg, info) -> None:
        sequence = info.get("publication_sequence_number")
        if not sequence or sequence >= SEQUENCE_UNSUPPORTED:
            self._numbered, sequence = False, None
        gid = info.get("publisher_gid")  # Kilted and newer
        if gid is None and sequence is not None and self.count_publishers(self._input.topic_name) > 1:
            sequence = None  # several publishers' numbers, and nothing says whose this one is
        self._stats.note_sequence(bytes(gid["data"]) if gid else None, sequence)
        self._worker.submit((msg, _received_at(info)))

    def _process(self, item) -> None:
        msg, received = item
        outputs = self._outputs
        want = {
            "labels": self._pub_labels.get_subscription_count() > 0,
            "drivable": self._pub_drivable.get_subscription_count() > 0,
            "color": outputs.publish_color and self._pub_color.get_subscription_count() > 0,
            "confidence": outputs.publish_confidence and self._pub_confidence.get_subscription_count() > 0,
            "navigation": self._nav.wanted(),
        }
        if not any(want.values()):
            self._idle_frames += 1  # nobody listens: skip the model altogether
            return
        frame = self._decode(msg, self._max_pixels)
        self._last_frame = Size.of(frame.image), time.monotonic()
        stretched = self._stretch_check(self._last_frame[0])
        if stretched:
            self.get_logger().warning(stretched)
        sample = self._confidence_floor is not None and self._confidence_watch.due()
        degraded = self._input_filter == WHEN_DEGRADED and bool(
            ConfidenceWatch.problem(self._confidence_watch.mean(), self._confidence_floor))
        judged = frame.image if self._confidence_floor is not None else None  # as the offline tools: a floor needed
        self._segmenter.input_filter = gated_filter(self._input_filter, degraded, sample, judged)
        self._segmenter.with_confidence = want["confidence"] or sample
        result = self._segmenter.segment(frame.image, bgr=frame.bgr)
        if sample:
            self._confidence_watch.add(mean_confidence(result.confidence))
        header, (height, width) = msg.header, frame.image.shape[:2]
        # What navigation consumes first; the colour image, the costliest, last.
        for wanted, output, publisher, pixels in (
                (want["labels"], self._out_labels, self._pub_labels, result.labels),
                (want["drivable"], self._out_drivable, self._pub_drivable, result.drivable),
                (want["confidence"], self._out_confidence, self._pub_confidence, result.confidence)):
            if wanted:
                np.copyto(output.pixels(header, height, width), pixels)
                publisher.publish(output.message)
        # The grid is made beside the colour image: cv2 releases the GIL while it draws, so on two cores
        # the navigation outputs add little to the frame's latency.
        navigation = self._nav_thread.submit(self._nav.publish, header, (width, height), result.model_labels,
                                             self._segmenter.drivable_classes) if want["navigation"] else None
        if want["color"]:
            color_height, color_width = (result.model_labels.shape if outputs.color_resolution == "model"
                                         else (height, width))
            _draw_color(self._out_color.pixels(header, color_height, color_width), frame, result.model_labels,
                        outputs)
            self._pub_color.publish(self._out_color.message)
        if navigation is not None:
            navigation.result()  # re-raises its error: the frame then counts as failed
        self._stats.record_frame(time.monotonic() - received, result.timings["total_ms"])

    def _on_frame_error(self, item, error: Exception) -> None:
        if isinstance(error, FrameError):
            self._stats.record_rejected(str(error))
            self.get_logger().warning(f"rejected frame: {error}", throttle_duration_sec=REJECT_WARNING_PERIOD_S)
        else:
            self._stats.record_failure(f"{type(error).__name__}: {error}")
            self.get_logger().error(f"frame failed: {type(error).__name__}: {error}",
                                    throttle_duration_sec=REJECT_WARNING_PERIOD_S)

    # --- parameters -----------------------------------------------------------------------------

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        changes = coerce_values({parameter.name: parameter.value for parameter in parameters})
        geometry = {**self._geometry, **{k: v for k, v in changes.items() if k in GEOMETRY_PARAMS}}
        reason = validate_changes(changes, self._segmenter.spec.class_names) or geometry_problem(geometry)
        if reason:
            return SetParametersResult(successful=False, reason=reason)
        if geometry != self._geometry:
            self._geometry = geometry
            self._nav.set_geometry(*navigation_geometry(geometry))
        if "drivable_classes" in changes:
            self._segmenter.drivable_classes = tuple(changes["drivable_classes"])
        if "min_confidence" in changes:
            self._segmenter.min_confidence = changes["min_confidence"]
            self._nav.publish_label_info(changes["min_confidence"])
        if "confidence_floor" in changes:
            self._confidence_floor = effective_floor(changes["confidence_floor"],
                                                     self._segmenter.spec.confidence_floor)
            if self._confidence_floor is None:
                self._confidence_watch.clear()
        if "input_filter" in changes:
            self._input_filter = changes["input_filter"]  # the worker sets it on the Segmenter frame by frame
        if "max_rate_hz" in changes:
            self._worker.max_rate_hz = changes["max_rate_hz"]
        if "max_input_pixels" in changes:
            self._max_pixels = changes["max_input_pixels"]
        output_changes = {k: v for k, v in changes.items() if k in OutputSettings.__dataclass_fields__}
        if output_changes:
            self._outputs = replace(self._outputs, **output_changes)
        return SetParametersResult(successful=True)

    # --- diagnostics ----------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        now = self._stats.snapshot()
        confidence = self._confidence_watch.mean()  # once: the message and the key must agree
        last_frame = self._last_frame
        camera = last_frame[0] if last_frame else None
        # judged while frames come: a camera that stopped (or a node nobody listens to) has no stretch to warn of
        recent = last_frame is not None and time.monotonic() - last_frame[1] < WINDOW_S
        stretched = (stretch_advice(camera, self._segmenter.input_size) or "") if recent else ""
        previous, self._last_reported = self._last_reported, now
        counts = FrameCounts(arrived=self.received_frames, answered=self._worker.processed,
                             publishers=self.count_publishers(self._input.topic_name))
        problems = Problems(
            incompatible=self._input.incompatible,
            failed=now.last_error if now.failed > previous.failed else "",
            rejected=now.last_error if now.rejected > previous.rejected else "",
            answers=self._answers.update(counts, now.model_p50_ms, self._input.reliability == "best_effort"),
            grid=self._nav.problem if self._nav.problem and self._nav.has_camera_info else "",
            degraded=ConfidenceWatch.problem(confidence, self._confidence_floor),
            stretched=stretched)
        level, message = assess(problems, now.published, now.fps)
        values = {
            Key.BACKEND: self._segmenter.backend_name,
            Key.MODEL: f"{self._segmenter.spec.name} ({self.get_parameter('model_path').value})",
            Key.INPUT_SIZE: self._size_text(),
            Key.DRIVABLE_CLASSES: contract.LIST_SEPARATOR.join(self._segmenter.drivable_classes),
            Key.INPUT_TOPIC: self._input.topic_name,
            Key.INPUT_RELIABILITY: self._input.reliability,
            Key.FPS: f"{now.fps:.2f}",
            Key.LATENCY_P50_MS: f"{now.latency_p50_ms:.1f}",
            Key.LATENCY_P95_MS: f"{now.latency_p95_ms:.1f}",
            Key.MODEL_P50_MS: f"{now.model_p50_ms:.1f}",
            Key.OVERHEAD_P50_MS: f"{now.overhead_p50_ms:.1f}",
            Key.OVERHEAD_P95_MS: f"{now.overhead_p95_ms:.1f}",
            Key.RECEIVED_FRAMES: str(self.received_frames),
            Key.PUBLISHED_FRAMES: str(now.published),
            Key.DROPPED_FRAMES: str(self.dropped_frames),
            Key.MISSED_FRAMES: str(now.missed),
            Key.REJECTED_FRAMES: str(now.rejected),
            Key.FAILED_FRAMES: str(now.failed),
            Key.IDLE_FRAMES: str(self._idle_frames),
            Key.LAST_ERROR: error_report(now.last_error, now.last_error_age_s),
            Key.NAVIGATION: self._nav.problem or "ok",
            Key.CAMERA_INFO_TOPIC: self._nav.camera_info_topic,
            Key.GRID_MS: f"{self._nav.grid_ms:.2f}",
            Key.GRID_TABLE_MS: f"{self._nav.table_build_ms:.1f}",
            Key.MEAN_CONFIDENCE: _optional(confidence),
            Key.CONFIDENCE_FLOOR: _optional(self._confidence_floor),
            Key.CAMERA_SIZE: str(camera) if camera else "",
            Key.STRETCH: stretched or "ok",
            Key.INPUT_FILTER: gated_filter(self._input_filter, bool(problems.degraded), sample=False, image=None),
            Key.TEST_TIME_FLIP: str(self._segmenter.test_time_flip).lower(),
        }
        status = DiagnosticStatus(level=bytes([level]),  # a byte field
                                  name=contract.status_name(self.get_fully_qualified_name()), message=message,
                                  hardware_id=self._segmenter.backend_name,
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._pub_diagnostics.publish(array)


def run(args, stop: StopSignals) -> int:
    """Start the node and spin it until ``stop`` is requested or rclpy shuts down; the exit code (1, with one
    error line, for a bad set-up). The executable is ``seg_node.main``."""
    rclpy.init(args=args)
    try:
        try:
            node = SegNode()
            stop.starting = False
        except (StartupError, CheckpointError, BackendUnavailable, InputSizeError, ParameterException) as exc:
            rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {exc}")
            return 1
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        try:
            # spin_once with a timeout, so the stop request is seen even if no signal woke the executor
            while rclpy.ok() and not stop.requested:
                executor.spin_once(timeout_sec=STOP_POLL_S)
        except ExternalShutdownException:  # rclpy's own signal handler shut the context down
            pass
        finally:
            node.destroy_node()
        return 0
    finally:
        rclpy.try_shutdown()

