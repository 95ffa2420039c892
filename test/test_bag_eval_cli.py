"""seg-make-bag and offline seg-bag-eval end to end: real bags from a generated Cityscapes-layout split, a real
(tiny) checkpoint on the ONNX Runtime CPU backend, and the numbers compared with seg-eval on the same frames."""

import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ros_helpers import projected_grid
from seg_perception.ros.bag_eval import main
from seg_perception.bags.messages import IMAGE, image_msg, make_header
from seg_perception.bags.reader import BagReader
from seg_perception.bags.writer import BagWriter
from seg_perception.inference import Segmenter
from seg_perception.labels import TRAIN_ID_TO_LABEL_ID_LUT
from seg_perception.navigation import CameraMount, GridSpec
from test_bags import frame_rgb, write_images, write_pairs
from training import make_bag
from training.data import CityscapesDataset
from training.data.make_data import generate_split
from training.evaluate import main as seg_eval

SCENES, SIZE = 4, (128, 64)
BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def work(tmp_path_factory, tiny_checkpoint):
    """A generated val split, a tiny checkpoint, and seg-eval's metrics of it on that split."""
    root = tmp_path_factory.mktemp("bag_eval")
    generate_split(root / "data", "val", SCENES, *SIZE, seed=5, progress=False)
    assert seg_eval(["--checkpoint", str(tiny_checkpoint), "--data", str(root / "data"), "--split", "val",
                     "--out", str(root / "seg_eval"), "--pictures", "0"]) == 0
    reference = json.loads((root / "seg_eval" / "metrics.json").read_text())
    return root, tiny_checkpoint, reference


def make(root, name, *options):
    bag = root / name
    if not bag.exists():
        assert make_bag.main(["--data", str(root / "data"), "--out", str(bag), *options]) == 0
    return bag


def evaluate(bag, checkpoint, out, *options):
    return main([str(bag), "--checkpoint", str(checkpoint), "--out", str(out), "--quiet", *options])


def metrics_of(out):
    return json.loads((out / "metrics.json").read_text())


def test_the_input_filter_scores_alike_in_seg_eval_and_offline_bag_evaluation(work):
    root, checkpoint, reference = work
    option = ["--input-filter", "denoise_white_balance"]
    assert seg_eval(["--checkpoint", str(checkpoint), "--data", str(root / "data"), "--split", "val",
                     "--out", str(root / "seg_eval_filtered"), "--pictures", "0", *option]) == 0
    filtered = metrics_of(root / "seg_eval_filtered")
    out = root / "eval_filtered"
    assert evaluate(make(root, "mcap_rgb8", "--storage", "mcap", "--encoding", "rgb8"), checkpoint, out, *option) == 0
    metrics = metrics_of(out)
    assert metrics["per_class_iou"] == filtered["per_class_iou"] != reference["per_class_iou"]
    assert metrics["input_filter"] == filtered["input_filter"] == "denoise_white_balance"
    assert reference["input_filter"] == "none"
    assert metrics["frames_filtered"] == filtered["frames_filtered"] == SCENES


def test_the_test_time_flip_scores_alike_in_seg_eval_and_offline_bag_evaluation(work):
    root, checkpoint, reference = work
    assert seg_eval(["--checkpoint", str(checkpoint), "--data", str(root / "data"), "--split", "val",
                     "--out", str(root / "seg_eval_flipped"), "--pictures", "0", "--test-time-flip"]) == 0
    flipped = metrics_of(root / "seg_eval_flipped")
    out = root / "eval_flipped"
    bag = make(root, "mcap_rgb8", "--storage", "mcap", "--encoding", "rgb8")
    assert evaluate(bag, checkpoint, out, "--test-time-flip") == 0
    metrics = metrics_of(out)
    assert metrics["per_class_iou"] == flipped["per_class_iou"] != reference["per_class_iou"]
    assert metrics["test_time_flip"] is flipped["test_time_flip"] is True
    assert reference["test_time_flip"] is False


