"""seg-predict end to end: an image folder scored by seg-eval --pred-dir exactly as seg-eval --checkpoint, a video,
bags (raw and compressed, both storages, a bare file), reruns that skip done frames, one-line errors, and Ctrl-C
(simulated in-process, and a real SIGINT to the installed command) leaving only complete PNGs."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from street_lights import sodium_lit
from tiny_models import write_tiny_checkpoint as tiny_checkpoint
from seg_perception.bags.messages import (
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    IMAGE,
    camera_info_msg,
    compressed_msg,
    frame_of,
    image_msg,
    make_header,
    stamp_ns,
)
from seg_perception.bags.reader import BagReader
from seg_perception.bags.writer import BagWriter
from seg_perception.inference import Segmenter, colorize_overlay
from seg_perception.labels import TRAIN_ID_TO_LABEL_ID_LUT
from seg_perception.metrics import ConfusionMatrix
from seg_perception.predict.cli import main
from training.data import CityscapesDataset
from training.data.make_data import generate_split
from training.evaluate import main as seg_eval

SCENES, SIZE = 4, (128, 64)
KINDS = ("labelIds", "trainIds", "overlay")
SEG_TOPICS = {"/segmentation/labels", "/segmentation/drivable_mask", "/segmentation/color"}
T0, PERIOD = 1_700_000_000 * 10**9, 100_000_000


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A generated val split, a tiny checkpoint, seg-eval --checkpoint's metrics of it, and its Segmenter."""
    root = tmp_path_factory.mktemp("predict")
    generate_split(root / "data", "val", SCENES, *SIZE, seed=5, progress=False)
    checkpoint = tiny_checkpoint(root / "tiny.pt", input_size=(64, 32))
    assert seg_eval(["--checkpoint", str(checkpoint), "--data", str(root / "data"), "--split", "val",
                     "--out", str(root / "seg_eval"), "--pictures", "0"]) == 0
    reference = _metrics(root / "seg_eval")
    return root, checkpoint, reference, Segmenter.from_checkpoint(checkpoint, backend="cpu")


def _metrics(directory):
    import json

    return json.loads((directory / "metrics.json").read_text())


def images_dir(root):
    return root / "data" / "leftImg8bit" / "val"


def scene_paths(root):
    return sorted(images_dir(root).rglob("*_leftImg8bit.png"))


def predict(*argv):
    return main([str(arg) for arg in argv] + ["--quiet"])


def png(out, kind, name):
    return out / kind / f"{name}_{kind}.png"


def read(path):
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return image


def outputs_of(out):
    """{path relative to out: mtime_ns} of every file under out."""
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def is_warm_up(image):
    """The Segmenter warms up on blank frames before the first real one."""
    return not image.any()


@pytest.fixture
def count_segments(monkeypatch):
    """Counts Segmenter.segment calls (the model's work) from here on."""
    calls = []
    original = Segmenter.segment

    def counting(self, image, bgr=None):
        if not is_warm_up(image):
            calls.append(1)
        return original(self, image, bgr=bgr)

    monkeypatch.setattr(Segmenter, "segment", counting)
    return calls


def test_seg_eval_counts_the_frames_below_the_checkpoints_confidence_floor(work, tmp_path, capsys, engine_cache):
    root, checkpoint, reference, _ = work
    assert reference["confidence_floor"] is None and reference["frames_below_confidence_floor"] is None
    import torch

    from training.data import CityscapesDataset

    dataset = CityscapesDataset(root / "data", "val")
    confident = Segmenter.from_checkpoint(checkpoint, backend="cpu", with_confidence=True, cache_dir=engine_cache)
    means = sorted(confident.segment(dataset[i][0]).confidence.mean() / 255 for i in range(len(dataset)))
    payload = torch.load(checkpoint, weights_only=True)
    payload["model"]["confidence_floor"] = float(means[1] + means[2]) / 2  # two frames below it
    floored = tmp_path / "floored.pt"
    torch.save(payload, floored)
    capsys.readouterr()
    assert seg_eval(["--checkpoint", str(floored), "--data", str(root / "data"), "--split", "val",
                     "--out", str(tmp_path / "eval"), "--pictures", "0"]) == 0
    metrics = _metrics(tmp_path / "eval")
    assert metrics["frames_below_confidence_floor"] == 2
    assert metrics["confidence_floor"] == payload["model"]["confidence_floor"]
    assert metrics["median_frame_confidence"] == pytest.approx(float(np.median(means)))
    assert metrics["per_class_iou"] == reference["per_class_iou"]  # the confidence map changes no label
    assert f"; 2 below the model's confidence floor {metrics['confidence_floor']:.3f})" in capsys.readouterr().out


