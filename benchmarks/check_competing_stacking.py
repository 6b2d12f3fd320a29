"""Which connection between two competing layers lets layer 2 learn useful features (MNIST-5k, Krotov's readout).

Run:  python benchmarks/check_competing_stacking.py [--units 400] [--rule-epochs 30] [--rule-lr 0.4] [--seeds 0]
      [--threads 1] [--connections dale identity] [--normalisations none divisive] [--powers 1 4.5]

(``--connections`` with no value: one layer only, e.g. to check the rule's settings; the rule's lr per size is chosen
on validation by benchmarks/choose_competing_rule_lr.py, the study's RULE_LR_BY_UNITS.)

Per seed (spikeloc.experiments.competing, 3600 / 400 / 1000 split): one layer of ``--units`` competing units, and
two layers joined by each connection of {the seed's static Dale connection, identity} x {no normalisation,
divisive normalisation} x activation power {1, 4.5} (spikeloc.learning.competing.StackConfig); on the last
layer's activities Krotov's readout with beta chosen on the validation split from KROTOV_BETAS (30, 10, 100; ties go
to the first listed, spikeloc.experiments.competing). Prints per stack
the validation accuracy of each beta and the test accuracy of the chosen one (%), and the feature-learning
seconds; with several seeds, then the chosen test accuracy per stack (mean ± SEM over seeds) and each two-layer
stack against one layer, paired on seed (spikeloc.study.stats). ``studies/competing_units.py``'s ``STACKED`` is
the stack with the best validation accuracy here (400 units, 30 epochs; its connection on seed 0 at lr 0.4, its
activation power on seeds 0-2 at lr 0.1: ``--rule-lr 0.1 --seeds 0 1 2 --connections identity --normalisations
divisive --powers 1 2 3 4.5 6``).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools

import pandas as pd

from spikeloc import runtime
from spikeloc.experiments.competing import CompetingRun
from spikeloc.studies.competing_units import KROTOV_BETAS, krotov_on_validation
from spikeloc.study.stats import format_comparisons, paired_comparison, with_verdicts

def stacks(connections: list[str], normalisations: list[str], powers: list[float]) -> list[dict]:
    """One layer, then two layers joined by each (connection, normalisation, activation power)."""
    return [dict(layers=1)] + [dict(layers=2, connection=c, normalisation=n, activation_power=a)
                               for c, n, a in itertools.product(connections, normalisations, powers)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=400)
    parser.add_argument("--rule-epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rule-lr", type=float, default=CompetingRun.rule_lr)
    parser.add_argument("--connections", nargs="*", default=["dale", "identity"])
    parser.add_argument("--normalisations", nargs="+", default=["none", "divisive"])
    parser.add_argument("--powers", type=float, nargs="+", default=[1.0, 4.5])
    args = parser.parse_args()
    runtime.configure(args.threads)
    base = CompetingRun(hidden_units=args.units, rule_epochs=args.rule_epochs, rule_lr=args.rule_lr, readout="krotov")
    print(f"MNIST-5k, {args.units} units per layer, {args.rule_epochs} unsupervised epochs at rule lr {args.rule_lr:g}, "
          "Krotov's readout, "
          f"beta chosen on validation from {KROTOV_BETAS}; accuracy (%)", flush=True)
    chosen_rows = []
    for seed, stack in itertools.product(args.seeds, stacks(args.connections, args.normalisations, args.powers)):
        table, chosen = krotov_on_validation(dataclasses.replace(base, **stack), seed)
        print(f"  seed {seed} {stack}: val " + ", ".join(f"beta {b:g} {100 * v:.2f}" for b, v in
                                                       zip(table["beta"], table["val_acc"]))
              + f" -> beta {chosen['beta']:g}: test {100 * chosen['test_acc']:.2f}"
              f" ({table['feature_seconds'].iloc[0]:.0f} s features)", flush=True)
        chosen_rows.append({**chosen.to_dict(), "stack": str(stack)})
    if len(args.seeds) > 1:
        report_over_seeds(pd.DataFrame(chosen_rows))


def report_over_seeds(chosen: pd.DataFrame) -> None:
    """Test (and validation) accuracy of each stack over seeds, and each two-layer stack paired on seed against one
    layer."""
    one_layer = str(dict(layers=1))
    percent = lambda values: f"{100 * values.mean():.2f} ± {100 * values.sem():.2f}"  # noqa: E731
    print("\nTest accuracy (%) over seeds, mean ± SEM (validation accuracy of the chosen beta):")
    for stack, rows in chosen.groupby("stack", sort=False):
        print(f"  {stack}: {percent(rows['test_acc'])} (n = {len(rows)}) (validation {percent(rows['val_acc'])})")
    comparisons = [paired_comparison(chosen, "stack", one_layer, stack, ["test_acc"], pair_on=["seed"])
                   .assign(stack=stack) for stack in chosen["stack"].unique() if stack != one_layer]
    if comparisons:
        print("Two layers - one layer, paired on seed:")
        print(format_comparisons(with_verdicts(pd.concat(comparisons)), ["stack"]))


if __name__ == "__main__":
    main()
