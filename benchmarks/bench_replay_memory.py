"""Memory of ``seg-bag-eval --live``: peak RSS above baseline of the replaying process, and of the node.

    python benchmarks/bench_replay_memory.py [--frames 500] [--camera-size 2048x1024] [--rate 10]
                                             [--input-size 64x32] [--dir /tmp] [--keep-bag]

Writes a bag of ``--frames`` camera frames at ``--camera-size`` (jpeg
CompressedImage, camera_info, mono8 ground truth: ~2.3 MB a frame on disk at
2048x1024), starts a seg_node with the tiny test model (the node's answers,
labels and drivable mask, are at the camera's size whatever the model's
input, so a small, fast model measures the same answer memory), and runs
``seg-bag-eval --live --use-running-node`` in this process at ``--rate`` Hz.

Baselines: this process after a warm-up run of seg-bag-eval on a 3-frame bag
(imports, rclpy, torch, matplotlib and the allocator's arenas in place), the
node after that warm-up too (model loaded, buffers allocated). Both peaks
are reset then (``/proc/PID/clear_refs``), and the figure is ``VmHWM`` after the
run minus ``VmRSS`` at the reset. The bags are deleted at the end unless
``--keep-bag``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))

import ros_helpers as rh  # noqa: E402  (isolates the ROS graph: own ROS_DOMAIN_ID, localhost only)
from tiny_models import write_tiny_checkpoint  # noqa: E402

from seg_perception.bags import messages  # noqa: E402
from seg_perception.bags.writer import BagWriter  # noqa: E402
from seg_perception.ros.bag_eval import main as bag_eval  # noqa: E402
from seg_perception.ros.live_replay import node_ros_args  # noqa: E402
from seg_perception.ros.node_process import NodeProcess  # noqa: E402
from seg_perception.size import size_arg  # noqa: E402

NAMESPACE = "/bench_replay"
IMAGE_TOPIC = "/camera/image_raw/compressed"
START_NS = 1_700_000_000 * 1_000_000_000


def status_kb(pid: int | str, key: str) -> int:
    """A field of /proc/PID/status in kB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} for {pid}")


def reset_peak(pid: int | str) -> int:
    """Reset the process's peak RSS (VmHWM) to its current RSS; returns that RSS in kB."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return status_kb(pid, "VmRSS")


def write_bag(path: Path, frames: int, size: tuple[int, int], hz: float = 10.0) -> Path:
    """``frames`` jpeg frames (blocky, a few distinct contents) with camera_info and trainId ground truth."""
    width, height = size
    contents = [rh.make_frame(index, width, height) for index in range(rh.FRAME_VARIANTS)]
    with BagWriter(path, "mcap") as bag:
        bag.add_topic("/camera/camera_info", messages.CAMERA_INFO)
        bag.add_topic(IMAGE_TOPIC, messages.COMPRESSED_IMAGE)
        bag.add_topic("/camera/semantic_gt", messages.IMAGE)
        for index in range(frames):
            stamp = START_NS + round(index * 1e9 / hz)
            header = messages.make_header(stamp, "camera")
            rgb = contents[index % len(contents)]
            bag.write("/camera/camera_info", messages.camera_info_msg(width, height, header), stamp)
            bag.write(IMAGE_TOPIC, messages.compressed_msg(rgb, "jpeg", header), stamp + 1000)
            truth = (rgb[..., 1] // 32).astype(np.uint8)  # trainIds 0..7, road (0) among them
            bag.write("/camera/semantic_gt", messages.image_msg(truth, "mono8", header), stamp + 2000)
    return path


def evaluate(bag: Path, checkpoint: Path, out: Path, *extra: str) -> dict:
    """seg-bag-eval --live on the node already running, in this process; its metrics.json."""
    argv = [str(bag), "--checkpoint", str(checkpoint), "--out", str(out), "--quiet", "--live",
            "--use-running-node", "--node-namespace", NAMESPACE, "--image-topic", IMAGE_TOPIC,
            "--timeout", "60", *extra]
    if bag_eval(argv) != 0:
        raise SystemExit(f"seg-bag-eval {' '.join(argv)} failed")
    return json.loads((out / "metrics.json").read_text())


def wait_for_node(node: NodeProcess, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while "segmenting" not in node.log_path.read_text(errors="replace"):
        node.check()
        if time.monotonic() > deadline:
            raise SystemExit(f"seg_node did not come up; see {node.log_path}")
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--camera-size", type=size_arg(), default=(2048, 1024), metavar="WxH")
    parser.add_argument("--rate", type=float, default=10.0, help="replay rate in Hz (default 10, the bag's recorded rate)")
    parser.add_argument("--input-size", type=size_arg(), default=(64, 32), metavar="WxH",
                        help="the node's model input (default 64x32, the tiny model's)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()), help="where the bags go")
    parser.add_argument("--keep-bag", action="store_true")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench_replay_memory_", dir=args.dir))
    node = None
    try:
        checkpoint = write_tiny_checkpoint(work / "tiny.pt")
        started = time.perf_counter()
        big = write_bag(work / "bag", args.frames, args.camera_size)
        warm = write_bag(work / "warm_bag", 3, args.camera_size)
        size_mb = sum(f.stat().st_size for f in big.rglob("*") if f.is_file()) / 2**20
        print(f"wrote {args.frames} frames of {args.camera_size[0]}x{args.camera_size[1]} ({size_mb:.0f} MB) in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        node = NodeProcess(node_ros_args(NAMESPACE, IMAGE_TOPIC, True, checkpoint, "cpu", args.input_size, None, {}),
                           work / "seg_node.log")
        wait_for_node(node)
        evaluate(warm, checkpoint, work / "warm_out")
        load_before = os.getloadavg()[0]
        self_base, node_base = reset_peak("self"), reset_peak(node.pid)
        started = time.perf_counter()
        metrics = evaluate(big, checkpoint, work / "out", "--rate", str(args.rate))
        seconds = time.perf_counter() - started
        self_peak, node_peak = status_kb("self", "VmHWM"), status_kb(node.pid, "VmHWM")
        load_after = os.getloadavg()[0]
    finally:
        if node is not None:
            node.stop()
        if not args.keep_bag:
            shutil.rmtree(work, ignore_errors=True)
    latency = metrics["latency_ms"]
    print(f"command: {' '.join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:]))}")
    print(f"replay of {args.frames} frames at {args.rate:g} Hz: {seconds:.0f} s, published {metrics['published']}, "
          f"answered {metrics['answered']}, dropped {metrics['dropped']}, latency p50/p90/p99 "
          f"{latency['p50']:.0f}/{latency['p90']:.0f}/{latency['p99']:.0f} ms, mIoU {metrics['miou']:.4f}, "
          f"load {load_before:.1f} -> {load_after:.1f}")
    print(f"seg-bag-eval process: baseline {self_base / 1024:.0f} MB, peak {self_peak / 1024:.0f} MB, "
          f"peak above baseline {(self_peak - self_base) / 1024:.0f} MB")
    print(f"seg_node process:     baseline {node_base / 1024:.0f} MB, peak {node_peak / 1024:.0f} MB, "
          f"peak above baseline {(node_peak - node_base) / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
