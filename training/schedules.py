"""Learning-rate schedules per iteration: linear warm-up, then poly or cosine decay to zero, or constant."""

from __future__ import annotations

import math

import torch

SCHEDULES = ("poly", "cosine", "constant")


def lr_factor(iteration: int, total: int, schedule: str = "poly", warmup: int = 0, power: float = 0.9) -> float:
    """Multiplier of the base learning rate at ``iteration`` (0-based) of ``total``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {SCHEDULES}")
    if iteration < warmup:
        return (iteration + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (iteration - warmup) / max(1, total - warmup))
    if schedule == "poly":
        return (1 - progress) ** power
    return 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, total: int, schedule: str, warmup: int,
                    power: float) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR stepping once per iteration."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda it: lr_factor(it, total, schedule, warmup, power))