def test_seg_eval_warns_once_when_the_input_size_stretches_the_frames(work, tmp_path, capsys):
    root, checkpoint, _, _ = work  # 128x64 scenes
    warnings, stretch = {}, {}
    for size in ("32x32", "64x32"):
        capsys.readouterr()
        assert seg_eval(["--checkpoint", str(checkpoint), "--data", str(root / "data"), "--split", "val",
                         "--out", str(tmp_path / size), "--pictures", "0", "--input-size", size]) == 0
        warnings[size] = [line for line in capsys.readouterr().err.splitlines() if "stretched" in line]
        stretch[size] = json.loads((tmp_path / size / "metrics.json").read_text())["stretch"]
    assert warnings["64x32"] == [] and stretch["64x32"] == "ok"
    assert len(warnings["32x32"]) == 1, warnings  # one line for the split's frames, not one per frame
    assert "128x64 (aspect 2.00)" in warnings["32x32"][0] and "--input-size 64x32" in warnings["32x32"][0]
    assert warnings["32x32"][0] == f"seg-eval: warning: {stretch['32x32']}"  # and metrics.json says it too


def test_seg_eval_when_degraded_filters_exactly_the_frames_below_the_checkpoints_floor(work, tmp_path, capsys):
    root = work[0]

    def metrics(name, floor, input_filter):
        checkpoint = tiny_checkpoint(tmp_path / f"{name}.pt", input_size=(64, 32), confidence_floor=floor)
        assert seg_eval(["--checkpoint", str(checkpoint), "--data", str(root / "data"), "--split", "val",
                         "--out", str(tmp_path / name), "--pictures", "0", "--input-filter", input_filter]) == 0
        return _metrics(tmp_path / name)

    everything, every_frame = metrics("high", 0.999, "when_degraded"), metrics("every", 0.999, "denoise_white_balance")
    nothing, unfiltered = metrics("low", 0.001, "when_degraded"), metrics("none", 0.001, "none")
    assert everything["frames_filtered"] == SCENES and everything["per_class_iou"] == every_frame["per_class_iou"]
    assert nothing["frames_filtered"] == 0 and nothing["per_class_iou"] == unfiltered["per_class_iou"]
    assert everything["per_class_iou"] != nothing["per_class_iou"]  # the filter changes these frames' labels
    assert (everything["input_filter"], every_frame["frames_filtered"], unfiltered["frames_filtered"]) == (
        "when_degraded", SCENES, 0)
    between = metrics("between", unfiltered["median_frame_confidence"], "when_degraded")
    assert between["frames_filtered"] == between["frames_below_confidence_floor"]
    assert 0 < between["frames_filtered"] < SCENES
    # without a floor there is nothing to gate on: refused, naming the checkpoint
    bare = tiny_checkpoint(tmp_path / "bare.pt", input_size=(64, 32))
    capsys.readouterr()
    assert seg_eval(["--checkpoint", str(bare), "--data", str(root / "data"), "--split", "val",
                     "--out", str(tmp_path / "bare"), "--input-filter", "when_degraded"]) == 1
    assert capsys.readouterr().err == (f"seg-eval: error: {bare}: --input-filter when_degraded needs the checkpoint's "
                                       "confidence floor, and it has none (trained before seg-train measured one)\n")
    assert not (tmp_path / "bare" / "metrics.json").exists()


def test_seg_eval_when_degraded_also_filters_the_frames_under_a_strong_colour_cast(work, tmp_path):
    root = work[0]
    data = tmp_path / "data"
    shutil.copytree(root / "data", data)
    lit = scene_paths(tmp_path)[1::2]  # every other scene under a low-pressure sodium lamp
    for path in lit:
        cv2.imwrite(str(path), cv2.cvtColor(sodium_lit(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)),
                                            cv2.COLOR_RGB2BGR))
    checkpoint = tiny_checkpoint(tmp_path / "sure.pt", input_size=(64, 32), confidence_floor=0.001)  # none below
    assert seg_eval(["--checkpoint", str(checkpoint), "--data", str(data), "--split", "val", "--out",
                     str(tmp_path / "eval"), "--pictures", "0", "--input-filter", "when_degraded"]) == 0
    metrics = _metrics(tmp_path / "eval")
    assert metrics["frames_filtered"] == len(lit) == SCENES // 2 and metrics["frames_below_confidence_floor"] == 0
    # the lit frames' labels are the filtered Segmenter's, the others the plain one's
    segmenters = {name: Segmenter.from_checkpoint(checkpoint, backend="cpu", input_filter=name)
                  for name in ("none", "denoise_white_balance")}
    dataset = CityscapesDataset(data, "val")
    matrices = {"gated": ConfusionMatrix(), "none": ConfusionMatrix()}
    for index in range(len(dataset)):
        image, label = dataset[index]
        plain = segmenters["none"].segment(image).labels
        matrices["none"].update(plain, label)
        matrices["gated"].update(segmenters["denoise_white_balance"].segment(image).labels if index % 2 else plain,
                                 label)
    assert metrics["miou"] == pytest.approx(matrices["gated"].compute().miou, abs=1e-9)
    assert abs(matrices["gated"].compute().miou - matrices["none"].compute().miou) > 1e-4  # the filter shows


