"""seg_perception.bags without ROS: real rosbag2 files written and read back (mcap and sqlite3), every
encoding and row padding, rosbags' own AnyReader on our bags, damaged bags, stamp matching, the
evaluation accumulator against hand-computed numbers, and the report pictures."""

import os

import cv2
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore
from ruamel.yaml import YAML

from ros_helpers import decoded_rgb, encode_pixels
from seg_perception.bags.evaluation import BagEvaluation
from seg_perception.bags.ground_truth import StampPairs, check_stamps, gt_train_ids, resolve_topics
from seg_perception.bags.messages import (
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    IMAGE,
    TYPESTORE,
    camera_info_msg,
    compressed_msg,
    format_stamp,
    frame_of,
    image_msg,
    make_header,
    rgb_of,
)
from seg_perception.bags.pictures import confusion_plot, drivable_panel, sample_strip
from seg_perception.bags.reader import BagError, BagReader
from seg_perception.bags.writer import BagWriter
from seg_perception.inference.aspect import MAX_SIZES
from seg_perception.node.frames import SUPPORTED_ENCODINGS, FrameError
from seg_perception.labels import CLASS_NAMES, TRAIN_ID_TO_LABEL_ID_LUT
from seg_perception.metrics import ConfusionMatrix

HEIGHT, WIDTH = 24, 40
T0 = 1_700_000_000 * 10**9
PERIOD = 100_000_000  # 10 Hz
STORAGE_FILE = {"mcap": "{}.mcap", "sqlite3": "{}.db3"}


def frame_rgb(index: int) -> np.ndarray:
    return np.random.default_rng(index).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def smooth_rgb(index: int) -> np.ndarray:
    """A smooth frame, the kind of content JPEG is made for."""
    coarse = np.random.default_rng(index).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    return cv2.resize(coarse, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)


def write_images(path, storage="mcap", encoding="rgb8", pad=0, count=3, topic="/camera/image_raw", stamped=True):
    """A bag of ``count`` frames on ``topic`` (Image in any raw encoding, or CompressedImage png/jpeg), logged
    ``PERIOD`` apart; their header stamps are the log times, or zero (a driver that sets none) unless ``stamped``."""
    compressed = encoding in ("png", "jpeg")
    with BagWriter(path, storage) as bag:
        bag.add_topic(topic, COMPRESSED_IMAGE if compressed else IMAGE)
        for i in range(count):
            header = make_header(T0 + i * PERIOD if stamped else 0, "camera")
            msg = (compressed_msg(smooth_rgb(i), encoding, header) if compressed
                   else image_msg(encode_pixels(frame_rgb(i), encoding), encoding, header, pad))
            bag.write(topic, msg, T0 + i * PERIOD)
    return path


def write_pairs(path, image_stamps, gt_stamps, storage="mcap", gt_size=(HEIGHT, WIDTH)):
    """Images and mono8 ground truth with the given stamp lists (to break the one-to-one pairing)."""
    with BagWriter(path, storage) as bag:
        bag.add_topic("/camera/image_raw", IMAGE)
        bag.add_topic("/camera/semantic_gt", IMAGE)
        for stamp in image_stamps:
            bag.write("/camera/image_raw", image_msg(frame_rgb(0), "rgb8", make_header(stamp, "camera")), stamp)
        for stamp in gt_stamps:
            gt = np.zeros(gt_size, np.uint8)
            bag.write("/camera/semantic_gt", image_msg(gt, "mono8", make_header(stamp, "camera")), stamp)
    return path


# --- writing and reading back --------------------------------------------------------------------

