"""MNIST-5k (4000 train / 1000 test digits) as flat features in [0, 1], for the competing-units scripts.

A private idx reader until ``spikeloc.datasets.load("mnist-5k")`` lands; then ``load_mnist_5k`` becomes
``dataset = spikeloc.datasets.load("mnist-5k")`` with ``.features()`` / ``.labels`` of each split.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

DATA = Path("/work/shared/data/mnist-5k")


def load_mnist_5k(folder: Path = DATA) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """((train features float32 (4000, 784) in [0, 1], labels int64), (test features, labels)) from gzip idx."""
    def read(name: str, header_bytes: int) -> np.ndarray:
        return np.frombuffer(gzip.open(folder / name).read(), dtype=np.uint8, offset=header_bytes)

    splits = []
    for prefix in ("train", "t10k"):
        labels = torch.from_numpy(read(f"{prefix}-labels-idx1-ubyte.gz", 8).astype(np.int64))
        images = torch.from_numpy(read(f"{prefix}-images-idx3-ubyte.gz", 16).astype(np.float32) / 255)
        splits.append((images.reshape(len(labels), -1), labels))
    return splits[0], splits[1]
