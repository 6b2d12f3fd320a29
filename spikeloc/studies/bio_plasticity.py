"""Bio-plasticity study (seed 003, bio_transformations): each plasticity transform alone and all together, on
IPD (robust protocol) and MNIST-5k, against plain surrogate-gradient training.

Conditions: "none"; each mechanism alone (fuzzy learning rates uniform as the seed and log-normal,
crystallisation, volume-dependent learning rate, rejuvenation once per epoch, L1, weight splitting into 2
sub-synapses, Dale's principle with half the presynaptic units inhibitory); "all" of them together, and all but
rejuvenation; rejuvenation by bio_transformations 0.0.5's current rule (in effect pruning) beside the seed's.
Preset "rejuvenation": the seed preset's sizes, only none and the two rejuvenation rules. Each run
gives test accuracy, learning speed (epochs until the validation accuracy reaches 80 % of the kept epoch's) and
accuracy under fixed weight noise of 0.3 x each layer's weight std (mean over seeded draws). Runs of one seed
share data, initial weights and evaluation noise, so each condition is compared with "none" on runs paired on
seed, the independent unit (spikeloc.study.stats.paired_comparison: t interval; verdict better / worse where
the sign-flip test's p, Holm-adjusted over the study's comparisons, is < 0.05, else "underpowered").

Writes to --out: runs.csv, summary.csv (mean, SEM, 95% CI per task and condition), vs_none.csv (the paired
comparisons) and ablation.png (each metric per condition, mean ± SEM, and the paired differences from none).

    python studies/bio_plasticity.py --preset quick|seed|full [--out DIR]
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from spikeloc.files import atomic_write
from spikeloc.options import Parser
from spikeloc.study.cli import run_and_summarise, run_script, run_settings, study_parser

if TYPE_CHECKING:  # annotations only: building the study's parser loads none of these
    import matplotlib.pyplot as plt
    import pandas as pd

    from spikeloc.experiments.bio_plasticity import BioPlasticityRun

PRESETS = {
    # about 1-2 minutes on 2 cores: small training sets, few epochs, 3 noise draws
    "quick": dict(seeds=(0, 1), n_draws=3, tasks={
        "ipd": dict(epochs=4, n_train_batches=16, n_val_samples=512, n_test_samples=512),
        "digits": dict(epochs=3, n_train=600, hidden=(100,))}),
    # the closing note's numbers: the IPD seed's sizes, MNIST-5k with every training image, 3 runs
    "seed": dict(seeds=(0, 1, 2), n_draws=5, tasks={
        "ipd": dict(epochs=10), "digits": dict(epochs=10, hidden=(200,))}),
    "full": dict(seeds=(0, 1, 2, 3, 4), n_draws=5, tasks={
        "ipd": dict(epochs=30), "digits": dict(epochs=30, hidden=(200,))}),
}
# the two rejuvenation rules against none, at the seed preset's sizes (issue 22: which rule the "hurts" is about)
PRESETS["rejuvenation"] = dict(PRESETS["seed"], conditions=("none", "rejuvenation", "rejuvenation_package"))
BY = ["task", "mechanism"]
METRICS = ["test_acc", "epochs_to_80pct", "noisy_acc", "kept_under_noise"]
#: Summarised and printed, not compared with none (it is 0 there by construction).
DESCRIPTIVE = ["rejuvenated_pct_per_event"]
LABELS = {"test_acc": "test accuracy (%)", "epochs_to_80pct": "epochs to 80 % of final",
          "noisy_acc": "accuracy under noise 0.3 std (%)", "kept_under_noise": "accuracy kept under noise"}


def grid(preset: dict, overrides: dict) -> list[BioPlasticityRun]:
    from spikeloc.experiments.bio_plasticity import CONDITIONS, BioPlasticityRun

    return [BioPlasticityRun(task=task, mechanism=mechanism, n_draws=preset["n_draws"], **{**sizes, **overrides})
            for task, sizes in preset["tasks"].items() for mechanism in preset.get("conditions", CONDITIONS)]


def comparisons_with_none(table: pd.DataFrame) -> pd.DataFrame:
    """Each condition against "none" per task, paired on seed, with verdicts (fewer epochs is better)."""
    import pandas as pd

    from spikeloc.study.stats import paired_comparison, with_verdicts

    return with_verdicts(pd.concat([
        paired_comparison(table[table["task"] == task], "mechanism", "none", mechanism, METRICS, pair_on=["seed"])
        .assign(task=task, mechanism=mechanism)
        for task in dict.fromkeys(table["task"])
        for mechanism in dict.fromkeys(table.loc[table["task"] == task, "mechanism"]) if mechanism != "none"]),
        lower_is_better=["epochs_to_80pct"])


def ablation_figure(table: pd.DataFrame, comparisons: pd.DataFrame) -> plt.Figure:
    import matplotlib.pyplot as plt

    from spikeloc.experiments.bio_plasticity import CONDITIONS

    tasks = list(dict.fromkeys(table["task"]))
    metrics = ["test_acc", "noisy_acc", "epochs_to_80pct"]
    fig, axes = plt.subplots(len(tasks), len(metrics) + 1, figsize=(4.2 * (len(metrics) + 1), 3.6 * len(tasks)),
                             squeeze=False)
    ok = table[table["status"] == "ok"]
    for row, task in enumerate(tasks):
        runs = ok[ok["task"] == task]
        order = [c for c in CONDITIONS if c in set(runs["mechanism"])]
        for col, metric in enumerate(metrics):
            scale = 100 if metric.endswith("_acc") else 1
            grouped = runs.groupby("mechanism")[metric]
            mean, sem = grouped.mean().reindex(order) * scale, grouped.sem().reindex(order).fillna(0) * scale
            ax = axes[row][col]
            ax.bar(range(len(order)), mean, yerr=sem, capsize=3,
                   color=["0.5" if c == "none" else "C0" for c in order])
            ax.axhline(mean["none"], color="0.3", lw=0.8, ls="--")
            ax.set_xticks(range(len(order)), order, rotation=60, ha="right", fontsize=8)
            ax.set(title=f"{task}: {LABELS[metric]}")
            if metric.endswith("_acc"):
                ax.set_ylim(max(0, (mean - sem).min() - 5), min(100, (mean + sem).max() + 3))
        ax = axes[row][-1]
        diffs = comparisons[(comparisons["task"] == task) & (comparisons["metric"] == "test_acc")]
        diffs = diffs.set_index("mechanism").reindex([c for c in order if c != "none"])
        ax.errorbar(diffs["mean_difference"] * 100, range(len(diffs)), fmt="o",
                    xerr=[(diffs["mean_difference"] - diffs["ci_low"]) * 100,
                          (diffs["ci_high"] - diffs["mean_difference"]) * 100], capsize=3)
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_yticks(range(len(diffs)), diffs.index, fontsize=8)
        ax.invert_yaxis()
        ax.set(title=f"{task}: test accuracy − none (pt, 95% CI)", xlabel="paired difference (points)")
    fig.suptitle("Plasticity transforms ablated: mean ± SEM over runs; right: paired differences from none")
    fig.tight_layout()
    return fig


def parser() -> Parser:
    """The study's command line; building it loads neither torch nor pandas nor matplotlib."""
    return study_parser(__doc__.split("\n")[0], list(PRESETS), "results/bio_plasticity")


