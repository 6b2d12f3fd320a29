"""IPD beyond the seed: heterogeneous / learned time constants, input delays and training schedule, alone and combined.

Options (each off in the seed's configuration, "seed"): per-neuron time constants drawn from a gamma
distribution around tau_s = 5 ms (coefficient of variation 0.58, i.e. shape k = 3) in the hidden layer and
the readout ("tau_gamma"), learned from tau_s ("tau_learned") or both ("tau_gamma_learned"); per-input-fibre
delays of 0..10 steps (1 ms each) fixed at random ("delays_fixed") or learned ("delays_learned"); a cosine
learning-rate schedule ("cosine"); twice the training data per epoch ("more_data", seed and full presets);
all of tau_gamma_learned + delays_learned + cosine ("combined"); fresh training stimuli every epoch
("fresh_stimuli", IPDRun.training_data = "per_epoch": every epoch after the first trains on a new set of the same
size), alone and with "combined" ("fresh_combined"); training at phase noise sigma = 0.3 rad, fixed or fresh
stimuli ("phase_noise_0.3", "fresh_phase_noise_0.3"; tested at sigma = 0 like every option, the seed
notebook's robustness measure); hidden neurons of another kind than snnTorch's Leaky (NEURON_KINDS: "synaptic",
current-based LIF with tau_syn = 5 ms; "adaptive", an adaptive threshold with tau_adapt = 200 ms and 0.1 threshold
per spike; "recurrent", all-to-all recurrent weights within the hidden layer), alone (e.g. "synaptic") and
with fresh stimuli ("fresh_synaptic", compared with "fresh_stimuli": the same training data, leaky against that
kind). Each unconstrained and with Dale's law on
both synapse layers at IE ratio 0.5, x seeds. Runs of one seed share data and initial weights across options
(paired design). Test accuracy is on fresh stimuli at sigma = 0; then the option best on validation (lowest mean
unconstrained validation loss among the options validated at sigma = 0; the test split chooses nothing) and the
seed's configuration are trained again (same seeds: the same networks) and tested at phase noise sigma = 0.3 on
test stimuli from a stream of their own.

Presets: quick (5 options, 2 seeds, small sizes; no neuron kinds: it would not stay under 3 minutes), seed
(every option, 3 seeds, 10 epochs), full (seed, fresh stimuli, combined with and without them, phase-noise
training with and without them, each neuron kind with fresh stimuli; 5 seeds, 30 epochs, early stopping after
10 epochs without improvement).

Writes to --out: runs.csv, summary.csv, options_vs_seed.csv (paired on seed, per Dale condition: each option
against the seed's configuration and the pairs of COMPARISONS),
robustness/ (its own runs.csv), ipd_beyond_accuracy.png (test accuracy per option), ipd_beyond_learned.png
(trained tau and delay distributions).

    python studies/ipd_beyond.py --preset quick|seed|full [--protocol seed|robust|both] [--options NAME ...]
                                 [--no-retest] [--out DIR] [--finished-only]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from spikeloc.experiments.ipd_protocols import PROTOCOLS, add_protocol_option, protocols
from spikeloc.files import atomic_write
from spikeloc.options import Parser
from spikeloc.study.cli import (
    executor_options,
    readable_summary,
    run_and_summarise,
    run_script,
    run_settings,
    study_parser,
)

if TYPE_CHECKING:  # annotations only: building the study's parser loads none of these
    import matplotlib.pyplot as plt
    import pandas as pd

    from spikeloc.experiments.ipd import IPDRun

TAU_GAMMA = dict(tau_distribution="gamma", tau_spread=0.58)
#: Hidden-neuron kinds (spikeloc.substrate.neurons.NEURONS) compared with the seed's "leaky": each adds the options
#: KIND and fresh_KIND (with fresh stimuli, compared with "fresh_stimuli") to the seed preset, fresh_KIND to full.
NEURON_KINDS = ("synaptic", "adaptive", "recurrent")
OPTIONS = {
    "seed": {},
    "tau_gamma": TAU_GAMMA,
    "tau_learned": dict(learn_tau=True),
    "tau_gamma_learned": dict(**TAU_GAMMA, learn_tau=True),
    "delays_fixed": dict(input_delays="fixed"),
    "delays_learned": dict(input_delays="learned"),
    "cosine": dict(lr_schedule="cosine"),
    "more_data": "double n_train_batches",  # resolved against the preset's sizes in option_settings
    "combined": dict(**TAU_GAMMA, learn_tau=True, input_delays="learned", lr_schedule="cosine"),
    "fresh_stimuli": dict(training_data="per_epoch"),
    "fresh_combined": dict(**TAU_GAMMA, learn_tau=True, input_delays="learned", lr_schedule="cosine",
                           training_data="per_epoch"),
    "phase_noise_0.3": dict(phase_noise_rad=0.3),
    "fresh_phase_noise_0.3": dict(phase_noise_rad=0.3, training_data="per_epoch"),
    **{kind: dict(neuron=kind) for kind in NEURON_KINDS},
    **{f"fresh_{kind}": dict(neuron=kind, training_data="per_epoch") for kind in NEURON_KINDS},
}
#: Paired comparisons besides each option against "seed": (baseline, option), made when both ran.
COMPARISONS = (("fresh_stimuli", "fresh_combined"), ("fresh_stimuli", "fresh_phase_noise_0.3"),
               ("phase_noise_0.3", "fresh_phase_noise_0.3"),
               *(("fresh_stimuli", f"fresh_{kind}") for kind in NEURON_KINDS))
QUICK_OPTIONS = ("seed", "tau_gamma_learned", "delays_learned", "cosine", "combined")
PRESETS = {
    "quick": dict(options=QUICK_OPTIONS, seeds=(0, 1), protocol="robust",
                  sizes=dict(epochs=4, n_train_batches=16, n_val_samples=512, n_test_samples=512)),
    "seed": dict(options=tuple(OPTIONS), seeds=(0, 1, 2), protocol="robust", sizes={}),
    "full": dict(options=("seed", "fresh_stimuli", "combined", "fresh_combined", "phase_noise_0.3",
                          "fresh_phase_noise_0.3", *(f"fresh_{kind}" for kind in NEURON_KINDS)),
                 seeds=(0, 1, 2, 3, 4), protocol="robust", sizes=dict(epochs=30)),
}
DALE = {"none": dict(dale_layers="none"), "dale_ie0.5": dict(dale_layers="both", ie_ratio=0.5)}
ROBUSTNESS_SIGMA_RAD = 0.3
METRICS = ["train_acc", "test_acc", "test_error_deg", "seconds_per_epoch", "epochs_run"]


def option_settings(name: str, sizes: dict) -> dict:
    from spikeloc.experiments.ipd import IPDRun

    if name == "more_data":
        return {"n_train_batches": 2 * sizes.get("n_train_batches", IPDRun().n_train_batches)}
    return OPTIONS[name]


def grid(preset: dict, chosen_protocols: list[str], settings: dict) -> tuple[list[IPDRun], dict]:
    """The runs and, for labelling the table, each run's option name keyed by its config."""
    from spikeloc.experiments.ipd import IPDRun

    runs, labels = [], {}
    for protocol in chosen_protocols:
        for dale in DALE.values():
            for name in preset["options"]:
                run = IPDRun(**PROTOCOLS[protocol], **dale, **{**settings, **option_settings(name, settings)})
                runs.append(run)
                labels[option_key(dataclasses.asdict(run))] = name
    return runs, labels


