"""Messages as ``rosbags`` objects: build Image / CompressedImage / CameraInfo / OccupancyGrid / PointCloud2,
decode images to arrays.

One typestore (ROS 2 Humble's definitions) serves every bag: sensor_msgs and
std_msgs have not changed from Humble to Kilted, so their definitions and
type hashes are what every distro's ``ros2 bag play`` expects. Decoding goes
through ``seg_perception.node.frames`` like the node's, so a bag frame becomes
exactly the array the node would see.
"""

from __future__ import annotations

import cv2
import numpy as np
from rosbags.typesys import Stores, get_typestore

from ..navigation import GridSpec
from ..node.frames import Frame, FrameError, check_layout, decode_compressed, decode_raw

TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
OCCUPANCY_GRID = "nav_msgs/msg/OccupancyGrid"
POINT_CLOUD = "sensor_msgs/msg/PointCloud2"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
#: encodings a label image (ground truth, seg_node's labels) may have
LABEL_ENCODINGS = ("mono8", "8UC1")
COMPRESSED_FORMATS = ("jpeg", "png")
#: Cityscapes' camera: fx = fy = 2262.52 px at 2048 px width; a plausible focal length for any size.
FOCAL_PER_WIDTH = 2262.52 / 2048
JPEG_QUALITY = 95  # compressed_image_transport's default

_Header = TYPESTORE.types["std_msgs/msg/Header"]
_Time = TYPESTORE.types["builtin_interfaces/msg/Time"]
_Image = TYPESTORE.types[IMAGE]
_CompressedImage = TYPESTORE.types[COMPRESSED_IMAGE]
_CameraInfo = TYPESTORE.types[CAMERA_INFO]
_RegionOfInterest = TYPESTORE.types["sensor_msgs/msg/RegionOfInterest"]
_OccupancyGrid = TYPESTORE.types[OCCUPANCY_GRID]
_MapMetaData = TYPESTORE.types["nav_msgs/msg/MapMetaData"]
_Pose = TYPESTORE.types["geometry_msgs/msg/Pose"]
_Point = TYPESTORE.types["geometry_msgs/msg/Point"]
_Quaternion = TYPESTORE.types["geometry_msgs/msg/Quaternion"]
_PointCloud2 = TYPESTORE.types[POINT_CLOUD]
_PointField = TYPESTORE.types["sensor_msgs/msg/PointField"]


def stamp_ns(header) -> int:
    """A header's stamp in nanoseconds."""
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def format_stamp(ns: int) -> str:
    """Nanoseconds as ``sec.nanosec`` (what ``ros2 topic echo`` shows of a stamp)."""
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


def make_header(ns: int, frame_id: str):
    """A std_msgs/Header stamped ``ns``."""
    return _Header(stamp=_Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), frame_id=frame_id)


def image_msg(pixels: np.ndarray, encoding: str, header, pad: int = 0):
    """sensor_msgs/Image of an H x W (mono8) or H x W x C uint8 array laid out as ``encoding``,
    with ``pad`` bytes of row padding (``step = W * C + pad``)."""
    rows = np.ascontiguousarray(pixels, dtype=np.uint8).reshape(pixels.shape[0], -1)
    if pad:
        rows = np.hstack([rows, np.zeros((rows.shape[0], pad), np.uint8)])
    return _Image(header=header, height=pixels.shape[0], width=pixels.shape[1], encoding=encoding,
                  is_bigendian=0, step=rows.shape[1], data=rows.reshape(-1))


def compressed_msg(rgb: np.ndarray, fmt: str, header):
    """sensor_msgs/CompressedImage of an RGB image as jpeg or png, with image_transport's format string."""
    if fmt not in COMPRESSED_FORMATS:
        raise ValueError(f"compressed format must be one of {', '.join(COMPRESSED_FORMATS)}, got {fmt!r}")
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if fmt == "jpeg" else []
    ok, encoded = cv2.imencode(f".{fmt}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} image as {fmt}")
    return _CompressedImage(header=header, format=f"rgb8; {fmt} compressed bgr8", data=encoded.reshape(-1))