# --- (1) an image folder, scored by seg-eval --pred-dir and paired by cityscapesscripts -------------------------

def test_folder_predictions_score_exactly_like_seg_eval_checkpoint(work, capsys):
    root, checkpoint, reference, segmenter = work
    out = root / "pred_folder"
    capsys.readouterr()
    assert predict(images_dir(root), "--checkpoint", checkpoint, "--out", out) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"seg-predict: {SCENES} frames ({SCENES} segmented, 0 already done, 0 unreadable) in ")
    assert line.endswith(f"FPS on cpu -> {out}/{{labelIds,trainIds,overlay}}")

    assert seg_eval(["--pred-dir", str(out), "--gt-dir", str(root / "data" / "gtFine" / "val"),
                     "--out", str(root / "pred_eval")]) == 0
    metrics = _metrics(root / "pred_eval")
    assert metrics["miou"] == reference["miou"] and 0 < metrics["miou"] < 1
    assert metrics["per_class_iou"] == reference["per_class_iou"]
    assert metrics["pixel_accuracy"] == reference["pixel_accuracy"]

    # Names mirror the input and carry the kind; pixels are the Segmenter's.
    for path in scene_paths(root):
        name = path.relative_to(images_dir(root)).with_suffix("").as_posix()
        image = cv2.imread(str(path))
        labels = segmenter.segment(image, bgr=True).labels
        np.testing.assert_array_equal(read(png(out, "trainIds", name)), labels)
        np.testing.assert_array_equal(read(png(out, "labelIds", name)), TRAIN_ID_TO_LABEL_ID_LUT[labels])
        overlay = colorize_overlay(np.ascontiguousarray(image[..., ::-1]), labels, 0.5)
        np.testing.assert_array_equal(read(png(out, "overlay", name))[..., ::-1], overlay)
    assert sorted(outputs_of(out)) == sorted(
        f"{kind}/{p.parent.name}/{p.stem}_{kind}.png" for p in scene_paths(root) for kind in KINDS)


@pytest.mark.parametrize("options, settings", [
    (["--input-filter", "denoise_white_balance"], {"input_filter": "denoise_white_balance"}),
    (["--test-time-flip"], {"test_time_flip": True}),
])
def test_the_input_filter_and_the_flip_give_the_labels_of_a_segmenter_set_so(work, tmp_path, options, settings):
    root, checkpoint, _, segmenter = work
    out = tmp_path / "filtered"
    assert predict(images_dir(root), "--checkpoint", checkpoint, "--out", out, "--outputs", "trainIds", *options) == 0
    filtering = Segmenter.from_checkpoint(checkpoint, backend="cpu", **settings)
    changed = 0
    for path in scene_paths(root):
        name = path.relative_to(images_dir(root)).with_suffix("").as_posix()
        image = cv2.imread(str(path))
        labels = read(png(out, "trainIds", name))
        np.testing.assert_array_equal(labels, filtering.segment(image, bgr=True).labels)
        changed += int((labels != segmenter.segment(image, bgr=True).labels).any())
    assert changed > 0


def test_several_threads_and_streams_write_the_same_files(work, tmp_path):
    root, checkpoint, _, _ = work
    for threads in (1, 3):  # decoding and writing threads, and as many frames segmented at once
        assert predict(images_dir(root), "--checkpoint", checkpoint, "--out", tmp_path / str(threads),
                       "--threads", threads, "--streams", threads) == 0
    one = {name: (tmp_path / "1" / name).read_bytes() for name in outputs_of(tmp_path / "1")}
    assert one == {name: (tmp_path / "3" / name).read_bytes() for name in outputs_of(tmp_path / "3")}
    assert len(one) == 3 * SCENES


@pytest.mark.parametrize("cores, streams, expected", [(2, None, [1, 1]), (4, None, [2, 2]), (1, None, [1]),
                                                     (4, 3, [1, 1, 1])])
