"""DrivableGridMaker: the node's navigation state, every outcome without a ROS graph."""

import numpy as np

from seg_perception.navigation import FREE, UNKNOWN, CameraFields, CameraMount, DrivableGridMaker, GridSpec, vote_lut

K = (300.0, 0.0, 159.5, 0.0, 300.0, 79.5, 0.0, 0.0, 1.0)
CAMERA = CameraFields(320, 160, K, (0.0,) * 5, "plumb_bob")
LUT = vote_lut(19, [0])
ROAD = np.zeros((80, 160), np.uint8)  # model-resolution labels, all road


def _maker():
    return DrivableGridMaker(GridSpec(resolution=0.2, x_min=0.5, x_max=12.0, y_min=-6.0, y_max=6.0),
                             CameraMount(z=1.4, pitch=8.0))


def test_without_camera_info_there_is_no_grid_and_a_reason():
    result = _maker().make(ROAD, LUT, (320, 160))
    assert result.values is None and result.points is None
    assert "no camera_info" in result.problem


def test_grid_from_model_resolution_labels_and_a_table_built_once():
    maker = _maker()
    maker.camera = CAMERA
    first = maker.make(ROAD, LUT, (320, 160))
    assert first.problem is None and (first.values == FREE).sum() > 500
    assert first.points.shape == (0, 3)
    blocked = maker.make(np.full((80, 160), 13, np.uint8), LUT, (320, 160))
    assert len(blocked.points) == (first.values == FREE).sum()  # the same cells, now obstacles
    assert maker.builds == 1 and maker.last_build_ms > 0
    maker.set_geometry(maker.grid, CameraMount(z=1.4, pitch=8.0, yaw=20.0))
    turned = maker.make(ROAD, LUT, (320, 160))
    assert maker.builds == 2 and not np.array_equal(turned.values, first.values)


def test_bad_camera_info_gives_an_all_unknown_grid_and_the_reason():
    maker = _maker()
    maker.camera = CameraFields(320, 160, (0.0,) * 9, (), "plumb_bob")
    zeros = maker.make(ROAD, LUT, (320, 160))
    assert (zeros.values == UNKNOWN).all() and "focal lengths" in zeros.problem and len(zeros.points) == 0
    maker.camera = CameraFields(320, 160, (float("nan"),) + K[1:], (), "plumb_bob")
    assert "NaN" in maker.make(ROAD, LUT, (320, 160)).problem
    maker.camera = CAMERA
    mismatch = maker.make(ROAD, LUT, (640, 320))
    assert (mismatch.values == UNKNOWN).all() and "camera_info is 320x160 but frames are 640x320" in mismatch.problem
    assert maker.make(ROAD, LUT, (320, 160)).problem is None  # a good camera_info heals it


def test_a_view_above_the_horizon_is_reported():
    maker = _maker()
    maker.camera = CAMERA
    maker.set_geometry(maker.grid, CameraMount(z=1.4, pitch=-70.0))
    result = maker.make(ROAD, LUT, (320, 160))
    assert (result.values == UNKNOWN).all() and "sees no ground" in result.problem


def test_bag_scoring_builds_one_table_per_camera_for_masks_of_one_size():
    """Randomised scenes change the camera every frame: predicted and true masks share its table."""
    from types import SimpleNamespace

    from seg_perception.bags.grids import BagGrids
    from seg_perception.labels import CLASS_NAMES

    grids = BagGrids(CLASS_NAMES, ("road",), GridSpec(resolution=0.2, x_min=0.5, x_max=12.0, y_min=-6.0, y_max=6.0),
                     CameraMount(z=1.4, pitch=8.0), "/camera/camera_info")
    image = np.zeros((160, 320, 3), np.uint8)
    road, car = np.zeros((160, 320), np.uint8), np.full((160, 320), 13, np.uint8)
    for focal in (300.0, 320.0, 340.0):
        grids.camera_info(SimpleNamespace(width=320, height=160, k=(focal,) + K[1:4] + (focal,) + K[5:],
                                          d=(0.01, 0.0, 0.0, 0.0, 0.0), distortion_model="plumb_bob"))
        grids.add(image, road, road)
    assert grids.table_builds == 3  # not 6
    assert grids.result()["agreement"] == 1.0 and grids.result()["frames"] == 3
    grids.add(image, road[::2, ::2].copy(), car)  # a model-resolution prediction: a table per size
    assert grids.table_builds == 5
    grids.add(image, road[::2, ::2].copy(), car)  # and each is kept, not rebuilt in turn
    assert grids.table_builds == 5
    assert grids.result()["occupied_iou"] == 0.0