def main(argv: list[str] | None = None) -> None:
    """Run the study with the command line ``argv`` (default: the program's arguments)."""
    run(parser().parse_args(argv))


def run(args: argparse.Namespace) -> None:
    """Run (or resume) the study, then write and print its comparisons and figures."""
    from spikeloc.experiments.bio_plasticity import bio_plasticity_study
    from spikeloc.study.plots import save_figure
    from spikeloc.study.stats import ALPHA, format_comparisons

    preset = PRESETS[args.preset]
    study = bio_plasticity_study(f"bio_plasticity-{args.preset}", grid(preset, run_settings(args, {})),
                                 preset["seeds"])
    table, summary, out = run_and_summarise(study, args, BY, METRICS + DESCRIPTIVE)
    comparisons = comparisons_with_none(table)
    atomic_write(out / "vs_none.csv", comparisons.to_csv(index=False))
    print(f"\nEach condition vs none, paired on seed; difference = condition - none; verdict at p_adjusted < {ALPHA} "
          "(sign-flip test, Holm over the study's comparisons):")
    print(format_comparisons(comparisons, ["task", "mechanism"]))
    save_figure(ablation_figure(table, comparisons), out / "ablation.png")
    print(f"\nfigures and tables written to {out}/")


if __name__ == "__main__":
    run_script(main, "bio_plasticity")
