"""Live bag replay: a bag's camera topics published into a running seg_node, its answers collected by stamp.

Like ``ros2 bag play``: the stored CDR bytes go out as they are (``publish``
of ``bytes`` is rclpy's ``publish_raw``: nothing is deserialised and
serialised again), reliably, at the recorded spacing (or a fixed rate, or
scaled), the image topic and its camera_info alike. A dedicated thread spins
the subscriptions to the node's ``segmentation/labels`` and
``segmentation/drivable_mask``; the calling thread does the timing. The node
is latest-frame-wins, so a replay faster than the model shows dropped frames
instead of blocking. With ``start_node`` the replay runs its own seg_node
in a private namespace for the duration of the run.

The timing rule and the matching of answers to frames are ROS-free
(``seg_perception.bags.replay``); this module is the ROS glue around them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.exceptions import InvalidNamespaceException, InvalidTopicNameException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.validate_full_topic_name import validate_full_topic_name
from rclpy.validate_namespace import validate_namespace
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from tqdm import tqdm

from ..bags.messages import CAMERA_INFO, COMPRESSED_IMAGE, IMAGE, IMAGE_TYPES, format_stamp, mono8_of, stamp_ns
from ..bags.reader import BagReader
from ..bags.replay import AnswerBook, LiveReplay, PlaybackSchedule
from ..node import contract
from ..node.contract import NodeStatus
from ..node.frames import FrameError
from .node_process import NodeProcess, NodeProcessError, ctrl_c_held, large_frames_env

__all__ = ["LiveReplay", "LiveReplayError", "replay_live", "camera_info_topic_for"]

log = logging.getLogger("seg_perception.live_replay")

DEFAULT_TIMEOUT_S = 120.0
#: The player's queue, like ros2 bag play's default; deep enough that a burst is never refused.
QUEUE_DEPTH = 10
#: After the node's endpoints appear here, let its side of the (two-way) discovery finish too:
#: it only runs the model for frames whose outputs someone subscribes to.
SETTLE_S = 0.5
POLL_S = 0.05
DIAGNOSTICS_WAIT_S = 1.5  # seg_node publishes /diagnostics every second
_MSG_CLASSES = {IMAGE: Image, COMPRESSED_IMAGE: CompressedImage, CAMERA_INFO: CameraInfo}
_OUTPUT_TOPICS = {"labels": contract.LABELS, "drivable": contract.DRIVABLE_MASK}
_RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=QUEUE_DEPTH, reliability=ReliabilityPolicy.RELIABLE)


@contextlib.contextmanager
def _environment(values: Mapping[str, str]):
    """Set environment ``values`` for the duration, then put back what was there."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _check_names(namespace: str, image_topic: str, camera_info_topic: str | None) -> None:
    """Refuse a bad namespace or topic name before a node is started (rclpy would raise deep inside)."""
    for kind, name, validate in (("node namespace", namespace, validate_namespace),
                                 ("image topic", image_topic, validate_full_topic_name),
                                 ("camera_info topic", camera_info_topic, validate_full_topic_name)):
        try:
            if name:
                validate(name)
        except (InvalidNamespaceException, InvalidTopicNameException) as error:
            reason = str(error).splitlines()[0].split(": ", 1)[-1].rstrip(":")
            raise LiveReplayError(f"bad {kind} {name!r}: {reason}") from None


class LiveReplayError(RuntimeError):
    """The live replay cannot run or was not answered; the message says which topic, node or bag, and why."""


def camera_info_topic_for(image_topic: str) -> str:
    """The camera_info beside an image topic, by image_transport's convention:
    ``/camera/image_raw`` and ``/camera/image_raw/compressed`` -> ``/camera/camera_info``."""
    base = image_topic.removesuffix("/compressed")
    return base.rsplit("/", 1)[0] + "/camera_info"


def node_ros_args(namespace: str, image_topic: str, compressed: bool, checkpoint: str | os.PathLike,
                  backend: str, input_size: tuple[int, int] | None, drivable_classes: Sequence[str] | None,
                  node_params: Mapping[str, str]) -> list[str]:
    """The ``--ros-args`` for a private seg_node fed by the replay (reliable input, no colour image)."""
    args = ["-r", f"__ns:={namespace}"]
    if compressed:
        args += ["-r", f"{contract.COMPRESSED_IMAGE_IN}:={image_topic}", "-p", "image_transport:=compressed"]
    else:
        args += ["-r", f"{contract.IMAGE_IN}:={image_topic}"]
    params = {"model_path": str(checkpoint), "backend": backend, "qos_reliability": "reliable",
              "publish_color": "false"}
    if input_size is not None:
        params.update(input_width=str(input_size[0]), input_height=str(input_size[1]))
    if drivable_classes is not None:
        params["drivable_classes"] = json.dumps(list(drivable_classes))  # a YAML flow list
    params.update(node_params)
    for name, value in params.items():
        args += ["-p", f"{name}:={value}"]
    return args


