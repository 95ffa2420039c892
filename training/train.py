"""``seg-train --config FILE --data DIR --out RUN [key=value ...] [--resume]``; torchrun-able.

Trains and validates every epoch; writes ``RUN/config.yaml`` (resolved),
``RUN/last.pt`` (with resume state) and ``RUN/best.pt`` (best val mIoU), both
atomically, plus TensorBoard logs in ``RUN/tb``. Each epoch's randomness is
derived from (seed, epoch), so ``--resume`` from ``last.pt`` continues exactly
as an uninterrupted run would. ``train.time_budget_s`` trains the whole epochs
(at most ``train.epochs``) that fit that many seconds on this machine
(``training/time_budget.py``). ``model.init_from=CHECKPOINT`` starts from a
trained model's weights instead of ImageNet's or a random initialisation
(fine-tuning it on your own labelled frames).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader, DistributedSampler, Sampler, Subset

from seg_perception.checkpoint import (IMAGENET_MEAN, IMAGENET_STD, CheckpointError, ModelSpec, load_checkpoint,
                                       save_checkpoint)
from seg_perception.labels import NUM_CLASSES, colorize
from seg_perception.models import build_model
from seg_perception.size import Size

from .config import ConfigError, load_config
from .data import CityscapesDataset, DatasetError
from .distributed import DistInfo, all_reduce_sum, init_distributed, shutdown, weights_agree
from .engine import NonFiniteLoss, evaluate, train_one_epoch
from .losses import build_loss
from .sampling import RareClassSampler, epoch_seed, image_weights
from .schedules import build_scheduler
from .time_budget import fit_epochs, measure_epoch_cost
from .transforms import configured_train_transforms, eval_transforms


def seed_epoch(seed: int, epoch: int, rank: int) -> torch.Generator:
    """Seed every RNG from (seed, epoch, rank); returns the generator for the loader's shuffling."""
    value = seed * 100_003 + epoch * 101 + rank
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)
    return torch.Generator().manual_seed(epoch_seed(seed, epoch))


def class_histogram(dataset: CityscapesDataset, samples: int) -> np.ndarray:
    """Per-image pixel counts per trainId (N x C) over up to ``samples`` evenly spaced label files.

    Per-image rows let median-frequency balancing use the pixels of the images
    each class appears in (Eigen and Fergus), not just global totals.
    """
    raw = CityscapesDataset(dataset.root, dataset.split, transform=None, scale=dataset.scale)
    indices = np.unique(np.linspace(0, len(raw) - 1, num=min(samples, len(raw)), dtype=int))
    rows = []
    for index in indices:
        label = raw[int(index)][1]
        rows.append(np.bincount(label[label < NUM_CLASSES].ravel(), minlength=NUM_CLASSES))
    return np.stack(rows)


def build_optimizer(model, train_cfg: dict) -> torch.optim.Optimizer:
    """SGD or AdamW with the encoder in its own parameter group (lower lr, or frozen)."""
    encoder = getattr(model, "encoder", None)
    encoder_ids = {id(p) for p in encoder.parameters()} if encoder is not None else set()
    if train_cfg["freeze_encoder"]:
        for p in encoder.parameters():
            p.requires_grad_(False)
    lr = train_cfg["lr"]
    groups = [
        {"params": [p for p in model.parameters() if id(p) in encoder_ids and p.requires_grad],
         "lr": lr * train_cfg["encoder_lr_mult"], "name": "encoder"},
        {"params": [p for p in model.parameters() if id(p) not in encoder_ids], "lr": lr, "name": "decoder"},
    ]
    groups = [g for g in groups if g["params"]]
    if train_cfg["optimizer"] == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=train_cfg["momentum"],
                               weight_decay=train_cfg["weight_decay"])
    if train_cfg["optimizer"] == "adamw":
        # The fused kernel updates all tensors in one pass: 15 % faster steps on this CPU (docs/BENCHMARKS.md).
        return torch.optim.AdamW(groups, lr=lr, weight_decay=train_cfg["weight_decay"], fused=True)
    raise ConfigError(f"config key 'train.optimizer' must be sgd or adamw, got {train_cfg['optimizer']!r}")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but torch sees no CUDA device")
    return torch.device(name)


