"""seg-train with every training and validation crop passed through the deployment input filter just before
normalisation, so the model learns on what a filtering node would feed it.

    python experiments/train_with_input_filter.py FILTER seg-train arguments...
    python experiments/train_with_input_filter.py denoise_white_balance --config config/train_default.yaml \\
        --data demo_out/data --out /tmp/filtered train.epochs=7

Serve the result with the same filter (``seg-eval --input-filter FILTER``): the checkpoint does not record it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import training.transforms as transforms  # noqa: E402
from seg_perception.inference.preprocess import Preprocessor, check_input_filter  # noqa: E402
from training.train import main as seg_train  # noqa: E402


def filtering_to_tensor(input_filter: str):
    """A ToTensor.__call__ that first applies ``input_filter`` to the uint8 crop, as the Segmenter would."""
    to_tensor = transforms.ToTensor.__call__

    def call(self, image: np.ndarray, label: np.ndarray):
        height, width = image.shape[:2]
        scaled = np.empty((1, 3, height, width), np.float32)
        # mean 0 and std 1: the Preprocessor writes the filtered crop / 255, in the crop's own size
        Preprocessor((width, height), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), input_filter)(
            np.ascontiguousarray(image), scaled)
        filtered = np.clip(np.rint(scaled[0].transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
        return to_tensor(self, filtered, label)

    return call


if __name__ == "__main__":
    transforms.ToTensor.__call__ = filtering_to_tensor(check_input_filter(sys.argv[1]))
    sys.exit(seg_train(sys.argv[2:]))
