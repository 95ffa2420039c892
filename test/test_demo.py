"""make demo's own logic: what it caches and what its summary prints (the full demo is a benchmark-length run)."""

from pathlib import Path

from training.demo import cached_step, summary


def test_a_cached_step_reruns_when_its_inputs_change_or_its_output_is_gone(tmp_path):
    output, runs = tmp_path / "out.bin", []

    def action():
        runs.append(1)
        output.write_bytes(b"x")
        return 0

    for key in ("a", "a", "b"):
        cached_step("step", tmp_path, key, action, output=output)
    assert len(runs) == 2  # "a" once, then "b"
    output.unlink()
    cached_step("step", tmp_path, "b", action, output=output)
    assert len(runs) == 3 and output.exists()


def test_the_summary_prints_every_figure_and_n_a_for_undefined_ones():
    latency = {"p50": 31.72, "p90": 39.0, "p99": 42.8}
    live = {"backend": "cpu", "input_size": [256, 128], "bag": "demo_out/val_bag", "frames": 100, "miou": 0.4104,
            "drivable_iou": None, "pixel_accuracy": 0.8761, "fps": 10.06, "latency_ms": latency, "dropped": 0,
            "grid": {"agreement": 0.9123, "free_iou": None}}
    offline = {"miou": 0.4104, "fps": None, "latency_ms": {"p50": None}}
    shifted = {"miou": 0.3712, "drivable_iou": 0.9049, "frames": 100, "frames_below_confidence_floor": 71,
               "confidence_floor": 0.7761}
    training = {"epoch": 5, "epochs": 6, "max_epochs": 8}
    text = summary(Path("run/best.pt"), training, offline, live, Path("demo_out/bag_eval_live"), shifted)
    assert "training        epoch 5 of 6 (6 of the config's 8 fit the 600 s budget here)" in text
    assert "live mIoU       0.410   drivable IoU n/a   pixel accuracy 0.876" in text
    assert "10.1 frames/s answered, end-to-end latency p50 31.7 ms, p90 39.0 ms, p99 42.8 ms, 0 dropped" in text
    assert "offline speed   n/a frames/s, p50 n/a ms per frame" in text
    assert "demo_out/bag_eval_live/samples.png" in text and "demo_out/bag_eval_live/grid.png" in text
    assert "drivable grid   cell agreement 0.912, free-cell IoU n/a" in text
    assert "shifted mIoU    0.371   drivable IoU 0.905   (100 scenes from the shifted profile" in text
    assert "degraded input  71 of the 100 shifted scenes below the model's confidence floor 0.776" in text
    shifted.update(frames_below_confidence_floor=None, confidence_floor=None)  # a checkpoint without a floor
    text = summary(Path("run/best.pt"), training, offline, live, Path("demo_out/bag_eval_live"), shifted)
    assert "degraded input  n/a of the 100 shifted scenes below the model's confidence floor n/a" in text
