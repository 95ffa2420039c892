"""``make demo``: the whole story on one machine, from scenes to a live rosbag replay through seg_node.

1. generate 2000 training and 100 held-out scenes of the default randomisation profile, and 100
   shifted ones drawn from ranges the training data never saw (``seg-make-data --profile shifted``);
2. train the deployment model (``seg-train --config config/train_default.yaml``) within a
   10-minute budget: the config's 4 epochs, or the whole epochs of them that fit on a slower machine;
3. write the held-out scenes as a rosbag2 with camera images, camera_info and
   ground truth (``seg-make-bag``, 10 Hz);
4. score the checkpoint on the bag offline (``seg-bag-eval``), then start
   ``seg_node``, replay the bag into it at the recorded rate and score what it
   publishes (``seg-bag-eval --live``);
5. score the checkpoint on the shifted split (``seg-eval``);
6. print a summary whose numbers all come from this run's steps 4 and 5.

Steps 1-3 are skipped when their output exists and was made by the same
inputs (a fingerprint of what made it), so a second run only replays the bag.

    python -m training.demo [--work demo_out] [--train-scenes 2000] [--val-scenes 100] [--shifted-scenes 100]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

from seg_perception.checkpoint import load_checkpoint
from seg_perception.ros.bag_eval import main as seg_bag_eval

from .data.make_data import main as make_data
from .config import load_config
from .evaluate import main as seg_eval
from .make_bag import main as make_bag
from .train import main as seg_train

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "train_default.yaml"
BAG_RATE_HZ = 10
#: seconds seg-train may take (train.time_budget_s): on a machine too slow for every epoch it trains fewer
TRAINING_BUDGET_S = 600
#: bump when seg-make-data's output changes without a change of its arguments (2: camera JSON per scene,
#: 3: domain randomisation)
DATA_FORMAT = 3
#: (split, profile) of the scenes the demo makes
SPLITS = (("train", "default"), ("val", "default"), ("val_shifted", "shifted"))


def fingerprint(*parts) -> str:
    """Short hash of what made an output: when it changes, the output is made again."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def timed_step(name: str, action) -> None:
    """Run ``action`` (a CLI ``main`` returning an exit code); exit the demo if it fails."""
    print(f"[demo] {name} ...", flush=True)
    started = time.perf_counter()
    code = action()
    if code not in (0, None):
        sys.exit(f"[demo] {name} failed with exit code {code}")
    print(f"[demo] {name}: done in {time.perf_counter() - started:.0f} s", flush=True)


def cached_step(name: str, stamp_dir: Path, key: str, action, output: Path) -> None:
    """Run ``action`` unless ``stamp_dir`` holds a stamp for ``key`` (written only after success)
    and ``output`` still exists."""
    stamp = stamp_dir / f".{name}.stamp"
    if stamp.exists() and stamp.read_text() == key and output.exists():
        print(f"[demo] {name}: up to date ({stamp_dir})")
        return
    timed_step(name, action)
    stamp_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key)


def _remake_bag(bag: Path, data: Path) -> int:
    shutil.rmtree(bag, ignore_errors=True)  # seg-make-bag refuses to overwrite, rightly
    return make_bag(["--data", str(data), "--split", "val", "--out", str(bag), "--rate", str(BAG_RATE_HZ)])


