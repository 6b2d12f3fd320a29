"""Neuromodulation study (seed 000, "leaky tensors"): weight noise in training x task, robustness to weight noise.

Tasks: the IPD seed's spiking network, a spiking classifier on MNIST-5k, and the noise seed's own reference (a
non-spiking MLP [512, 256] with dropout 0.2 on MNIST-5k). Spiking networks are trained without noise ("none"),
with fixed noise (0.3 x each layer's weight std, "fixed"), with a learned noise model trained by the seed's
objective (the task loss only, "learned_task") and by the entropy-rewarded objective ("learned"); the MLP
without noise and with the seed's noise model as written ("seed_model"). Each run is scored clean, under its
training noise and along the robustness curve (the seed's scales 0, 0.05, ..., 0.3, absolute and relative to
the weight std, several seeded draws per point). Runs of one seed share data, initial weights and evaluation
noise, so each noise training is compared with "none" on runs paired on seed, the independent unit
(spikeloc.study.stats.paired_comparison: t interval, verdict from the sign-flip test Holm-adjusted over the
study's comparisons, "underpowered" where the seeds cannot decide).

Which layer bounds the robustness: every spiking run is also scored with the noise on one layer at a time
(``kept_<layer>_only``). What raises it (preset "ipd": robust protocol, 5 seeds): variants of the base network
with fresh stimuli every epoch, 100 or 200 hidden units, or weight averaging over the second half of training, each
compared with the base network on paired runs.

Writes to --out: runs.csv, summary.csv (mean, SEM, 95% CI per task, variant and training of the headline metrics),
layer_summary.csv (the same for the per-layer fractions kept),
curve_summary.csv (the same for every robustness-curve point), noise_vs_none.csv (the paired comparisons:
noise training vs none, variant vs base),
robustness_curve.png (accuracy against noise scale, mean ± SEM over runs) and variance_history.png (learned
noise std per layer and epoch, mean over runs).

    python studies/neuromodulation.py --preset quick|seed|full|ipd [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from spikeloc.files import atomic_write
from spikeloc.options import Parser
from spikeloc.study.cli import run_and_summarise, run_script, run_settings, study_parser

if TYPE_CHECKING:  # annotations only: building the study's parser loads none of these
    import matplotlib.pyplot as plt
    import pandas as pd

    from spikeloc.experiments.neuromodulation import NeuromodulationRun

SPIKING = ("none", "fixed", "learned_task", "learned")
REFERENCE_ROW = ("none", "seed_model")
#: A ratio kept / clean means nothing for a network at chance (1/12 for IPD, 1/10 for digits): not judged below this.
NEAR_CHANCE_ACC = 0.2
HEADLINE_SCALE = 0.3
PRESETS = {
    # about 2 minutes on 2 cores: small training sets, few epochs, 3 draws per curve point
    "quick": dict(seeds=(0, 1), n_draws=3, tasks={
        "ipd": dict(epochs=4, n_train_batches=16, n_val_samples=512, n_test_samples=512),
        "digits": dict(epochs=3, n_train=600, hidden=(100,)),
        "mlp": dict(epochs=3, n_train=600)}),
    # the closing note's numbers: the IPD seed's sizes, MNIST-5k with every training image, 3 runs
    "seed": dict(seeds=(0, 1, 2), n_draws=5, tasks={
        "ipd": dict(epochs=10), "digits": dict(epochs=10, hidden=(200,)), "mlp": dict(epochs=10)}),
    "full": dict(seeds=(0, 1, 2, 3, 4), n_draws=5, tasks={
        "ipd": dict(epochs=30), "digits": dict(epochs=30, hidden=(200,)), "mlp": dict(epochs=30)}),
    # what bounds and what raises IPD's robustness to weight noise: robust protocol, 5 seeds; without noise and with
    # fixed-noise and learned-noise (entropy objective) training, each variant against the base network (paired on
    # seed); scored at noise 0 and 0.3 only
    # (the curve's other points cost most of a run's time)
    "ipd": dict(seeds=(0, 1, 2, 3, 4), n_draws=5, tasks={"ipd": dict(epochs=10, protocol="robust",
                                                                     test_scales=(0.0, HEADLINE_SCALE))}, variants={
        "base": (("none", "fixed", "learned"), {}),
        "averaged": (("none",), dict(weight_averaging=True)),
        "fresh_stimuli": (("none", "fixed", "learned"), dict(training_data="per_epoch")),
        "hidden_100": (("none", "fixed"), dict(ipd_hidden=100)),
        "hidden_200": (("none", "fixed"), dict(ipd_hidden=200))}),
}
#: Settings that tell a preset's variants apart (the default variant, "base", changes none).
VARIANT_FIELDS = ("ipd_hidden", "training_data", "weight_averaging")
BY = ["task", "variant", "training"]


def variants(preset: dict) -> dict[str, tuple[tuple[str, ...], dict]]:
    """The preset's variants: name -> (spiking trainings, settings); by default one, "base", with every training."""
    return preset.get("variants", {"base": (SPIKING, {})})