@pytest.mark.parametrize("name, options", [
    ("mcap_rgb8", ["--storage", "mcap", "--encoding", "rgb8"]),
    ("sqlite3_bgr8_padded", ["--storage", "sqlite3", "--encoding", "bgr8", "--pad", "3"]),
    ("mcap_png", ["--storage", "mcap", "--encoding", "png"]),
])
def test_offline_miou_equals_seg_eval_on_the_same_frames(work, name, options):
    root, checkpoint, reference = work
    bag = make(root, name, *options)
    out = root / f"eval_{name}"
    assert evaluate(bag, checkpoint, out) == 0
    metrics = metrics_of(out)
    assert metrics["miou"] == reference["miou"]
    assert metrics["per_class_iou"] == reference["per_class_iou"]
    assert metrics["pixel_accuracy"] == reference["pixel_accuracy"]
    # one vocabulary: seg-eval reports the drivable IoU and the frame count under the same keys
    assert metrics["drivable_iou"] == pytest.approx(reference["drivable_iou"], abs=1e-12)
    assert reference["frames"] == SCENES and "num_images" not in reference
    assert 0 < metrics["miou"] < 1 and sum(v is not None for v in metrics["per_class_iou"].values()) > 5
    assert (metrics["frames"], metrics["dropped"], metrics["mode"], metrics["backend"]) == (SCENES, 0, "offline", "cpu")
    latency = metrics["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] and metrics["fps"] > 0
    assert metrics["image_topic"] == ("/camera/image_raw/compressed" if "png" in name else "/camera/image_raw")
    assert metrics["input_size"] == [64, 32] and metrics["checkpoint"] == str(checkpoint)
    report = (out / "report.md").read_text()
    assert f"| mIoU (%) | {100 * metrics['miou']:.2f} |" in report and "| latency_ms p90 |" in report
    assert "![confusion.png](<confusion.png>)" in report and "![samples.png](<samples.png>)" in report
    assert (out / "confusion.png").stat().st_size > 0 and (out / "samples.png").stat().st_size > 0


def test_drivable_iou_against_a_hand_computation(work):
    root, checkpoint, _ = work
    out = root / "eval_drivable"
    assert evaluate(make(root, "mcap_rgb8"), checkpoint, out, "--drivable-classes", "road,sidewalk") == 0
    segmenter = Segmenter.from_checkpoint(checkpoint, backend="cpu")
    tp = fp = fn = 0
    for image, gt in CityscapesDataset(root / "data", "val"):
        predicted = np.isin(segmenter.segment(image).labels, [0, 1])  # road, sidewalk
        truth = np.isin(gt, [0, 1])
        valid = gt != 255
        tp += np.sum(predicted & truth & valid)
        fp += np.sum(predicted & ~truth & valid)
        fn += np.sum(~predicted & truth & valid)
    assert tp > 0 and fp > 0 and fn > 0
    metrics = metrics_of(out)
    assert metrics["drivable_iou"] == pytest.approx(tp / (tp + fp + fn), abs=1e-12)
    assert metrics["drivable_confusion"][1] == [fn, tp] and metrics["drivable_confusion"][0][1] == fp
    assert metrics["drivable_classes"] == ["road", "sidewalk"]


def test_jpeg_bag_evaluates_close_to_seg_eval(work):
    root, checkpoint, reference = work
    out = root / "eval_jpeg"
    assert evaluate(make(root, "sqlite3_jpeg", "--storage", "sqlite3", "--encoding", "jpeg"), checkpoint, out) == 0
    metrics = metrics_of(out)
    assert metrics["frames"] == SCENES and metrics["image_topic"] == "/camera/image_raw/compressed"
    # JPEG changes pixels, so labels differ a little; pixel accuracy stays close.
    assert metrics["pixel_accuracy"] == pytest.approx(reference["pixel_accuracy"], abs=0.05)


def test_label_id_ground_truth_needs_the_flag(work, capsys):
    root, checkpoint, reference = work
    bag = root / "label_ids"
    if not bag.exists():
        with BagWriter(bag) as writer:
            writer.add_topic("/camera/image_raw", IMAGE)
            writer.add_topic("/camera/semantic_gt", IMAGE)
            for index, (image, gt) in enumerate(CityscapesDataset(root / "data", "val")):
                header = make_header(10**18 + index, "camera")
                writer.write("/camera/image_raw", image_msg(image, "rgb8", header), 10**18 + index)
                writer.write("/camera/semantic_gt", image_msg(TRAIN_ID_TO_LABEL_ID_LUT[gt], "mono8", header),
                             10**18 + index)
    assert evaluate(bag, checkpoint, root / "eval_ids", "--gt-label-ids") == 0
    assert metrics_of(root / "eval_ids")["per_class_iou"] == reference["per_class_iou"]
    assert evaluate(bag, checkpoint, root / "eval_ids_unflagged") == 1
    err = capsys.readouterr().err
    assert "/camera/semantic_gt at stamp 1000000000.000000000: ground truth holds" in err and "--gt-label-ids" in err


def test_output_bag_has_the_predictions_at_the_input_stamps(work):
    root, checkpoint, _ = work
    bag, out_bag = make(root, "mcap_rgb8"), root / "predicted"
    assert evaluate(bag, checkpoint, root / "eval_out_bag", "--out-bag", str(out_bag), "--pictures", "1") == 0
    assert metrics_of(root / "eval_out_bag")["out_bag"] == str(out_bag)
    segmenter = Segmenter.from_checkpoint(checkpoint, backend="cpu")
    images = [image for image, _ in CityscapesDataset(root / "data", "val")]
    with BagReader(bag) as source:
        stamps = [m.log_time_ns for m in source.messages(["/camera/image_raw"])]
    with BagReader(out_bag) as reader:
        assert set(reader.topics) == {"/camera/image_raw", "/camera/camera_info", "/camera/semantic_gt",
                                      "/segmentation/labels", "/segmentation/drivable_mask", "/segmentation/color",
                                      "/segmentation/drivable_grid", "/segmentation/obstacle_points"}
        assert all(info.count == SCENES for info in reader.topics.values())
        received = {}
        for message in reader.messages(["/segmentation/labels", "/segmentation/drivable_mask", "/segmentation/color"]):
            msg = reader.deserialize(message)
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            assert (stamp, msg.header.frame_id) == (message.log_time_ns, "camera")
            channels = 3 if message.topic.endswith("color") else 1
            array = msg.data.reshape(msg.height, msg.width, channels)
            received.setdefault(message.topic, []).append((stamp, array[..., 0] if channels == 1 else array))
    for topic, frames in received.items():
        assert [stamp for stamp, _ in frames] == stamps, topic
    for index, image in enumerate(images):
        labels = segmenter.segment(image).labels
        np.testing.assert_array_equal(received["/segmentation/labels"][index][1], labels)
        np.testing.assert_array_equal(received["/segmentation/drivable_mask"][index][1], np.where(labels == 0, 255, 0))
        assert received["/segmentation/color"][index][1].shape == (SIZE[1], SIZE[0], 3)


def test_grids_of_prediction_and_ground_truth_are_compared_and_written_to_the_output_bag(work, tmp_path):
    root, checkpoint, _ = work
    bag, out_bag, out = make(root, "mcap_rgb8"), tmp_path / "with_grid", tmp_path / "eval"
    params = tmp_path / "robot.yaml"
    params.write_text("seg_node:\n  ros__parameters:\n    grid: {resolution: 0.25, x_max: 15.0, frame_id: odom}\n"
                      "    camera: {z: 1.5, pitch: 2.0}\n")
    assert evaluate(bag, checkpoint, out, "--out-bag", str(out_bag), "--params-file", str(params)) == 0
    grid, mount = GridSpec("odom", 0.25, 0.5, 15.0, -10.0, 10.0), CameraMount(z=1.5, pitch=2.0)
    segmenter = Segmenter.from_checkpoint(checkpoint, backend="cpu")
    dataset = CityscapesDataset(root / "data", "val")
    with BagReader(out_bag) as reader:
        infos = [reader.deserialize(m) for m in reader.messages(["/camera/camera_info"])]
        grids = [reader.deserialize(m) for m in reader.messages(["/segmentation/drivable_grid"])]
        clouds = [reader.deserialize(m) for m in reader.messages(["/segmentation/obstacle_points"])]
    confusion = np.zeros((3, 3), np.int64)
    for index, (image, truth) in enumerate(dataset):
        values, points = projected_grid(segmenter.segment(image).labels, infos[index], mount, grid, ["road"])
        truth_values, _ = projected_grid(truth, infos[index], mount, grid, ["road"])
        message = grids[index]
        assert (message.header.frame_id, message.info.width, message.info.height) == ("odom", 58, 80)
        assert message.header.stamp == infos[index].header.stamp
        np.testing.assert_array_equal(message.data.reshape(80, 58), values)
        np.testing.assert_array_equal(clouds[index].data.view(np.float32).reshape(-1, 3), points)
        rows, columns = (np.select([v == 0, v == 100], [0, 1], 2).ravel() for v in (truth_values, values))
        np.add.at(confusion, (rows, columns), 1)
    figures = metrics_of(out)["grid"]
    assert figures["confusion"] == confusion.tolist() and figures["frames"] == SCENES
    assert figures["agreement"] == pytest.approx(np.trace(confusion[:2, :2]) / confusion[:2].sum())
    assert figures["free_iou"] == pytest.approx(confusion[0, 0] / (confusion[0].sum() + confusion[:, 0].sum()
                                                                  - confusion[0, 0]))
    assert figures["grid"]["cells"] == [58, 80] and figures["mount"]["pitch"] == 2.0 and not figures["problems"]
    picture = cv2.imread(str(out / "grid.png"))
    assert picture.shape[1] > SIZE[0] + 2 * 58 and "grid.png" in (out / "report.md").read_text()


def test_a_bag_without_camera_info_is_scored_without_a_grid(work, tmp_path):
    root, checkpoint, _ = work
    bag = write_pairs(tmp_path / "no_info", [T, T + 1], [T, T + 1])
    assert evaluate(bag, checkpoint, tmp_path / "eval") == 0
    assert metrics_of(tmp_path / "eval")["grid"] == {"skipped": "no camera_info: the bag has no /camera/camera_info"}
    assert not (tmp_path / "eval" / "grid.png").exists()


def test_seg_make_bag_writes_topics_stamps_and_pixels(work):
    root, _, _ = work
    bag = make(root, "sqlite3_bgr8_rate4", "--storage", "sqlite3", "--encoding", "bgr8", "--pad", "5",
               "--rate", "4")
    dataset = CityscapesDataset(root / "data", "val")
    samples = list(dataset)
    with BagReader(bag) as reader:
        assert {t: (i.msgtype, i.count) for t, i in reader.topics.items()} == {
            "/camera/image_raw": (IMAGE, SCENES), "/camera/semantic_gt": (IMAGE, SCENES),
            "/camera/camera_info": ("sensor_msgs/msg/CameraInfo", SCENES)}
        seen = {}
        for message in reader.messages():
            msg = reader.deserialize(message)
            seen.setdefault(message.topic, []).append((message.log_time_ns, msg))
    start = make_bag.START_NS
    for topic, messages in seen.items():
        assert [t for t, _ in messages] == [start + i * 250_000_000 for i in range(SCENES)], topic
        assert all(m.header.frame_id == "camera" and m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == t
                   for t, m in messages)
    width, height = SIZE
    for index, ((_, image), (_, gt), (_, info), (rgb, label)) in enumerate(zip(
            seen["/camera/image_raw"], seen["/camera/semantic_gt"], seen["/camera/camera_info"], samples)):
        assert (image.encoding, image.step, image.width, image.height) == ("bgr8", 3 * width + 5, width, height)
        pixels = image.data.reshape(height, 3 * width + 5)[:, : 3 * width].reshape(height, width, 3)
        np.testing.assert_array_equal(pixels[..., ::-1], rgb)
        assert (gt.encoding, gt.step) == ("mono8", width)
        np.testing.assert_array_equal(gt.data.reshape(height, width), label)
        # the generator's camera, from the scene's camera JSON (training/data/camera.py draws with it)
        fx, fy, cx, cy = dataset.intrinsics(index)
        assert (info.width, info.height) == (width, height) and 0.75 * width <= fx <= 1.35 * width
        assert list(info.k) == [fx, 0, cx, 0, fy, cy, 0, 0, 1]
        assert list(info.d) == list(dataset.distortion(index)) and info.d[0] != 0 and not info.d[1:].any()


def test_seg_make_bag_refuses_to_overwrite_and_bad_options(work, capsys):
    root, _, _ = work
    bag = make(root, "mcap_rgb8")
    before = sorted(os.listdir(bag))
    assert make_bag.main(["--data", str(root / "data"), "--out", str(bag)]) == 1
    assert f"{bag} already exists; not overwriting it" in capsys.readouterr().err
    assert sorted(os.listdir(bag)) == before
    assert make_bag.main(["--data", str(root / "missing"), "--out", str(root / "new_bag")]) == 1
    assert "no such split folder" in capsys.readouterr().err and not (root / "new_bag").exists()
    assert not [name for name in os.listdir(root) if name.endswith(".part")]
    for argv in (["--encoding", "png", "--pad", "2"], ["--rate", "0"], ["--storage", "rosbag1"]):
        with pytest.raises(SystemExit) as exit_info:
            make_bag.main(["--data", str(root / "data"), "--out", str(root / "x"), *argv])
        assert exit_info.value.code == 2


# --- errors ----------------------------------------------------------------------------------------

def _truncated(root):
    bag = root / "truncated"
    shutil.copytree(make(root, "mcap_rgb8"), bag)
    storage = bag / "mcap_rgb8.mcap"
    os.truncate(storage, storage.stat().st_size * 2 // 3)
    return bag


T = 10**18


@pytest.mark.parametrize("case, message", [
    ("missing_topic", "no topic /camera/nope; the bag has /camera/camera_info (sensor_msgs/msg/CameraInfo), "
                      "/camera/image_raw (sensor_msgs/msg/Image), /camera/semantic_gt (sensor_msgs/msg/Image)"),
    ("truncated", "truncated: not a readable rosbag2 bag: ReaderError"),
    ("size_mismatch", "at stamp 1000000000.000000000 the ground truth on /camera/semantic_gt is 20x10 but the image "
                      "on /camera/image_raw is 40x24"),
    ("gt_without_image", "1 of the 3 messages on /camera/semantic_gt have no message with the same stamp on "
                         "/camera/image_raw (first 1000000000.000000007)"),
    ("image_without_gt", "2 of the 3 messages on /camera/image_raw have no message with the same stamp on "
                         "/camera/semantic_gt (first 1000000000.000000001)"),
    ("missing_bag", "nowhere: no such bag"),
    ("missing_checkpoint", "missing.pt"),
    ("out_bag_exists", "already exists; not overwriting it"),
    ("camera_info_topic", "no topic /camera/nope_info; the bag has /camera/camera_info"),
    ("params_file", "bad.yaml: grid extent is empty"),
])
def test_errors_are_one_line_exit_1_and_leave_no_metrics(work, capsys, case, message):
    root, checkpoint, _ = work
    argv = []
    bag = {
        "missing_topic": lambda: make(root, "mcap_rgb8"),
        "truncated": lambda: _truncated(root),
        "size_mismatch": lambda: write_pairs(root / case, [T], [T], gt_size=(10, 20)),
        "gt_without_image": lambda: write_pairs(root / case, [T, T + 1], [T, T + 1, T + 7]),
        "image_without_gt": lambda: write_pairs(root / case, [T, T + 1, T + 2], [T]),
        "missing_bag": lambda: root / "nowhere",
        "missing_checkpoint": lambda: make(root, "mcap_rgb8"),
        "out_bag_exists": lambda: make(root, "mcap_rgb8"),
        "camera_info_topic": lambda: make(root, "mcap_rgb8"),
        "params_file": lambda: make(root, "mcap_rgb8"),
    }[case]()
    if case == "missing_topic":
        argv = ["--gt-topic", "/camera/nope"]
    elif case == "missing_checkpoint":
        checkpoint = root / "missing.pt"
    elif case == "out_bag_exists":
        argv = ["--out-bag", str(make(root, "mcap_png", "--encoding", "png"))]
    elif case == "camera_info_topic":
        argv = ["--camera-info-topic", "/camera/nope_info"]
    elif case == "params_file":
        (root / "bad.yaml").write_text("/**:\n  ros__parameters:\n    grid: {x_min: 30.0}\n")
        argv = ["--params-file", str(root / "bad.yaml")]
    out = root / f"errors_{case}"
    out.mkdir(exist_ok=True)
    (out / "metrics.json").write_text('{"miou": 1.0}')  # a previous run's result must not survive
    capsys.readouterr()
    assert evaluate(bag, checkpoint, out, *argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("seg-bag-eval: error: ") and err.count("\n") == 1, err
    assert message in err
    assert not (out / "metrics.json").exists() and not (out / "report.md").exists()
    assert not [name for name in os.listdir(root) if name.endswith(".part")]


def test_live_options_need_live(work):
    root, checkpoint, _ = work
    with pytest.raises(SystemExit) as exit_info:
        evaluate(make(root, "mcap_rgb8"), checkpoint, root / "x", "--rate", "5")
    assert exit_info.value.code == 2


def test_console_scripts(work):
    root, checkpoint, _ = work
    bag = make(root, "mcap_rgb8")
    result = subprocess.run([os.path.join(BIN, "seg-bag-eval"), str(bag), "--checkpoint", str(checkpoint),
                             "--out", str(root / "cli"), "--image-topic", "/camera/depth"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"seg-bag-eval: error: {bag}: no topic /camera/depth")
    result = subprocess.run([os.path.join(BIN, "seg-make-bag"), "--data", str(root / "data"), "--out", str(bag)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"seg-make-bag: error: {bag} already exists; not overwriting it " \
                                    "(remove it or choose another path)"



def test_input_size_option(work):
    root, checkpoint, _ = work
    out = root / "eval_input_size"
    assert evaluate(make(root, "mcap_rgb8"), checkpoint, out, "--input-size", "96x48", "--pictures", "0") == 0
    metrics = metrics_of(out)
    assert metrics["input_size"] == [96, 48] and metrics["frames"] == SCENES
    assert not (out / "samples.png").exists() and "samples.png" not in (out / "report.md").read_text()
    with pytest.raises(SystemExit) as exit_info:
        evaluate(make(root, "mcap_rgb8"), checkpoint, out, "--input-size", "96by48")
    assert exit_info.value.code == 2


def test_offline_evaluation_warns_once_when_the_input_size_stretches_the_frames(work, capsys):
    root, checkpoint, _ = work  # the bag's frames are 128x64

    def warnings(size):
        capsys.readouterr()
        out = root / f"eval_stretch_{size}"
        assert evaluate(make(root, "mcap_rgb8"), checkpoint, out, "--input-size", size, "--pictures", "0") == 0
        metrics = metrics_of(out)
        assert metrics["frames"] == SCENES and metrics["frame_sizes"] == {"128x64": SCENES}  # every frame scored
        lines = [line for line in capsys.readouterr().err.splitlines() if "stretched" in line]
        return lines, metrics["stretch"], (out / "report.md").read_text()

    square, stretch, report = warnings("48x48")
    assert len(square) == 1 and square[0].startswith("seg-bag-eval: warning: camera frames of 128x64"), square
    assert "--input-size 64x32" in square[0]
    assert square[0] == f"seg-bag-eval: warning: {stretch}" and stretch in report  # the report says it too
    assert warnings("96x48")[:2] == ([], "ok")


def test_seg_eval_scores_a_checkpoint_at_another_input_size_like_seg_bag_eval(work):
    root, checkpoint, reference = work
    out = root / "seg_eval_96x48"
    assert seg_eval(["--checkpoint", str(checkpoint), "--data", str(root / "data"), "--out", str(out),
                     "--pictures", "0", "--input-size", "96x48"]) == 0
    metrics = metrics_of(out)
    assert metrics["input_size"] == [96, 48] and reference["input_size"] == [64, 32]
    assert metrics["miou"] != reference["miou"]  # another scale, other predictions
    assert evaluate(make(root, "mcap_rgb8"), checkpoint, root / "bag_96x48", "--input-size", "96x48") == 0
    assert metrics_of(root / "bag_96x48")["per_class_iou"] == metrics["per_class_iou"]


# --- bags without ground truth ---------------------------------------------------------------------

def test_a_bag_without_ground_truth_is_timed_pictured_and_written_not_scored(work, tmp_path, capsys):
    root, checkpoint, _ = work
    bag = write_images(tmp_path / "recording", "mcap", count=4)  # a robot's own recording: camera only
    out, out_bag = tmp_path / "eval", tmp_path / "predicted"
    assert evaluate(bag, checkpoint, out, "--out-bag", str(out_bag), "--pictures", "2") == 0
    assert "has no /camera/semantic_gt: measuring speed and drops only" in capsys.readouterr().err
    metrics = metrics_of(out)
    assert metrics["ground_truth"] is False and metrics["gt_topic"] is None
    assert metrics["miou"] is None and metrics["pixel_accuracy"] is None and metrics["drivable_iou"] is None
    assert metrics["frames"] == 4 and metrics["fps"] > 0 and metrics["latency_ms"]["p50"] > 0
    strip = cv2.imread(str(out / "samples.png"))
    assert strip.shape[1] >= 3 * 40 and (out / "report.md").exists()  # input | prediction | drivable
    segmenter = Segmenter.from_checkpoint(checkpoint, backend="cpu")
    with BagReader(out_bag) as reader:
        labels = [reader.deserialize(m) for m in reader.messages(["/segmentation/labels"])]
    assert len(labels) == 4
    for index, msg in enumerate(labels):
        expected = segmenter.segment(frame_rgb(index)).labels
        np.testing.assert_array_equal(msg.data.reshape(msg.height, msg.width), expected)


def test_an_empty_gt_topic_turns_scoring_off_on_a_bag_with_ground_truth(work, tmp_path):
    root, checkpoint, _ = work
    assert evaluate(make(root, "mcap_rgb8"), checkpoint, tmp_path / "eval", "--gt-topic", "") == 0
    metrics = metrics_of(tmp_path / "eval")
    assert metrics["ground_truth"] is False and metrics["miou"] is None and metrics["frames"] == SCENES
    assert metrics["grid"]["agreement"] is None and metrics["grid"]["frames"] == 0  # grids made, none compared


@pytest.mark.parametrize("gt, message", [
    ("/camera/image_raw", "the ground-truth topic /camera/image_raw is the image topic itself"),
    ("/camera/second_camera", "/camera/second_camera is not ground truth: it holds rgb8 images, not mono8 or 8UC1 "
                              "label images"),
])
def test_a_named_ground_truth_that_cannot_be_used_stops_the_run(work, tmp_path, capsys, gt, message):
    root, checkpoint, _ = work
    bag = tmp_path / "two_cameras"
    with BagWriter(bag) as writer:
        for topic in ("/camera/image_raw", "/camera/second_camera"):
            writer.add_topic(topic, IMAGE)
        for index in range(2):
            header = make_header(T + index, "camera")
            for topic in ("/camera/image_raw", "/camera/second_camera"):
                writer.write(topic, image_msg(frame_rgb(index), "rgb8", header), T + index)
    assert evaluate(bag, checkpoint, tmp_path / "eval", "--gt-topic", gt) == 1
    err = capsys.readouterr().err
    assert err.startswith("seg-bag-eval: error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "eval" / "metrics.json").exists()


# --- degraded input along a recording -----------------------------------------------------------------

def test_offline_the_recording_is_sampled_and_judged_as_seg_node_would(work, tmp_path, capsys, monkeypatch):
    root, checkpoint, _ = work
    bag = write_images(tmp_path / "recording", "mcap", count=41)  # 4 s at 10 Hz
    out = tmp_path / "eval"
    with_map, segment = [], Segmenter.segment

    def recording(self, image, bgr=None):  # the real Segmenter; only which frames got a confidence map is noted
        result = segment(self, image, bgr=bgr)
        with_map.append(result.confidence is not None)
        return result

    monkeypatch.setattr(Segmenter, "segment", recording)
    assert evaluate(bag, checkpoint, out, "--gt-topic", "", "--confidence-floor", "0.999",
                    "--out-bag", str(tmp_path / "predicted")) == 0
    monkeypatch.undo()
    assert with_map.count(True) == 5 and with_map.count(False) >= 36  # the 5 sampled frames only (and warm-up)
    assert "degraded input 2.0 s" in capsys.readouterr().out
    degraded = metrics_of(out)["degraded_input"]
    # A sample a second of header time (frames 0, 10, .. 40); the tiny model is never 0.999 sure, so the
    # node would warn from its third sample (t = 2 s) to the end.
    segmenter = Segmenter.from_checkpoint(checkpoint, backend="cpu", with_confidence=True)
    expected = [segmenter.segment(frame_rgb(index)).confidence.mean() / 255 for index in (0, 10, 20, 30, 40)]
    assert degraded["samples"] == 5 and degraded["samples_below_floor"] == 5 and degraded["floor"] == 0.999
    assert degraded["samples_judged"] == 3 and degraded["clock"] == "header stamp"
    assert degraded["median_confidence"] == pytest.approx(float(np.median(expected)), abs=1e-3)
    assert degraded["degraded_spans"] == [[2.0, 4.0]] and degraded["degraded_s"] == pytest.approx(2.0)
    assert cv2.imread(str(out / "confidence.png")).shape[1] > 500
    assert "confidence.png" in (out / "report.md").read_text()
    # A sampled frame's labels are those of the model without the confidence map.
    with BagReader(tmp_path / "predicted") as reader:
        labels = [reader.deserialize(m) for m in reader.messages(["/segmentation/labels"])]
    segmenter.with_confidence = False
    np.testing.assert_array_equal(labels[20].data.reshape(24, 40), segmenter.segment(frame_rgb(20)).labels)
    assert evaluate(bag, checkpoint, tmp_path / "off", "--gt-topic", "", "--confidence-floor", "0") == 0
    off = metrics_of(tmp_path / "off")["degraded_input"]
    assert off == {"skipped": "turned off (--confidence-floor 0)"} and not (tmp_path / "off" / "confidence.png").exists()
    assert "degraded input skipped" in capsys.readouterr().out


def test_offline_when_degraded_filters_the_frames_seg_node_would_filter(work, tmp_path):
    root, checkpoint, _ = work
    bag = write_images(tmp_path / "recording", "mcap", count=41)  # 4 s at 10 Hz
    out = tmp_path / "eval"
    assert evaluate(bag, checkpoint, out, "--gt-topic", "", "--confidence-floor", "0.999",
                    "--input-filter", "when_degraded", "--out-bag", str(tmp_path / "predicted")) == 0
    metrics = metrics_of(out)
    # Samples at frames 0, 10, .. 40 (never filtered); the window says degraded once it holds three samples
    # below the floor, from the third sample (frame 20) on: frames 21-29 and 31-39 are filtered.
    assert metrics["input_filter"] == "when_degraded" and metrics["frames_filtered"] == 18
    assert metrics["degraded_input"]["degraded_spans"] == [[2.0, 4.0]]
    with BagReader(tmp_path / "predicted") as reader:
        labels = [reader.deserialize(m).data.reshape(24, 40) for m in reader.messages(["/segmentation/labels"])]
    plain = Segmenter.from_checkpoint(checkpoint, backend="cpu")
    filtered = Segmenter.from_checkpoint(checkpoint, backend="cpu", input_filter="denoise_white_balance")
    for index in (25, 39):
        expected = filtered.segment(frame_rgb(index)).labels
        assert not np.array_equal(expected, plain.segment(frame_rgb(index)).labels)  # the filter shows
        np.testing.assert_array_equal(labels[index], expected)
    for index in (19, 20, 30, 40):  # before the verdict, and the samples
        np.testing.assert_array_equal(labels[index], plain.segment(frame_rgb(index)).labels)


def test_when_degraded_without_a_confidence_floor_is_refused_naming_why(work, tmp_path, capsys):
    root, checkpoint, _ = work
    bag = make(root, "mcap_rgb8")
    # the tiny checkpoint has none; live, the node would never filter either, so nothing is started
    for floor, why in ((["--confidence-floor", "0"], "turned off (--confidence-floor 0)"),
                       ([], "the checkpoint has no confidence floor (trained before seg-train measured one); give "
                            "one with --confidence-floor"),
                       (["--live"], "give one with --node-param confidence_floor:=X"),
                       (["--live", "--node-param", "confidence_floor:=0"], "turned off (confidence_floor:=0)"),
                       (["--live", "--node-param", "confidence_floor:=2"],
                        "error: --node-param confidence_floor: confidence_floor must be in -1.0 .. 1.0; got 2.0")):
        capsys.readouterr()
        assert evaluate(bag, checkpoint, tmp_path / "eval", "--input-filter", "when_degraded", *floor) == 1
        err = capsys.readouterr().err
        assert err.startswith("seg-bag-eval: error: ") and why in err and err.count("\n") == 1, err
        assert "when_degraded" in err or "confidence_floor:=2" in floor[-1]
        assert not (tmp_path / "eval" / "metrics.json").exists()


def test_a_recording_without_header_stamps_is_judged_along_its_log_times(work, tmp_path):
    root, checkpoint, _ = work
    bag = write_images(tmp_path / "unstamped", "mcap", count=41, stamped=False)  # 4 s at 10 Hz, stamps all zero
    assert evaluate(bag, checkpoint, tmp_path / "eval", "--confidence-floor", "0.999") == 0
    metrics = metrics_of(tmp_path / "eval")
    degraded = metrics["degraded_input"]
    assert metrics["frames"] == 41 and degraded["clock"] == "log time (the header stamps are zero)"
    assert degraded["samples"] == 5 and degraded["degraded_spans"] == [[2.0, 4.0]]


def test_a_checkpoint_without_a_floor_says_so_and_bad_floors_are_refused(work, tmp_path, capsys):
    root, checkpoint, _ = work
    assert evaluate(make(root, "mcap_rgb8"), checkpoint, tmp_path / "eval") == 0
    assert metrics_of(tmp_path / "eval")["degraded_input"]["skipped"].startswith(
        "the checkpoint has no confidence floor")
    for argv, message in ((["--confidence-floor", "1.5"], "confidence_floor must be in -1.0 .. 1.0; got 1.5"),
                          (["--confidence-floor", "high"], "expected a number, got 'high'"),
                          (["--confidence-floor", "-0.5"], "must be -1.0 (the checkpoint's) or in 0.0 .. 1.0"),
                          (["--confidence-floor", "nan"], "confidence_floor must be finite"),
                          (["--live", "--confidence-floor", "0.7"], "--confidence-floor is offline only")):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            evaluate(make(root, "mcap_rgb8"), checkpoint, tmp_path / "x", *argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