OPTION_FIELDS = ("tau_distribution", "tau_spread", "learn_tau", "input_delays", "lr_schedule", "n_train_batches",
                 "training_data", "phase_noise_rad", "neuron")


def option_key(config: dict | pd.Series) -> tuple:
    return tuple(config[f] for f in OPTION_FIELDS)


def label(table: pd.DataFrame, labels: dict) -> pd.DataFrame:
    """``table`` with each run's option name and Dale condition (``neuron``, left out of runs.csv at its default,
    read as its default)."""
    import numpy as np

    from spikeloc.experiments.ipd import IPDRun
    from spikeloc.study.runner import with_recorded_defaults

    table = with_recorded_defaults(table, IPDRun, OPTION_FIELDS)
    dale = np.where(table["dale_layers"] == "none", "none", "dale_ie" + table["ie_ratio"].astype(str))
    return table.assign(option=[labels[option_key(row)] for _, row in table.iterrows()], dale=dale)


def compare_options(table: pd.DataFrame) -> pd.DataFrame:
    """Each option against the seed's configuration and the pairs of :data:`COMPARISONS`, paired on seed, per
    protocol and Dale condition; difference = option - baseline (test accuracy at sigma = 0)."""
    import pandas as pd

    from spikeloc.study.stats import paired_comparison, with_verdicts

    comparisons = []
    for (offset, dale), rows in table.groupby(["phase_offset", "dale"]):
        present = set(rows["option"])
        pairs = [("seed", name) for name in rows["option"].unique() if name != "seed"]
        pairs += [(a, b) for a, b in COMPARISONS if {a, b} <= present]
        for baseline, name in pairs:
            comparisons.append(paired_comparison(rows, "option", baseline, name, ["test_acc"], pair_on=["seed"])
                               .assign(phase_offset=offset, dale=dale, baseline=baseline, option=name))
    return with_verdicts(pd.concat(comparisons))


