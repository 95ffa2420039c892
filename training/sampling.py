"""Rare-class sampling: show the network the images that hold rare classes more often.

Street scenes are dominated by road, building and vegetation; a truck or a tram is in
a handful of images, so a uniform epoch shows it a handful of times. Rare-class
sampling (Hoyer et al., DAFormer, CVPR 2022) draws a class ``c`` with probability
``softmax((1 - f_c) / T)`` over the class pixel frequencies ``f`` and then an image
that contains ``c``, uniformly. Drawing the class first and the image second is the
same as drawing image ``i`` with weight ``sum_c P(c) [c in i] / n_c``, which is what
:class:`RareClassSampler` does, with replacement, a fixed number of draws per epoch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Sampler


def class_probabilities(histogram: np.ndarray, temperature: float) -> np.ndarray:
    """P(class) = softmax((1 - f) / T) over the classes that occur in ``histogram`` (images x classes)."""
    if temperature <= 0:
        raise ValueError(f"rare-class temperature must be > 0, got {temperature}")
    totals = np.asarray(histogram, dtype=np.float64).sum(axis=0)
    if totals.sum() <= 0:
        raise ValueError("rare-class sampling needs labelled pixels; the class histogram is empty")
    frequency = totals / totals.sum()
    logits = np.where(totals > 0, (1.0 - frequency) / temperature, -np.inf)
    logits -= logits[totals > 0].max()
    probabilities = np.exp(logits)
    return probabilities / probabilities.sum()


def image_weights(histogram: np.ndarray, temperature: float, min_pixels: int = 1) -> np.ndarray:
    """Per-image sampling probabilities: an image counts for a class if it holds >= ``min_pixels`` of it."""
    counts = np.asarray(histogram)
    present = counts >= max(1, min_pixels)
    per_class = present.sum(axis=0)
    probabilities = class_probabilities(counts * present, temperature)
    share = np.divide(probabilities, per_class, out=np.zeros_like(probabilities), where=per_class > 0)
    weights = present @ share
    return weights / weights.sum()


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of an epoch's draw, shared by all ranks (and the loader's shuffle), so a resumed
    run draws what an uninterrupted one would."""
    return seed * 100_003 + epoch


class RareClassSampler(Sampler[int]):
    """Draws ``num_samples`` images per epoch with replacement by ``weights``, split across ranks.

    Every rank draws the same sequence from ``(seed, epoch)`` and keeps its own stride of
    it, so distributed ranks see disjoint draws and ``--resume`` replays an epoch exactly.
    """

    def __init__(self, weights: np.ndarray, num_samples: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.weights = torch.as_tensor(weights, dtype=torch.float64)
        self.num_samples = num_samples - num_samples % world_size
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the draw for ``epoch`` (as DistributedSampler.set_epoch)."""
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        draws = torch.multinomial(self.weights, self.num_samples, replacement=True, generator=generator)
        return iter(draws[self.rank::self.world_size].tolist())

    def __len__(self) -> int:
        return self.num_samples // self.world_size