def prediction_picture(image: torch.Tensor, pred: np.ndarray, label: np.ndarray, mean, std) -> np.ndarray:
    """input | prediction | ground truth, side by side at the label's size (H x 3W x 3 uint8)."""
    rgb = image.permute(1, 2, 0).numpy() * np.array(std) + np.array(mean)
    rgb = cv2.resize((rgb.clip(0, 1) * 255).astype(np.uint8), Size.of(label))
    return np.concatenate([rgb, colorize(pred), colorize(label)], axis=1)


@dataclass(frozen=True)
class Run:
    """This process's part of a training run: the config, data and output paths, its rank and device."""

    config: dict
    data_root: Path
    out: Path
    info: DistInfo
    device: torch.device

    def log(self, message: str) -> None:
        """Print ``message`` on the main rank only."""
        if self.info.is_main:
            print(message)


@dataclass
class Data:
    """What the loop draws from: the training set and its sampler, the validation loader, the loss."""

    train_set: CityscapesDataset
    sampler: Sampler | None  # None: a shuffled epoch
    iters: int  # iterations per epoch
    val_images: int
    val_loader: DataLoader
    criterion: torch.nn.Module


@dataclass
class Optimisation:
    """The model and what updates it; ``train_model`` is the model or its DistributedDataParallel wrapper."""

    model: torch.nn.Module
    train_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None


def model_spec(config: dict) -> ModelSpec:
    """What the checkpoints will say about the model (its inputs, classes and drivable classes, checked)."""
    return ModelSpec(name=config["model"]["name"], options=dict(config["model"]["options"]),
                     mean=IMAGENET_MEAN, std=IMAGENET_STD, input_size=config["data"]["input_size"],
                     drivable_classes=config["eval"]["drivable_classes"])


def build_data(run: Run, spec: ModelSpec) -> Data:
    """Datasets with their transforms, the validation shard of this rank, the sampler and the loss."""
    config, data_root, info = run.config, run.data_root, run.info
    data_cfg, seed = config["data"], config["train"]["seed"]
    train_set = CityscapesDataset(data_root, data_cfg["train_split"], scale=data_cfg["load_scale"],
                                  transform=configured_train_transforms(data_cfg, spec.mean, spec.std))
    val_set = CityscapesDataset(data_root, data_cfg["val_split"], scale=data_cfg["load_scale"],
                                transform=eval_transforms(spec.input_size, spec.mean, spec.std))
    for dataset in (train_set, val_set):  # a bad label file fails now, not after hours of training
        dataset.check(progress=info.is_main)
    if config["eval"]["val_max_images"]:
        val_set = Subset(val_set, range(min(len(val_set), config["eval"]["val_max_images"])))
    val_shard = Subset(val_set, range(info.rank, len(val_set), info.world_size))
    val_loader = DataLoader(val_shard, batch_size=1, num_workers=data_cfg["workers"])

    histogram, sampler = None, None
    terms = config["loss"]["terms"]
    if data_cfg["rare_class_temperature"] > 0:  # sampling weights every image, so it reads every label once
        histogram = class_histogram(train_set, len(train_set))
        weights = image_weights(histogram, data_cfg["rare_class_temperature"], data_cfg["rare_class_min_pixels"])
        sampler = RareClassSampler(weights, len(train_set), seed, info.rank, info.world_size)
    elif any(isinstance(term.get(key), str) for term in terms for key in ("class_weights", "alpha")):
        histogram = class_histogram(train_set, data_cfg["histogram_samples"])
    if sampler is None and info.enabled:
        sampler = DistributedSampler(train_set, info.world_size, info.rank, seed=seed)
    batches = len(train_set) // (data_cfg["batch_size"] * info.world_size)
    if batches == 0:
        raise ConfigError(f"data.batch_size={data_cfg['batch_size']} x {info.world_size} process(es) "
                          f"exceeds the {len(train_set)} training images")
    iters = min(batches, config["train"]["max_iters_per_epoch"] or batches)
    return Data(train_set, sampler, iters, len(val_set), val_loader,
                build_loss(config["loss"], class_histogram=histogram).to(run.device))


