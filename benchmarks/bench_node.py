"""seg_node at 2048x1024: the node's own overhead, and latency and memory under a camera faster than the model.

    python benchmarks/bench_node.py [--colour-repeats 50] [--overhead-frames 40] [--repeats 2] [--baseline DIR]
                                    [--soak-seconds 60] [--soak-model unet_small] [--soak-repeats 1]

Everything runs as deployed: the installed ``seg_node`` executable with the
shipped Fast DDS profile, a camera process publishing 2048x1024 rgb8 frames, and
this process subscribing every output (so all are computed and published).
Node figures come from its /diagnostics (latency = receive to last publish;
overhead = latency minus the Segmenter's own time) and its /proc status (RSS);
per-topic figures are end to end: the camera's publish time to the arrival of
that output here (same clock, the processes share the machine).

0. The colour image in process (no ROS graph): the old and the new way.
1. Overhead: the tiny test model, a 2 Hz camera (with its camera_info), all
   outputs on (labels, drivable mask, confidence, colour), with the colour
   image as an overlay, as a palette, and off; and the overlay case again with
   the navigation outputs subscribed too (camera_info, drivable grid on the
   default 195 x 200 cells, obstacle points). ``--baseline DIR`` runs every case a second time
   with the ``seg_perception`` package of another source tree (e.g. ``git
   archive`` of an older commit), interleaved, for a before/after comparison
   under the same machine load.
2. Soak: a model slower than 30 Hz; single frames at 2 Hz (the single-frame
   latency) before and after, and between them, on a fresh node, a 30 Hz
   camera for ``--soak-seconds``: rolling latency p95 (sampled each second
   after 10 s) against the single-frame latency, the node's RSS over time and
   its CPU use; with ``--baseline`` interleaved with the other tree's node.

The machine's load average is printed with every figure: on a shared machine
it is what explains the spread.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))

import ros_helpers as rh  # noqa: E402  (shared with the node tests: camera process, isolated ROS graph)
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from nav_msgs.msg import OccupancyGrid  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, PointCloud2  # noqa: E402

from seg_perception.node import contract  # noqa: E402
from seg_perception.node.contract import DiagnosticKey as Key  # noqa: E402
from seg_perception.size import parse_size  # noqa: E402
from tiny_models import write_tiny_checkpoint  # noqa: E402

WIDTH, HEIGHT = 2048, 1024
NAMESPACE = "/bench"
CAMERA = f"{NAMESPACE}/camera/image_raw"
CAMERA_INFO = f"{NAMESPACE}/camera/camera_info"
TOPICS = ("labels", "drivable_mask", "confidence", "color")
NAVIGATION_TOPICS = {"camera_info": CameraInfo, "drivable_grid": OccupancyGrid, "obstacle_points": PointCloud2}
_sinks = itertools.count()
#: Overhead runs: labels, drivable mask and confidence always on; the colour image as labelled; navigation
#: outputs subscribed or not.
OVERHEAD_VARIANTS = [("overlay (default)", (), False), ("palette", ("-p", "color_mode:=palette"), False),
                     ("overlay at model resolution", ("-p", "color_resolution:=model"), False),
                     ("off", ("-p", "publish_color:=false"), False), ("overlay + navigation", (), True)]


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_text() -> str:
    """The 1-minute load average, as printed beside every figure."""
    return f"{os.getloadavg()[0]:.1f}"


def make_sink(graph: rh.RosGraph, navigation: bool = False):
    """A node here that subscribes every image output, and with ``navigation`` the navigation outputs (as
    a consumer would: typed, reliable), and keeps only arrival times by frame, plus the newest
    diagnostics of the benchmarked node."""
    from rclpy.node import Node

    class Sink(Node):
        def __init__(self):
            super().__init__(f"bench_sink_{next(_sinks)}", context=graph.context)
            self._lock = threading.Lock()
            self.arrivals: dict[str, dict[int, float]] = defaultdict(dict)
            self._diagnostics: dict[str, str] = {}
            topics = {topic: Image for topic in TOPICS} | (NAVIGATION_TOPICS if navigation else {})
            for topic, msg_type in topics.items():
                self.create_subscription(msg_type, f"{NAMESPACE}/segmentation/{topic}", self._arrived(topic),
                                         rh.qos("reliable", depth=1))
            self.create_subscription(DiagnosticArray, contract.DIAGNOSTICS, self._on_diagnostics, 10)

        def _arrived(self, topic):
            def keep(msg):
                at = time.time()
                with self._lock:
                    self.arrivals[topic][rh.frame_index(msg.header)] = at
            return keep

        def _on_diagnostics(self, array):
            for status in array.status:
                if status.name.startswith(f"{NAMESPACE}/seg_node"):
                    with self._lock:
                        self._diagnostics = {kv.key: kv.value for kv in status.values}

        def diagnostics(self) -> dict[str, str]:
            with self._lock:
                return dict(self._diagnostics)

    return graph.add(Sink())


class NodeProcess:
    """seg_node in its own process (optionally from another source tree) plus a sink of its outputs here."""

    def __init__(self, graph: rh.RosGraph, checkpoint: Path, *extra: str, tree: Path | None = None,
                 navigation: bool = False):
        command = [str(rh.SEG_NODE), "--ros-args", "-r", f"__ns:={NAMESPACE}", "-r", f"image:={CAMERA}",
                   "-r", f"camera_info:={CAMERA_INFO}", "-p", f"model_path:={checkpoint}",
                   "-p", "publish_confidence:=true", *extra]
        env = rh.large_frames_env()
        if tree is not None:  # its seg_perception comes first on the path: the console script imports it
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True)
        self.sink = make_sink(graph, navigation)
        outputs = [f"{NAMESPACE}/segmentation/{topic}" for topic in TOPICS]
        if not rh.wait_for(lambda: self.process.poll() is not None
                           or all(self.sink.count_publishers(t) for t in outputs), 300):
            raise RuntimeError("seg_node did not start")
        if self.process.poll() is not None:
            raise RuntimeError(f"seg_node failed: {self.process.stderr.read()}")
        self._graph = graph

    def settled_diagnostics(self, published: int) -> dict[str, str]:
        """Diagnostics once they count ``published`` frames (they are sent once a second)."""
        rh.wait_for(lambda: int(self.sink.diagnostics().get(Key.PUBLISHED_FRAMES, 0)) >= published, 30)
        time.sleep(1.1)
        return self.sink.diagnostics()

    def topic_latency_ms(self, sent: dict[int, float], topic: str) -> list[float]:
        """Camera publish -> arrival here of ``topic``, per answered frame, in ms."""
        return [(at - sent[index]) * 1e3 for index, at in self.sink.arrivals[topic].items() if index in sent]

    def close(self) -> None:
        rh.stop_process(self.process)
        self._graph.remove(self.sink)


def camera(count: int, rate: float) -> subprocess.Popen:
    return rh.start_publisher(CAMERA, WIDTH, HEIGHT, count=count, rate=rate, camera_info=CAMERA_INFO)


def overhead(graph: rh.RosGraph, checkpoint: Path, frames: int, extra, tree: Path | None,
             navigation: bool) -> dict[str, float]:
    """One overhead run: the node's diagnostics and the end-to-end latency p50 per output topic."""
    node = NodeProcess(graph, checkpoint, *extra, tree=tree, navigation=navigation)
    try:
        load = load_text()
        sent = rh.published_frames(camera(frames, 2.0), timeout=frames + 60)
        values = node.settled_diagnostics(len(sent) - 1)
        row = {key: float(values[key]) for key in (Key.LATENCY_P50_MS, Key.LATENCY_P95_MS, Key.MODEL_P50_MS,
                                                   Key.OVERHEAD_P50_MS, Key.OVERHEAD_P95_MS)}
        row["grid_ms"] = float(values.get(Key.GRID_MS, "nan")) if navigation else float("nan")
        for topic in TOPICS + ("drivable_grid",):
            latency = node.topic_latency_ms(sent, topic)
            row[f"{topic}_e2e_p50_ms"] = statistics.median(latency) if latency else float("nan")
        return {**row, "load": f"{load}-{load_text()}"}
    finally:
        node.close()