def test_streams_share_the_cores_on_the_cpu_backend(work, tmp_path, monkeypatch, cores, streams, expected):
    from seg_perception.predict import cli

    root, checkpoint, _, _ = work
    monkeypatch.setattr(cli, "cpu_threads", lambda: cores)
    argv = [str(images_dir(root)), "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--backend", "cpu"]
    args = cli.build_parser().parse_args(argv + (["--streams", str(streams)] if streams else []))
    segmenters = cli.make_segmenters(args)
    sessions = [segmenter._backend._binding(False)[0] for segmenter in segmenters]
    assert [session.get_session_options().intra_op_num_threads for session in sessions] == expected


def test_cityscapesscripts_pairs_each_ground_truth_with_its_labelid_prediction(work):
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs

    root, checkpoint, _, _ = work
    out = root / "pred_cs"
    assert predict(images_dir(root), "--checkpoint", checkpoint, "--out", out) == 0
    cs.args.predictionPath, cs.args.predictionWalk = str(out / "labelIds"), None
    for gt in sorted((root / "data" / "gtFine" / "val").rglob("*_gtFine_labelIds.png")):
        key = gt.name.replace("_gtFine_labelIds.png", "")
        assert Path(cs.getPrediction(cs.args, str(gt))) == next((out / "labelIds").rglob(f"{key}_*")), gt


# --- (2) a video --------------------------------------------------------------------------------------------

def test_video_frames_are_segmented_as_decoded(work, tmp_path):
    root, checkpoint, _, segmenter = work
    video = tmp_path / "drive.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, SIZE)
    assert writer.isOpened()
    for path in scene_paths(root) + scene_paths(root)[:1]:
        writer.write(cv2.imread(str(path)))
    writer.release()
    capture, decoded = cv2.VideoCapture(str(video)), []
    while (frame := capture.read())[0]:
        decoded.append(frame[1])
    capture.release()
    assert len(decoded) == SCENES + 1

    out = tmp_path / "out"
    assert predict(video, "--checkpoint", checkpoint, "--out", out, "--outputs", "trainIds,labelIds,color") == 0
    for index, image in enumerate(decoded):
        name = f"drive/drive_{index:06d}"
        labels = segmenter.segment(image, bgr=True).labels
        np.testing.assert_array_equal(read(png(out, "trainIds", name)), labels)
        np.testing.assert_array_equal(read(png(out, "labelIds", name)), TRAIN_ID_TO_LABEL_ID_LUT[labels])
        assert read(png(out, "color", name)).shape == image.shape
    assert len(outputs_of(out)) == 3 * (SCENES + 1)


# --- (3) bags -------------------------------------------------------------------------------------------------

def write_bag(root, path, storage="mcap", encoding="rgb8", pad=0, topic="/camera/image_raw"):
    """The split's scenes as a bag: images (raw or compressed) and camera_info, 10 Hz from T0."""
    compressed = encoding in ("png", "jpeg")
    with BagWriter(path, storage) as bag:
        bag.add_topic(topic, COMPRESSED_IMAGE if compressed else IMAGE)
        bag.add_topic("/camera/camera_info", CAMERA_INFO)
        for index, scene in enumerate(scene_paths(root)):
            rgb = cv2.imread(str(scene))[..., ::-1]
            header = make_header(T0 + index * PERIOD + index, "camera")  # nanoseconds that show in the names
            bag.write("/camera/camera_info", camera_info_msg(*SIZE, header), T0 + index * PERIOD)
            pixels = np.ascontiguousarray(rgb[..., ::-1] if encoding == "bgr8" else rgb)
            msg = compressed_msg(rgb, encoding, header) if compressed else image_msg(pixels, encoding, header, pad)
            bag.write(topic, msg, T0 + index * PERIOD + 5)
    return path


def bag_frames(bag, topic):
    """[(stamp, log time, frame)] of an image topic."""
    with BagReader(bag) as reader:
        frames = []
        for message in reader.messages([topic]):
            msg = reader.deserialize(message)
            frame = frame_of(msg, message.msgtype)
            frames.append((stamp_ns(msg.header), message.log_time_ns, frame.image.copy(), frame.bgr))
    return frames


def seg_messages(bag):
    """{topic: [(stamp, log time, H x W [x C] array)]} of the predicted topics."""
    received = {}
    with BagReader(bag) as reader:
        for message in reader.messages(sorted(SEG_TOPICS)):
            msg = reader.deserialize(message)
            array = msg.data.reshape(msg.height, msg.width, -1)
            received.setdefault(message.topic, []).append(
                (stamp_ns(msg.header), message.log_time_ns, array[..., 0] if array.shape[2] == 1 else array))
        topics = {name: info.count for name, info in reader.topics.items()}
    return received, topics