def build_optimisation(run: Run, spec: ModelSpec, iters: int,
                       initial: dict[str, torch.Tensor] | None = None) -> Optimisation:
    """The model (seeded, channels-last, SyncBN as configured), its optimiser, schedule and AMP scaler; the
    model starts from ``initial`` weights when given."""
    config, device, train_cfg = run.config, run.device, run.config["train"]
    options = dict(spec.options)
    # With model.init_from the trained weights (or, resuming, last.pt's) overwrite ImageNet's: not loaded.
    if config["model"]["encoder_weights"] and not config["model"]["init_from"]:
        options["encoder_weights"] = config["model"]["encoder_weights"]
    torch.manual_seed(train_cfg["seed"])
    model = build_model(spec.name, NUM_CLASSES, **options)
    if initial is not None:
        model.load_state_dict(initial)
    model = model.to(device)
    if train_cfg["channels_last"]:  # 1.4x faster training steps on this 2-core CPU too (docs/BENCHMARKS.md)
        model = model.to(memory_format=torch.channels_last)
    if run.info.enabled and train_cfg["sync_bn"]:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    optimizer = build_optimizer(model, train_cfg)
    scheduler = build_scheduler(optimizer, iters * train_cfg["epochs"], train_cfg["schedule"],
                                train_cfg["warmup_iters"], train_cfg["poly_power"])
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" and train_cfg["amp"] else None
    return Optimisation(model, model, optimizer, scheduler, scaler)


def initial_weights(path: Path, spec: ModelSpec) -> dict[str, torch.Tensor]:
    """The weights of the checkpoint ``model.init_from`` names; CheckpointError naming the file unless it holds
    the architecture the config trains (the same name, options and classes)."""
    checkpoint = load_checkpoint(path)
    options = spec.architecture_options
    if (checkpoint.spec.name, checkpoint.spec.options) != (spec.name, options):
        raise CheckpointError(f"{path}: holds {checkpoint.spec.name} {checkpoint.spec.options}, but the config "
                              f"trains {spec.name} {options}; set model.name and model.options to the "
                              "checkpoint's to fine-tune it")
    if checkpoint.spec.num_classes != NUM_CLASSES:
        raise CheckpointError(f"{path}: predicts {checkpoint.spec.num_classes} classes, seg-train trains the "
                              f"{NUM_CLASSES} Cityscapes classes; fine-tune a checkpoint of those")
    return checkpoint.state_dict


def epochs_within_budget(run: Run, data: Data, optimisation: Optimisation, started: float) -> int:
    """The epochs that fit what is left of ``train.time_budget_s`` after ``started``; rank 0 decides.

    Calibrates on ``optimisation``, which it trains a few steps: build a fresh one afterwards.
    """
    train_cfg, data_cfg = run.config["train"], run.config["data"]
    cost = measure_epoch_cost(optimisation.model, optimisation.optimizer, optimisation.scheduler, data.criterion,
                              data.train_set, data.val_loader, run.device, batch_size=data_cfg["batch_size"],
                              workers=data_cfg["workers"], channels_last=train_cfg["channels_last"],
                              scaler=optimisation.scaler)
    budget, spent, epoch_s = train_cfg["time_budget_s"], time.perf_counter() - started, cost.epoch_s(data.iters)
    epochs = fit_epochs(budget - spent, epoch_s, train_cfg["epochs"])
    epochs = int(all_reduce_sum(np.array([epochs if run.info.is_main else 0]), run.info)[0])
    run.log(f"time budget {budget:.0f} s: {spent:.0f} s spent before training; an epoch takes about {epoch_s:.0f} s "
            f"here ({data.iters} steps of {cost.step_s:.2f} s, validation {cost.val_s:.0f} s), so {epochs} of "
            f"{train_cfg['epochs']} epochs" + ("" if epochs == train_cfg["epochs"] else
                                               f" (train.epochs={epochs} repeats this run without the budget)"))
    if epochs * epoch_s > budget - spent:
        run.log(f"seg-train: warning: one epoch (about {epoch_s:.0f} s) does not fit the {budget:.0f} s budget; "
                "training one anyway")
    return epochs


def distribute(run: Run, optimisation: Optimisation) -> None:
    """Wrap the model for DistributedDataParallel when torchrun started several processes."""
    if run.info.enabled:
        optimisation.train_model = torch.nn.parallel.DistributedDataParallel(
            optimisation.model, device_ids=[run.info.local_rank] if run.device.type == "cuda" else None)


def open_run_dir(run: Run):
    """Create the run directory with the resolved config; the TensorBoard writer (or None) of the main rank."""
    if not run.info.is_main:
        return None
    run.out.mkdir(parents=True, exist_ok=True)
    (run.out / "config.yaml").write_text(yaml.safe_dump(run.config, sort_keys=False))
    if not run.config["log"]["tensorboard"]:
        return None
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(str(run.out / "tb"))


