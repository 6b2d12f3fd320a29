"""Competing hidden units (Krotov-Hopfield) study: readouts on learned features vs pixel baselines.

Grid (spikeloc.experiments.competing.CompetingRun): hidden sizes x readouts (spiking, Krotov, and the pixel
baselines: an MLP with as many hidden units, and softmax regression, run once since it has no hidden units),
plus one-factor variations of p, k, delta and the number of layers at the largest hidden size (spiking and
Krotov readouts), x run seeds. Runs of one seed share the data split, and runs with the same feature settings
and seed read the same learned features, so readouts are compared on runs paired on seed, the independent unit,
separately at each feature setting (spikeloc.study.stats.paired_comparison): spiking vs Krotov readout, and
spiking readout vs the MLP of the same width.

Writes to --out: runs.csv (one row per run), summary.csv (mean, SEM, 95% CI per condition),
spiking_vs_others.csv (the paired comparisons), accuracy_vs_hidden.png (test accuracy against hidden size per
readout, softmax regression on pixels as a dashed level) and weights.png (the learned weights of seed 0 at the
largest hidden size, one cell per unit).

    python studies/competing_units.py --preset quick|seed|full [--epochs N] [--out DIR]
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from spikeloc import datasets
from spikeloc.experiments.competing import FEATURE_READOUTS, READOUTS, CompetingRun, competing_study
from spikeloc.experiments.digits import split
from spikeloc.files import atomic_write
from spikeloc.learning.competing import learn_stack
from spikeloc.study.cli import run_and_summarise, run_script, run_settings, study_parser
from spikeloc.study.plots import metric_panels, save_figure, weight_grid
from spikeloc.study.stats import format_comparisons, paired_comparison, with_verdicts

VARIATIONS = dict(p=(2.0, 4.5), k=(2, 12), delta=(0.0, 0.2), layers=(2,))
PRESETS = {
    # under 3 minutes on 2 cores: small layers, few epochs, one value of each variation
    "quick": dict(hidden_sizes=(100, 200), seeds=(0, 1), variations=dict(p=(2.0,), k=(2,), delta=(0.0,), layers=(2,)),
                  sizes=dict(rule_epochs=3, epochs=5)),
    # the MNIST-5k check's settings: 100 unsupervised epochs, up to 2000 units, 3 seeds
    "seed": dict(hidden_sizes=(100, 400, 1000, 2000), seeds=(0, 1, 2), variations=VARIATIONS, sizes={}),
    "full": dict(hidden_sizes=(100, 200, 400, 1000, 2000, 3000), seeds=(0, 1, 2, 3, 4), variations=VARIATIONS,
                 sizes={}),
}
SETTINGS = ["hidden_units", "p", "k", "delta", "layers"]
METRICS = ["train_acc", "val_acc", "test_acc", "feature_seconds", "readout_seconds"]


def grid(preset: dict, settings: dict) -> list[CompetingRun]:
    """Readouts x hidden sizes, then each variation at the largest size; softmax regression once."""
    largest = max(preset["hidden_sizes"])
    base = CompetingRun(hidden_units=largest, **settings)
    runs = [dataclasses.replace(base, readout="pixels-linear")]
    runs += [dataclasses.replace(base, hidden_units=size, readout=readout) for size in preset["hidden_sizes"]
             for readout in READOUTS if readout != "pixels-linear"]
    runs += [dataclasses.replace(base, readout=readout, **{name: value})
             for name, values in preset["variations"].items() for value in values for readout in FEATURE_READOUTS]
    return runs


def comparisons(table: pd.DataFrame) -> pd.DataFrame:
    """Spiking readout vs each other readout at each feature setting where both ran, paired on seed;
    difference = spiking - other.  Settings are compared separately: the runs of one seed at several
    settings share its data split, so pooling them would count one seed several times."""
    rows = []
    for setting, runs in table.groupby(SETTINGS, sort=False):
        for other in ("krotov", "pixels-mlp"):
            if {other, "spiking"} <= set(runs["readout"]):
                rows.append(paired_comparison(runs, "readout", other, "spiking", ["test_acc", "val_acc"], pair_on=["seed"])
                            .assign(**dict(zip(SETTINGS, setting)), baseline=other, other="spiking"))
    return with_verdicts(pd.concat(rows))


def weight_figure(run: CompetingRun, seed: int):
    """Weights of the first learned layer for ``run`` and ``seed`` (learned again: the rule is deterministic)."""
    dataset = datasets.load(run.dataset)
    train = split(dataset, run.n_validation, seed)[0]
    weights = learn_stack(dataclasses.replace(run, layers=1).stack_config(seed), train.features()).weights[0]
    columns = min(20, run.hidden_units)
    rows = min(-(-run.hidden_units // columns), 10)
    return weight_grid(weights.numpy(), dataset.image_shape, columns=columns, rows=rows,
                       title=f"{run.hidden_units} competing units (first {columns * rows}), seed {seed}")


def main(argv: list[str] | None = None) -> None:
    parser = study_parser(__doc__.split("\n")[0], list(PRESETS), "results/competing-units",
                          cpu_only="the competing-units rule and its readouts are not written for a GPU yet")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    runs = grid(preset, run_settings(args, preset["sizes"]))
    study = competing_study(f"competing-units-{args.preset}", runs, preset["seeds"])
    table, summary, out = run_and_summarise(study, args, ["readout", *SETTINGS], METRICS)

    paired = comparisons(table)
    atomic_write(out / "spiking_vs_others.csv", paired.to_csv(index=False))
    print("\nSpiking readout vs the others per feature setting, paired on seed; difference = spiking - other:")
    print(format_comparisons(paired, [*SETTINGS, "baseline"]))

    base = runs[0]
    at_base = (summary[["p", "k", "delta", "layers"]] == [base.p, base.k, base.delta, base.layers]).all(axis=1)
    panels = metric_panels(summary[at_base], x="hidden_units", line="readout", metrics=["test_acc"],
                           labels=["test accuracy (%)"],
                           title=f"MNIST-5k: mean ± SEM over {len(preset['seeds'])} runs")
    save_figure(panels, out / "accuracy_vs_hidden.png")
    save_figure(weight_figure(base, preset["seeds"][0]), out / "weights.png")
    print(f"\nfigures and tables written to {out}/")


if __name__ == "__main__":
    run_script(main, "competing_units")
