"""Robustness study (seed 001): dropout on hidden spikes x training phase noise, tested at sigma = 0.

Grid: dropout p x training phase-delay noise sigma (rad) x run seeds, for the seed's protocol (one phase
offset and one noise draw per dataset) and/or the robust protocol (both redrawn per sample). Runs with the
same seed and sigma see the same data and the same initial weights whatever their dropout, so dropout is
compared with no dropout on paired runs. All runs of one seed share its weights, data and draws, so the
independent unit is the seed: per protocol, the differences are averaged over sigma within each seed and
tested across seeds (spikeloc.study.stats.paired_comparison: t interval, verdict from the sign-flip test
Holm-adjusted over the study's comparisons, "underpowered" where the seeds cannot decide).

Writes to --out: runs.csv (one row per run), summary.csv (mean, SEM, 95% CI per condition),
dropout_vs_none.csv (the paired comparison), robustness_<protocol>.png (the seed's 4-panel figure) and
confusion_<protocol>.png (mean confusion matrices).

    python studies/robustness.py --preset quick|seed|full [--protocol seed|robust|both] [--out DIR]
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from spikeloc.experiments.ipd_protocols import PROTOCOLS, add_protocol_option, protocols
from spikeloc.files import atomic_write
from spikeloc.options import Parser
from spikeloc.study.cli import run_and_summarise, run_script, run_settings, study_parser

if TYPE_CHECKING:  # annotations only: building the study's parser loads none of these
    import pandas as pd

    from spikeloc.experiments.ipd import IPDRun

SEED_SIGMAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
PRESETS = {
    # a few minutes on 2 cores: the grid's corners, smaller datasets, fewer epochs
    "quick": dict(dropouts=(0.0, 0.5, 0.9), sigmas=(0.0, 0.25, 0.5), seeds=(0, 1), protocol="both",
                  sizes=dict(epochs=6, n_train_batches=32, n_val_samples=1024, n_test_samples=1024)),
    # the seed notebook's experiment: 3 runs x 3 dropouts x 6 sigmas, 10 epochs, full-size data
    "seed": dict(dropouts=(0.0, 0.5, 0.9), sigmas=SEED_SIGMAS, seeds=(0, 1, 2), protocol="seed", sizes={}),
    # both protocols, 5 runs each
    "full": dict(dropouts=(0.0, 0.5, 0.9), sigmas=SEED_SIGMAS, seeds=(0, 1, 2, 3, 4), protocol="both",
                 sizes={}),
}
#: Compared metrics that are better when smaller (errors, the train - test gap).
LOWER_IS_BETTER = ("test_error_deg", "generalisation_gap")
METRICS = ["train_acc", "test_acc", "train_error_deg", "test_error_deg", "test_midpoint_error_deg"]
PANELS = {"train_acc": "train accuracy (%)", "train_error_deg": "train error (deg)",
          "test_acc": "test accuracy (%)", "test_error_deg": "test error (deg)"}


def grid(preset: dict, chosen_protocols: list[str], settings: dict) -> list[IPDRun]:
    from spikeloc.experiments.ipd import IPDRun

    # sigma before dropout: neighbouring runs of one seed share their data, which an ensemble generates once
    return [IPDRun(dropout=p, phase_noise_rad=sigma, **PROTOCOLS[protocol], **settings)
            for protocol in chosen_protocols for sigma in preset["sigmas"] for p in preset["dropouts"]]


def parser() -> Parser:
    """The study's command line; building it loads neither torch nor pandas nor matplotlib."""
    return add_protocol_option(study_parser(__doc__.split("\n")[0], list(PRESETS), "results/robustness"))


def dropout_vs_none(table: pd.DataFrame, dropouts: tuple[float, ...]) -> pd.DataFrame:
    """Each dropout against none per protocol, runs paired on (sigma, seed) and averaged over sigma within each
    seed; the study's one comparison table, judged as its family."""
    import pandas as pd

    from spikeloc.study.stats import paired_comparison, with_verdicts

    return with_verdicts(pd.concat([
        paired_comparison(runs, "dropout", 0.0, p, ["test_acc", "test_error_deg", "generalisation_gap"],
                          pair_on=["phase_noise_rad", "seed"]).assign(phase_offset=offset, dropout=p)
        for offset, runs in table.groupby("phase_offset", sort=False)
        for p in dropouts if p != 0.0]), LOWER_IS_BETTER)


def main(argv: list[str] | None = None) -> None:
    """Run the study with the command line ``argv`` (default: the program's arguments)."""
    run(parser().parse_args(argv))


def run(args: argparse.Namespace) -> None:
    """Run (or resume) the study, then write and print its comparisons and figures."""
    from spikeloc.experiments.ipd import ipd_study, per_protocol
    from spikeloc.study.plots import confusion_grid, metric_panels, save_figure
    from spikeloc.study.stats import format_comparisons

    preset = PRESETS[args.preset]
    runs = grid(preset, protocols(args, preset["protocol"]), run_settings(args, preset["sizes"]))
    study = ipd_study(f"robustness-{args.preset}", runs, preset["seeds"])
    by = ["phase_offset", "dropout", "phase_noise_rad"]
    table, summary, out = run_and_summarise(study, args, by, METRICS)

    table = table.assign(generalisation_gap=table["train_acc"] - table["test_acc"])
    comparisons = dropout_vs_none(table, preset["dropouts"])
    atomic_write(out / "dropout_vs_none.csv", comparisons.to_csv(index=False))
    print("\nDropout vs none per protocol: runs paired on (sigma, seed), averaged over sigma within each seed, "
          "tested across seeds; difference = with dropout - without:")
    print(format_comparisons(comparisons, ["phase_offset", "dropout"]))

    for (protocol, protocol_summary), (_, protocol_table) in zip(per_protocol(summary), per_protocol(table)):
        panels = metric_panels(protocol_summary, x="phase_noise_rad", line="dropout", metrics=list(PANELS),
                               labels=list(PANELS.values()),
                               title=f"{protocol} protocol: mean ± SEM over runs, test at sigma = 0")
        save_figure(panels, out / f"robustness_{protocol}.png")
        confusions = confusion_grid(protocol_table, rows="dropout", columns="phase_noise_rad",
                                    title=f"{protocol} protocol: test confusion (columns normalised)")
        save_figure(confusions, out / f"confusion_{protocol}.png", dpi=110)
    print(f"\nfigures and tables written to {out}/")


if __name__ == "__main__":
    run_script(main, "robustness")
