"""One training epoch and one validation pass (torchvision-reference style)."""

from __future__ import annotations

import math
import time
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from seg_perception.frame_confidence import ConfidenceHistogram
from seg_perception.labels import NUM_CLASSES
from seg_perception.metrics import ConfusionMatrix


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; training cannot continue meaningfully."""


def train_one_epoch(model, loader, criterion, optimizer, scheduler, device, *, epoch: int, epochs: int,
                    grad_clip: float = 0.0, scaler=None, max_iters: int = 0, show_progress: bool = True,
                    channels_last: bool = False, on_step=None) -> dict[str, float]:
    """Train over ``loader`` once; returns mean loss and images/s. Raises NonFiniteLoss on NaN/inf."""
    model.train()
    total = len(loader) if not max_iters else min(max_iters, len(loader))
    bar = tqdm(total=total, desc=f"epoch {epoch + 1}/{epochs}", disable=not show_progress,
               dynamic_ncols=True, leave=False)
    loss_sum, images, steps, start = 0.0, 0, 0, time.perf_counter()
    autocast = torch.autocast("cuda", dtype=torch.float16) if scaler is not None else nullcontext()
    for step, (inputs, targets) in enumerate(loader):
        if step >= total:
            break
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        if channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with autocast:
            loss = criterion(model(inputs), targets)
        if not math.isfinite(loss.item()):
            bar.close()
            raise NonFiniteLoss(f"loss became {loss.item()} at epoch {epoch + 1}, iteration {step + 1}")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        loss_sum += loss.item()
        images += inputs.shape[0]
        steps += 1
        rate = images / (time.perf_counter() - start)
        lr = optimizer.param_groups[-1]["lr"]
        bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}", img_s=f"{rate:.1f}")
        bar.update()
        if on_step is not None:
            on_step(loss.item(), lr)
    bar.close()
    return {"loss": loss_sum / max(1, steps), "images_per_s": images / (time.perf_counter() - start)}


@torch.no_grad()
def evaluate(model, loader, device, *, num_classes: int = NUM_CLASSES, max_images: int = 0,
             show_progress: bool = True, keep: int = 0):
    """Confusion matrix of ``model`` on ``loader`` (logits resized to each label's size, then argmax).

    Returns the ConfusionMatrix, up to ``keep`` (image tensor, prediction, label) samples for pictures, and
    the ConfidenceHistogram of the frames' mean confidence at the model's resolution (what the Segmenter's
    confidence map averages to).
    """
    model.eval()
    matrix = ConfusionMatrix(num_classes)
    confidence = ConfidenceHistogram()
    samples, seen = [], 0
    for inputs, targets in tqdm(loader, desc="validate", disable=not show_progress, leave=False,
                                dynamic_ncols=True):
        if max_images and seen >= max_images:
            break
        logits = model(inputs.to(device))
        confidence.add(logits.softmax(1).amax(1).mean((1, 2)).cpu().numpy())
        logits = F.interpolate(logits, size=targets.shape[-2:], mode="bilinear", align_corners=False)
        preds = logits.argmax(1).to(torch.uint8).cpu().numpy()
        labels = targets.numpy()
        for pred, label, image in zip(preds, labels, inputs):
            matrix.update(pred, label)
            if len(samples) < keep:
                samples.append((image, pred, label.astype(np.uint8)))
        seen += len(preds)
    return matrix, samples, confidence
