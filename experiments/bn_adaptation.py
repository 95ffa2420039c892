"""Batch-norm statistics re-estimated on unlabelled frames of the target domain (AdaBN), and its scales and
shifts trained there to make the model surer (TENT): how much of the shifted gap can a few unlabelled
frames correct?

    python experiments/bn_adaptation.py --checkpoints A.pt [B.pt ...] --data DATA \
        --adapt shifted=ADAPT_ROOT:adapt_shifted --adapt val=ADAPT_ROOT:adapt_val [--frames 100] \
        [--source-weights 0 0.5] [--entropy-epochs 0 2] [--out DIR]

For each checkpoint: scores on ``DATA``'s ``val`` and ``val_shifted`` as trained, then for each
``--adapt NAME=ROOT:SPLIT`` re-estimates every BatchNorm's running mean and variance from the first
``--frames`` images of that split (labels never read: make them with seg-make-data under another split
name, so they are other scenes than the ones scored), blends them with the trained statistics
(``w * trained + (1 - w) * adapted`` for each ``--source-weights`` w) and scores again. With
``--entropy-epochs`` E > 0, each model (the trained one too) also gets E epochs over those frames of TENT
(Wang et al., ICLR 2021): only the BatchNorm scales and shifts train (Adam, ``--entropy-lr``), to lower
the mean entropy of its pixels' class probabilities, with the statistics held fixed so that single frames
can be served. Scoring runs the deployment Segmenter (cpu backend) on the adapted model, so what is
measured is what would be served.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seg_perception.checkpoint import load_checkpoint  # noqa: E402
from seg_perception.inference import Segmenter  # noqa: E402
from seg_perception.inference.preprocess import Preprocessor  # noqa: E402
from training.data import CityscapesDataset  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from input_filters import score  # noqa: E402
from markdown_table import markdown_table, publish  # noqa: E402

SPLITS = ("val", "val_shifted")
BATCH = 8


def model_inputs(spec, dataset: CityscapesDataset, frames: int):
    """Batches of ``frames`` images of ``dataset``, pre-processed exactly as the Segmenter does."""
    pre = Preprocessor(spec.input_size, spec.mean, spec.std)
    width, height = spec.input_size
    count = min(frames, len(dataset))
    for start in range(0, count, BATCH):
        batch = np.empty((min(BATCH, count - start), 3, height, width), np.float32)
        for row in range(len(batch)):
            pre(dataset[start + row][0], batch[row:row + 1])
        yield torch.from_numpy(batch)


def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def adapted(model: nn.Module, batches) -> nn.Module:
    """A copy of ``model`` whose BatchNorm running statistics are the averages over ``batches``."""
    model = copy.deepcopy(model).eval()
    for norm in batch_norms(model):
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over every batch
        norm.train()
    with torch.no_grad():
        for batch in batches:
            model(batch)
    return model.eval()


def blended(trained: nn.Module, target: nn.Module, weight: float) -> nn.Module:
    """A copy of ``target`` whose BatchNorm statistics are ``weight`` * trained's + (1 - weight) * its own."""
    model = copy.deepcopy(target)
    for mine, theirs in zip(batch_norms(model), batch_norms(trained)):
        mine.running_mean.mul_(1 - weight).add_(theirs.running_mean, alpha=weight)
        mine.running_var.mul_(1 - weight).add_(theirs.running_var, alpha=weight)
    return model


def entropy_minimised(model: nn.Module, batches: list[torch.Tensor], epochs: int, lr: float) -> nn.Module:
    """A copy of ``model`` whose BatchNorm weights and biases took ``epochs`` passes over ``batches`` of
    Adam steps on the mean pixel entropy (TENT), its running statistics untouched (eval mode)."""
    model = copy.deepcopy(model).eval()
    model.requires_grad_(False)
    parameters = [p for norm in batch_norms(model) for p in (norm.weight, norm.bias) if p is not None]
    for parameter in parameters:
        parameter.requires_grad_(True)
    optimiser = torch.optim.Adam(parameters, lr=lr)
    for _ in range(epochs):
        for batch in batches:
            log_p = model(batch).log_softmax(1)
            loss = -(log_p.exp() * log_p).sum(1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.requires_grad_(False)


def adapt_source(text: str) -> tuple[str, Path, str]:
    name, _, where = text.partition("=")
    root, _, split = where.rpartition(":")
    if not (name and root and split):
        raise argparse.ArgumentTypeError(f"expected NAME=ROOT:SPLIT, got {text!r}")
    return name, Path(root), split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, nargs="+", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--adapt", type=adapt_source, action="append", default=[], metavar="NAME=ROOT:SPLIT")
    parser.add_argument("--frames", type=int, default=100, help="unlabelled frames to adapt on (default 100)")
    parser.add_argument("--source-weights", type=float, nargs="+", default=[0.0],
                        help="weights of the trained statistics in the blend (default 0: adapted only)")
    parser.add_argument("--entropy-epochs", type=int, nargs="+", default=[0],
                        help="epochs of TENT over the frames, each model (default 0: none)")
    parser.add_argument("--entropy-lr", type=float, default=1e-4, help="TENT's Adam learning rate (default 1e-4)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    datasets = {split: CityscapesDataset(args.data, split) for split in SPLITS}
    sources = {name: CityscapesDataset(root, split) for name, root, split in args.adapt}
    rows = []
    tent_runs = sum(epochs > 0 for epochs in args.entropy_epochs)
    passes = (1 + len(sources) * len(args.source_weights)) * (1 + len(sources) * tent_runs)
    with tqdm(total=len(args.checkpoints) * passes * len(SPLITS), desc="BN adaptation",
              unit="pass") as bar:
        for path in args.checkpoints:
            checkpoint = load_checkpoint(path)
            model = checkpoint.build_model()
            variants = {"as trained": model}
            frames = {name: list(model_inputs(checkpoint.spec, source, args.frames))
                      for name, source in sources.items()}
            for name, batches in frames.items():
                target = adapted(model, batches)
                variants.update({f"adapted on {name}, trained weight {weight:g}": blended(model, target, weight)
                                 for weight in args.source_weights})
            for name, batches in frames.items():
                for epochs in (e for e in args.entropy_epochs if e > 0):
                    variants.update({f"{variant}; TENT on {name}, {epochs} epochs":
                                     entropy_minimised(base, batches, epochs, args.entropy_lr)
                                     for variant, base in list(variants.items()) if "TENT" not in variant})
            for name, variant in variants.items():
                segmenter = Segmenter(variant, checkpoint.spec, backend="cpu")
                cells = []
                for dataset in datasets.values():
                    miou, drivable = score(segmenter, dataset)
                    cells.append(f"{miou:.3f} | {drivable:.3f}")
                    bar.update()
                rows.append(f"| {path} | {name} | " + " | ".join(cells) + " |")
    publish(markdown_table(["checkpoint", f"BatchNorm statistics ({args.frames} frames)", "val mIoU", "val drivable",
                            "shifted mIoU", "shifted drivable"], rows), args.out, "bn_adaptation.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
