"""Training throughput at 512x256, batch 8: data loading vs the training step.

    python benchmarks/bench_training.py --data DATA [--models fcn8s_resnet18 unet_small] [--iters 6] [--crop 512x256]
    python benchmarks/bench_training.py --data DATA --config config/train_default.yaml --models fpnlite_efficientnet_lite0

Data loading (decode, multi-scale crop, flip, jitter, normalise; with ``--config`` the crop, scales,
load scale and every augmentation of that config) runs in
DataLoader workers beside the step, so it never starves training when the
loader's images/s is well above the step's; both are measured in this run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from seg_perception.checkpoint import IMAGENET_MEAN, IMAGENET_STD
from seg_perception.labels import NUM_CLASSES
from seg_perception.size import Size, size_arg
from seg_perception.models import build_model
from training.config import load_config
from training.data import CityscapesDataset
from training.transforms import configured_train_transforms, train_transforms


def loader_images_per_s(dataset, batch: int, workers: int, batches: int) -> float:
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                        persistent_workers=False)
    iterator = iter(loader)
    next(iterator)  # worker start-up is paid once per epoch, not per batch
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch / (time.perf_counter() - start)


def step_images_per_s(name: str, images: torch.Tensor, labels: torch.Tensor, iters: int) -> float:
    # As seg-train runs it: channels-last weights and inputs, fused AdamW.
    model = build_model(name, NUM_CLASSES).train().to(memory_format=torch.channels_last)
    images = images.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    times = []
    for i in range(iters + 1):
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(images), labels, ignore_index=255)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i:  # the first step allocates
            times.append(time.perf_counter() - start)
    return images.shape[0] / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="generated 512x256 scenes (train split)")
    parser.add_argument("--models", nargs="+", default=["fcn8s_resnet18", "unet_small"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--iters", type=int, default=6)
    parser.add_argument("--crop", type=size_arg(), default=Size(512, 256), metavar="WxH",
                        help="training crop (default 512x256; config/train_default.yaml uses 256x128)")
    parser.add_argument("--load-scale", type=float, default=1.0, help="shrink images at load (the default config: 0.5)")
    parser.add_argument("--config", type=Path, help="take crop, scales and augmentation from this training config")
    args = parser.parse_args()
    if args.config:
        data = load_config(args.config)["data"]
        args.crop, args.load_scale = Size(*data["crop_size"]), data["load_scale"]
        transform = configured_train_transforms(data)
    else:
        transform = train_transforms(crop_size=args.crop, scale_range=(0.5, 2.0), mean=IMAGENET_MEAN, std=IMAGENET_STD)
    dataset = CityscapesDataset(args.data, "train", scale=args.load_scale, transform=transform)
    loader_rate = loader_images_per_s(dataset, args.batch, args.workers, batches=10)
    print(f"data loader ({args.workers} workers, batch {args.batch}, {args.crop} crops): "
          f"{loader_rate:.1f} images/s")
    images, labels = next(iter(DataLoader(dataset, batch_size=args.batch)))
    print("| model | train step images/s | loader / step |")
    print("|---|---|---|")
    for name in args.models:
        rate = step_images_per_s(name, images, labels, args.iters)
        print(f"| {name} | {rate:.2f} | {loader_rate / rate:.1f}x |")


if __name__ == "__main__":
    main()
