"""Dale's-law study: inhibitory fraction (IE ratio) sweep and which synapses need inhibition.

Each presynaptic unit of a constrained layer is excitatory or inhibitory (fixed sign, chosen at random per
run); the IE ratio is the inhibitory fraction. Conditions: Dale's law on input -> hidden only ("input"),
hidden -> readout only ("readout"), or both, at each IE ratio; against unconstrained weights ("none").
Runs of one seed share data and initial weight magnitudes across conditions, so each condition is compared
with "none" paired on seed, the independent unit (spikeloc.study.stats.paired_comparison).

Writes to --out: runs.csv, summary.csv, dale_vs_none.csv (paired comparison at each condition),
dales_law_<protocol>.png (accuracy and error against IE ratio).

    python studies/dales_law.py --preset quick|seed|full [--protocol seed|robust|both] [--out DIR]
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

PRESETS = {
    "quick": dict(ie_ratios=(0.0, 0.5, 1.0), seeds=(0, 1), protocol="robust",
                  sizes=dict(epochs=6, n_train_batches=32, n_val_samples=1024, n_test_samples=1024)),
    "seed": dict(ie_ratios=(0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0), seeds=(0, 1, 2), protocol="seed", sizes={}),
    "full": dict(ie_ratios=(0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0), seeds=(0, 1, 2, 3, 4), protocol="both",
                 sizes={}),
}
LAYERS = ("input", "readout", "both")
METRICS = ["train_acc", "test_acc", "test_error_deg", "test_midpoint_error_deg"]
PANELS = {"test_acc": "test accuracy (%)", "test_error_deg": "test error (deg)"}


def grid(preset: dict, chosen_protocols: list[str], settings: dict) -> list[IPDRun]:
    from spikeloc.experiments.ipd import IPDRun

    runs = []
    for protocol in chosen_protocols:
        common = dict(**PROTOCOLS[protocol], **settings)
        runs.append(IPDRun(dale_layers="none", **common))
        runs += [IPDRun(dale_layers=layers, ie_ratio=ie, **common) for layers in LAYERS for ie in preset["ie_ratios"]]
    return runs


def parser() -> Parser:
    """The study's command line; building it loads neither torch nor pandas nor matplotlib."""
    return add_protocol_option(study_parser(__doc__.split("\n")[0], list(PRESETS), "results/dales-law"))


def dale_vs_none(table: pd.DataFrame) -> pd.DataFrame:
    """Each Dale condition (layers, IE ratio) against the unconstrained network per protocol, paired on seed;
    the study's one comparison table, judged as its family."""
    import pandas as pd

    from spikeloc.study.stats import paired_comparison, with_verdicts

    by = ["phase_offset", "dale_layers", "ie_ratio"]
    # the unconstrained runs carry the default ie_ratio, which means nothing for them: pair on seed only
    comparisons = []
    for (offset, layers, ie), _ in table[table["dale_layers"] != "none"].groupby(by):
        pair = table[(table["phase_offset"] == offset)
                     & ((table["dale_layers"] == "none") | ((table["dale_layers"] == layers) & (table["ie_ratio"] == ie)))]
        comparisons.append(paired_comparison(pair, "dale_layers", "none", layers, ["test_acc"], pair_on=["seed"])
                           .assign(phase_offset=offset, dale_layers=layers, ie_ratio=ie))
    return with_verdicts(pd.concat(comparisons))


def main(argv: list[str] | None = None) -> None:
    """Run the study with the command line ``argv`` (default: the program's arguments)."""
    run(parser().parse_args(argv))


def run(args: argparse.Namespace) -> None:
    """Run (or resume) the study, then write and print its comparisons and figures."""
    from spikeloc.experiments.ipd import ipd_study, per_protocol
    from spikeloc.study.plots import metric_panels, save_figure
    from spikeloc.study.stats import format_comparisons

    preset = PRESETS[args.preset]
    runs = grid(preset, protocols(args, preset["protocol"]), run_settings(args, preset["sizes"]))
    study = ipd_study(f"dales-law-{args.preset}", runs, preset["seeds"])
    by = ["phase_offset", "dale_layers", "ie_ratio"]
    table, summary, out = run_and_summarise(study, args, by, METRICS)

    comparisons = dale_vs_none(table)
    atomic_write(out / "dale_vs_none.csv", comparisons.to_csv(index=False))
    print("\nDale's law vs unconstrained, paired on seed; difference = constrained - unconstrained:")
    print(format_comparisons(comparisons, ["phase_offset", "dale_layers", "ie_ratio"]))

    for protocol, protocol_summary in per_protocol(summary):
        panels = metric_panels(protocol_summary, x="ie_ratio", line="dale_layers", metrics=list(PANELS),
                               labels=list(PANELS.values()), title=f"Dale's law, {protocol} protocol: mean ± SEM")
        save_figure(panels, out / f"dales_law_{protocol}.png")
    print(f"\nfigures and tables written to {out}/")


if __name__ == "__main__":
    run_script(main, "dales_law")
