"""IPD training accuracy with fresh stimuli every epoch: on the kept epoch's set (``train_acc``) and on epoch 1's.

Run:  python benchmarks/check_fresh_training_accuracy.py [--seeds 0 1] [--epochs 10] [--stimuli fixed per_epoch]
      [--threads 1]

Per seed, the robust protocol (a phase offset and a phase-noise draw per sample, as ``studies/ipd_beyond.py``)
at the seed's sizes (100 fibres per ear, 30 hidden neurons, 64 x 64 training samples, early stopping on the
validation loss), trained on one fixed set and on fresh stimuli every epoch (``IPDRun(training_data="per_epoch")``),
as one ensemble. Prints per run and as mean and SEM over seeds: the test accuracy, ``train_acc`` (the accuracy on
the training set the kept weights were last trained on: the fixed set, or the best epoch's fresh set) and, for
fresh stimuli, the accuracy on epoch 1's set (what ``train_acc`` measured before: data the kept network last
saw many epochs earlier). The gap between training and test accuracy is ``train_acc - test_acc``.
"""

from __future__ import annotations

import argparse

import pandas as pd

from spikeloc import runtime
from spikeloc.experiments.ipd import PROTOCOLS, IPDRun, stacked, train_ipd_ensemble, training_set
from spikeloc.learning.surrogate import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--stimuli", nargs="+", choices=["fixed", "per_epoch"], default=["fixed", "per_epoch"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    runtime.configure(args.threads)
    stimuli = {name: IPDRun(epochs=args.epochs, training_data=name, **PROTOCOLS["robust"])
               for name in args.stimuli}
    runs = [(run, seed) for run in stimuli.values() for seed in args.seeds]
    network, rows = train_ipd_ensemble(runs)
    first_sets = stacked([training_set(run, seed, 1) for run, seed in runs])
    first_epoch_acc = [m["acc"] for m in evaluate(network, first_sets, split="train")]
    table = pd.DataFrame([{"stimuli": run.training_data, "seed": seed, "test_acc": row["test_acc"],
                           "train_acc": row["train_acc"], "epoch1_set_acc": first,
                           "best_epoch": row["best_epoch"], "epochs_run": row["epochs_run"]}
                          for (run, seed), row, first in zip(runs, rows, first_epoch_acc)])
    table["gap"] = table["train_acc"] - table["test_acc"]
    print(f"IPD, robust protocol, seed sizes, up to {args.epochs} epochs, seeds {args.seeds}: accuracy (%)")
    print((table.set_index(["stimuli", "seed"]) * [100, 100, 100, 1, 1, 100]).round(2).to_string())
    summary = table.groupby("stimuli")[["test_acc", "train_acc", "epoch1_set_acc", "gap"]].agg(["mean", "sem"]) * 100
    print(f"\nMean and SEM over {len(args.seeds)} seeds (%):")
    print(summary.round(2).to_string())


if __name__ == "__main__":
    main()
