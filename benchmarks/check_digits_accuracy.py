"""MNIST-5k: spiking classifiers (membrane and spike-count readouts) against a non-spiking MLP of the same width.

Every model trains on the same split per seed (3600 training / 400 validation images drawn from the shipped
4000, tested on the 1000 test images), over ``--seeds`` seeds; prints test accuracy per seed, mean ± SEM and the
paired difference to the MLP. Then times one training epoch of the spiking network, fused backend against the
snnTorch backend, on 1 thread in this same process (medians of ``--repeats`` epochs, interleaved).

    python benchmarks/check_digits_accuracy.py [--seeds 0 1 2] [--hidden 400] [--epochs 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np
import pandas as pd
import torch
from scipy import stats

from spikeloc import datasets, seeding
from spikeloc.experiments.digits import DigitsRun, run_digits, run_mlp_baseline, split
from spikeloc.learning.surrogate import MemberData, train_epoch
from spikeloc.networks.classifier import SpikingClassifier
from spikeloc.runtime import configure
from spikeloc.study.stats import paired_test, with_verdicts


def accuracies(args: argparse.Namespace) -> None:
    base = DigitsRun(hidden=tuple(args.hidden), epochs=args.epochs, steps=args.steps, n_validation=args.n_validation)
    models = {
        "spiking, spike-count readout": lambda seed: run_digits(dataclasses.replace(base, readout="spikes"), seed),
        "spiking, membrane readout": lambda seed: run_digits(dataclasses.replace(base, readout="membrane",
                                                                                   loss="cross_entropy"), seed),
        f"MLP {'-'.join(map(str, args.hidden))} (ReLU, backprop)": lambda seed: run_mlp_baseline(base, seed),
    }
    results = {name: [] for name in models}
    print(f"MNIST-5k, hidden {list(args.hidden)}, {args.epochs} epochs, rate code T={args.steps}, "
          f"validation {args.n_validation} of 4000, test 1000; seeds {args.seeds}")
    for seed in args.seeds:
        for name, run in models.items():
            row = run(seed)
            results[name].append(row["test_acc"])
            print(f"  seed {seed}  {name:<36} test_acc {row['test_acc']:.4f}  train_acc {row['train_acc']:.4f}",
                  flush=True)
    mlp_name = list(models)[-1]
    others = [name for name in results if name != mlp_name]  # one family: every model against the MLP
    judged = with_verdicts(pd.DataFrame([{"metric": "test_acc", "unit": "seed",
                                          **paired_test(np.subtract(results[name], results[mlp_name]))}
                                         for name in others])).set_index(pd.Index(others))
    print(f"\n{'model':<38}{'mean test acc':>14}{'± SEM':>8}{'vs MLP (paired)':>20}{'p (t)':>8}{'p (sign)':>9}"
          f"{'p_adj':>7}{'seeds':>7}  verdict (p_adj: sign-flip p, Holm over the {len(others)} comparisons)")
    for name, accs in results.items():
        sem = stats.sem(accs) if len(accs) > 1 else float("nan")
        line = f"{name:<38}{100 * np.mean(accs):>13.2f}%{100 * sem:>7.2f}"
        if name != mlp_name:
            test = judged.loc[name]
            line += (f"{100 * test['mean_difference']:>+18.2f} pt{test['p_ttest']:>8.3f}{test['p_signflip']:>9.3f}"
                     f"{test['p_adjusted']:>7.3f}{test['n_units']:>7}  {test['verdict']}")
        print(line)


def epoch_timing(args: argparse.Namespace) -> None:
    run = DigitsRun(hidden=tuple(args.hidden), steps=args.steps, n_validation=args.n_validation)
    dataset = datasets.load(run.dataset)
    train, _, _ = split(dataset, run.n_validation, seed=0)
    data = MemberData.stack([(train.features(), train.labels)], run.encoder())
    config = run.train_config()
    epochs = {}
    for backend in ("fused", "snntorch"):
        variant = dataclasses.replace(run, backend=backend)
        network = SpikingClassifier(variant.network_config(dataset.n_features, len(dataset.classes)), [run.member(0)])
        optimiser = torch.optim.Adam(network.parameters(), lr=run.lr)
        shuffle, dropout = [seeding.generator(0, "shuffle")], [seeding.generator(0, "dropout")]
        encode = data.encode_generators([m.seed for m in network.members], "encode/train")
        epochs[backend] = lambda n=network, o=optimiser, s=shuffle, d=dropout, e=encode: train_epoch(
            n, o, data, config, s, d, e)
    times = {name: [] for name in epochs}
    for _ in range(args.repeats):
        for name, epoch in epochs.items():
            start = time.perf_counter()
            epoch()
            times[name].append(time.perf_counter() - start)
    fused, reference = statistics.median(times["fused"]), statistics.median(times["snntorch"])
    print(f"\nseconds per training epoch, 1 thread, {len(train)} images, hidden {list(args.hidden)}, "
          f"T={args.steps}, spike-count readout (median of {args.repeats}):")
    print(f"  snnTorch backend {reference:.2f} s   fused backend {fused:.2f} s   fused is {reference / fused:.1f}x faster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--hidden", type=int, nargs="+", default=[400])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--n-validation", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    configure(1)
    if not args.skip_accuracy:
        accuracies(args)
    epoch_timing(args)


if __name__ == "__main__":
    main()
