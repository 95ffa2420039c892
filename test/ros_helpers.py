"""Shared helpers for seg_node's ROS tests, and (run as a script) the camera publisher process they start.

Importing this module isolates the test run's ROS graph: its own ROS_DOMAIN_ID
(from the process id) and localhost-only discovery, inherited by every process
the tests start; and a private engine cache. It imports rclpy only inside
functions, so the publisher process starts without torch.

    python test/ros_helpers.py --topic /ns/image --width 2048 --height 1024 --count 5 --rate 4
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FASTDDS_PROFILE = ROOT / "config" / "fastdds_large_frames.xml"
SEG_NODE = Path(sys.executable).parent / "seg_node"
COMPRESSED_FORMATS = ("png", "jpeg")
STAMP_SEC = 1000  # frame i is stamped STAMP_SEC + i seconds, so outputs name the frame they answer
FRAME_VARIANTS = 3  # distinct frame contents; frame i shows variant i % FRAME_VARIANTS


def _isolate_ros_graph() -> None:
    # Set before any rclpy.init in this process and inherited by the processes tests start.
    os.environ["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 100)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if os.environ.get("ROS_DISTRO") == "humble":
        os.environ["ROS_LOCALHOST_ONLY"] = "1"
    if "SEG_PERCEPTION_CACHE" not in os.environ:
        cache = tempfile.mkdtemp(prefix="seg-node-test-cache-")
        os.environ["SEG_PERCEPTION_CACHE"] = cache
        atexit.register(shutil.rmtree, cache, ignore_errors=True)


if __name__ != "__main__":
    _isolate_ros_graph()


def large_frames_env() -> dict[str, str]:
    """The environment with the shipped Fast DDS profile, as the launch file gives the node (and the
    camera needs: the publishing side's shared-memory segment decides whether big best-effort frames pass)."""
    return dict(os.environ, FASTDDS_DEFAULT_PROFILES_FILE=str(FASTDDS_PROFILE),
                FASTRTPS_DEFAULT_PROFILES_FILE=str(FASTDDS_PROFILE))


# --- frames ---------------------------------------------------------------------------------------

def make_frame(index: int, width: int, height: int) -> np.ndarray:
    """Deterministic H x W x 3 RGB test frame number ``index``: coloured blocks, one of FRAME_VARIANTS."""
    rng = np.random.default_rng(index % FRAME_VARIANTS)
    blocks = rng.integers(0, 256, size=(8, 16, 3), dtype=np.uint8)
    return cv2.resize(blocks, (width, height), interpolation=cv2.INTER_NEAREST)


def encode_pixels(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """``rgb`` laid out as ``encoding`` (rgb8, bgr8, rgba8, bgra8, mono8 = the red channel)."""
    alpha = np.full(rgb.shape[:2] + (1,), 200, np.uint8)
    return np.ascontiguousarray({
        "rgb8": lambda: rgb,
        "bgr8": lambda: rgb[..., ::-1],
        "rgba8": lambda: np.concatenate([rgb, alpha], axis=2),
        "bgra8": lambda: np.concatenate([rgb[..., ::-1], alpha], axis=2),
        "mono8": lambda: rgb[..., 0],
    }[encoding]())


def decoded_rgb(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """What the node sees of ``rgb`` sent as ``encoding`` (mono8 keeps one channel)."""
    return np.repeat(rgb[..., :1], 3, axis=2) if encoding == "mono8" else rgb


def image_msg(rgb: np.ndarray, encoding: str = "rgb8", pad: int = 0, index: int = 0):
    """sensor_msgs/Image of ``rgb`` as ``encoding`` with ``pad`` bytes of row padding, stamped for ``index``."""
    from sensor_msgs.msg import Image

    pixels = encode_pixels(rgb, encoding)
    rows = pixels.reshape(pixels.shape[0], -1)
    padded = np.hstack([rows, np.full((rows.shape[0], pad), 0xEE, np.uint8)])
    msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding=encoding, step=padded.shape[1])
    msg.data = padded.tobytes()
    stamp(msg, index)
    return msg


def compressed_msg(rgb: np.ndarray, fmt: str = "png", index: int = 0):
    """sensor_msgs/CompressedImage of ``rgb`` (png or jpeg), stamped for ``index``."""
    from sensor_msgs.msg import CompressedImage

    ok, encoded = cv2.imencode("." + fmt, np.ascontiguousarray(rgb[..., ::-1]))
    assert ok
    msg = CompressedImage(format=fmt)
    msg.data = encoded.tobytes()
    stamp(msg, index)
    return msg


def stamp(msg, index: int) -> None:
    """Stamp ``msg`` so that ``frame_index(msg.header)`` gives ``index``."""
    msg.header.stamp.sec = STAMP_SEC + index
    msg.header.stamp.nanosec = 0
    msg.header.frame_id = "camera"


def camera_info_msg(width: int, height: int, focal: float, frame_id: str = "camera"):
    """sensor_msgs/CameraInfo of an undistorted ``width`` x ``height`` camera with its principal point centred."""
    from sensor_msgs.msg import CameraInfo

    cx, cy = (width - 1) / 2, (height - 1) / 2
    msg = CameraInfo(width=width, height=height, distortion_model="plumb_bob", d=[0.0] * 5,
                     k=[focal, 0.0, cx, 0.0, focal, cy, 0.0, 0.0, 1.0],
                     r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                     p=[focal, 0.0, cx, 0.0, 0.0, focal, cy, 0.0, 0.0, 0.0, 1.0, 0.0])
    msg.header.frame_id = frame_id
    return msg


def projected_grid(model_labels: np.ndarray, info, mount, grid, drivable_classes) -> tuple[np.ndarray, np.ndarray]:
    """(grid values, obstacle points) the node must publish for ``model_labels``: the offline projection
    with camera_info ``info`` (tested against OpenCV in test_navigation_projection.py)."""
    from seg_perception.labels import CLASS_NAMES
    from seg_perception.navigation import CameraModel, GroundProjection, obstacle_points, vote_lut

    camera = CameraModel.from_values(info.width, info.height, info.k, info.d, info.distortion_model)
    projection = GroundProjection(camera, mount, grid, (model_labels.shape[1], model_labels.shape[0]))
    lut = vote_lut(len(CLASS_NAMES), [CLASS_NAMES.index(name) for name in drivable_classes])
    values = projection.occupancy(model_labels, lut)
    return values, obstacle_points(grid, values)


def grid_values(msg) -> np.ndarray:
    """An OccupancyGrid's cells as a (height, width) int8 array."""
    return np.array(msg.data, np.int8).reshape(msg.info.height, msg.info.width)


def cloud_points(msg) -> np.ndarray:
    """(N, 3) float32 points of an x, y, z float32 PointCloud2 (checking that layout)."""
    assert [(f.name, f.offset, f.datatype) for f in msg.fields] == [("x", 0, 7), ("y", 4, 7), ("z", 8, 7)]
    assert (msg.height, msg.point_step, msg.row_step, msg.is_bigendian) == (1, 12, 12 * msg.width, False)
    return np.frombuffer(bytes(msg.data), np.float32).reshape(-1, 3)


def frame_index(header) -> int:
    """The index of the frame a message with ``header`` answers."""
    return header.stamp.sec - STAMP_SEC


def answered_everywhere(collectors, topics) -> set[int]:
    """Indices of the frames answered on every one of ``topics`` in every collector."""
    answered = [{frame_index(m.header) for m in collector.received(topic)}
                for collector in collectors for topic in topics]
    return set.intersection(*answered)


def as_array(msg) -> np.ndarray:
    """An output Image as H x W (mono8) or H x W x 3 (rgb8), checking its step."""
    channels = 3 if msg.encoding == "rgb8" else 1
    assert msg.step == msg.width * channels, (msg.step, msg.width, msg.encoding)
    array = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, channels)
    return array[..., 0] if channels == 1 else array


# --- waiting --------------------------------------------------------------------------------------

def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def qos(reliability: str, depth: int = 1):
    """A keep-last QoSProfile with ``reliability`` 'reliable' or 'best_effort'."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    policy = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}[reliability]
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=policy)


# --- an in-process ROS graph ----------------------------------------------------------------------

class RosGraph:
    """A private rclpy context whose executor spins on a background thread; tests poll with ``wait_for``."""

    def __init__(self):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes = []
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.exceptions import InvalidHandle
        from rclpy.executors import ExternalShutdownException

        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except ExternalShutdownException:
                return
            except InvalidHandle:
                # ``remove`` destroys a node from the test's thread while this one may be running its
                # timer: that callback finds its handles gone. It must not end the spinning of every
                # other node of the module (seen once: a diagnostics timer racing its node's removal).
                continue

    def add(self, node):
        """Spin ``node`` until ``remove`` or ``close``; returns it."""
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def remove(self, node) -> None:
        """Stop spinning ``node`` and destroy it."""
        self.nodes.remove(node)
        self.executor.remove_node(node)
        node.destroy_node()

    def close(self) -> None:
        """Destroy every node and shut the context down."""
        import rclpy

        for node in list(self.nodes):
            self.remove(node)
        self.executor.shutdown()
        rclpy.shutdown(context=self.context)
        self._thread.join(5)


def make_collector(graph: RosGraph, namespace: str, topics: dict[str, object], reliability: str = "reliable",
                   name: str = "collector"):
    """A node in ``graph`` that keeps every message received on ``topics`` ({relative name: type})."""
    from rclpy.node import Node

    class Collector(Node):
        """Messages by topic, with their arrival times."""

        def __init__(self):
            super().__init__(name, namespace=namespace, context=graph.context)
            self.lock = threading.Lock()
            self.messages: dict[str, list] = defaultdict(list)
            self.arrivals: dict[str, list[float]] = defaultdict(list)
            for topic, msg_type in topics.items():
                self.create_subscription(msg_type, topic, self._keeper(topic), qos(reliability, depth=50))

        def _keeper(self, topic):
            def keep(msg):
                with self.lock:
                    self.messages[topic].append(msg)
                    self.arrivals[topic].append(time.time())
            return keep

        def received(self, topic: str) -> list:
            with self.lock:
                return list(self.messages[topic])

        def clear(self) -> None:
            with self.lock:
                self.messages.clear()
                self.arrivals.clear()

    return graph.add(Collector())


def make_camera(graph: RosGraph, namespace: str, topic: str = "image", msg_type=None,
                reliability: str = "reliable", name: str = "camera"):
    """(node, publisher) in ``graph`` publishing ``msg_type`` (default sensor_msgs/Image) on ``topic``."""
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    node = graph.add(Node(name, namespace=namespace, context=graph.context))
    return node, node.create_publisher(msg_type or Image, topic, qos(reliability))


# --- processes ------------------------------------------------------------------------------------

# A late joiner (see late_label_info); it must not import this module, which would pick a domain id of
# its own: it inherits this run's.
_LATE_LABEL_INFO_SUBSCRIBER = r"""
import json, sys, time
import rclpy
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from vision_msgs.msg import LabelInfo

topic, timeout = sys.argv[1], float(sys.argv[2])
rclpy.init()
node = rclpy.create_node("late_label_info_subscriber")
received = []
qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                 durability=DurabilityPolicy.TRANSIENT_LOCAL)
node.create_subscription(LabelInfo, topic, received.append, qos)
deadline = time.monotonic() + timeout
while not received and time.monotonic() < deadline:
    rclpy.spin_once(node, timeout_sec=0.05)
