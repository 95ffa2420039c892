"""``make demo``: generate scenes, train the deployment model (or reuse it), evaluate it, show pictures.

Every step is skipped when its output exists and was made by the same inputs
(a fingerprint of the command that made it), so a second run takes seconds.

    python -m training.demo [--work demo_out] [--train-scenes 1000] [--val-scenes 100]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from .data.make_data import main as make_data
from .evaluate import main as seg_eval
from .train import main as seg_train

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "train_default.yaml"


def fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def cached_step(name: str, stamp_dir: Path, key: str, action) -> None:
    """Run ``action`` unless ``stamp_dir`` holds a stamp for ``key`` (written only after success)."""
    stamp = stamp_dir / f".{name}.stamp"
    if stamp.exists() and stamp.read_text() == key:
        print(f"[demo] {name}: up to date ({stamp_dir})")
        return
    print(f"[demo] {name} ...", flush=True)
    started = time.perf_counter()
    code = action()
    if code not in (0, None):
        sys.exit(f"[demo] {name} failed with exit code {code}")
    stamp_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key)
    print(f"[demo] {name}: done in {time.perf_counter() - started:.0f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "demo_out")
    parser.add_argument("--train-scenes", type=int, default=1000)
    parser.add_argument("--val-scenes", type=int, default=100)
    args = parser.parse_args(argv)
    data, run, report = args.work / "data", args.work / "run", args.work / "eval"

    for split, num in (("train", args.train_scenes), ("val", args.val_scenes)):
        argv_data = [str(data), "--split", split, "--num", str(num), "--size", "512x256", "--seed", "0"]
        cached_step(f"scenes-{split}", data, fingerprint(*argv_data), lambda a=argv_data: make_data(a))
    train_key = fingerprint(CONFIG.read_text(), args.train_scenes, args.val_scenes)
    cached_step("train", run, train_key,
                lambda: seg_train(["--config", str(CONFIG), "--data", str(data), "--out", str(run)]))
    checkpoint = run / "best.pt"
    cached_step("evaluate", report, fingerprint(train_key, checkpoint.stat().st_mtime),
                lambda: seg_eval(["--checkpoint", str(checkpoint), "--data", str(data), "--out", str(report),
                                  "--pictures", "6"]))

    metrics = json.loads((report / "metrics.json").read_text())
    print("\n== seg_perception demo ==")
    print(f"model          {checkpoint}")
    print(f"val mIoU       {metrics['miou']:.3f}  (pixel accuracy {metrics['pixel_accuracy']:.3f}, "
          f"{metrics['num_images']} held-out scenes)")
    print(f"backend        {metrics['backend']}, input {metrics['input_size'][0]}x{metrics['input_size'][1]}, "
          f"median {metrics['median_frame_ms']:.1f} ms per 512x256 frame")
    print(f"report         {report / 'report.md'}")
    print(f"pictures       {', '.join(str(p) for p in sorted(report.glob('sample_*.png'))[:3])} ...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
