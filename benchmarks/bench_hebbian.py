"""Time of the whole seed table with the vectorised rules against the seed's own loop for one cell.

The seed table: AND and XOR x hidden sizes {10, 100, [10, 10]} x 100 replications, 400 single-example
updates each (1000 for AND with [10, 10]), supervised Hebbian (the seed's rule) on the non-spiking
network. Ours: :func:`spikeloc.learning.local.training.run_replications` (100 replications as one batch)
for all 6 cells. Baseline: the seed's loop, transcribed literally (:mod:`spikeloc.learning.local.seed_reference`:
one network at a time, a Python loop over updates), for ONE cell, its cheapest: XOR with 10 hidden units,
100 replications x 400 updates. Both in this process, one thread, medians of ``--repeats``. Also printed:
the same table on spiking networks, and the success rates (ours vs the seed loop's on its cell).

    python benchmarks/bench_hebbian.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from spikeloc.experiments.hebbian import seed_updates
from spikeloc.learning.local.networks import RateNetwork, SpikingNetwork
from spikeloc.learning.local.rules import SeedSupervised
from spikeloc.learning.local.seed_reference import seed_replication
from spikeloc.learning.local.training import run_replications
from spikeloc.runtime import configure
from spikeloc.tasks.logic import patterns, targets

CELLS = [(task, sizes) for task in ("and", "xor") for sizes in ((10,), (100,), (10, 10))]
REPLICATIONS = 100


def seed_cell(seed: int) -> tuple[float, float]:
    """(seconds, success rate) of the seed's loop on XOR with [10]: 100 replications x 400 updates."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    inputs, target = patterns(), targets("xor")
    start = time.perf_counter()
    successes = [seed_replication(inputs, target, [10], None, rng.integers(0, 4, 400))[0]
                 for _ in range(REPLICATIONS)]
    return time.perf_counter() - start, float(np.mean(successes))


def table(network, seed: int) -> tuple[float, dict]:
    """(seconds, success rate per cell) of the whole 6-cell table, vectorised."""
    start = time.perf_counter()
    rates = {cell: float(run_replications(network, SeedSupervised(), cell[0], cell[1], REPLICATIONS,
                                          seed_updates(*cell), seed).solved.float().mean()) for cell in CELLS}
    return time.perf_counter() - start, rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    configure(1)
    seed_times, ours_times, spiking_times = [], [], []
    for repeat in range(args.repeats):  # interleaved, so machine noise hits all alike
        seconds, seed_rate = seed_cell(repeat)
        seed_times.append(seconds)
        seconds, rates = table(RateNetwork(), repeat)
        ours_times.append(seconds)
        seconds, spiking_rates = table(SpikingNetwork(), repeat)
        spiking_times.append(seconds)
    seed_s, ours_s, spiking_s = (statistics.median(t) for t in (seed_times, ours_times, spiking_times))
    print(f"seed loop, ONE cell (XOR [10], 100 reps x 400 updates): {seed_s:.2f} s (success {seed_rate:.2f})")
    print(f"vectorised, WHOLE 6-cell seed table, rate network:      {ours_s:.2f} s "
          f"({seed_s / ours_s:.1f}x faster than the seed's one cell)")
    print(f"vectorised, whole 6-cell table, spiking network (T=20): {spiking_s:.2f} s "
          f"({seed_s / spiking_s:.1f}x the seed's one cell)")
    for cell in CELLS:
        print(f"  {cell[0]} {list(cell[1])}: rate {rates[cell]:.2f}, spiking {spiking_rates[cell]:.2f}")


if __name__ == "__main__":
    main()