def grid(preset: dict, overrides: dict) -> list[NeuromodulationRun]:
    """The preset's runs; the MLP reference runs on the CPU whatever --device says (its rows say so)."""
    from spikeloc.experiments.neuromodulation import NeuromodulationRun

    cpu_only = {"device": "cpu"}
    return [NeuromodulationRun(task=task, training=training, n_draws=preset["n_draws"],
                               **{**sizes, **settings, **overrides, **(cpu_only if task == "mlp" else {})})
            for task, sizes in preset["tasks"].items()
            for trainings, settings in variants(preset).values()
            for training in (REFERENCE_ROW if task == "mlp" else trainings)]


def label_variants(table: pd.DataFrame, preset: dict) -> pd.DataFrame:
    """``table`` with a ``variant`` column: the preset's variant whose settings the run has."""
    from spikeloc.experiments.neuromodulation import NeuromodulationRun

    names = {tuple(NeuromodulationRun(**settings).__getattribute__(f) for f in VARIANT_FIELDS): name
             for name, (_, settings) in variants(preset).items()}
    return table.assign(variant=[names[tuple(row[f] for f in VARIANT_FIELDS)] for _, row in table.iterrows()])


def compare(table: pd.DataFrame, headline: str) -> pd.DataFrame:
    """Paired on seed: each noise training against "none" (per task and variant), and each variant against
    "base" (per task and training); difference = the named condition - its baseline."""
    import pandas as pd

    from spikeloc.study.stats import paired_comparison, with_verdicts

    metrics = ["clean_acc", headline, "kept_at_noise_scale"]
    comparisons = []
    for (task, variant), rows in table.groupby(["task", "variant"], sort=False):
        for training in dict.fromkeys(rows["training"]):
            if training != "none" and "none" in set(rows["training"]):
                comparisons.append(paired_comparison(rows, "training", "none", training, metrics, pair_on=["seed"])
                                   .assign(task=task, variant=variant, training=training, baseline="none"))
    for (task, training), rows in table.groupby(["task", "training"], sort=False):
        for variant in dict.fromkeys(rows["variant"]):
            if variant != "base" and "base" in set(rows["variant"]):
                comparisons.append(paired_comparison(rows, "variant", "base", variant, metrics, pair_on=["seed"])
                                   .assign(task=task, variant=variant, training=training, baseline="base"))
    return with_verdicts(pd.concat(comparisons))


def curve_columns(table: pd.DataFrame) -> list[str]:
    """The robustness-curve accuracy columns of ``table`` (``acc_<reference>_<scale>``), in order."""
    return [c for c in table.columns if c.startswith("acc_") and not c.endswith("_sd")]