def stamp_name(stamp):
    return f"{stamp // 10**9}_{stamp % 10**9:09d}"


@pytest.mark.parametrize("storage, encoding, pad, topic, bare, threads", [
    ("mcap", "rgb8", 3, "/camera/image_raw", False, 1),
    ("sqlite3", "bgr8", 0, "/camera/image_raw", False, 3),  # decoded and written on 3 threads each, in order
    ("mcap", "png", 0, "/camera/image_raw/compressed", False, 1),  # found from the default topic's /compressed
    ("sqlite3", "jpeg", 0, "/camera/image_raw/compressed", True, 3),
])
def test_bag_gets_an_output_bag_at_the_input_stamps_and_pngs_named_by_stamp(work, tmp_path, storage, encoding, pad,
                                                                             topic, bare, threads):
    root, checkpoint, _, segmenter = work
    bag = write_bag(root, tmp_path / "drive", storage, encoding, pad, topic)
    source = next(bag.glob("*.mcap"), None) or next(bag.glob("*.db3")) if bare else bag
    out = tmp_path / "out"
    assert predict(source, "--checkpoint", checkpoint, "--out", out, "--threads", threads) == 0
    out_bag = out / "drive_predicted"
    received, topics = seg_messages(out_bag)
    assert topics == {topic: SCENES, "/camera/camera_info": SCENES, **dict.fromkeys(SEG_TOPICS, SCENES)}
    frames = bag_frames(bag, topic)
    for seg_topic in SEG_TOPICS:
        assert [(s, t) for s, t, _ in received[seg_topic]] == [(s, t) for s, t, _, _ in frames], seg_topic
    for index, (stamp, _, image, bgr) in enumerate(frames):
        result = segmenter.segment(image, bgr=bgr)
        np.testing.assert_array_equal(received["/segmentation/labels"][index][2], result.labels)
        np.testing.assert_array_equal(received["/segmentation/drivable_mask"][index][2], result.drivable)
        rgb = np.ascontiguousarray(image[..., ::-1] if bgr else image)
        np.testing.assert_array_equal(received["/segmentation/color"][index][2],
                                      colorize_overlay(rgb, result.labels, 0.5))
        np.testing.assert_array_equal(read(png(out, "trainIds", f"drive/{stamp_name(stamp)}")), result.labels)
    assert len([p for p in outputs_of(out) if p.endswith(".png")]) == 3 * SCENES


# --- (4) reruns ---------------------------------------------------------------------------------------------

def test_frames_of_another_aspect_ratio_are_warned_about_once_naming_the_first_file(work, tmp_path, capsys):
    _, checkpoint, _, _ = work  # input 64x32
    folder = tmp_path / "camera"
    folder.mkdir()
    for name, (width, height) in {"a_wide": (96, 48), "b_square": (48, 48), "c_square": (48, 48)}.items():
        cv2.imwrite(str(folder / f"{name}.png"), np.full((height, width, 3), 90, np.uint8))
    capsys.readouterr()
    assert predict(folder, "--checkpoint", checkpoint, "--out", tmp_path / "out", "--outputs", "trainIds") == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if "stretched" in line]
    assert len(warnings) == 1 and "b_square.png" in warnings[0] and "48x48" in warnings[0], captured.err
    assert "--input-size 64x64" in warnings[0]
    assert "3 frames (3 segmented" in captured.out  # the warning loses no frame


def test_rerun_skips_done_frames_and_overwrite_redoes_them(work, tmp_path, capsys, count_segments):
    root, checkpoint, _, _ = work
    out = tmp_path / "out"
    assert predict(images_dir(root), "--checkpoint", checkpoint, "--out", out) == 0
    first = outputs_of(out)
    assert len(count_segments) == SCENES and len(first) == 3 * SCENES
    time.sleep(0.01)  # so a rewrite would show in the mtimes

    capsys.readouterr()
    count_segments.clear()
    assert predict(images_dir(root), "--checkpoint", checkpoint, "--out", out) == 0
    assert f"{SCENES} frames (0 segmented, {SCENES} already done, 0 unreadable)" in capsys.readouterr().out
    assert not count_segments and outputs_of(out) == first

    missing = next(name for name in first if name.startswith("overlay/"))
    (out / missing).unlink()  # a frame with one output missing is redone, whole
    assert predict(images_dir(root), "--checkpoint", checkpoint, "--out", out) == 0
    assert f"({1} segmented, {SCENES - 1} already done" in capsys.readouterr().out
    again = outputs_of(out)
    changed = {name for name in first if again[name] != first[name]}
    stem = Path(missing).name.removesuffix("_overlay.png")
    assert changed == {name for name in first if Path(name).name.startswith(stem + "_")} and len(changed) == 3

    count_segments.clear()
    assert predict(images_dir(root), "--checkpoint", checkpoint, "--out", out, "--overwrite") == 0
    assert f"({SCENES} segmented, 0 already done" in capsys.readouterr().out
    assert len(count_segments) == SCENES
    assert all(mtime != again[name] for name, mtime in outputs_of(out).items())


