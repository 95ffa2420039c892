"""Ground-plane projection checked against geometry computed independently (OpenCV's own projection)."""

import math

import cv2
import numpy as np
import pytest

from seg_perception.navigation import (FREE, OCCUPIED, UNKNOWN, CameraModel, CameraModelError, CameraMount,
                                       GridSpec, GroundProjection, cell_values, obstacle_points, vote_lut)

WIDTH, HEIGHT = 640, 320
K = [420.0, 0.0, 321.3, 0.0, 415.0, 158.7, 0.0, 0.0, 1.0]
MOUNT = CameraMount(x=0.8, y=-0.3, z=1.4, roll=2.5, pitch=6.0, yaw=12.0)
GRID = GridSpec(resolution=0.1, x_min=0.5, x_max=15.0, y_min=-8.0, y_max=8.0)
ALL_DRIVABLE = vote_lut(19, range(19))


def _extrinsics(mount: CameraMount) -> tuple[np.ndarray, np.ndarray]:
    """(rvec, tvec) of grid -> optical frame, composed from axis-angle rotations (not the module's matrices)."""
    def turn(axis, degrees):
        return cv2.Rodrigues(np.asarray(axis, np.float64) * math.radians(degrees))[0]

    body = turn([0, 0, 1], mount.yaw) @ turn([0, 1, 0], mount.pitch) @ turn([1, 0, 0], mount.roll)
    optical_axes = np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], np.float64).T  # x right, y down, z forward
    rotation = (body @ optical_axes).T  # grid -> optical
    return cv2.Rodrigues(rotation)[0], -rotation @ mount.position


def _seen_cells(camera: CameraModel, mount: CameraMount, grid: GridSpec) -> np.ndarray:
    """Cells whose centre lies in front of the lens and projects inside the image (cv2.projectPoints)."""
    rvec, tvec = _extrinsics(mount)
    centres = grid.centres.astype(np.float64)
    depth = (centres @ cv2.Rodrigues(rvec)[0].T + tvec)[:, 2]
    pixels, _ = cv2.projectPoints(centres, rvec, tvec, camera.k, camera.d)
    u, v = pixels.reshape(-1, 2).T
    inside = (u >= -0.5) & (u < camera.width - 0.5) & (v >= -0.5) & (v < camera.height - 0.5)
    return (inside & (depth > 0.05)).reshape(grid.height, grid.width)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize("distortion", [(), (-0.08, 0.01, 0.0005, -0.0003, 0.0)])