def accuracy_figure(summary: pd.DataFrame, options: tuple[str, ...]) -> plt.Figure:
    import matplotlib.pyplot as plt
    import numpy as np

    rows = summary[summary["metric"] == "test_acc"]
    fig, ax = plt.subplots(figsize=(1.1 * len(options) + 2, 3.8))
    width = 0.8 / rows["dale"].nunique()
    for i, (dale, group) in enumerate(rows.groupby("dale")):
        group = group.set_index("option").reindex(list(options))
        x = np.arange(len(options)) + (i - 0.5) * width
        ax.bar(x, 100 * group["mean"], width, yerr=100 * group["sem"].fillna(0), capsize=3, label=dale)
    ax.set_xticks(np.arange(len(options)), options, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%), sigma = 0")
    low = 100 * (rows["mean"].min() - 0.1)
    ax.set_ylim(max(0, low), 100)
    ax.legend(fontsize=8)
    ax.set_title("IPD beyond the seed: mean ± SEM over seeds")
    fig.tight_layout()
    return fig


def learned_figure(table: pd.DataFrame) -> plt.Figure | None:
    """Histograms of the trained hidden and readout taus and the input delays, pooled over seeds."""
    import matplotlib.pyplot as plt
    import numpy as np

    columns = [c for c in ("hidden_tau_ms", "readout_tau_ms", "input_delay_steps") if c in table]
    if not columns:
        return None
    fig, axes = plt.subplots(1, len(columns), figsize=(4 * len(columns), 3.4), squeeze=False)
    for ax, column in zip(axes[0], columns):
        for name, group in table[table[column].notna()].groupby("option"):
            values = np.concatenate([json.loads(v) for v in group[column]])
            ax.hist(values, bins=30, histtype="step", density=True, label=name)
        ax.set_xlabel(column.replace("_", " "))
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
    fig.suptitle("trained time constants and delays (all runs with the option, pooled)")
    fig.tight_layout()
    return fig


#: The retest's test stimuli: a stream of their own, not the samples (at another noise) that the option was
#: compared on.
RETEST_STREAM = "data/test/retest"


def best_option(table: pd.DataFrame) -> str:
    """The option retrained and tested at sigma = ROBUSTNESS_SIGMA_RAD: the lowest mean validation loss over seeds
    (``best_val_loss``, the early-stopping criterion; :func:`spikeloc.study.selection.best_on_validation`) among
    the unconstrained runs of options validated at sigma = 0 (phase-noise training validates at its training
    noise, a loss on other stimuli). The test split chooses nothing."""
    from spikeloc.study.selection import best_on_validation

    eligible = table[(table["dale"] == "none") & (table["phase_noise_rad"] == 0)]
    return best_on_validation(eligible, "option", "best_val_loss", lower_is_better=True)