if received:
    msg = received[0]
    print(json.dumps({"class_map": [[c.class_id, c.class_name] for c in msg.class_map],
                      "threshold": msg.threshold, "frame_id": msg.header.frame_id,
                      "stamp": [msg.header.stamp.sec, msg.header.stamp.nanosec],
                      "count": len(received)}))
node.destroy_node()
rclpy.try_shutdown()
sys.exit(0 if received else 3)
"""



def late_label_info(topic: str, timeout: float = 30.0) -> dict:
    """Start a process that subscribes to the latched ``topic`` now and return the first LabelInfo it got:
    {class_map: [[id, name], ...], threshold, frame_id, stamp: [sec, nanosec], count}."""
    result = subprocess.run([sys.executable, "-c", _LATE_LABEL_INFO_SUBSCRIBER, topic, str(timeout)],
                            env=dict(os.environ), capture_output=True, text=True, timeout=timeout + 60)
    assert result.returncode == 0, f"late label_info subscriber got nothing ({result.returncode}):\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def start_publisher(topic: str, width: int, height: int, *, encoding: str = "rgb8", pad: int = 0,
                    count: int = 1, rate: float = 5.0, reliability: str = "reliable", subscribers: int = 1,
                    first_index: int = 0, large_frames: bool = True, camera_info: str = "") -> subprocess.Popen:
    """A camera process publishing ``count`` frames (0 = until stopped) once ``subscribers`` have matched.

    It prints ``published <index> <unix time>`` per frame. ``encoding`` png/jpeg publishes
    CompressedImage on ``topic``. ``large_frames`` gives it the shipped Fast DDS profile.
    ``camera_info``: a topic on which it publishes ``camera_info_msg`` (focal 1.1 x width) with
    each frame's header, just before the frame, as camera drivers do.
    """
    command = [sys.executable, str(Path(__file__).resolve()), "--topic", topic, "--width", str(width),
               "--height", str(height), "--encoding", encoding, "--pad", str(pad), "--count", str(count),
               "--rate", str(rate), "--reliability", reliability, "--subscribers", str(subscribers),
               "--first-index", str(first_index), "--camera-info", camera_info]
    env = large_frames_env() if large_frames else dict(os.environ)
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def published_frames(process: subprocess.Popen, timeout: float = 60.0) -> dict[int, float]:
    """Wait for a publisher process to finish; {frame index: publish time}. Fails on a non-zero exit."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"publisher failed ({process.returncode}):\n{out}\n{err}"
    return {int(index): float(at) for _, index, at in (line.split() for line in out.splitlines()
                                                        if line.startswith("published "))}