@pytest.mark.parametrize("labels_size", [(WIDTH, HEIGHT), (WIDTH // 2, HEIGHT // 2)])
def test_free_cells_are_the_ground_the_camera_sees(distortion, labels_size):
    camera = CameraModel.from_values(WIDTH, HEIGHT, K, distortion)
    projection = GroundProjection(camera, MOUNT, GRID, labels_size)
    grid = projection.occupancy(np.zeros(labels_size[::-1], np.uint8), ALL_DRIVABLE)
    seen = _seen_cells(camera, MOUNT, GRID)
    assert seen.sum() > 5000  # the view covers a real part of the grid
    assert set(np.unique(grid)) == {FREE, UNKNOWN}
    assert _iou(grid == FREE, seen) >= 0.98


def test_unknown_and_blocked_pixels_make_unknown_and_occupied_cells():
    camera = CameraModel.from_values(WIDTH, HEIGHT, K)
    projection = GroundProjection(camera, MOUNT, GRID, (WIDTH, HEIGHT))
    seen = _seen_cells(camera, MOUNT, GRID)
    blocked = projection.occupancy(np.full((HEIGHT, WIDTH), 13, np.uint8), vote_lut(19, [0]))  # all "car"
    assert _iou(blocked == OCCUPIED, seen) >= 0.98
    unknown = projection.occupancy(np.full((HEIGHT, WIDTH), 255, np.uint8), ALL_DRIVABLE)
    assert (unknown == UNKNOWN).all()


def _band_labels(camera, mount, x_near, x_far, size):
    """A label image of 'building' (2) with the ground band x_near <= x <= x_far drawn as 'road' (0)."""
    rvec, tvec = _extrinsics(mount)
    ys = np.linspace(-12, 12, 49)
    outline = np.concatenate([np.stack([np.full_like(ys, x_near), ys, 0 * ys], 1),
                              np.stack([np.full_like(ys, x_far), ys[::-1], 0 * ys], 1)])
    pixels, _ = cv2.projectPoints(outline, rvec, tvec, camera.scaled(*size).k, camera.d)
    labels = np.full(size[::-1], 2, np.uint8)
    # fillPoly covers pixel centres inside the outline (16x sub-pixel precision)
    cv2.fillPoly(labels, [np.round(pixels.reshape(-1, 2) * 16).astype(np.int32)], 0, shift=4)
    return labels


@pytest.mark.parametrize("x_near", [3.0, 6.0, 10.0])
def test_drivable_stripes_land_in_their_grid_rows(x_near):
    camera = CameraModel.from_values(WIDTH, HEIGHT, K)
    mount = CameraMount(x=0.8, y=-0.3, z=1.4, roll=1.5, pitch=6.0, yaw=8.0)
    x_far = x_near + 1.0
    projection = GroundProjection(camera, mount, GRID, (WIDTH, HEIGHT))
    grid = projection.occupancy(_band_labels(camera, mount, x_near, x_far, (WIDTH, HEIGHT)), vote_lut(19, [0]))
    xs = GRID.centres[:, 0].reshape(grid.shape)
    free_x = xs[grid == FREE]
    res = GRID.resolution
    assert free_x.min() >= x_near - 1.5 * res and free_x.max() <= x_far + 1.5 * res  # within one cell
    in_band = _seen_cells(camera, mount, GRID) & (xs > x_near + res) & (xs < x_far - res)
    assert (grid[in_band] == FREE).mean() >= 0.95
    assert (grid[_seen_cells(camera, mount, GRID) & ((xs < x_near - 2 * res) | (xs > x_far + 2 * res))]
            == OCCUPIED).all()


def test_cell_rule_majority_ties_to_obstacles_unknown_majority_unknown():
    counts = np.array([[0, 0, 0], [3, 5, 0], [5, 3, 0], [4, 4, 0], [1, 2, 4], [1, 2, 3], [0, 0, 7]])
    assert cell_values(counts).tolist() == [UNKNOWN, FREE, OCCUPIED, OCCUPIED, UNKNOWN, FREE, UNKNOWN]


def test_obstacle_points_are_the_centres_of_occupied_cells():
    grid = GridSpec(resolution=0.5, x_min=0.0, x_max=2.0, y_min=-1.0, y_max=1.0)
    values = np.full((grid.height, grid.width), FREE, np.int8)
    values[0, 1] = OCCUPIED  # row 0 is y in [-1, -0.5), column 1 is x in [0.5, 1)
    values[3, 3] = OCCUPIED
    values[2, 2] = UNKNOWN
    points = obstacle_points(grid, values)
    assert points.dtype == np.float32
    np.testing.assert_allclose(points, [[0.75, -0.75, 0.0], [1.75, 0.75, 0.0]])


def test_scaled_camera_projects_where_the_resized_image_has_the_point():
    camera = CameraModel.from_values(WIDTH, HEIGHT, K, (-0.05, 0.01, 0, 0, 0))
    point = np.array([[0.7, 0.3, 4.0]])
    full = camera.project(point)[0]
    half = camera.scaled(WIDTH // 4, HEIGHT // 2).project(point)[0]
    np.testing.assert_allclose(half, [(full[0] + 0.5) / 4 - 0.5, (full[1] + 0.5) / 2 - 0.5], atol=1e-9)


@pytest.mark.parametrize("k, d, model, reason", [
    ([0.0] * 9, (), "plumb_bob", "focal lengths"),
    ([float("nan")] + K[1:], (), "plumb_bob", "NaN"),
    (K, (0.1, 0, 0, 0, 0), "kannala_brandt_9", "not supported"),
    (K[:6], (), "plumb_bob", "9 values"),
])
def test_unusable_intrinsics_are_refused_with_the_reason(k, d, model, reason):
    with pytest.raises(CameraModelError, match=reason):
        CameraModel.from_values(WIDTH, HEIGHT, k, d, model)


def test_a_camera_below_the_ground_or_a_bad_grid_is_refused():
    camera = CameraModel.from_values(WIDTH, HEIGHT, K)
    with pytest.raises(ValueError, match="above the ground"):
        GroundProjection(camera, CameraMount(z=-0.2), GRID, (WIDTH, HEIGHT))
    with pytest.raises(ValueError, match="extent is empty"):
        GroundProjection(camera, MOUNT, GridSpec(x_min=5.0, x_max=1.0), (WIDTH, HEIGHT))
    assert "exceeds" in GridSpec(resolution=0.001).problem()


def test_a_view_above_the_horizon_sees_no_cell_and_says_so():
    camera = CameraModel.from_values(WIDTH, HEIGHT, K)
    projection = GroundProjection(camera, CameraMount(z=1.5, pitch=-60.0), GRID, (WIDTH, HEIGHT))
    assert projection.cells_in_view == 0
    assert "no ground" in projection.problem
    grid = projection.occupancy(np.zeros((HEIGHT, WIDTH), np.uint8), ALL_DRIVABLE)
    assert (grid == UNKNOWN).all()


def test_labels_of_another_size_are_refused():
    projection = GroundProjection(CameraModel.from_values(WIDTH, HEIGHT, K), MOUNT, GRID, (WIDTH, HEIGHT))
    with pytest.raises(ValueError, match="table was built for 640x320"):
        projection.occupancy(np.zeros((10, 10), np.uint8), ALL_DRIVABLE)