def camera_info_msg(width: int, height: int, header, intrinsics: tuple[float, float, float, float] | None = None,
                    distortion=(0.0,) * 5):
    """A plumb_bob sensor_msgs/CameraInfo of a ``width`` x ``height`` image.

    ``intrinsics`` = (fx, fy, cx, cy) in pixels of that image (e.g. a Cityscapes camera JSON's
    fx, fy, u0, v0); without them a centred principal point and a Cityscapes-like focal length.
    ``distortion`` = plumb_bob D (k1, k2, p1, p2, k3); zeros (none) by default.
    """
    if intrinsics is None:
        focal = FOCAL_PER_WIDTH * width
        intrinsics = (focal, focal, (width - 1) / 2, (height - 1) / 2)
    fx, fy, cx, cy = (float(value) for value in intrinsics)
    k = np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], np.float64)
    p = np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0], np.float64)
    return _CameraInfo(header=header, height=height, width=width, distortion_model="plumb_bob",
                       d=np.asarray(distortion, np.float64), k=k, r=np.eye(3).reshape(-1), p=p, binning_x=0, binning_y=0,
                       roi=_RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def occupancy_grid_msg(header, grid: GridSpec, values: np.ndarray):
    """nav_msgs/OccupancyGrid of ``values`` laid out on ``grid`` (origin unrotated at x_min, y_min), as seg_node
    publishes it; ``header`` gives the stamp, the frame is ``grid.frame_id``."""
    origin = _Pose(position=_Point(x=float(grid.x_min), y=float(grid.y_min), z=0.0),
                   orientation=_Quaternion(x=0.0, y=0.0, z=0.0, w=1.0))
    info = _MapMetaData(map_load_time=header.stamp, resolution=float(grid.resolution), width=grid.width,
                        height=grid.height, origin=origin)
    return _OccupancyGrid(header=_Header(stamp=header.stamp, frame_id=grid.frame_id), info=info,
                          data=np.ascontiguousarray(values, np.int8).reshape(-1))


def point_cloud_msg(header, frame_id: str, points: np.ndarray):
    """sensor_msgs/PointCloud2 of (N, 3) float32 x, y, z points in ``frame_id``, stamped as ``header``."""
    fields = [_PointField(name=name, offset=4 * i, datatype=_PointField.FLOAT32, count=1)
              for i, name in enumerate("xyz")]
    data = np.ascontiguousarray(points, np.float32).reshape(-1).view(np.uint8)
    return _PointCloud2(header=_Header(stamp=header.stamp, frame_id=frame_id), height=1, width=len(points),
                        fields=fields, is_bigendian=False, point_step=12, row_step=12 * len(points), data=data,
                        is_dense=True)


def frame_of(msg, msgtype: str) -> Frame:
    """An Image or CompressedImage message as a ``frames.Frame``; FrameError if it cannot be decoded."""
    if msgtype == COMPRESSED_IMAGE:
        return decode_compressed(msg.data)
    return decode_raw(msg.data, msg.encoding, msg.height, msg.width, msg.step)


def rgb_of(frame: Frame) -> np.ndarray:
    """The frame's image in RGB order (a view when it is BGR)."""
    return frame.image[..., ::-1] if frame.bgr else frame.image


def mono8_of(msg) -> np.ndarray:
    """An 8-bit single-channel Image (mono8 / 8UC1) as an H x W view; FrameError otherwise."""
    if msg.encoding not in LABEL_ENCODINGS:
        raise FrameError(f"expected a mono8 label image, got encoding {msg.encoding!r}")
    buffer = np.frombuffer(msg.data, np.uint8)
    check_layout(buffer.size, msg.height, msg.width, msg.step, msg.width)
    return buffer[: msg.height * msg.step].reshape(msg.height, msg.step)[:, : msg.width]
