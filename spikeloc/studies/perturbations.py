"""Perturbations study: which training regime protects against which perturbation, at what clean cost.

Regimes (spikeloc.perturbations.regimes): plain, dropout, weight noise, mismatch-aware, quantisation-aware and
Dale's law, each trained on IPD (30 hidden units) and MNIST-5k, then scored under the suite of perturbations
(spikeloc.perturbations). Runs of one seed share data and initial weights, so each regime is compared with plain
training paired on seed, the independent unit, for the clean accuracy and each perturbation's robustness score
(normalised area under the accuracy-vs-level curve).

Writes to --out: runs.csv, summary.csv, regime_vs_plain.csv (paired comparisons with verdicts),
robustness_<task>.png (heatmap of mean scores, regime x perturbation) and curves_<task>.png (mean accuracy
against level per regime).

    python studies/perturbations.py --preset quick|seed|full [--out DIR]
"""

from __future__ import annotations

import argparse

from spikeloc.files import atomic_write
from spikeloc.options import Parser
from spikeloc.study.cli import run_and_summarise, run_script, run_settings, study_parser

REGIMES = ("plain", "dropout", "weight_noise", "mismatch_aware", "quantisation_aware", "dales_law")
PRESETS = {
    "quick": dict(tasks=("ipd",), seeds=(0, 1), suite="quick", draws=3,
                  sizes=dict(epochs=2, n_train_batches=8, n_val_samples=256, n_test_samples=256)),
    "seed": dict(tasks=("ipd", "digits"), seeds=(0, 1, 2), suite="default", draws=10, sizes=dict(hidden=(200,))),
    "full": dict(tasks=("ipd", "digits"), seeds=(0, 1, 2, 3, 4), suite="default", draws=10,
                 sizes=dict(hidden=(200,))),
}


def grid(preset: dict, settings: dict) -> list:
    from spikeloc.perturbations.regimes import RegimeRun

    return [RegimeRun(task=task, regime=regime, suite=preset["suite"], draws=preset["draws"], **settings)
            for task in preset["tasks"] for regime in REGIMES]


def parser() -> Parser:
    """The study's command line; building it loads neither torch nor pandas nor matplotlib."""
    return study_parser(__doc__.split("\n")[0], list(PRESETS), "results/perturbations")


def main(argv: list[str] | None = None) -> None:
    """Run the study with the command line ``argv`` (default: the program's arguments)."""
    run(parser().parse_args(argv))


def run(args: argparse.Namespace) -> None:
    """Run (or resume) the study, then write and print its comparisons and figures."""
    import pandas as pd

    from spikeloc.perturbations.regimes import run_regime
    from spikeloc.study.plots import save_figure
    from spikeloc.study.runner import Study
    from spikeloc.study.stats import format_comparisons, paired_comparison, with_verdicts

    preset = PRESETS[args.preset]
    study = Study(name=f"perturbations-{args.preset}", configs=tuple(grid(preset, run_settings(args, preset["sizes"]))),
                  seeds=tuple(preset["seeds"]), run_fn=run_regime)
    table, summary, out = run_and_summarise(study, args, ["task", "regime"], ["clean_acc"])
    scores = [column for column in table.columns if column.startswith("auc_")]
    comparisons = []
    for task, part in table.groupby("task"):
        for regime in REGIMES[1:]:
            pair = part[part["regime"].isin(["plain", regime])]
            metrics = ["clean_acc", *[c for c in scores if pair[c].notna().any()]]
            comparisons.append(paired_comparison(pair, "regime", "plain", regime, metrics, pair_on=["seed"])
                               .assign(task=task, regime=regime))
    comparisons = with_verdicts(pd.concat(comparisons))
    atomic_write(out / "regime_vs_plain.csv", comparisons.to_csv(index=False))
    print("\nregime vs plain training, paired on seed; difference = regime - plain (auc_*: robustness scores):")
    print(format_comparisons(comparisons, ["task", "regime"]))
    for task, part in table.groupby("task"):
        save_figure(heatmap(part, scores, task), out / f"robustness_{task}.png")
        save_figure(curves(part, task), out / f"curves_{task}.png")
    print(f"\nfigures and tables written to {out}/")


def heatmap(table, scores, task):
    """Mean robustness score (AUC) per regime (rows) and perturbation (columns)."""
    import matplotlib.pyplot as plt
    import numpy as np

    columns = [c for c in scores if table[c].notna().any()]
    means = table.groupby("regime", sort=False)[columns].mean().reindex([r for r in REGIMES if r in set(table["regime"])])
    fig, axis = plt.subplots(figsize=(1.0 + 0.7 * len(columns), 1.2 + 0.45 * len(means)))
    image = axis.imshow(means.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    axis.set_xticks(range(len(columns)), [c.removeprefix("auc_") for c in columns], rotation=45, ha="right")
    axis.set_yticks(range(len(means)), list(means.index))
    for (i, j), value in np.ndenumerate(means.to_numpy(dtype=float)):
        axis.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value < 0.6 else "black")
    fig.colorbar(image, ax=axis, label="robustness (normalised AUC)")
    axis.set_title(f"{task}: robustness by training regime (mean over seeds)")
    fig.tight_layout()
    return fig


def curves(table, task):
    """Mean accuracy against level per regime, one panel per perturbation."""
    import matplotlib.pyplot as plt

    names = sorted({c.removeprefix("auc_") for c in table.columns if c.startswith("auc_")
                    and table[c].notna().any()})
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 2.6), squeeze=False)
    for axis, name in zip(axes[0], names):
        columns = [c for c in table.columns if c.startswith(f"acc_{name}_")]
        levels = [float(c.removeprefix(f"acc_{name}_")) for c in columns]
        order = sorted(range(len(levels)), key=lambda i: levels[i])
        for regime, part in table.groupby("regime", sort=False):
            axis.plot([levels[i] for i in order], [part[columns[i]].mean() for i in order], marker=".", label=regime)
        axis.set_title(name, fontsize=8)
        axis.set_xlabel("level", fontsize=7)
    axes[0][0].set_ylabel("test accuracy")
    axes[0][-1].legend(fontsize=6)
    fig.suptitle(f"{task}: accuracy under perturbation (mean over seeds)", fontsize=9)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    run_script(main, "perturbations")