def retest_runs(runs: list[IPDRun], labels: dict, best: str) -> list[IPDRun]:
    """The seed's configuration and ``best`` again (same seeds: the same networks, data and validation),
    tested at sigma = ROBUSTNESS_SIGMA_RAD on stimuli from :data:`RETEST_STREAM`."""
    return [dataclasses.replace(run, test_phase_noise_rad=ROBUSTNESS_SIGMA_RAD, test_stream=RETEST_STREAM)
            for run in runs if labels[option_key(dataclasses.asdict(run))] in {"seed", best}]


def robustness(study_name: str, table: pd.DataFrame, runs: list[IPDRun], labels: dict, seeds, args,
               out: Path) -> None:
    """Train the seed's configuration and the option best on validation again and test them at phase noise
    sigma = ROBUSTNESS_SIGMA_RAD on test stimuli of their own."""
    from spikeloc.experiments.ipd import ipd_study
    from spikeloc.study.runner import run_study
    from spikeloc.study.stats import summarise

    best = best_option(table)
    study = ipd_study(f"{study_name}-robustness", retest_runs(runs, labels, best), seeds)
    noisy = run_study(study, out / "robustness", **executor_options(args))
    noisy = label(noisy[noisy["status"] == "ok"], labels)
    by = ["phase_offset", "dale", "option", "test_phase_noise_rad"]
    summary = summarise(noisy, by=by, metrics=["test_acc", "test_error_deg"])
    atomic_write(out / "robustness" / "summary.csv", summary.to_csv(index=False))
    print(f"\nbest option on validation (lowest mean validation loss, unconstrained, options validated at sigma = 0):"
          f" {best}; tested at sigma = {ROBUSTNESS_SIGMA_RAD} rad on test stimuli of their own ({RETEST_STREAM}):")
    print(readable_summary(summary, by).to_string())


def parser() -> Parser:
    """The study's command line; building it loads neither torch nor pandas nor matplotlib."""
    parser = add_protocol_option(study_parser(__doc__.split("\n")[0], list(PRESETS), "results/ipd-beyond"))
    parser.add_argument("--options", nargs="+", choices=list(OPTIONS), default=None,
                        help="options to run (default: the preset's); 'seed' is always included as the baseline")
    parser.add_argument("--no-retest", action="store_true",
                        help="skip retraining the seed's configuration and the best option to test at sigma = 0.3")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run the study with the command line ``argv`` (default: the program's arguments)."""
    run(parser().parse_args(argv))


def run(args: argparse.Namespace) -> None:
    """Run (or resume) the study, then write and print its comparisons and figures."""
    from spikeloc.experiments.ipd import ipd_study
    from spikeloc.study.plots import save_figure
    from spikeloc.study.stats import format_comparisons, summarise

    preset = PRESETS[args.preset]
    if args.options:
        preset = {**preset, "options": tuple(dict.fromkeys(["seed", *args.options]))}
    runs, labels = grid(preset, protocols(args, preset["protocol"]), run_settings(args, preset["sizes"]))
    name = f"ipd-beyond-{args.preset}"
    study = ipd_study(name, runs, preset["seeds"])
    by = ["phase_offset", "dale_layers", "ie_ratio", *OPTION_FIELDS]
    table, _, out = run_and_summarise(study, args, by, METRICS)
    table = label(table[table["status"] == "ok"], labels)
    summary = summarise(table, by=["phase_offset", "dale", "option"], metrics=METRICS)
    print(readable_summary(summary, ["phase_offset", "dale", "option"]).to_string())

    comparisons = compare_options(table)
    atomic_write(out / "options_vs_seed.csv", comparisons.to_csv(index=False))
    print("\nPaired on seed; difference = option - baseline (test_acc at sigma = 0):")
    print(format_comparisons(comparisons, ["phase_offset", "dale", "baseline", "option"]))

    save_figure(accuracy_figure(summary, preset["options"]), out / "ipd_beyond_accuracy.png")
    learned = learned_figure(table)
    if learned is not None:
        save_figure(learned, out / "ipd_beyond_learned.png")
    if not (args.no_retest or args.finished_only):
        robustness(name, table, runs, labels, preset["seeds"], args, out)
    print(f"\nfigures and tables written to {out}/")


if __name__ == "__main__":
    run_script(main, "ipd_beyond")
