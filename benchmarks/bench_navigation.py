"""Drivable grid + obstacle points per frame, and the table rebuild, for a 2048x1024 camera.

    python benchmarks/bench_navigation.py [--frames 200] [--camera 2048x1024] [--labels 512x256 256x128 2048x1024]

The grid is 20 m x 20 m at 0.1 m (x 0.5..20.5, y -10..10: 200 x 200 cells). Label images are
generated street scenes (road, cars, people, ...) at each label size: the node projects the
model-resolution labels; the camera-resolution row is for offline use (bag evaluation of
ground truth). Prints median and p90 per-frame milliseconds of grid + points and the table
build time (median of 3), plus the cost of filling the OccupancyGrid / PointCloud2 buffers.
"""

from __future__ import annotations

import argparse
import array
import statistics
import time

from seg_perception.labels import class_ids
from seg_perception.navigation import (CameraModel, CameraMount, GridSpec, GroundProjection, obstacle_points,
                                       vote_lut)
from seg_perception.size import Size, size_arg
from training.data.make_data import scene_rng
from training.data.scene_generator import generate_scene

GRID = GridSpec(resolution=0.1, x_min=0.5, x_max=20.5, y_min=-10.0, y_max=10.0)
MOUNT = CameraMount(x=0.5, y=0.0, z=1.5, roll=0.0, pitch=3.0, yaw=0.0)


def _camera(width: int, height: int) -> CameraModel:
    focal = 1.1 * width  # the generated scenes' focal length range is 0.95..1.25 x width
    return CameraModel.from_values(width, height, [focal, 0, width / 2, 0, focal, height / 2, 0, 0, 1])


def bench(camera: CameraModel, labels_size: tuple[int, int], frames: int) -> dict:
    builds = []
    for _ in range(3):
        projection = GroundProjection(camera, MOUNT, GRID, labels_size)
        builds.append(projection.build_ms)
    lut = vote_lut(19, class_ids(["road"]))
    scenes = [generate_scene(scene_rng(0, "val", i), *labels_size)[1] for i in range(8)]
    times, bytes_ms = [], []
    for index in range(frames):
        start = time.perf_counter()
        values = projection.occupancy(scenes[index % len(scenes)], lut)
        points = obstacle_points(GRID, values)
        middle = time.perf_counter()
        grid_data = array.array("b", values.tobytes())
        point_data = array.array("B")
        point_data.frombytes(points.tobytes())
        end = time.perf_counter()
        times.append((middle - start) * 1e3)
        bytes_ms.append((end - middle) * 1e3)
    times.sort()
    return {"build_ms": statistics.median(builds), "p50_ms": statistics.median(times),
            "p90_ms": times[int(0.9 * (len(times) - 1))], "message_ms": statistics.median(bytes_ms),
            "entries": projection.cells_in_view, "points": len(points), "grid_bytes": len(grid_data)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--camera", type=size_arg(), default=Size(2048, 1024), metavar="WxH")
    parser.add_argument("--labels", type=size_arg(), nargs="+",
                        default=[Size(512, 256), Size(256, 128), Size(2048, 1024)],
                        metavar="WxH")
    args = parser.parse_args()
    camera = _camera(*args.camera)
    print(f"camera {args.camera}, grid {GRID.width}x{GRID.height} cells at "
          f"{GRID.resolution} m, {args.frames} frames per row")
    print("| labels | grid + points p50 ms | p90 ms | message buffers ms | table build ms | cells in view |")
    print("|---|---|---|---|---|---|")
    for size in args.labels:
        row = bench(camera, size, args.frames)
        print(f"| {size} | {row['p50_ms']:.2f} | {row['p90_ms']:.2f} | {row['message_ms']:.2f} | "
              f"{row['build_ms']:.0f} | {row['entries']} |")


if __name__ == "__main__":
    main()
