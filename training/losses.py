"""Segmentation losses: (class-weighted) cross-entropy, focal, soft dice, and weighted sums built from config.

Every loss takes logits ``N x C x H x W`` and int64 targets ``N x H x W`` in which
``ignore_index`` (255) marks pixels that contribute nothing. A batch with no
valid pixel gives a loss of exactly 0 (with zero gradients), never NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seg_perception.labels import IGNORE_ID

WEIGHT_METHODS = ("inverse", "median", "enet")


def class_weights(histogram, method: str = "median", c: float = 1.02) -> torch.Tensor:
    """Per-class loss weights (float32) from pixel counts.

    ``histogram`` holds pixel counts per class, either ``(C,)`` totals or ``(num_images, C)``
    per-image counts. With ``f_k`` the share of all pixels that belong to class k:

    * ``inverse``: ``1 / f_k``;
    * ``median`` (Eigen & Fergus): ``median(freq) / freq_k`` where ``freq_k`` is class k's pixels
      divided by the pixels of the images in which k occurs. Only per-image counts tell those
      images apart; with totals ``freq_k = f_k`` and this equals ``inverse`` after normalisation;
    * ``enet`` (Paszke et al.): ``1 / ln(c + f_k)``.

    Weights are normalised to average 1 over the classes that have pixels; classes with
    no pixels get weight 0 (they never occur as targets in the data counted).
    """
    if method not in WEIGHT_METHODS:
        raise ValueError(f"unknown class weight method {method!r}; choose from {', '.join(WEIGHT_METHODS)}")
    if method == "enet" and not c > 1:
        raise ValueError(f"enet weights need c > 1 (so that ln(c + f) > 0), got {c}")
    counts = np.asarray(histogram, dtype=np.float64)
    if counts.ndim not in (1, 2) or (counts < 0).any() or not counts.sum() > 0:
        raise ValueError("histogram must be non-negative (C,) or (num_images, C) pixel counts with some pixels")
    class_pixels = counts.sum(axis=0) if counts.ndim == 2 else counts
    present = class_pixels > 0
    share = class_pixels[present] / class_pixels.sum()
    if method == "inverse":
        raw = 1.0 / share
    elif method == "enet":
        raw = 1.0 / np.log(c + share)
    else:
        if counts.ndim == 2:
            image_pixels = counts.sum(axis=1)
            freq = class_pixels[present] / ((counts[:, present] > 0).T @ image_pixels)
        else:
            freq = share
        raw = np.median(freq) / freq
    weights = np.zeros(class_pixels.shape, dtype=np.float64)
    weights[present] = raw / raw.mean()
    return torch.as_tensor(weights, dtype=torch.float32)


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    # When every weight is 0 (all pixels ignored) the sum is exactly 0, so dividing by a
    # clamped denominator yields 0 rather than the NaN of 0 / 0.
    return (values * weights).sum() / weights.sum().clamp_min(torch.finfo(values.dtype).tiny)


def _valid_targets(target: torch.Tensor, ignore_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask of non-ignored pixels, targets with ignored pixels set to class 0 so they can index)."""
    valid = target != ignore_index
    return valid, torch.where(valid, target, torch.zeros_like(target))


def _pixel_weights(valid, safe, class_weight, num_classes: int, dtype) -> torch.Tensor:
    """Weight of each pixel: 0 where ignored, else 1 or its target's class weight."""
    weights = valid.to(dtype)
    if class_weight is None:
        return weights
    if class_weight.numel() != num_classes:
        raise ValueError(f"{class_weight.numel()} class weights for {num_classes} classes")
    return weights * class_weight.to(dtype)[safe]


class CrossEntropy(nn.Module):
    """Pixel-wise cross-entropy; with ``weight``, the weighted mean ``sum w_y * CE / sum w_y`` over valid pixels."""

    def __init__(self, weight: torch.Tensor | None = None, ignore_index: int = IGNORE_ID):
        super().__init__()
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid, safe = _valid_targets(target, self.ignore_index)
        per_pixel = F.cross_entropy(logits, safe, reduction="none")
        return _weighted_mean(per_pixel, _pixel_weights(valid, safe, self.weight, logits.shape[1], per_pixel.dtype))