def test_bag_rerun_skips_done_frames_and_rewrites_the_same_output_bag(work, tmp_path, capsys, count_segments):
    root, checkpoint, _, _ = work
    bag = write_bag(root, tmp_path / "drive", "sqlite3")
    out = tmp_path / "out"
    assert predict(bag, "--checkpoint", checkpoint, "--out", out, "--outputs", "labelIds,overlay") == 0
    first, (first_bag, _) = outputs_of(out), seg_messages(out / "drive_predicted")
    pngs = {name: mtime for name, mtime in first.items() if name.endswith(".png")}
    assert len(count_segments) == SCENES and len(pngs) == 2 * SCENES

    capsys.readouterr()
    count_segments.clear()
    assert predict(bag, "--checkpoint", checkpoint, "--out", out, "--outputs", "labelIds,overlay") == 0
    assert f"(0 segmented, {SCENES} already done, 0 unreadable)" in capsys.readouterr().out
    assert not count_segments  # labels come back from the labelId PNGs
    assert {name: mtime for name, mtime in outputs_of(out).items() if name.endswith(".png")} == pngs
    second_bag, _ = seg_messages(out / "drive_predicted")
    for topic in SEG_TOPICS:
        assert len(second_bag[topic]) == SCENES
        for (s1, t1, a1), (s2, t2, a2) in zip(first_bag[topic], second_bag[topic]):
            assert (s1, t1) == (s2, t2)
            np.testing.assert_array_equal(a1, a2)


# --- (5) errors ---------------------------------------------------------------------------------------------