class _Player:
    """A private rclpy context: the input publishers and the output subscriptions, spun on their own thread."""

    def __init__(self, namespace: str, topics: Mapping[str, type], book: AnswerBook, image_topic: str):
        self._book = book
        self._image_topic = image_topic
        self.error: str | None = None  # a malformed output, raised by the publishing thread
        self.node_status: NodeStatus | None = None  # the last /diagnostics of the node on our topic
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(f"seg_bag_player_{os.getpid()}", context=self.context)
        self.publishers = {topic: self.node.create_publisher(msg_type, topic, _RELIABLE)
                           for topic, msg_type in topics.items()}
        self.output_topics = {output: f"{namespace.rstrip('/')}/{relative}"
                              for output, relative in _OUTPUT_TOPICS.items()}
        for output, topic in self.output_topics.items():
            self.node.create_subscription(Image, topic, self._receiver(output, topic), _RELIABLE)
        self.node.create_subscription(DiagnosticArray, contract.DIAGNOSTICS, self._on_diagnostics, 10)
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name="live-replay-executor", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except ExternalShutdownException:
            pass

    def _receiver(self, output: str, topic: str):
        def receive(msg: Image) -> None:
            try:
                self._book.receive(output, stamp_ns(msg.header), mono8_of(msg))
            except FrameError as error:
                self.error = self.error or f"seg_node sent a malformed {topic} stamped " \
                                           f"{format_stamp(stamp_ns(msg.header))}: {error}"
        return receive

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            node_status = NodeStatus.parse(status.name, {item.key: item.value for item in status.values})
            if node_status is not None and node_status.input_topic == self._image_topic:
                self.node_status = node_status

    def connected(self, image_topic: str) -> bool:
        """Whether something subscribes to the image topic and the node's outputs have publishers."""
        return (self.publishers[image_topic].get_subscription_count() > 0
                and all(self.node.count_publishers(topic) > 0 for topic in self.output_topics.values()))

    def close(self) -> None:
        self._executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(5)


def replay_live(bag_path: str | os.PathLike, image_topic: str, *, rate: float | None = None, speed: float = 1.0,
                start_node: bool = True, node_namespace: str | None = None,
                checkpoint: str | os.PathLike | None = None, backend: str = "cpu",
                input_size: tuple[int, int] | None = None, drivable_classes: Sequence[str] | None = None,
                node_params: Mapping[str, str] | None = None, camera_info_topic: str | None = None,
                timeout_s: float = DEFAULT_TIMEOUT_S, node_log: str | os.PathLike | None = None,
                progress: bool = True, book: AnswerBook | None = None) -> LiveReplay:
    """Replay ``image_topic`` (Image or CompressedImage) of a bag into seg_node and collect its answers.

    Timing: the recorded spacing divided by ``speed``, or ``rate`` frames per second when given.
    ``camera_info_topic`` (default: the one beside the image topic, when the bag has it; "" for
    none) is replayed too. With ``start_node`` a seg_node is started for the run from
    ``checkpoint`` with ``backend``, ``input_size`` (W, H; default the checkpoint's),
    ``drivable_classes`` and extra ``node_params`` ({name: value}), in ``node_namespace``
    (default a private one), logging to ``node_log`` (default a file in the temp directory),
    and stopped at the end whatever happens. Without, the node already running in
    ``node_namespace`` (default "/") must subscribe to ``image_topic``.

    ``timeout_s`` bounds the wait for the node (start-up and discovery) and for its first
    answer after the last frame. Before the first frame the replay waits (up to
    DIAGNOSTICS_WAIT_S) for the node's /diagnostics, so that what it reports (its drivable
    classes) is known before its first answer. ``book``: an ``AnswerBook`` a scorer takes the
    answers from while the replay runs (``bags.replay.LiveScoring``), which stops the replay
    if it fails; without one, every answer is kept for the result. Raises LiveReplayError (a missing node, a node that exits,
    no answer at all), or ``bags.reader.BagError`` for a bag without the topic.
    """
    if start_node and checkpoint is None:
        raise ValueError("replay_live(start_node=True) needs a checkpoint")
    schedule = PlaybackSchedule(rate, speed)  # validates rate and speed before anything starts
    namespace = node_namespace or (f"/seg_bag_eval_{os.getpid()}" if start_node else "/")
    _check_names(namespace, image_topic, camera_info_topic)
    with BagReader(bag_path) as bag:
        image_type = bag.require(image_topic, IMAGE_TYPES)
        topics = {image_topic: _MSG_CLASSES[image_type]}
        info_topic = camera_info_topic_for(image_topic) if camera_info_topic is None else camera_info_topic
        if info_topic and (camera_info_topic or info_topic in bag.topics):
            topics[info_topic] = _MSG_CLASSES[bag.require(info_topic, (CAMERA_INFO,))]
        node = None
        book = book if book is not None else AnswerBook()
        # The player publishes camera-sized frames too: same large-frame profile as the node, unless the
        # user set one. Fast DDS reads it when a participant is created, so before the player's context.
        with _environment(large_frames_env()):
            try:
                if start_node:
                    log_path = Path(node_log or Path(tempfile.gettempdir()) / f"seg_node-{os.getpid()}.log")
                    args = node_ros_args(namespace, image_topic, image_type == COMPRESSED_IMAGE, checkpoint, backend,
                                         input_size, drivable_classes, node_params or {})
                    # A Ctrl-C between the node's start and `node` being set would leave a seg_node that
                    # nobody stops (seen under load): it waits until then, and the finally below stops it.
                    with ctrl_c_held():
                        node = NodeProcess(args, log_path)
                    log.info("started seg_node (pid %d, log %s): %s", node.pid, log_path, " ".join(node.command))
                player = _Player(namespace, topics, book, image_topic)
                try:
                    _wait_connected(player, book, image_topic, namespace, node, timeout_s)
                    _await_node_status(player)
                    book.starting(player.node_status)
                    _play(bag, topics, image_topic, schedule, player, book, node, progress)
                    _drain(book, player, node, timeout_s)
                    _await_node_status(player)
                finally:
                    player.close()
            except NodeProcessError as error:
                raise LiveReplayError(str(error)) from None
            finally:
                if node is not None:
                    node.stop()
    result = book.result(node.log_path if node is not None else None, player.node_status)
    if result.published and not result.answered:
        where = f" (log: {result.node_log})" if result.node_log else ""
        raise LiveReplayError(f"seg_node in {namespace} answered none of the {result.published} frames "
                              f"published on {image_topic} within {timeout_s:g} s{where}")
    return result