@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("encoding, pad", [(e, 0) for e in SUPPORTED_ENCODINGS] + [("rgb8", 5), ("bgr8", 3)])
def test_raw_images_read_back_pixel_exact(tmp_path, storage, encoding, pad):
    bag = write_images(tmp_path / "bag", storage, encoding, pad)
    assert sorted(os.listdir(bag)) == sorted(["metadata.yaml", STORAGE_FILE[storage].format("bag")])
    with BagReader(bag) as reader:
        assert reader.topics["/camera/image_raw"].msgtype == IMAGE
        assert reader.topics["/camera/image_raw"].count == 3
        messages = list(reader.messages())
        assert [m.log_time_ns for m in messages] == [T0, T0 + PERIOD, T0 + 2 * PERIOD]
        for i, message in enumerate(messages):
            msg = reader.deserialize(message)
            channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}[encoding]
            assert (msg.encoding, msg.step, msg.header.frame_id) == (encoding, WIDTH * channels + pad, "camera")
            assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == T0 + i * PERIOD
            np.testing.assert_array_equal(rgb_of(frame_of(msg, message.msgtype)), decoded_rgb(frame_rgb(i), encoding))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_compressed_images_read_back(tmp_path, storage, fmt):
    bag = write_images(tmp_path / "bag", storage, fmt, topic="/camera/image_raw/compressed")
    with BagReader(bag) as reader:
        for i, message in enumerate(reader.messages()):
            msg = reader.deserialize(message)
            assert msg.format == f"rgb8; {fmt} compressed bgr8"
            rgb = rgb_of(frame_of(msg, COMPRESSED_IMAGE))
            if fmt == "png":
                np.testing.assert_array_equal(rgb, smooth_rgb(i))
            else:  # lossy
                assert rgb.shape == (HEIGHT, WIDTH, 3)
                assert np.abs(rgb.astype(int) - smooth_rgb(i)).mean() < 3


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_rosbags_anyreader_reads_our_bag_and_metadata_has_what_ros2_bag_info_needs(tmp_path, storage):
    bag = tmp_path / "bag"
    with BagWriter(bag, storage) as writer:
        writer.add_topic("/camera/image_raw", IMAGE)
        writer.add_topic("/camera/camera_info", CAMERA_INFO)
        for i in range(4):
            header = make_header(T0 + i * PERIOD, "camera")
            writer.write("/camera/image_raw", image_msg(frame_rgb(i), "rgb8", header), T0 + i * PERIOD)
            writer.write("/camera/camera_info", camera_info_msg(WIDTH, HEIGHT, header), T0 + i * PERIOD)

    with AnyReader([bag], default_typestore=get_typestore(Stores.ROS2_HUMBLE)) as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == {"/camera/image_raw": IMAGE,
                                                                    "/camera/camera_info": CAMERA_INFO}
        assert reader.message_count == 8 and reader.duration == 3 * PERIOD + 1
        infos = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages()
                 if c.topic == "/camera/camera_info"]
        images = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages()
                  if c.topic == "/camera/image_raw"]
    np.testing.assert_array_equal(images[2].data.reshape(HEIGHT, WIDTH, 3), frame_rgb(2))
    info = infos[0]
    assert (info.width, info.height, info.distortion_model) == (WIDTH, HEIGHT, "plumb_bob")
    assert info.k[0] == info.k[4] > 0 and info.k[8] == 1 and info.p[10] == 1

    meta = YAML(typ="safe").load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 8 and meta["storage_identifier"] == storage and meta["message_count"] == 8
    assert [(bag / name).is_file() for name in meta["relative_file_paths"]] == [True]
    assert meta["starting_time"]["nanoseconds_since_epoch"] == T0
    assert meta["duration"]["nanoseconds"] == 3 * PERIOD
    for entry in meta["topics_with_message_count"]:
        topic = entry["topic_metadata"]
        assert entry["message_count"] == 4 and topic["serialization_format"] == "cdr"
        assert topic["type_description_hash"].startswith("RIHS01_")
        # Humble reads offered_qos_profiles as a YAML string: reliable (1), volatile (2), keep-last (1).
        qos = YAML(typ="safe").load(topic["offered_qos_profiles"])
        assert isinstance(topic["offered_qos_profiles"], str)
        assert (qos[0]["reliability"], qos[0]["durability"], qos[0]["history"], qos[0]["depth"]) == (1, 2, 1, 10)


