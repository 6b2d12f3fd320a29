"""``spikeloc perturb``: perturbation curves, summaries, robustness scores and figures of saved models.

Every model (a spikeloc model file, or a NIR graph spikeloc reads) is loaded and its test data found, and the
whole suite is checked against every model, before any curve is computed; results are written atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from spikeloc.options import UsageError, input_directory, input_file, integer, output_directory

DESCRIPTION = ("Score saved models under a suite of perturbations (weights, neurons, spikes, task data), several "
               "seeded draws per level, and write the tidy table (curves.csv), its summary with 95 %% intervals "
               "(summary.csv: over draws for one network, over networks for several files or members), robustness "
               "scores per network and perturbation (scores.csv, score_summary.csv) and one dose-response figure per "
               "perturbation (curve_NAME.png). Models: files saved by 'train-ipd --save' / 'train-digits --save', "
               "or NIR graphs (a model without training records needs --dataset).")


def suite_item(text: str) -> str:
    """The type of one --suite item: a named suite, or NAME:LEVEL,... with every level allowed."""
    from spikeloc.perturbations.suite import SUITES, parse_suite

    if text not in SUITES:
        try:
            parse_suite([text])
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return text


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``perturb`` command to ``spikeloc``'s sub-commands."""
    p = subparsers.add_parser("perturb", help="perturbation curves and robustness scores of saved models",
                              description=DESCRIPTION)
    p.add_argument("--model", required=True, nargs="+", type=input_file, metavar="FILE",
                   help="spikeloc model files or NIR graphs")
    p.add_argument("--suite", nargs="+", type=suite_item, default=["default"], metavar="SUITE",
                   help="'quick', 'default' or NAME:LEVEL,LEVEL,... items (spikeloc.perturbations.suite)")
    p.add_argument("--draws", type=integer(minimum=1), default=10, help="draws per level")
    p.add_argument("--seed", type=integer(minimum=0), default=0, help="seed of the perturbations' draws")
    p.add_argument("--dataset", default=None, metavar="NAME",
                   help="the task of models without training records (NIR graphs): ipd or an image dataset "
                        "(mnist-5k, mnist, fashion-mnist, cifar10)")
    p.add_argument("--data-dir", type=input_directory, default=None, metavar="DIR",
                   help="directory holding image datasets' standard files (default: $SPIKELOC_DATA)")
    p.add_argument("--out", required=True, type=output_directory, metavar="DIR", help="where to write the results")
    p.set_defaults(handler=run, parser=p, fields={"dataset": "--dataset", "draws": "--draws"})
    return p


def load_network(path: Path):
    """The :class:`~spikeloc.networks.saved.SavedModel` of a spikeloc model file or a NIR graph (metadata
    ``imported_from_nir``); ``UsageError`` naming --model otherwise."""
    from spikeloc.networks.saved import ModelFileError, SavedModel, load

    try:
        return load(path)
    except ModelFileError as error:
        try:
            from spikeloc.networks import nir as nir_exchange

            return SavedModel(nir_exchange.read(path).eval(), {"imported_from_nir": str(path)}, "", path)
        except (ImportError, ValueError):
            raise UsageError("--model", f"{error}, nor a NIR graph spikeloc reads") from None


def run(args: argparse.Namespace) -> None:
    from spikeloc.runtime import configure

    configure(1)
    import pandas as pd

    from spikeloc.files import atomic_write
    from spikeloc.perturbations.curves import (
        applicable,
        check_applicable,
        curve_figure,
        perturbation_curves,
        robustness_scores,
        score_summary,
        summary,
    )
    from spikeloc.networks.saved import ModelFileError
    from spikeloc.perturbations.data import model_data
    from spikeloc.perturbations.suite import SUITES, parse_suite
    from spikeloc.study.plots import save_figure

    named = len(args.suite) == 1 and args.suite[0] in SUITES
    try:
        suite = parse_suite(args.suite)
    except ValueError as error:
        raise UsageError("--suite", str(error)) from None
    models = []
    for path in args.model:
        saved = load_network(path)
        network = saved.network
        try:
            data = model_data(saved, args.dataset, args.data_dir)
        except ModelFileError as error:  # the file's own records: blamed on --model
            raise UsageError("--model", str(error)) from None
        model_suite = applicable(suite, data) if named else suite
        try:
            check_applicable(network, model_suite, data)
        except ValueError as error:
            raise UsageError("--suite", f"{error} ({path})") from None
        models.append((str(path), network, data, model_suite))
    table = pd.concat([perturbation_curves(network, data, model_suite, args.draws, args.seed, model=name)
                       for name, network, data, model_suite in models], ignore_index=True)
    scores = robustness_scores(table)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("curves", table), ("summary", summary(table)), ("scores", scores),
                        ("score_summary", score_summary(scores))):
        atomic_write(args.out / f"{name}.csv", frame.to_csv(index=False))
    for perturbation in table["perturbation"].unique():
        save_figure(curve_figure(table, perturbation), args.out / f"curve_{perturbation}.png")
    shown = score_summary(scores).pivot(index="perturbation", columns="metric", values="mean")
    print(f"{table['model'].nunique()} model(s), {len(scores.groupby(['model', 'member']))} network(s), "
          f"{args.draws} draws per level; robustness (mean over networks):")
    print(shown[["clean_acc", "auc", "half_level"]].to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"results in {args.out}")


def add_robust_training_options(group) -> None:
    """``--mismatch-training`` and ``--qat-bits`` for a ``train-*`` command (:mod:`spikeloc.perturbations.training`)."""
    from spikeloc.options import number

    group.add_argument("--mismatch-training", type=number(minimum=0), default=0.0, metavar="SIGMA",
                       help="mismatch-aware training: a fresh draw of weights, thresholds and time constants "
                            "x (1 + SIGMA eps) per batch (0: off; 0.1 is a 30 percent deviation at 3 sigma)")
    group.add_argument("--qat-bits", type=integer(minimum=0), default=0, metavar="BITS",
                       help="quantisation-aware training to BITS-bit weights, straight-through rounding (0: off)")


def robust_training_settings(args: argparse.Namespace) -> dict:
    """The run-config fields of :func:`add_robust_training_options`' options."""
    return {"mismatch_training": args.mismatch_training, "qat_bits": args.qat_bits}