def overhead_table(graph: rh.RosGraph, checkpoint: Path, frames: int, repeats: int, trees, cases):
    print(f"## overhead: 2048x1024 rgb8, tiny model, {frames} frames at 2 Hz; ms; node latency = receive to "
          f"last publish; e2e = camera publish to arrival here (p50); grid = the node's last grid + points")
    print("| outputs | code | run | load | latency p50 | latency p95 | Segmenter p50 | overhead p50 | "
          "overhead p95 | e2e labels | e2e drivable | e2e confidence | e2e colour | e2e grid | grid |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run in range(1, repeats + 1):
        for label, extra, navigation in [variant for variant in OVERHEAD_VARIANTS if variant[0] in cases]:
            for code, tree in trees:  # interleaved, so both see the same machine load
                row = overhead(graph, checkpoint, frames, extra, tree, navigation)
                figures = [row[k] for k in (Key.LATENCY_P50_MS, Key.LATENCY_P95_MS, Key.MODEL_P50_MS,
                                            Key.OVERHEAD_P50_MS, Key.OVERHEAD_P95_MS)] + [
                    row[f"{t}_e2e_p50_ms"] for t in TOPICS]
                figures += [row["drivable_grid_e2e_p50_ms"], row["grid_ms"]]
                print(f"| {label} | {code} | {run} | {row['load']} | "
                      + " | ".join("-" if value != value else f"{value:.1f}" for value in figures) + " |",
                      flush=True)


def single_frames(graph: rh.RosGraph, checkpoint: Path, size, tree: Path | None, frames: int = 20):
    """(diagnostics, load) of a fresh node fed ``frames`` frames at 2 Hz: the single-frame latency."""
    node = NodeProcess(graph, checkpoint, *size, tree=tree)
    try:
        load = load_text()
        rh.published_frames(camera(frames, 2.0), timeout=120)
        return node.settled_diagnostics(frames - 1), load
    finally:
        node.close()


def soak(graph: rh.RosGraph, checkpoint: Path, input_size: str, seconds: float,
         tree: Path | None) -> dict[str, float]:
    width, height = parse_size(input_size)
    size = ("-p", f"input_width:={width}", "-p", f"input_height:={height}")
    before, before_load = single_frames(graph, checkpoint, size, tree)
    # A fresh node, so that its latency window (the last 300 frames) only ever holds soak frames.
    node = NodeProcess(graph, checkpoint, *size, tree=tree)
    try:
        fast = camera(int(seconds * 30), 30.0)
        started = time.monotonic()
        rolling_p95, rss, loads, cpu = [], [], [], []
        while fast.poll() is None:
            time.sleep(1.0)
            elapsed = time.monotonic() - started
            rss.append((elapsed, rss_mb(node.process.pid)))
            if elapsed >= 10:  # past start-up transients
                rolling_p95.append(float(node.sink.diagnostics()[Key.LATENCY_P95_MS]))
                loads.append(os.getloadavg()[0])
                cpu.append((elapsed, cpu_seconds(node.process.pid)))
        sent = rh.published_frames(fast, timeout=60)
        final = node.settled_diagnostics(0)
        labels_e2e = node.topic_latency_ms(sent, "labels")
    finally:
        node.close()
    # Single frames again: the machine's load drifts, so the soak is compared with both sides of it.
    after, after_load = single_frames(graph, checkpoint, size, tree)
    warm_rss = [value for at, value in rss if at >= 10]
    return {
        "single_load": f"{before_load}, {after_load}", "soak_load": f"{min(loads):.1f}-{max(loads):.1f}",
        "single_p50_ms": statistics.mean(float(d[Key.LATENCY_P50_MS]) for d in (before, after)),
        "single_p50_before_ms": float(before[Key.LATENCY_P50_MS]),
        "single_p50_after_ms": float(after[Key.LATENCY_P50_MS]),
        "single_p95_ms": statistics.mean(float(d[Key.LATENCY_P95_MS]) for d in (before, after)),
        "single_model_p50_ms": statistics.mean(float(d[Key.MODEL_P50_MS]) for d in (before, after)),
        "soak_p95_max_ms": max(rolling_p95), "soak_p95_median_ms": statistics.median(rolling_p95),
        # a growing queue would show as a rising p95: compare the first and last readings
        "soak_p95_first_ms": rolling_p95[0], "soak_p95_last_ms": rolling_p95[-1],
        "soak_p50_ms": float(final[Key.LATENCY_P50_MS]),
        "soak_model_p50_ms": float(final[Key.MODEL_P50_MS]),
        "soak_labels_e2e_p50_ms": statistics.median(labels_e2e),
        "soak_labels_e2e_p95_ms": statistics.quantiles(labels_e2e, n=20)[-1],
        "soak_fps": int(final[Key.PUBLISHED_FRAMES]) / seconds,
        "node_cpu_percent": 100 * (cpu[-1][1] - cpu[0][1]) / (cpu[-1][0] - cpu[0][0]),
        "received": int(final[Key.RECEIVED_FRAMES]), "dropped": int(final[Key.DROPPED_FRAMES]),
        "rss_at_10s_mb": warm_rss[0], "rss_end_mb": warm_rss[-1], "rss_max_mb": max(v for _, v in rss),
    }


def soak_table(graph: rh.RosGraph, checkpoint: Path, args, trees) -> None:
    print(f"## soak: {args.soak_model} at {args.soak_input}, 30 Hz 2048x1024 camera for {args.soak_seconds:.0f} s; "
          f"ms; single frames before and after the soak (their mean is the reference); loads: single-frame "
          f"phases / soak (min-max); node CPU in % of one core, and per published frame")
    print("| code | run | load | single-frame p50 before, after | mean single-frame p50 / p95 | Segmenter p50 alone / in soak | soak p50 | "
          "soak p95 first -> last | soak p95 median / max | max p95 / single p50 | e2e labels p50 / p95 | fps | received / dropped | "
          "node CPU | RSS at 10 s -> end (max) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run in range(1, args.soak_repeats + 1):
        for code, tree in trees:
            r = soak(graph, checkpoint, args.soak_input, args.soak_seconds, tree)
            print(f"| {code} | {run} | {r['single_load']} / {r['soak_load']} | "
                  f"{r['single_p50_before_ms']:.0f}, {r['single_p50_after_ms']:.0f} | "
                  f"{r['single_p50_ms']:.0f} / {r['single_p95_ms']:.0f} | "
                  f"{r['single_model_p50_ms']:.0f} / {r['soak_model_p50_ms']:.0f} | {r['soak_p50_ms']:.0f} | "
                  f"{r['soak_p95_first_ms']:.0f} -> {r['soak_p95_last_ms']:.0f} | "
                  f"{r['soak_p95_median_ms']:.0f} / {r['soak_p95_max_ms']:.0f} | "
                  f"**{r['soak_p95_max_ms'] / r['single_p50_ms']:.2f}** | "
                  f"{r['soak_labels_e2e_p50_ms']:.0f} / {r['soak_labels_e2e_p95_ms']:.0f} | {r['soak_fps']:.1f} | "
                  f"{r['received']} / {r['dropped']} | "
                  f"{r['node_cpu_percent']:.0f} % ({r['node_cpu_percent'] * 10 / r['soak_fps']:.0f} ms/frame) | "
                  f"{r['rss_at_10s_mb']:.0f} -> {r['rss_end_mb']:.0f} MB ({r['rss_max_mb']:.0f}) |", flush=True)


def colour_micro(repeats: int) -> None:
    """In-process timings of the colour image at 2048x1024: from camera-resolution labels into a new array
    (what the node did before) against model-resolution labels into a reused message buffer (what it does)."""
    import numpy as np

    from seg_perception.inference import colorize, colorize_overlay
    from seg_perception.inference.postprocess import resize_nearest
    from seg_perception.ros.image_msgs import ImageOutput, array_to_image
    from seg_perception.size import Size

    rng = np.random.default_rng(0)
    image = rh.make_frame(0, WIDTH, HEIGHT)
    small = rng.integers(0, 19, (256, 512), np.uint8)
    labels = resize_nearest(small, Size(WIDTH, HEIGHT))
    output = ImageOutput("rgb8")
    out = output.pixels(output.message.header, HEIGHT, WIDTH)
    bgr = np.ascontiguousarray(image[..., ::-1])
    cases = {
        "overlay, camera-size labels, new array": lambda: colorize_overlay(image, labels),
        "overlay, model-size labels, into the message": lambda: colorize_overlay(image, small, out=out),
        "overlay of a bgr8 frame, model-size labels, into the message":
            lambda: colorize_overlay(bgr, small, bgr=True, out=out),
        "palette, camera-size labels, new array": lambda: colorize(labels),
        "palette, model-size labels, into the message": lambda: colorize(small, Size(WIDTH, HEIGHT), out=out),
        "copy of a 6 MB image into a new message (array_to_image)":
            lambda: array_to_image(image, "rgb8", output.message.header),
    }
    times = {name: [] for name in cases}
    for _ in range(repeats):  # interleaved, so that every case sees the same load
        for name, case in cases.items():
            start = time.perf_counter()
            case()
            times[name].append((time.perf_counter() - start) * 1e3)
    print(f"## colour image, in process, 2048x1024, {repeats} runs each (interleaved), load {load_text()}")
    print("| what | p50 ms | p90 ms |")
    print("|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {np.percentile(values, 50):.1f} | {np.percentile(values, 90):.1f} |")


def slow_checkpoint(path: Path, name: str, input_size: tuple[int, int]) -> Path:
    from seg_perception.checkpoint import ModelSpec, save_checkpoint

    spec = ModelSpec(name=name, input_size=input_size)
    save_checkpoint(path, spec, spec.build())
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--colour-repeats", type=int, default=50, help="0 skips the colour micro-benchmark")
    parser.add_argument("--overhead-frames", type=int, default=40, help="0 skips the overhead runs")
    parser.add_argument("--repeats", type=int, default=2, help="overhead runs per case (default 2)")
    parser.add_argument("--cases", nargs="+", default=[label for label, _, _ in OVERHEAD_VARIANTS],
                        choices=[label for label, _, _ in OVERHEAD_VARIANTS], metavar="CASE",
                        help="overhead cases to run (default all: " + ", ".join(
                            repr(label) for label, _, _ in OVERHEAD_VARIANTS) + ")")
    parser.add_argument("--baseline", type=Path, help="a source tree whose seg_perception to compare with")
    parser.add_argument("--soak-seconds", type=float, default=60.0, help="0 skips the soak")
    parser.add_argument("--soak-repeats", type=int, default=1)
    parser.add_argument("--soak-model", default="unet_small", help="a model slower than 30 Hz at --soak-input")
    parser.add_argument("--soak-input", default="512x256")
    args = parser.parse_args()
    if not rh.SEG_NODE.is_file():
        sys.exit(f"{rh.SEG_NODE} is missing: pip install -e .")
    if args.baseline is not None and not (args.baseline / "seg_perception" / "ros" / "node.py").is_file():
        sys.exit(f"--baseline {args.baseline}: no seg_perception/ros/node.py there")

    graph = rh.RosGraph()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if args.colour_repeats > 0:
                colour_micro(args.colour_repeats)
            trees = [("this tree", None)] + ([(f"baseline {args.baseline}", args.baseline)] if args.baseline else [])
            if args.overhead_frames > 0:
                tiny = write_tiny_checkpoint(Path(tmp) / "tiny.pt")
                overhead_table(graph, tiny, args.overhead_frames, args.repeats, trees, args.cases)
            if args.soak_seconds <= 0:
                return
            width, height = parse_size(args.soak_input)
            slow = slow_checkpoint(Path(tmp) / "slow.pt", args.soak_model, (width, height))
            soak_table(graph, slow, args, trees)
        finally:
            graph.close()


if __name__ == "__main__":
    main()