def _check(player: _Player, book: AnswerBook, node: NodeProcess | None) -> None:
    if node is not None:
        node.check()
    if player.error:
        raise LiveReplayError(player.error)
    if book.stopped:
        raise LiveReplayError(f"stopped: {book.stopped}")


def _wait_connected(player: _Player, book: AnswerBook, image_topic: str, namespace: str, node: NodeProcess | None,
                    timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not player.connected(image_topic):
        _check(player, book, node)
        if time.monotonic() > deadline:
            outputs = " and ".join(player.output_topics.values())
            remap = (f"-p image_transport:=compressed -r image/compressed:={image_topic}"
                     if player.publishers[image_topic].msg_type is CompressedImage else f"-r image:={image_topic}")
            hint = (f"it did not come up; see {node.log_path}" if node is not None else
                    f"start one with `seg_node --ros-args -r __ns:={namespace} {remap} ...` or let seg-bag-eval "
                    "start it")
            raise LiveReplayError(f"no seg_node subscribing to {image_topic} and publishing {outputs} "
                                  f"after {timeout_s:g} s: {hint}")
        time.sleep(POLL_S)
    time.sleep(SETTLE_S)


def _play(bag: BagReader, topics: Mapping[str, type], image_topic: str, schedule: PlaybackSchedule,
          player: _Player, book: AnswerBook, node: NodeProcess | None, progress: bool) -> None:
    start = None
    with tqdm(total=bag.topics[image_topic].count, unit="frame", desc="live replay", disable=not progress,
              leave=False) as bar:
        for message in bag.messages(topics):
            is_image = message.topic == image_topic
            offset = schedule.offset_s(message.log_time_ns, is_image)
            stamp = stamp_ns(bag.deserialize(message).header) if is_image else None
            data = bytes(message.rawdata)  # publish() takes bytes as serialised data, not a memoryview
            start = time.monotonic() if start is None else start
            _check(player, book, node)
            time.sleep(max(0.0, start + offset - time.monotonic()))
            if is_image:
                try:
                    book.publishing(stamp)
                except ValueError as error:
                    raise LiveReplayError(f"{bag.path}: {image_topic}: {error}") from None
            player.publishers[message.topic].publish(data)
            bar.update(is_image)


def _drain(book: AnswerBook, player: _Player, node: NodeProcess | None, timeout_s: float) -> None:
    """Wait until the node has answered everything or gone idle (bounded by ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while not book.drained() and time.monotonic() < deadline:
        _check(player, book, node)
        time.sleep(POLL_S)


def _await_node_status(player: _Player) -> None:
    """The node's /diagnostics (once a second) say what answers: wait for the first, a little, before the
    first frame (a node that sends none is taken as configured) and after the last."""
    deadline = time.monotonic() + DIAGNOSTICS_WAIT_S
    while player.node_status is None and time.monotonic() < deadline:
        time.sleep(POLL_S)