def train(config: dict, data_root: Path, out: Path, resume: bool) -> int:
    """Train with ``config`` on ``data_root`` into ``out``; returns the process exit code."""
    started = time.perf_counter()
    device = pick_device(config["train"]["device"])
    run = Run(config, data_root, out, init_distributed(device.type == "cuda"), device)
    spec = model_spec(config)
    init_from = None if resume else config["model"]["init_from"]  # resuming, last.pt holds the weights
    initial = initial_weights(Path(init_from), spec) if init_from else None  # a bad path fails before the data
    data = build_data(run, spec)
    budgeted = config["train"]["time_budget_s"] > 0
    if budgeted and resume:  # the schedule was sized for the epochs the budget chose at the start
        config["train"]["epochs"] = load_checkpoint(out / "last.pt").training["epochs"]
    optimisation = build_optimisation(run, spec, data.iters, initial)
    if budgeted and not resume:
        config["train"]["epochs"] = epochs_within_budget(run, data, optimisation, started)
        optimisation = build_optimisation(run, spec, data.iters, initial)
    start_epoch, best_miou = 0, -1.0
    if resume:
        start_epoch, best_miou = restore(out / "last.pt", optimisation)
        run.log(f"resuming from {out / 'last.pt'} at epoch {start_epoch + 1}, best mIoU so far {best_miou:.4f}")
    distribute(run, optimisation)
    writer = open_run_dir(run)
    run.log(f"seg-train: {spec.name} on {device} x {run.info.world_size}, {len(data.train_set)} train / "
            f"{data.val_images} val images, {data.iters} iterations per epoch, "
            f"epochs {start_epoch + 1}..{config['train']['epochs']}"
            + (f", starting from {init_from}" if init_from else ""))
    try:
        best_miou = train_epochs(run, spec, data, optimisation, writer, start_epoch, best_miou)
    except (NonFiniteLoss, DatasetError) as exc:  # a label file that went bad during the run, too
        kept = out / "last.pt"
        print(f"seg-train: {exc}; stopping. Last good checkpoint: "
              f"{kept if kept.exists() else 'none (failed in the first epoch)'}", file=sys.stderr)
        shutdown(run.info)
        return 1
    if run.info.enabled:
        run.log(f"weights identical across {run.info.world_size} ranks")
    if writer is not None:
        writer.close()
    run.log(f"seg-train: done in {time.perf_counter() - started:.0f} s; best val mIoU {best_miou:.4f}; "
            f"checkpoints in {out}")
    shutdown(run.info)
    return 0


def train_epochs(run: Run, spec: ModelSpec, data: Data, optimisation: Optimisation, writer, start_epoch: int,
                 best_miou: float) -> float:
    """Train and validate from ``start_epoch``, checkpointing every epoch; returns the best val mIoU."""
    config, info, device = run.config, run.info, run.device
    train_cfg = config["train"]
    global_step = start_epoch * data.iters

    def on_step(loss, lr):
        nonlocal global_step
        global_step += 1
        if writer is not None:
            writer.add_scalar("train/loss", loss, global_step)
            writer.add_scalar("train/lr", lr, global_step)

    for epoch in range(start_epoch, train_cfg["epochs"]):
        generator = seed_epoch(train_cfg["seed"], epoch, info.rank)
        if data.sampler is not None:
            data.sampler.set_epoch(epoch)
        loader = DataLoader(data.train_set, batch_size=config["data"]["batch_size"], sampler=data.sampler,
                            shuffle=data.sampler is None, generator=generator, drop_last=True,
                            num_workers=config["data"]["workers"], pin_memory=device.type == "cuda")
        started = time.perf_counter()
        stats = train_one_epoch(optimisation.train_model, loader, data.criterion, optimisation.optimizer,
                                optimisation.scheduler, device, epoch=epoch, epochs=train_cfg["epochs"],
                                grad_clip=train_cfg["grad_clip"], scaler=optimisation.scaler, max_iters=data.iters,
                                show_progress=info.is_main, channels_last=train_cfg["channels_last"],
                                on_step=on_step)
        matrix, samples, confidence = evaluate(optimisation.model, data.val_loader, device,
                                               show_progress=info.is_main,
                                               keep=config["log"]["images"] if info.is_main else 0)
        matrix.matrix = all_reduce_sum(matrix.matrix, info)
        confidence.counts = all_reduce_sum(confidence.counts, info)
        # The floor goes with the weights it was measured on: every epoch's checkpoint carries its own.
        spec.confidence_floor = confidence.floor()
        metrics = matrix.compute()
        run.log(f"epoch {epoch + 1}/{train_cfg['epochs']}  loss {stats['loss']:.4f}  "
                f"val mIoU {metrics.miou or 0.0:.4f}  pixel acc {metrics.pixel_accuracy or 0:.4f}  "
                f"confidence floor {spec.confidence_floor or 0.0:.3f}  "
                f"lr {optimisation.optimizer.param_groups[-1]['lr']:.2e}  "
                f"{stats['images_per_s']:.1f} img/s  {time.perf_counter() - started:.0f} s")
        if not weights_agree(optimisation.model, info):
            raise RuntimeError(f"ranks hold different weights after epoch {epoch + 1}")
        if info.is_main:
            write_tensorboard(writer, epoch + 1, metrics, samples, spec.mean, spec.std)
            meta = {"epoch": epoch + 1, "epochs": train_cfg["epochs"], "train_loss": stats["loss"],
                    "config": config, "data": str(run.data_root), "train_images": len(data.train_set),
                    "world_size": info.world_size}
            best_miou = save_epoch(run.out, spec, optimisation, metrics, best_miou, meta)
        if epoch + 1 - start_epoch == train_cfg["stop_after_epochs"]:
            break
    return best_miou


