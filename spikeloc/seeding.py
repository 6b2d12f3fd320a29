"""Named random streams derived from one run seed.

Every random number of a run comes from a ``torch.Generator`` made here; nothing reads the global RNG.
Streams are independent: changing how much one stream draws (say, more dropout masks) never shifts
another (say, the test data). Sub-seeds come from ``numpy.random.SeedSequence`` over (seed, stream name).
"""

from __future__ import annotations

import numpy as np
import torch


def stream_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for the named stream of run ``seed``."""
    entropy = [seed, *stream.encode()]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def generator(seed: int, stream: str, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh generator for the named stream of run ``seed`` on ``device``."""
    return torch.Generator(device=device).manual_seed(stream_seed(seed, stream))
