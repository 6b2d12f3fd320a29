"""Seconds per unsupervised epoch of the competing-units rule: the seed's loop vs ours, 1 CPU thread.

Run:  python benchmarks/bench_competing.py [--units 2000] [--epochs 2] [--repeats 3]

Both implementations (:func:`spikeloc.learning.competing.reference_learn_features`, the literal transcription
of the seed's loop, and :func:`~spikeloc.learning.competing.learn_features`) train ``--epochs`` epochs on the
4000 MNIST-5k training digits (float32, minibatches of 100) from the same seed; the time per epoch is the
median over ``--repeats`` runs divided by the epochs. Printed per Lebesgue exponent p (the seed's p = 2 and
Krotov's p = 3): seconds/epoch of each and the ratio seed / ours, plus the largest weight difference between
the two results (float32 summation order only).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from spikeloc import datasets
from spikeloc.learning.competing import KrotovConfig, learn_features, reference_learn_features


def seconds(function, config: KrotovConfig, data: torch.Tensor, repeats: int) -> tuple[float, torch.Tensor]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        weights = function(config, data)
        times.append(time.perf_counter() - start)
    return statistics.median(times), weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train = datasets.load("mnist-5k").train.features()
    print(f"competing units: {args.units} hidden, {len(train)} MNIST-5k digits, batch 100, 1 thread, "
          f"median of {args.repeats}")
    for p, k, delta in ((2.0, 5, 0.3), (3.0, 7, 0.4)):
        config = KrotovConfig(hidden_units=args.units, p=p, k=k, delta=delta, epochs=args.epochs)
        seed_s, seed_weights = seconds(reference_learn_features, config, train, args.repeats)
        ours_s, our_weights = seconds(learn_features, config, train, args.repeats)
        difference = (seed_weights - our_weights).abs().max().item()
        print(f"p={p:g} k={k} delta={delta}: seed {seed_s / args.epochs:.3f} s/epoch, "
              f"ours {ours_s / args.epochs:.3f} s/epoch, ratio {seed_s / ours_s:.1f}x "
              f"(max |weight difference| {difference:.1e})")


if __name__ == "__main__":
    main()
