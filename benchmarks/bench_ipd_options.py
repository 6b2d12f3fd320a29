"""Training time per epoch that each IPD option beyond the seed costs, as a ratio to the seed's configuration.

Run:  python benchmarks/bench_ipd_options.py [--repeats 5] [--members 1] [--options NAME ...]

One process, one thread (spikeloc.runtime.configure(1)): for each option of studies/ipd_beyond.py, one network
(or --members) at the seed's sizes (30 hidden units, 64 batches of 64) trains for one epoch (train_epoch:
forward, backward, Adam; no validation), options interleaved round-robin so that a busy machine slows them
alike. Prints the median seconds per epoch and the ratio to the seed's configuration measured in the same run.
With fresh stimuli ("fresh_stimuli"), an epoch includes generating its training set; the line
"stimulus generation" times that generation alone (FreshStimuli.for_epoch, 4096 samples per member).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import torch

from spikeloc import runtime, seeding
from spikeloc.experiments.ipd import FreshStimuli, IPDRun, member_datasets, stacked
from spikeloc.learning.surrogate import train_epoch
from spikeloc.networks.classifier import SpikingClassifier
from spikeloc.studies.ipd_beyond import OPTIONS, option_settings


def trainer(name: str, members: int):
    run = IPDRun(n_val_samples=1, n_test_samples=1, **option_settings(name, {}))
    runs = [(run, seed) for seed in range(members)]
    train = stacked(member_datasets(runs)[0])
    source = FreshStimuli(tuple(runs), train) if run.training_data != "fixed" else train
    epochs = itertools.count(2)
    network = SpikingClassifier(run.network_config(), [run.member(seed) for _, seed in runs])
    config = run.train_config()
    optimiser = torch.optim.Adam(network.parameters(), lr=config.lr)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=10 * run.n_train_batches)
                 if config.lr_schedule == "cosine" else None)
    shuffle = [seeding.generator(seed, "shuffle") for _, seed in runs]
    dropout = [seeding.generator(seed, "dropout") for _, seed in runs]
    return lambda: train_epoch(network, optimiser, source.for_epoch(next(epochs)), config, shuffle, dropout,
                               scheduler=scheduler)


def generation(members: int):
    """Generating one epoch's fresh training set for ``members`` members (distinct seeds)."""
    source = FreshStimuli.of([(IPDRun(training_data="per_epoch"), seed) for seed in range(members)])
    epochs = itertools.count(2)
    return lambda: source.for_epoch(next(epochs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--options", nargs="+", choices=list(OPTIONS), default=list(OPTIONS),
                        help="options to time (default: all); 'seed' is always timed as the reference")
    args = parser.parse_args()
    runtime.configure(1)
    epochs = {name: trainer(name, args.members) for name in dict.fromkeys(["seed", *args.options])}
    epochs["stimulus generation"] = generation(args.members)
    times: dict[str, list[float]] = {name: [] for name in epochs}
    for name, epoch in epochs.items():
        epoch()  # warm-up (numba compilation or cache load)
    for _ in range(args.repeats):
        for name, epoch in epochs.items():
            start = time.perf_counter()
            epoch()
            times[name].append(time.perf_counter() - start)
    seed_s = statistics.median(times["seed"])
    print(f"torch threads {torch.get_num_threads()}, {args.members} member(s), median of {args.repeats} epochs "
          f"(64 batches of 64, 30 hidden units; training only)")
    for name, measured in times.items():
        median = statistics.median(measured)
        print(f"{name:19s} {median:7.3f} s/epoch   ratio to seed {median / seed_s:5.2f}")


if __name__ == "__main__":
    main()