class FocalLoss(nn.Module):
    """Focal loss ``-alpha_y (1 - p_y)^gamma log p_y`` (Lin et al.), averaged like ``CrossEntropy``.

    The mean is weighted by ``alpha_y`` (plain mean without ``alpha``), so with ``gamma=0``
    it equals ``CrossEntropy(weight=alpha)`` exactly.
    """

    def __init__(self, gamma: float = 2.0, alpha: torch.Tensor | None = None, ignore_index: int = IGNORE_ID):
        super().__init__()
        if gamma < 0:
            raise ValueError(f"focal gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)
        self.register_buffer("alpha", None if alpha is None else torch.as_tensor(alpha, dtype=torch.float32))
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid, safe = _valid_targets(target, self.ignore_index)
        log_p = F.log_softmax(logits, dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)
        # The clamp keeps the gradient of (1 - p)^gamma finite for gamma < 1 when p rounds to 1.
        one_minus_p = (-torch.expm1(log_p)).clamp_min(1e-12)
        per_pixel = -one_minus_p.pow(self.gamma) * log_p
        return _weighted_mean(per_pixel, _pixel_weights(valid, safe, self.alpha, logits.shape[1], per_pixel.dtype))


class DiceLoss(nn.Module):
    """Multi-class soft dice: ``1 - mean_k (2 sum p_k g_k + s) / (sum p_k + sum g_k + s)`` over valid pixels.

    Sums run over the whole batch; every class counts in the mean, so a class absent from
    the targets scores 1 unless probability mass is put on it. ``smooth`` (s) must be > 0,
    which also makes an all-ignore batch score 0.
    """

    def __init__(self, smooth: float = 1.0, ignore_index: int = IGNORE_ID):
        super().__init__()
        if not smooth > 0:
            raise ValueError(f"dice smooth must be > 0, got {smooth}")
        self.smooth = float(smooth)
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid, safe = _valid_targets(target, self.ignore_index)
        mask = valid.unsqueeze(1).to(logits.dtype)
        probs = logits.softmax(dim=1) * mask
        onehot = F.one_hot(safe, logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype) * mask
        dims = (0, 2, 3)
        intersection = (probs * onehot).sum(dims)
        cardinality = probs.sum(dims) + onehot.sum(dims)
        dice = (2 * intersection + self.smooth) / (cardinality + self.smooth)
        return 1 - dice.mean()


class CombinedLoss(nn.Module):
    """``sum weight_i * loss_i`` over ``terms`` given as ``(weight, loss_module)`` pairs."""

    def __init__(self, terms: Sequence[tuple[float, nn.Module]]):
        super().__init__()
        if not terms:
            raise ValueError("a combined loss needs at least one term")
        self.weights = [float(w) for w, _ in terms]
        self.losses = nn.ModuleList(loss for _, loss in terms)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(w * loss(logits, target) for w, loss in zip(self.weights, self.losses, strict=True))


# Per term type: the loss class and the config keys it accepts besides "type" and "weight".
_TERM_TYPES = {
    "ce": (CrossEntropy, ("class_weights",)),
    "focal": (FocalLoss, ("gamma", "alpha")),
    "dice": (DiceLoss, ("smooth",)),
}


def build_loss(config: dict, class_histogram=None) -> nn.Module:
    """Build a ``CombinedLoss`` from ``{"terms": [{"type": "ce"|"focal"|"dice", "weight": w, ...}]}``.

    Term options: ce ``class_weights``, focal ``gamma`` and ``alpha``, dice ``smooth``.
    ``class_weights`` and ``alpha`` name a ``class_weights`` method (computed from
    ``class_histogram``) or are null. Unknown types or keys raise ValueError naming them.
    """
    unknown = sorted(set(config) - {"terms"})
    if unknown:
        raise ValueError(f"unknown loss config key(s) {unknown}; expected 'terms'")
    terms = []
    for i, term in enumerate(config.get("terms") or []):
        options = dict(term)
        kind = options.pop("type", None)
        if kind not in _TERM_TYPES:
            raise ValueError(f"loss term {i}: unknown type {kind!r}; choose from {', '.join(_TERM_TYPES)}")
        cls, allowed = _TERM_TYPES[kind]
        weight = options.pop("weight", 1.0)
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ValueError(
                f"loss term {i} ({kind}): unknown key(s) {unknown}; allowed: type, weight, {', '.join(allowed)}"
            )
        for key in ("class_weights", "alpha"):
            if key in options:
                options[key] = _weights_option(options[key], class_histogram, f"loss term {i} ({kind}) {key}")
        if "class_weights" in options:
            options["weight"] = options.pop("class_weights")
        terms.append((weight, cls(**options)))
    return CombinedLoss(terms)


def _weights_option(method: str | None, class_histogram, where: str) -> torch.Tensor | None:
    if method is None:
        return None
    if method not in WEIGHT_METHODS:
        raise ValueError(f"{where}: unknown method {method!r}; choose from {', '.join(WEIGHT_METHODS)}")
    if class_histogram is None:
        raise ValueError(f"{where}: {method!r} needs a class_histogram")
    return class_weights(class_histogram, method)