def _figure(value, digits: int) -> str:
    """A metric as text; metrics.json holds null where a figure is undefined (no drivable pixels, no frames)."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary(checkpoint: Path, training: dict, offline: dict, live: dict, live_dir: Path, shifted: dict) -> str:
    """The lines the demo ends with: accuracy, speed and where the report and pictures are.

    ``training`` is the checkpoint's training record plus ``max_epochs``, what the config asks for.
    """
    latency, offline_latency, grid = live["latency_ms"], offline["latency_ms"], live["grid"]
    return "\n".join([
        "",
        "== seg_perception demo ==",
        f"model           {checkpoint} ({live['backend']}, input {live['input_size'][0]}x{live['input_size'][1]})",
        f"training        epoch {training['epoch']} of {training['epochs']} "
        f"({training['epochs']} of the config's {training['max_epochs']} fit the {TRAINING_BUDGET_S} s budget here)",
        f"bag             {live['bag']} ({live['frames']} held-out frames at {BAG_RATE_HZ} Hz)",
        f"live mIoU       {_figure(live['miou'], 3)}   drivable IoU {_figure(live['drivable_iou'], 3)}   "
        f"pixel accuracy {_figure(live['pixel_accuracy'], 3)}",
        f"offline mIoU    {_figure(offline['miou'], 3)}   (the same frames through the Segmenter in this process)",
        f"shifted mIoU    {_figure(shifted['miou'], 3)}   drivable IoU {_figure(shifted['drivable_iou'], 3)}   "
        f"({shifted['frames']} scenes from the shifted profile: other cameras, dusk, fog, unseen colours)",
        f"degraded input  {_figure(shifted.get('frames_below_confidence_floor'), 0)} of the {shifted['frames']} shifted "
        f"scenes below the model's confidence floor {_figure(shifted.get('confidence_floor'), 3)} "
        "(seg_node warns while its frames stay below it)",
        f"node            {_figure(live['fps'], 1)} frames/s answered, end-to-end latency p50 "
        f"{_figure(latency['p50'], 1)} ms, p90 {_figure(latency['p90'], 1)} ms, p99 {_figure(latency['p99'], 1)} ms, "
        f"{live['dropped']} dropped",
        f"offline speed   {_figure(offline['fps'], 1)} frames/s, p50 {_figure(offline_latency['p50'], 1)} ms per frame",
        f"drivable grid   cell agreement {_figure(grid.get('agreement'), 3)}, free-cell IoU "
        f"{_figure(grid.get('free_iou'), 3)} (grids from the predicted and the true masks)",
        f"report          {live_dir / 'report.md'}",
        f"pictures        {live_dir / 'samples.png'}, {live_dir / 'confusion.png'}, {live_dir / 'grid.png'}",
    ])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "demo_out")
    parser.add_argument("--train-scenes", type=int, default=2000)
    parser.add_argument("--val-scenes", type=int, default=100)
    parser.add_argument("--shifted-scenes", type=int, default=100)
    args = parser.parse_args(argv)
    data, run, bag = args.work / "data", args.work / "run", args.work / "val_bag"
    offline_dir, live_dir = args.work / "bag_eval_offline", args.work / "bag_eval_live"
    shifted_dir = args.work / "eval_shifted"

    data_keys = {}
    counts = {"train": args.train_scenes, "val": args.val_scenes, "val_shifted": args.shifted_scenes}
    for split, profile in SPLITS:
        argv_data = [str(data), "--split", split, "--num", str(counts[split]), "--size", "512x256", "--seed", "0",
                     "--profile", profile, "--overwrite"]
        data_keys[split] = fingerprint(DATA_FORMAT, *argv_data)
        cached_step(f"scenes-{split}", data, data_keys[split], lambda a=argv_data: make_data(a),
                    output=data / "leftImg8bit" / split)
    train_key = fingerprint(CONFIG.read_text(), data_keys["train"], data_keys["val"], TRAINING_BUDGET_S)
    cached_step("train", run, train_key,
                lambda: seg_train(["--config", str(CONFIG), "--data", str(data), "--out", str(run),
                                   f"train.time_budget_s={TRAINING_BUDGET_S}"]),
                output=run / "best.pt")
    checkpoint = run / "best.pt"
    cached_step("bag", args.work, fingerprint(data_keys["val"], BAG_RATE_HZ), lambda: _remake_bag(bag, data),
                output=bag / "metadata.yaml")

    timed_step("bag evaluation, offline", lambda: seg_bag_eval(
        [str(bag), "--checkpoint", str(checkpoint), "--out", str(offline_dir), "--quiet"]))
    timed_step("bag evaluation, live through seg_node", lambda: seg_bag_eval(
        [str(bag), "--checkpoint", str(checkpoint), "--live", "--out", str(live_dir), "--pictures", "6"]))

    timed_step("evaluation on the shifted split", lambda: seg_eval(
        ["--checkpoint", str(checkpoint), "--data", str(data), "--split", "val_shifted", "--out", str(shifted_dir)]))

    offline = json.loads((offline_dir / "metrics.json").read_text())
    live = json.loads((live_dir / "metrics.json").read_text())
    shifted = json.loads((shifted_dir / "metrics.json").read_text())
    training = dict(load_checkpoint(checkpoint).training, max_epochs=load_config(CONFIG)["train"]["epochs"])
    print(summary(checkpoint, training, offline, live, live_dir, shifted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