def robustness_figure(table: pd.DataFrame) -> plt.Figure:
    import matplotlib.pyplot as plt

    from spikeloc.substrate.noise import REFERENCES

    tasks = list(dict.fromkeys(table["task"]))
    fig, axes = plt.subplots(len(tasks), len(REFERENCES), figsize=(5 * len(REFERENCES), 3.4 * len(tasks)),
                             squeeze=False)
    for row, task in enumerate(tasks):
        for col, reference in enumerate(REFERENCES):
            ax = axes[row][col]
            for (variant, training), runs in table[table["task"] == task].groupby(["variant", "training"],
                                                                                  sort=False):
                columns = [c for c in curve_columns(runs) if c.startswith(f"acc_{reference}_")]
                scales = [float(c.rsplit("_", 1)[1]) for c in columns]
                mean, sem = runs[columns].mean() * 100, runs[columns].sem() * 100
                ax.errorbar(scales, mean, yerr=sem.fillna(0), marker="o", capsize=3,
                            label=training if variant == "base" else f"{variant}: {training}")
            ax.set(title=f"{task}: noise {reference}" + (" to weight std" if reference == "relative" else ""),
                   xlabel="noise scale", ylabel="test accuracy (%)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle("Accuracy under weight noise: mean ± SEM over runs (each run: mean over noise draws)")
    fig.tight_layout()
    return fig


def variance_figure(table: pd.DataFrame) -> plt.Figure | None:
    import matplotlib.pyplot as plt
    import pandas as pd

    learned = table[table["std_history"].notna()] if "std_history" in table else table.iloc[:0]
    if learned.empty:
        return None
    tasks = list(dict.fromkeys(learned["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for training, runs in learned[learned["task"] == task].groupby("training", sort=False):
            histories = [pd.DataFrame(json.loads(text)) for text in runs["std_history"]]
            mean = pd.concat(histories).groupby(level=0).mean()
            for layer in mean.columns:
                ax.plot(mean.index, mean[layer], marker="o", label=f"{training}: {layer}")
        ax.set(title=task, xlabel="epoch (0 = start)", ylabel="learned noise std s", yscale="log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Learned noise std per layer (relative to weight std; seed_model: absolute), mean over runs")
    fig.tight_layout()
    return fig


def parser() -> Parser:
    """The study's command line; building it loads neither torch nor pandas nor matplotlib."""
    return study_parser(__doc__.split("\n")[0], list(PRESETS), "results/neuromodulation")


def main(argv: list[str] | None = None) -> None:
    """Run the study with the command line ``argv`` (default: the program's arguments)."""
    run(parser().parse_args(argv))


def run(args: argparse.Namespace) -> None:
    """Run (or resume) the study, then write and print its comparisons and figures."""
    from spikeloc.experiments.neuromodulation import curve_column, neuromodulation_study
    from spikeloc.study.plots import save_figure
    from spikeloc.study.stats import format_comparisons, summarise

    preset = PRESETS[args.preset]
    study = neuromodulation_study(f"neuromodulation-{args.preset}", grid(preset, run_settings(args, {})),
                                  preset["seeds"])
    headline = curve_column("relative", HEADLINE_SCALE)
    metrics = ["clean_acc", "noisy_acc", "robustness_ratio", headline, "kept_at_noise_scale"]
    table, _, out = run_and_summarise(study, args, ["task", *VARIANT_FIELDS, "training"], metrics)
    table = label_variants(table[table["status"] == "ok"], preset)
    layer_kept = [c for c in table.columns if c.startswith("kept_") and c.endswith("_only")]
    atomic_write(out / "layer_summary.csv", summarise(table, by=BY, metrics=layer_kept).to_csv(index=False))
    curves = curve_columns(table)
    atomic_write(out / "curve_summary.csv", summarise(table, by=BY, metrics=curves).to_csv(index=False))

    comparisons = compare(table, headline)
    atomic_write(out / "noise_vs_none.csv", comparisons.to_csv(index=False))
    print("\nNoise training vs none and each variant vs base, paired on seed; difference = condition - baseline:")
    print(format_comparisons(comparisons, ["task", "variant", "training", "baseline"]))

    print(f"\nAt weight noise {HEADLINE_SCALE} x weight std (accuracy kept = noisy / clean; mean ± SEM over runs; "
          "per layer: that layer noisy, the others clean):")
    for (task, variant, training), runs in table.groupby(BY, sort=False):
        ratio = runs["kept_at_noise_scale"]
        verdict = ("not judged: clean accuracy near chance" if runs["clean_acc"].mean() < NEAR_CHANCE_ACC
                   else f"aim >= 0.90: {'met' if ratio.mean() >= 0.9 else 'missed'}")
        layers = "".join(f"  {c[5:-5]} only {runs[c].mean():.3f} ± {runs[c].sem():.3f}" for c in layer_kept
                         if runs[c].notna().all())
        print(f"  {task:6s} {variant:13s} {training:12s} clean {runs['clean_acc'].mean():.3f} ± "
              f"{runs['clean_acc'].sem():.3f}  noisy {runs[headline].mean():.3f} ± {runs[headline].sem():.3f}  "
              f"kept {ratio.mean():.3f} ± {ratio.sem():.3f}{layers}  (n = {len(runs)}, {verdict})")
    final = [c for c in table.columns if c.startswith("final_std_")]
    if final:
        print("\nLearned noise std at the end of training (start: 0.3 relative; seed_model: 1.0 clamped to 0.5 "
              "absolute), mean over runs:")
        print(table[table[final].notna().any(axis=1)].groupby(BY, sort=False)[final].mean()
              .to_string(float_format=lambda v: f"{v:.4g}"))

    save_figure(robustness_figure(table), out / "robustness_curve.png")
    variance = variance_figure(table)
    if variance is not None:
        save_figure(variance, out / "variance_history.png")
    print(f"\nfigures and tables written to {out}/")


if __name__ == "__main__":
    run_script(main, "neuromodulation")