def test_a_bare_mcap_file_opens_too(tmp_path):
    bag = write_images(tmp_path / "bag", "mcap")
    with BagReader(bag / "bag.mcap") as reader:
        assert reader.topics["/camera/image_raw"].count == 3
        assert len(list(reader.messages(["/camera/image_raw"]))) == 3


def test_writer_refuses_an_existing_path_and_leaves_nothing_on_failure(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(BagError, match="taken already exists; not overwriting"):
        BagWriter(tmp_path / "taken")
    with pytest.raises(RuntimeError, match="boom"):
        with BagWriter(tmp_path / "bag", "sqlite3") as bag:
            bag.add_topic("/camera/image_raw", IMAGE)
            bag.write("/camera/image_raw", image_msg(frame_rgb(0), "rgb8", make_header(T0, "camera")), T0)
            assert not (tmp_path / "bag").exists()  # still under a temporary name
            raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["taken"]


# --- bad bags --------------------------------------------------------------------------------------

def _read_everything(path):
    with BagReader(path) as reader:
        for message in reader.messages():
            reader.deserialize(message)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("damage", ["truncated", "garbage", "tail_cut", "metadata", "storage_missing", "count"])
def test_damaged_bags_raise_bag_error_naming_the_bag(tmp_path, storage, damage):
    bag = write_images(tmp_path / "bag", storage, count=20)
    storage_file = bag / STORAGE_FILE[storage].format("bag")
    size = storage_file.stat().st_size
    if damage == "truncated":
        os.truncate(storage_file, size // 2)
    elif damage == "tail_cut":
        os.truncate(storage_file, size - 5000)  # more than a sqlite page
    elif damage == "garbage":
        storage_file.write_bytes(b"\x00garbage" * 100)
    elif damage == "count":  # metadata that promises more than the storage holds
        text = (bag / "metadata.yaml").read_text()
        (bag / "metadata.yaml").write_text(text.replace("message_count: 20", "message_count: 21"))
    elif damage == "metadata":
        (bag / "metadata.yaml").write_text((bag / "metadata.yaml").read_text()[:200])
    else:
        storage_file.unlink()
    with pytest.raises(BagError, match=f"^{bag}: (not a readable rosbag2 bag|damaged bag)"):
        _read_everything(bag)


def test_missing_paths_and_non_bags(tmp_path):
    with pytest.raises(BagError, match="no such bag"):
        BagReader(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match="empty: not a rosbag2 bag \\(no metadata.yaml\\)"):
        BagReader(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BagError, match="notes.txt: not a readable rosbag2 bag"):
        BagReader(tmp_path / "notes.txt")


def test_missing_or_mistyped_topics_list_what_the_bag_has(tmp_path):
    bag = write_pairs(tmp_path / "bag", [T0], [T0])
    with BagReader(bag) as reader:
        with pytest.raises(BagError, match="no topic /camera/depth; the bag has /camera/image_raw "
                                           r"\(sensor_msgs/msg/Image\), /camera/semantic_gt"):
            reader.require("/camera/depth", [IMAGE])
        with pytest.raises(BagError, match="topic /camera/semantic_gt is sensor_msgs/msg/Image, expected "
                                           "sensor_msgs/msg/CameraInfo"):
            reader.require("/camera/semantic_gt", [CAMERA_INFO])
        assert resolve_topics(reader, "/camera/image_raw", "/camera/semantic_gt") == ("/camera/image_raw", IMAGE)
    compressed = write_images(tmp_path / "compressed", encoding="png", topic="/camera/image_raw/compressed")
    with BagReader(compressed) as reader:
        with pytest.raises(BagError, match="no topic /camera/semantic_gt"):
            resolve_topics(reader, "/camera/image_raw", "/camera/semantic_gt")
        with pytest.raises(BagError, match="is sensor_msgs/msg/CompressedImage, expected sensor_msgs/msg/Image"):
            resolve_topics(reader, "/camera/image_raw", "/camera/image_raw/compressed")
    with BagWriter(tmp_path / "both", "sqlite3") as bag:
        bag.add_topic("/camera/image_raw/compressed", COMPRESSED_IMAGE)
        bag.add_topic("/camera/semantic_gt", IMAGE)
    with BagReader(tmp_path / "both") as reader:  # image_transport's /compressed is found from the raw name
        assert resolve_topics(reader, "/camera/image_raw", "/camera/semantic_gt") == \
            ("/camera/image_raw/compressed", COMPRESSED_IMAGE)


# --- ground truth ----------------------------------------------------------------------------------

@pytest.mark.parametrize("images, truths, message", [
    ([T0, T0 + 1, T0 + 2], [T0, T0 + 2], "1 of the 3 messages on /camera/image_raw have no message with the same "
                                         "stamp on /camera/semantic_gt \\(first 1700000000.000000001\\)"),
    ([T0], [T0, T0 + 5, T0 + 9], "2 of the 3 messages on /camera/semantic_gt have no message with the same stamp "
                                 "on /camera/image_raw \\(first 1700000000.000000005\\)"),
    ([T0, T0], [T0], "1 stamps occur more than once on /camera/image_raw \\(first 1700000000.000000000\\)"),
    ([], [T0], "topic /camera/image_raw has no messages"),
])
def test_images_and_ground_truth_must_pair_one_to_one(tmp_path, images, truths, message):
    with BagReader(write_pairs(tmp_path / "bag", images, truths)) as reader:
        with pytest.raises(BagError, match=message):
            check_stamps(reader, "/camera/image_raw", "/camera/semantic_gt")


def test_stamp_pairs_match_in_any_order():
    pairs = StampPairs()
    assert pairs.image(1, "i1") is None and pairs.truth(2, "g2") is None
    assert pairs.truth(1, "g1") == ("i1", "g1")
    assert pairs.image(2, "i2") == ("i2", "g2")


def test_ground_truth_decoding(tmp_path):
    train_ids = np.array([[0, 1, 18, 255]], np.uint8)
    header = make_header(T0, "camera")
    padded = image_msg(train_ids, "mono8", header, pad=3)
    np.testing.assert_array_equal(gt_train_ids(padded), train_ids)
    label_ids = image_msg(TRAIN_ID_TO_LABEL_ID_LUT[train_ids], "mono8", header)
    np.testing.assert_array_equal(gt_train_ids(label_ids, label_ids=True), [[0, 1, 18, 255]])
    with pytest.raises(FrameError, match="holds 33, not a trainId .*--gt-label-ids"):
        gt_train_ids(label_ids)  # labelId 33 (bicycle) read as a trainId
    with pytest.raises(FrameError, match="expected a mono8 label image, got encoding 'rgb8'"):
        gt_train_ids(image_msg(frame_rgb(0), "rgb8", header))
    assert format_stamp(T0 + 7) == "1700000000.000000007"


# --- the evaluation accumulator --------------------------------------------------------------------

def test_evaluation_matches_a_hand_computation():
    # 2 frames of 2 x 4; road = 0, sidewalk = 1, car = 13; 255 ignored.
    gts = [np.array([[0, 0, 1, 255], [13, 0, 1, 1]], np.uint8), np.array([[0, 0, 0, 0], [255, 255, 13, 13]], np.uint8)]
    preds = [np.array([[0, 1, 1, 0], [13, 0, 0, 255]], np.uint8), np.array([[0, 0, 13, 13], [0, 1, 13, 0]], np.uint8)]
    evaluation = BagEvaluation(CLASS_NAMES, ("road",), pictures=1)
    image = np.zeros((2, 4, 3), np.uint8)
    for stamp, (gt, pred) in enumerate(zip(gts, preds)):
        evaluation.add(stamp, image, pred, np.where(pred == 0, 255, 0).astype(np.uint8), gt, latency_ms=10.0 * (stamp + 1))
    result = evaluation.result()

    # Drivable (road) over the 7 + 6 valid pixels. Frame 0: gt road (0,0) (0,1) (1,1); predicted road (0,0) (1,1)
    # (1,2) and the ignored (0,3): tp 2, fp 1, fn 1. Frame 1: gt road (0,0..3); predicted road (0,0) (0,1) and
    # (1,3) (a car), (1,0) is ignored: tp 2, fp 1, fn 2.
    tp, fp, fn = 4, 2, 3
    assert result["drivable_iou"] == pytest.approx(4 / 9)
    assert result["drivable_confusion"] == [[13 - tp - fp - fn, fp], [fn, tp]]
    expected = ConfusionMatrix()
    for gt, pred in zip(gts, preds):
        expected.update(pred, gt)
    assert result["per_class_iou"] == expected.compute().per_class_iou
    assert result["per_class_iou"]["road"] == pytest.approx(4 / 9)  # the drivable area is the road here
    assert result["miou"] == expected.compute().miou and result["pixel_accuracy"] == pytest.approx(7 / 13)
    assert (result["frames"], result["dropped"], result["fps"]) == (2, 0, pytest.approx(2 / 0.030))
    assert result["latency_ms"] == {"p50": 15.0, "p90": 19.0, "p99": pytest.approx(19.9)}
    assert list(result) == ["miou", "per_class_iou", "pixel_accuracy", "drivable_iou", "frames", "fps",
                            "latency_ms", "dropped", "drivable_confusion", "ground_truth", "frame_sizes"]
    assert result["frame_sizes"] == {"4x2": 2}

    evaluation.add_dropped(99)
    assert evaluation.result(elapsed_s=4.0)["fps"] == 0.5 and evaluation.result()["dropped"] == 1
    assert evaluation.first_dropped_ns == 99


def test_evaluation_refuses_mismatched_frames():
    evaluation = BagEvaluation()
    image, labels = np.zeros((4, 6, 3), np.uint8), np.zeros((4, 6), np.uint8)
    with pytest.raises(ValueError, match="frame 5 ns: arrays differ in size"):
        evaluation.add(5, image, labels, labels, np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="frame 6 ns: ground truth has id 40"):
        evaluation.add(6, image, labels, labels, np.full((4, 6), 40, np.uint8))
    with pytest.raises(ValueError, match="unknown drivable class 'runway'"):
        BagEvaluation(drivable_classes=("road", "runway"))
    empty = BagEvaluation().result()
    assert (empty["miou"], empty["drivable_iou"], empty["fps"], empty["latency_ms"]["p99"]) == (None, None, None, None)


def test_frame_sizes_are_counted_for_the_first_sizes_only():
    evaluation = BagEvaluation(ground_truth=False, pictures=0)
    for width in range(1, MAX_SIZES + 6):  # a bag of ever new sizes
        for _ in range(2 if width == 1 else 1):
            labels = np.zeros((3, width), np.uint8)
            evaluation.add(width, np.zeros((3, width, 3), np.uint8), labels, labels, None)
    sizes = evaluation.result()["frame_sizes"]
    assert len(sizes) == MAX_SIZES and sizes["1x3"] == 2 and f"{MAX_SIZES}x3" in sizes
    assert evaluation.frames == MAX_SIZES + 6  # every frame still counts


@pytest.mark.parametrize("frames, expected", [(3, [0, 1, 2]), (4, [0, 1, 2, 3]), (37, [0, 8, 24, 32]),
                                              (100, [0, 32, 64, 96])])
def test_samples_spread_over_the_whole_run(frames, expected):
    evaluation = BagEvaluation(pictures=4)
    for stamp in range(frames):
        labels = np.full((2, 2), stamp % 19, np.uint8)
        evaluation.add(stamp, np.zeros((2, 2, 3), np.uint8), labels, labels, labels)
    assert [s.stamp_ns for s in evaluation.samples] == expected
    assert len(evaluation._kept) < 8  # never more than 2 x pictures frames held


# --- pictures --------------------------------------------------------------------------------------

def test_confusion_plot_and_sample_strip(tmp_path):
    evaluation = BagEvaluation(pictures=2)
    gt = np.zeros((HEIGHT, WIDTH), np.uint8)
    gt[: HEIGHT // 2] = 10  # sky above road
    gt[:, -3:] = 255
    pred = gt.copy()
    pred[HEIGHT // 2:, : WIDTH // 4] = 1  # some road predicted as sidewalk
    for stamp in range(3):
        evaluation.add(stamp, frame_rgb(stamp), pred, np.where(pred == 0, 255, 0).astype(np.uint8), gt)

    plot = confusion_plot(evaluation.classes, tmp_path / "confusion.png")
    assert cv2.imread(str(plot)).shape[0] > 500
    strip = cv2.imread(str(sample_strip(evaluation, tmp_path / "samples.png")))
    band = strip.shape[0] - 2 * (HEIGHT + 4)
    assert strip.shape[1] == 4 * WIDTH and 0 < band < 60
    row = cv2.cvtColor(strip[band: band + HEIGHT], cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(row[:, :WIDTH], frame_rgb(0))  # input | prediction | truth | drivable
    np.testing.assert_array_equal(row[HEIGHT - 1, WIDTH + WIDTH // 4 - 1], (244, 35, 232))  # sidewalk colour
    np.testing.assert_array_equal(row[HEIGHT - 1, 2 * WIDTH], (128, 64, 128))  # road colour
    assert sample_strip(BagEvaluation(), tmp_path / "none.png") is None


def test_drivable_panel_colours():
    image = np.full((1, 5, 3), 100, np.uint8)
    predicted = np.array([[1, 1, 0, 0, 1]], bool)
    truth = np.array([[1, 0, 1, 0, 1]], bool)
    ignored = np.array([[0, 0, 0, 0, 1]], bool)
    panel = drivable_panel(image, predicted, truth, ignored)
    assert panel[0, 0, 1] > 100 and panel[0, 1, 0] > 100 and panel[0, 2, 2] > 100  # green hit, red false, blue missed
    np.testing.assert_array_equal(panel[0, 3:], image[0, 3:])  # neither, and ignored


def _edit_metadata(bag, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in metadata.yaml (e.g. a topic QoS, which the storage keeps its own copy of)."""
    metadata = bag / "metadata.yaml"
    text = metadata.read_text()
    assert old in text
    metadata.write_text(text.replace(old, new))


def _write_with_stored_qos(path, storage, qos):
    """A 3-frame image bag whose storage records ``qos`` (a list of rosbags Qos) for the topic."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    with Writer(path, version=8, storage_plugin={"mcap": StoragePlugin.MCAP,
                                                 "sqlite3": StoragePlugin.SQLITE3}[storage]) as writer:
        connection = writer.add_connection("/camera/image_raw", IMAGE, typestore=TYPESTORE, offered_qos_profiles=qos)
        for index in range(3):
            msg = image_msg(frame_rgb(index), "rgb8", make_header(T0 + index, "camera"))
            writer.write(connection, T0 + index, TYPESTORE.serialize_cdr(msg, IMAGE))
    return path


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize("case", ["edited_metadata", "unspecified_as_max_seconds", "empty_stored_qos"])
def test_intact_bags_whose_metadata_qos_differs_from_the_storage_read_in_full(tmp_path, storage, case):
    from rosbags.interfaces import QosTime
    from rosbags.rosbag2 import Reader

    from seg_perception.bags.writer import OFFERED_QOS

    bag = tmp_path / case
    if case == "edited_metadata":  # a user changes playback durability in metadata.yaml
        write_images(bag, storage)
        _edit_metadata(bag, "durability: 2", "durability: 1")
    elif case == "unspecified_as_max_seconds":  # some recorders store rmw's unspecified as 2**31 - 1 s
        forever = QosTime(2147483647, 4294967295)
        stored = OFFERED_QOS._replace(deadline=forever, lifespan=forever, liveliness_lease_duration=forever)
        _write_with_stored_qos(bag, storage, [stored])
        _edit_metadata(bag, "sec: 2147483647", "sec: 0")
        _edit_metadata(bag, "nsec: 4294967295", "nsec: 0")
    else:  # nothing stored; metadata.yaml has the profile
        _write_with_stored_qos(bag, storage, [])
        yaml = YAML()
        metadata = yaml.load((bag / "metadata.yaml").read_text())
        recorded = yaml.load(write_images(tmp_path / "reference", storage).joinpath("metadata.yaml").read_text())
        profile = recorded["rosbag2_bagfile_information"]["topics_with_message_count"][0]["topic_metadata"]
        for topic in metadata["rosbag2_bagfile_information"]["topics_with_message_count"]:
            topic["topic_metadata"]["offered_qos_profiles"] = profile["offered_qos_profiles"]
        with (bag / "metadata.yaml").open("w") as stream:
            yaml.dump(metadata, stream)
    with Reader(bag) as plain:  # the pitfall itself, so this test keeps meaning something
        assert not list(plain.messages(connections=plain.connections))
    with BagReader(bag) as reader:
        images = [reader.deserialize(m) for m in reader.messages(["/camera/image_raw"])]
    assert len(images) == 3
    for index, msg in enumerate(images):
        np.testing.assert_array_equal(msg.data.reshape(HEIGHT, WIDTH, 3), frame_rgb(index))


def _version_1_bag(path):
    """A Dashing-era (metadata version 1) sqlite3 bag: no QoS in metadata.yaml nor in the storage's topics table."""
    import sqlite3

    write_images(path, "sqlite3")
    yaml = YAML()
    metadata = yaml.load((path / "metadata.yaml").read_text())
    information = metadata["rosbag2_bagfile_information"]
    information["version"] = 1
    for key in ("compression_format", "compression_mode", "custom_data", "files", "ros_distro"):
        information.pop(key, None)
    for topic in information["topics_with_message_count"]:
        for key in ("offered_qos_profiles", "type_description_hash"):
            topic["topic_metadata"].pop(key, None)
    with (path / "metadata.yaml").open("w") as stream:
        yaml.dump(metadata, stream)
    with sqlite3.connect(path / f"{path.name}.db3") as database:
        for column in ("offered_qos_profiles", "type_description_hash"):
            database.execute(f"ALTER TABLE topics DROP COLUMN {column}")
    return path


@pytest.mark.parametrize("version", [1, 10])
def test_metadata_versions_rosbags_cannot_read_are_named(tmp_path, version):
    bag = _version_1_bag(tmp_path / "old") if version == 1 else write_images(tmp_path / "new")
    if version == 10:
        _edit_metadata(bag, "version: 8", "version: 10")
    with pytest.raises(BagError) as error:
        BagReader(bag)
    assert str(error.value) == (f"{bag}: rosbag2 metadata version {version} is not supported; re-record or convert "
                                "with `ros2 bag convert`")


def test_a_bare_file_of_a_split_bag_warns_naming_the_bag_and_reads_its_part(tmp_path, caplog):
    bag, second = write_images(tmp_path / "split", count=3), write_images(tmp_path / "second", count=2)
    os.rename(second / "second.mcap", bag / "split_1.mcap")
    os.rename(bag / "split.mcap", bag / "split_0.mcap")
    yaml = YAML()
    metadata = yaml.load((bag / "metadata.yaml").read_text())
    information = metadata["rosbag2_bagfile_information"]
    information["relative_file_paths"] = ["split_0.mcap", "split_1.mcap"]
    information["files"] = []
    information["message_count"] = 5
    information["topics_with_message_count"][0]["message_count"] = 5
    with (bag / "metadata.yaml").open("w") as stream:
        yaml.dump(metadata, stream)
    with BagReader(bag) as reader:
        assert len(list(reader.messages())) == 5  # the whole split bag
    assert not caplog.records
    with BagReader(bag / "split_1.mcap") as reader:
        assert len(list(reader.messages())) == 2
    (record,) = caplog.records
    assert record.levelname == "WARNING" and record.getMessage() == (
        f"{bag / 'split_1.mcap'}: one of the 2 files of the split bag {bag / 'metadata.yaml'}; reading this file "
        f"only (open {bag} for the whole bag)")
