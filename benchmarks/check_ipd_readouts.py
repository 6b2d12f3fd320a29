"""IPD test accuracy with each readout, paired on the seed: the seed's membrane readout and spike-count readouts.

Run:  python benchmarks/check_ipd_readouts.py [--seeds 0 1 2] [--epochs 10] [--population 10] [--threads 1]

Per seed, the seed's IPD protocol (spikeloc.experiments.ipd.IPDRun defaults: 100 fibres per ear, 30 hidden LIF
neurons, 64 x 64 training samples, early stopping on the validation loss) with three trained readouts
(spikeloc.networks.classifier):

* ``membrane``: the seed's non-spiking leaky readout (time-summed membrane, cross-entropy of 0.01 x the sums);
* ``spikes``: one LIF output neuron per class, cross-entropy of the spike counts (snnTorch's ``ce_count_loss``),
  decoded with each tie-break: ``first`` (the first tied class: the seed's argmax), ``first_spike`` and
  ``membrane`` (the highest final membrane);
* ``population``: ``--population`` LIF neurons per class, decoded by the summed count with each tie-break.

A tie-break changes decisions, not the output or the loss, so each spiking network is trained once and decoded
with every tie-break (``SpikingClassifier.with_tie_break``): the tie-break comparisons are paired on the very
same weights. Prints the test accuracy (%) and the seed's error (degrees) per seed and readout, the share of test
samples with tied top counts, the mean and SEM over seeds, and paired comparisons against the membrane readout
and against the single-neuron first-tie decoder (paired t-test on the seeds, n printed beside each p-value).
"""

from __future__ import annotations

import argparse
import dataclasses

import pandas as pd
import torch

from spikeloc import runtime
from spikeloc.experiments.ipd import IPDRun, stacked, test_dataset, train_ipd_ensemble
from spikeloc.learning.surrogate import MemberData, evaluate
from spikeloc.networks.classifier import TIE_BREAKS, class_scores
from spikeloc.study.stats import format_comparisons, paired_comparison, with_verdicts
from spikeloc.tasks.ipd import ipd_metrics


def tied_fraction(network, data: MemberData) -> list[float]:
    """Per member: the fraction of ``data``'s samples whose top class score is shared by two or more classes."""
    network.eval()
    with torch.no_grad():
        scores = torch.cat([class_scores(network(x)) for x, _ in data.chunks(512)], dim=1)
    if network.config.population > 1:
        scores = (scores * network.config.population).round()
    top = scores == scores.max(dim=-1, keepdim=True).values
    return (top.sum(dim=-1) > 1).double().mean(dim=1).tolist()


def readout_rows(name: str, run: IPDRun, seeds: list[int]) -> list[dict]:
    """Train ``run`` for every seed as one ensemble; one row per seed and decoder (every tie-break of a spiking
    readout)."""
    runs = [(run, seed) for seed in seeds]
    network, trained = train_ipd_ensemble(runs)
    test = [test_dataset(run, seed) for seed in seeds]
    data = stacked(test)
    ties = tied_fraction(network, data) if run.readout == "spikes" else [float("nan")] * len(seeds)
    rows = []
    for tie_break in TIE_BREAKS if run.readout == "spikes" else ("first",):
        decoder = network.with_tie_break(tie_break)
        metrics = evaluate(decoder, data, split="test", task_metrics=lambda k, guess: ipd_metrics(
            test[k].ipd_rad, test[k].labels, guess, network.config.n_classes))
        decoded = name if run.readout == "membrane" else f"{name} / {tie_break}"
        rows += [{"readout": decoded, "seed": seed, "test_acc": m["acc"], "test_error_deg": m["error_deg"],
                  "tied": tied, "epochs_run": row["epochs_run"], "status": row["status"]}
                 for seed, m, tied, row in zip(seeds, metrics, ties, trained)]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--population", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    runtime.configure(args.threads)
    base = IPDRun(epochs=args.epochs)
    readouts = {"membrane": base,
                "spikes": dataclasses.replace(base, readout="spikes", logit_scale=1.0),
                f"population {args.population}": dataclasses.replace(base, readout="spikes", logit_scale=1.0,
                                                                     population=args.population)}
    print(f"IPD (the seed's protocol, {base.n_hidden} hidden neurons, up to {args.epochs} epochs), seeds "
          f"{args.seeds}: test accuracy (%), the seed's error (deg), share of test samples with tied top counts",
          flush=True)
    rows = []
    for name, run in readouts.items():
        new = readout_rows(name, run, args.seeds)
        for row in new:
            print(f"  seed {row['seed']} {row['readout']}: test {100 * row['test_acc']:.2f} %, error "
                  f"{row['test_error_deg']:.2f} deg, tied {100 * row['tied']:.1f} %, {row['epochs_run']} epochs "
                  f"({row['status']})", flush=True)
        rows += new
    table = pd.DataFrame(rows)
    means = table.groupby("readout", sort=False)[["test_acc", "test_error_deg"]].agg(["mean", "sem"])
    print("\nMean and SEM over seeds:")
    for readout, values in means.iterrows():
        print(f"  {readout}: test {100 * values[('test_acc', 'mean')]:.2f} ± {100 * values[('test_acc', 'sem')]:.2f}"
              f" %, error {values[('test_error_deg', 'mean')]:.2f} ± {values[('test_error_deg', 'sem')]:.2f} deg")
    decoders = list(dict.fromkeys(table["readout"]))
    paired = [paired_comparison(table, "readout", baseline, other, ["test_acc"], ["seed"]).iloc[0].to_dict()
              | {"baseline": baseline, "other": other}
              for baseline in ("membrane", "spikes / first") for other in decoders if other != baseline]
    print("\nPaired on the seed; difference = other - baseline, test accuracy:")
    print(format_comparisons(with_verdicts(pd.DataFrame(paired)), ["baseline", "other"]))


if __name__ == "__main__":
    main()