def _truncated_bag(root, path):
    write_bag(root, path)
    storage = next(path.glob("*.mcap"))
    os.truncate(storage, storage.stat().st_size * 2 // 3)
    return path


@pytest.mark.parametrize("case, message", [
    ("missing_input", "nowhere: no such file or directory"),
    ("missing_checkpoint", "missing.pt: no such checkpoint file"),
    ("empty_folder", "empty: no png/jpg/jpeg images (searched recursively)"),
    ("all_unreadable", "none of the 2 frames could be read; the first: "),
    ("not_a_video", "notes.txt: not an image folder, bag or video OpenCV can open"),
    ("truncated_bag", "truncated: "),
    ("missing_topic", "no topic /camera/nope; the bag has /camera/camera_info (sensor_msgs/msg/CameraInfo), "
                      "/camera/image_raw (sensor_msgs/msg/Image)"),
    ("foreign_out_bag", "already exists and is not an output bag (no /segmentation/labels); not replacing it"),
    ("out_bag_is_input", "would overwrite the input"),
    ("out_bag_for_images", "--out-bag is for bag input"),
])
def test_errors_are_one_line_and_exit_1(work, tmp_path, capfd, case, message):
    root, checkpoint, _, _ = work
    argv = []
    if case in ("empty_folder", "all_unreadable"):
        (tmp_path / "empty").mkdir()
    if case == "all_unreadable":
        for name in ("a.png", "b/c.jpg"):
            (tmp_path / "empty" / name).parent.mkdir(exist_ok=True)
            (tmp_path / "empty" / name).write_bytes(b"\x89PNG not really")
    if case == "not_a_video":
        (tmp_path / "notes.txt").write_text("not a video\n")
    source = {
        "missing_input": tmp_path / "nowhere",
        "empty_folder": tmp_path / "empty",
        "all_unreadable": tmp_path / "empty",
        "not_a_video": tmp_path / "notes.txt",
        "out_bag_for_images": images_dir(root),
    }.get(case)
    if case == "truncated_bag":
        source = _truncated_bag(root, tmp_path / "truncated")
    elif case in ("missing_topic", "foreign_out_bag", "out_bag_is_input", "missing_checkpoint"):
        source = write_bag(root, tmp_path / "drive")
    if case == "missing_checkpoint":
        checkpoint = tmp_path / "missing.pt"
    elif case == "missing_topic":
        argv = ["--image-topic", "/camera/nope"]
    elif case == "foreign_out_bag":
        argv = ["--out-bag", write_bag(root, tmp_path / "recording")]
    elif case == "out_bag_is_input":
        argv = ["--out-bag", source]
    elif case == "out_bag_for_images":
        argv = ["--out-bag", tmp_path / "x"]
    capfd.readouterr()
    assert predict(source, "--checkpoint", checkpoint, "--out", tmp_path / "out", *argv) == 1
    captured = capfd.readouterr()
    *warnings, error = captured.err.splitlines()
    assert error.startswith("seg-predict: error: ") and message in error and not captured.out, captured.err
    if case == "all_unreadable":  # each unreadable file was named as it was met
        assert f"{tmp_path / 'empty' / 'a.png'}: cannot read image" in error
        assert [line.split(": ")[:2] for line in warnings] == [
            ["seg-predict", "warning"], ["seg-predict", "warning"]], warnings
    else:
        assert not warnings, captured.err
    if case in ("foreign_out_bag",):
        assert (tmp_path / "recording" / "metadata.yaml").is_file()  # a recording is never replaced
    assert not list(tmp_path.rglob("*.part")) and not list(tmp_path.rglob("*.tmp"))


def test_a_bag_damaged_halfway_fails_keeping_the_pngs_of_the_frames_before(work, tmp_path, capsys, monkeypatch):
    from seg_perception.bags.reader import BagError
    from seg_perception.predict import sources

    root, checkpoint, _, _ = work
    bag, out = write_bag(root, tmp_path / "drive"), tmp_path / "out"
    original = sources.BagReader.messages

    def damaged(self, topics=None):  # as a truncated storage fails when the reading gets there
        for index, message in enumerate(original(self, topics)):
            if index == 4:  # two frames (camera_info + image each) read
                raise BagError(f"{self.path}: damaged bag (truncated or corrupt storage): ReaderError")
            yield message

    monkeypatch.setattr(sources.BagReader, "messages", damaged)
    capsys.readouterr()
    assert predict(bag, "--checkpoint", checkpoint, "--out", out) == 1
    assert capsys.readouterr().err == f"seg-predict: error: {bag}: damaged bag (truncated or corrupt storage): " \
                                      "ReaderError\n"
    assert_whole_frames(out, KINDS, expected=2)
    assert not (out / "drive_predicted").exists() and not list(out.glob(".*"))


def test_a_png_that_cannot_be_written_fails_naming_it(work, tmp_path, capsys):
    root, checkpoint, _, _ = work
    out = tmp_path / "out"
    name = scene_paths(root)[1].relative_to(images_dir(root)).with_suffix("").as_posix()
    blocked = png(out, "overlay", name)
    blocked.mkdir(parents=True)  # a directory where the PNG goes: the writer thread's rename fails
    capsys.readouterr()
    assert predict(images_dir(root), "--checkpoint", checkpoint, "--out", out) == 1
    assert capsys.readouterr().err == f"seg-predict: error: cannot write {blocked}: Is a directory\n"
    assert not list(out.rglob(".*.tmp"))


def test_unreadable_images_are_skipped_with_a_warning_naming_them(work, tmp_path, capsys):
    root, checkpoint, _, _ = work
    folder = tmp_path / "images"
    shutil.copytree(images_dir(root), folder)
    (folder / "synth" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    capsys.readouterr()
    assert predict(folder, "--checkpoint", checkpoint, "--out", tmp_path / "out", "--outputs", "labelIds") == 0
    captured = capsys.readouterr()
    assert captured.err.strip() == (f"seg-predict: warning: {folder / 'synth' / 'broken.png'}: cannot read image "
                                    "(missing, truncated or not an image); skipped")
    assert f"{SCENES + 1} frames ({SCENES} segmented, 0 already done, 1 unreadable)" in captured.out
    assert len(outputs_of(tmp_path / "out")) == SCENES


def test_output_directory_inside_the_input_is_not_read_as_input(work, tmp_path):
    root, checkpoint, _, _ = work
    folder = tmp_path / "images"
    shutil.copytree(images_dir(root), folder)
    for _ in range(2):  # the second run would find the first one's PNGs if they counted as input
        assert predict(folder, "--checkpoint", checkpoint, "--out", folder / "pred") == 0
    assert len(outputs_of(folder / "pred")) == 3 * SCENES


# --- (6) Ctrl-C -------------------------------------------------------------------------------------------------

def interrupt_after(monkeypatch, root, frames):
    """Segmenter.segment raises KeyboardInterrupt (as Ctrl-C would) on the input's frame after the first
    ``frames`` (the scene of that index, BGR or RGB), whichever stream segments it and whenever: frames are
    handed on in order, so exactly the ``frames`` before it go through."""
    original, scene = Segmenter.segment, cv2.imread(str(scene_paths(root)[frames]))

    def segment(self, image, bgr=None):
        if np.array_equal(image, scene) or np.array_equal(image, scene[..., ::-1]):
            raise KeyboardInterrupt
        return original(self, image, bgr=bgr)

    monkeypatch.setattr(Segmenter, "segment", segment)


def assert_whole_frames(out, kinds, expected=None):
    """Every frame has all of its PNGs or none, each a complete PNG; no temporary file anywhere."""
    files = [p for p in out.rglob("*") if p.is_file()]
    assert all(p.name.endswith(".png") and not p.name.startswith(".") for p in files), files
    frames = {}
    for path in files:
        kind = path.relative_to(out).parts[0]
        frames.setdefault(str(path.relative_to(out / kind)).removesuffix(f"_{kind}.png"), set()).add(kind)
        assert read(path).size
    assert all(found == set(kinds) for found in frames.values()), frames
    if expected is not None:
        assert len(frames) == expected
    return len(frames)


def test_ctrl_c_keeps_complete_outputs_and_a_rerun_finishes(work, tmp_path, capsys, monkeypatch):
    root, checkpoint, _, _ = work
    out = tmp_path / "out"
    interrupt_after(monkeypatch, root, 2)
    capsys.readouterr()
    assert predict(images_dir(root), "--checkpoint", checkpoint, "--out", out) == 130
    err = capsys.readouterr().err.strip()
    assert err == (f"seg-predict: interrupted; outputs of 2 newly segmented frames written (0 were already done) "
                   f"in {out}/{{labelIds,trainIds,overlay}}; rerun to go on")
    assert_whole_frames(out, KINDS, expected=2)
    monkeypatch.undo()
    assert predict(images_dir(root), "--checkpoint", checkpoint, "--out", out) == 0
    assert f"(2 segmented, 2 already done" in capsys.readouterr().out
    assert_whole_frames(out, KINDS, expected=SCENES)


def test_ctrl_c_on_a_bag_keeps_the_pngs_and_writes_no_output_bag(work, tmp_path, capsys, monkeypatch):
    root, checkpoint, _, _ = work
    bag, out = write_bag(root, tmp_path / "drive"), tmp_path / "out"
    interrupt_after(monkeypatch, root, 1)
    assert predict(bag, "--checkpoint", checkpoint, "--out", out) == 130
    assert "no output bag (a run writes it only when it gets through the whole bag)" in capsys.readouterr().err
    assert not (out / "drive_predicted").exists() and not list(out.glob(".*"))
    assert_whole_frames(out, KINDS, expected=1)


def _seg_predict() -> str:
    for directory in (Path(sys.executable).parent, Path(sys.prefix) / "lib" / "seg_perception"):
        if (directory / "seg-predict").is_file():
            return str(directory / "seg-predict")
    pytest.fail("seg-predict is not installed; run make test to reinstall the package")


def test_sigint_to_the_command_leaves_only_complete_pngs(tmp_path):
    """A real Ctrl-C: SIGINT to the installed command while it writes (big frames, so it takes seconds)."""
    frames, size = 40, (1024, 512)
    checkpoint = tiny_checkpoint(tmp_path / "slow.pt", input_size=size)  # full-size input: a slow model
    folder = tmp_path / "images"
    folder.mkdir()
    first = folder / "frame_000.png"
    cv2.imwrite(str(first), cv2.resize(np.random.default_rng(0).integers(0, 256, (8, 16, 3), np.uint8), size))
    for index in range(1, frames):
        shutil.copy(first, folder / f"frame_{index:03d}.png")
    out = tmp_path / "out"
    # A shell's background job starts with SIGINT ignored, which Python would keep: give the child the default.
    process = subprocess.Popen([_seg_predict(), str(folder), "--checkpoint", str(checkpoint), "--out", str(out),
                                "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while len(list((out / "overlay").glob("*.png"))) < 3 and process.poll() is None:
            assert time.monotonic() < deadline, "seg-predict wrote nothing in 120 s"
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, (stdout, stderr)
    assert stderr.strip().splitlines()[-1].startswith("seg-predict: interrupted; outputs of ")
    assert "Traceback" not in stderr
    done = assert_whole_frames(out, KINDS)
    assert 3 <= done < frames