def stop_process(process: subprocess.Popen, timeout: float = 15.0) -> tuple[int, str, str]:
    """SIGINT ``process`` (as Ctrl-C would), wait, and return (exit code, stdout, stderr)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out or "", err or ""


def _publish_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="test camera: publishes make_frame() frames")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--encoding", default="rgb8")
    parser.add_argument("--pad", type=int, default=0)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--reliability", choices=["reliable", "best_effort"], default="reliable")
    parser.add_argument("--subscribers", type=int, default=1)
    parser.add_argument("--first-index", type=int, default=0)
    parser.add_argument("--match-timeout", type=float, default=60.0)
    parser.add_argument("--camera-info", default="", help="also publish CameraInfo on this topic")
    args = parser.parse_args(argv)

    import rclpy
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    rclpy.init()
    node = rclpy.create_node("test_camera")
    compressed = args.encoding in COMPRESSED_FORMATS
    publisher = node.create_publisher(CompressedImage if compressed else Image, args.topic, qos(args.reliability))
    if args.camera_info:
        info_publisher = node.create_publisher(CameraInfo, args.camera_info, qos(args.reliability))
        info = camera_info_msg(args.width, args.height, focal=1.1 * args.width)
    # A few distinct frames, built once: publishing then costs only the transport.
    variants = [compressed_msg(make_frame(i, args.width, args.height), args.encoding) if compressed
                else image_msg(make_frame(i, args.width, args.height), args.encoding, args.pad)
                for i in range(FRAME_VARIANTS)]
    try:
        if not wait_for(lambda: publisher.get_subscription_count() >= args.subscribers, args.match_timeout):
            print(f"no subscriber matched {args.topic} within {args.match_timeout} s", file=sys.stderr)
            return 3
        time.sleep(0.2)  # discovery is two-way: let the subscriber's side finish matching too
        period = 1.0 / args.rate
        start = time.monotonic()
        sent = 0
        while args.count == 0 or sent < args.count:
            index = args.first_index + sent
            msg = variants[index % FRAME_VARIANTS]
            stamp(msg, index)
            if args.camera_info:
                info.header = msg.header
                info_publisher.publish(info)
            publisher.publish(msg)
            print(f"published {index} {time.time():.6f}", flush=True)
            sent += 1
            time.sleep(max(0.0, start + sent * period - time.monotonic()))
        time.sleep(0.5)  # reliable delivery of the last frame before the participant goes away
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(_publish_main())