def write_tensorboard(writer, epoch: int, metrics, samples, mean, std) -> None:
    if writer is None:
        return
    writer.add_scalar("val/miou", metrics.miou or 0.0, epoch)
    writer.add_scalar("val/pixel_accuracy", metrics.pixel_accuracy or 0.0, epoch)
    for name, iou in metrics.per_class_iou.items():
        if iou is not None:
            writer.add_scalar(f"val_iou/{name}", iou, epoch)
    for i, (image, pred, label) in enumerate(samples):
        writer.add_image(f"val/prediction_{i}", prediction_picture(image, pred, label, mean, std), epoch,
                         dataformats="HWC")
    writer.flush()


def save_epoch(out: Path, spec: ModelSpec, optimisation: Optimisation, metrics, best_miou: float,
               meta: dict) -> float:
    """Write last.pt (with resume state) and, when val mIoU improved, best.pt; returns the best mIoU."""
    miou = metrics.miou or 0.0
    improved = miou > best_miou
    best_miou = max(best_miou, miou)
    training = dict(meta, val_miou=miou, best_val_miou=best_miou, val_per_class_iou=metrics.per_class_iou,
                    val_pixel_accuracy=metrics.pixel_accuracy,
                    saved_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if improved:
        save_checkpoint(out / "best.pt", spec, optimisation.model, training)
    scaler = optimisation.scaler
    resume = {"epoch": meta["epoch"], "best_miou": best_miou, "optimizer": optimisation.optimizer.state_dict(),
              "scheduler": optimisation.scheduler.state_dict(),
              "scaler": scaler.state_dict() if scaler is not None else {}}
    save_checkpoint(out / "last.pt", spec, optimisation.model, training, resume=resume)
    return best_miou


def restore(path: Path, optimisation: Optimisation) -> tuple[int, float]:
    """Load weights and optimizer/scheduler state from ``path``; returns (next epoch, best mIoU)."""
    checkpoint = load_checkpoint(path)
    if checkpoint.resume is None:
        raise CheckpointError(f"{path} has no resume state (best.pt is weights only; resume from last.pt)")
    optimisation.model.load_state_dict(checkpoint.state_dict)
    optimisation.optimizer.load_state_dict(checkpoint.resume["optimizer"])
    optimisation.scheduler.load_state_dict(checkpoint.resume["scheduler"])
    if optimisation.scaler is not None and checkpoint.resume.get("scaler"):
        optimisation.scaler.load_state_dict(checkpoint.resume["scaler"])
    return checkpoint.resume["epoch"], checkpoint.resume["best_miou"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="seg-train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="experiment YAML (defaults: training/config.py)")
    parser.add_argument("--data", type=Path, required=True, help="Cityscapes-layout dataset root")
    parser.add_argument("--out", type=Path, required=True, help="run directory for checkpoints and logs")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.lr=0.02")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config, args.overrides)
        return train(config, args.data, args.out, args.resume)
    except (ConfigError, DatasetError, CheckpointError, ValueError, FileNotFoundError) as exc:
        print(f"seg-train: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
