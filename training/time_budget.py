"""Fitting a training run into a wall-clock budget (``train.time_budget_s``).

Before the first epoch, seg-train times a few real training steps and a
validation sample on a throw-away copy of the run (same model, data, loader and
workers), then trains the whole epochs that fit, at most ``train.epochs``. The
schedule is sized for the epochs it chose, so the learning rate still decays to
its end, and the run is exactly the run ``train.epochs=E`` gives: the budget
changes how many epochs, never what an epoch does.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from .engine import evaluate, train_one_epoch

#: training steps timed after the first (which also pays the loader's start-up)
CALIBRATION_STEPS = 5
#: validation images timed in two passes (few, then more), to separate start-up from per-image cost
CALIBRATION_VAL_IMAGES = (2, 6)


@dataclass(frozen=True)
class EpochCost:
    """What one epoch costs on this machine, from a calibration."""

    first_step_s: float  # the loader's start-up and the first step
    step_s: float  # every later step (median)
    val_s: float  # one validation pass

    def epoch_s(self, iters: int) -> float:
        """Seconds for an epoch of ``iters`` steps and its validation."""
        return self.first_step_s + (iters - 1) * self.step_s + self.val_s


def fit_epochs(remaining_s: float, epoch_s: float, max_epochs: int) -> int:
    """Whole epochs of ``epoch_s`` that fit in ``remaining_s``: at least 1, at most ``max_epochs``."""
    return max(1, min(max_epochs, int(remaining_s // epoch_s)))


def measure_epoch_cost(model, optimizer, scheduler, criterion, train_set, val_loader: DataLoader, device, *,
                       batch_size: int, workers: int, channels_last: bool, scaler=None) -> EpochCost:
    """Time real steps and validation on ``model``, which this trains: pass a throw-away copy."""
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(0), pin_memory=device.type == "cuda")
    stamps = [time.perf_counter()]
    train_one_epoch(model, loader, criterion, optimizer, scheduler, device, epoch=0, epochs=1,
                    scaler=scaler, max_iters=CALIBRATION_STEPS + 1, show_progress=False, channels_last=channels_last,
                    on_step=lambda loss, lr: stamps.append(time.perf_counter()))
    gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:])]
    images = len(val_loader.dataset)
    few, more = (min(count, images) for count in CALIBRATION_VAL_IMAGES)
    val_times = []
    for count in (few, more):
        started = time.perf_counter()
        evaluate(model, val_loader, device, max_images=count, show_progress=False)
        val_times.append(time.perf_counter() - started)
    if more > few:
        per_image = max(0.0, (val_times[1] - val_times[0]) / (more - few))
        val_s = max(0.0, val_times[0] - few * per_image) + per_image * images
    else:  # the whole split is a handful of images: the pass just timed is the pass
        val_s = val_times[1]
    return EpochCost(first_step_s=gaps[0], step_s=statistics.median(gaps[1:] or gaps), val_s=val_s)
