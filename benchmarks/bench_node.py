"""seg_node at 2048x1024: the node's own overhead, and latency and memory under a camera faster than the model.

    python benchmarks/bench_node.py [--overhead-frames 40] [--soak-seconds 60] [--soak-model unet_small]

Everything runs as deployed: the installed ``seg_node`` executable with the
shipped Fast DDS profile, a camera process publishing 2048x1024 rgb8 frames, and
this process subscribing every output (so all are computed and published).
Figures come from the node's /diagnostics (latency = receive to last publish;
overhead = latency minus the Segmenter's own time) and its /proc status (RSS).

1. Overhead: the tiny test model, a 2 Hz camera, all outputs on (labels,
   drivable mask, confidence, colour), with the colour image as an overlay,
   as a palette, and off.
2. Soak: a model slower than 30 Hz; first single frames at 2 Hz (the
   single-frame latency), then, on a fresh node, a 30 Hz camera for
   ``--soak-seconds``: rolling latency p95 (sampled each second after 10 s)
   against the single-frame latency, and the node's RSS over time.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))

import ros_helpers as rh  # noqa: E402  (shared with the node tests: camera process, isolated ROS graph)
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

WIDTH, HEIGHT = 2048, 1024
NAMESPACE = "/bench"
CAMERA = f"{NAMESPACE}/camera/image_raw"
_sinks = itertools.count()
#: Overhead runs: labels, drivable mask and confidence always on; the colour image as labelled.
OVERHEAD_VARIANTS = [("overlay (default)", ()), ("palette", ("-p", "color_mode:=palette")),
                     ("off", ("-p", "publish_color:=false"))]
OUTPUTS = {f"{NAMESPACE}/segmentation/{name}": Image for name in ("labels", "drivable_mask", "color", "confidence")}


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class NodeProcess:
    """seg_node in its own process plus this process's subscriptions to its outputs and diagnostics."""

    def __init__(self, graph: rh.RosGraph, checkpoint: Path, *extra: str):
        command = [str(rh.SEG_NODE), "--ros-args", "-r", f"__ns:={NAMESPACE}", "-r", f"image:={CAMERA}",
                   "-p", f"model_path:={checkpoint}", "-p", "publish_confidence:=true", *extra]
        self.process = subprocess.Popen(command, env=rh.large_frames_env(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        self.sink = rh.make_collector(graph, "/", {**OUTPUTS, "/diagnostics": DiagnosticArray},
                                      name=f"bench_sink_{next(_sinks)}")
        if not rh.wait_for(lambda: self.process.poll() is not None
                           or all(self.sink.count_publishers(t) for t in OUTPUTS), 300):
            raise RuntimeError("seg_node did not start")
        if self.process.poll() is not None:
            raise RuntimeError(f"seg_node failed: {self.process.stderr.read()}")
        self._graph = graph

    def diagnostics(self) -> dict[str, str]:
        """The node's latest diagnostics values."""
        for array in reversed(self.sink.received("/diagnostics")):
            for status in array.status:
                if status.name.startswith(f"{NAMESPACE}/seg_node"):
                    return {kv.key: kv.value for kv in status.values}
        return {}

    def settled_diagnostics(self, published: int) -> dict[str, str]:
        """Diagnostics once they count ``published`` frames (they are sent once a second)."""
        rh.wait_for(lambda: int(self.diagnostics().get("published_frames", 0)) >= published, 30)
        time.sleep(1.1)
        return self.diagnostics()

    def close(self) -> None:
        rh.stop_process(self.process)
        self._graph.remove(self.sink)


def camera(count: int, rate: float) -> subprocess.Popen:
    return rh.start_publisher(CAMERA, WIDTH, HEIGHT, count=count, rate=rate)


def overhead(graph: rh.RosGraph, checkpoint: Path, frames: int, *extra: str) -> dict[str, str]:
    node = NodeProcess(graph, checkpoint, *extra)
    try:
        sent = rh.published_frames(camera(frames, 2.0), timeout=frames + 60)
        return node.settled_diagnostics(len(sent) - 1)
    finally:
        node.close()


def soak(graph: rh.RosGraph, checkpoint: Path, input_size: str, seconds: float) -> dict[str, float]:
    width, height = input_size.split("x")
    size = ("-p", f"input_width:={width}", "-p", f"input_height:={height}")
    single = 20
    node = NodeProcess(graph, checkpoint, *size)
    try:
        rh.published_frames(camera(single, 2.0), timeout=120)
        alone = node.settled_diagnostics(single - 1)
    finally:
        node.close()
    # A fresh node, so that its latency window (the last 300 frames) only ever holds soak frames.
    node = NodeProcess(graph, checkpoint, *size)
    try:
        fast = camera(int(seconds * 30), 30.0)
        started = time.monotonic()
        rolling_p95, rss = [], []
        while fast.poll() is None:
            time.sleep(1.0)
            elapsed = time.monotonic() - started
            rss.append((elapsed, rss_mb(node.process.pid)))
            if elapsed >= 10:  # past start-up transients
                rolling_p95.append(float(node.diagnostics()["latency_p95_ms"]))
        rh.published_frames(fast, timeout=60)
        final = node.settled_diagnostics(0)
        warm_rss = [value for at, value in rss if at >= 10]
        return {
            "single_p50_ms": float(alone["latency_p50_ms"]), "single_p95_ms": float(alone["latency_p95_ms"]),
            "single_model_p50_ms": float(alone["model_p50_ms"]),
            "soak_p95_max_ms": max(rolling_p95), "soak_p95_median_ms": statistics.median(rolling_p95),
            # a growing queue would show as a rising p95: compare the first and last readings
            "soak_p95_first_ms": rolling_p95[0], "soak_p95_last_ms": rolling_p95[-1],
            "soak_model_p50_ms": float(final["model_p50_ms"]),
            "soak_fps": int(final["published_frames"]) / seconds,
            "received": int(final["received_frames"]), "dropped": int(final["dropped_frames"]),
            "rss_at_10s_mb": warm_rss[0], "rss_end_mb": warm_rss[-1], "rss_max_mb": max(v for _, v in rss),
        }
    finally:
        node.close()


def slow_checkpoint(path: Path, name: str, input_size: tuple[int, int]) -> Path:
    from seg_perception.checkpoint import ModelSpec, save_checkpoint

    spec = ModelSpec(name=name, input_size=input_size)
    save_checkpoint(path, spec, spec.build())
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--overhead-frames", type=int, default=40, help="0 skips the overhead runs")
    parser.add_argument("--soak-seconds", type=float, default=60.0, help="0 skips the soak")
    parser.add_argument("--soak-model", default="unet_small", help="a model slower than 30 Hz at --soak-input")
    parser.add_argument("--soak-input", default="512x256")
    args = parser.parse_args()
    if not rh.SEG_NODE.is_file():
        sys.exit(f"{rh.SEG_NODE} is missing: pip install -e .")

    graph = rh.RosGraph()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            tiny = rh.tiny_checkpoint(Path(tmp) / "tiny.pt")
            if args.overhead_frames > 0:
                print(f"## overhead: 2048x1024 rgb8, tiny model, {args.overhead_frames} frames at 2 Hz")
                print("| colour output | latency p50 | latency p95 | Segmenter p50 | overhead p50 | overhead p95 |")
                print("|---|---|---|---|---|---|")
            for label, extra in OVERHEAD_VARIANTS if args.overhead_frames > 0 else []:
                over = overhead(graph, tiny, args.overhead_frames, *extra)
                print(f"| {label} | " + " | ".join(over[key] for key in (
                    "latency_p50_ms", "latency_p95_ms", "model_p50_ms", "overhead_p50_ms", "overhead_p95_ms")) + " |")
            if args.soak_seconds <= 0:
                return
            width, height = (int(v) for v in args.soak_input.split("x"))
            slow = slow_checkpoint(Path(tmp) / "slow.pt", args.soak_model, (width, height))
            result = soak(graph, slow, args.soak_input, args.soak_seconds)
            print(f"## soak: {args.soak_model} at {args.soak_input}, "
                  f"30 Hz 2048x1024 camera for {args.soak_seconds:.0f} s")
            for key, value in result.items():
                print(f"  {key}: {value:.1f}" if isinstance(value, float) else f"  {key}: {value}")
            print(f"  p95 / single-frame p50: {result['soak_p95_max_ms'] / result['single_p50_ms']:.2f}")
        finally:
            graph.close()


if __name__ == "__main__":
    main()
