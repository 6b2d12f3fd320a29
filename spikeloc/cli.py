"""The ``spikeloc`` command line: train and score IPD networks, train image classifiers.

A bad command line is one line naming the option and exit status 2 (:mod:`spikeloc.options`): values are
parsed by their types, then each command builds its configs before any work, and a config that refuses a
value names the option that set it (``fields``: config field -> option, where the names differ). The
experiments (and torch) are imported only once the command line is parsed."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from spikeloc.devices import add_device_option
from spikeloc.options import Parser, UsageError, input_directory, input_file, integer, number, option_error, output_file
from spikeloc.perturbations import cli as perturb_cli
from spikeloc.runtime import configure


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=integer(minimum=0), default=0)
    p.add_argument("--threads", type=integer(), default=1, help="torch CPU threads")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    add_device_option(p)


def _train_ipd_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-ipd", help="train and test one IPD network; print its metrics",
                              description="Train on 64 batches of 64 samples, validate on 4096, test on 2048 "
                                          "fresh samples at phase noise 0.")
    network = p.add_argument_group("network")
    network.add_argument("--hidden", type=integer(), default=30, help="hidden LIF units")
    network.add_argument("--tau-ms", type=number(), default=5.0,
                         help="membrane time constant (ms; the mean if drawn)")
    network.add_argument("--tau-distribution", default="fixed",
                         help="per-neuron time constants around --tau-ms: fixed, gamma or uniform (hidden and readout)")
    network.add_argument("--tau-spread", type=number(), default=0.0,
                         help="their spread: gamma's coefficient of variation, uniform's half-width / mean")
    network.add_argument("--learn-tau", action="store_true", help="learn per-neuron time constants")
    network.add_argument("--delays", default="none", help="per-input-fibre delays: none, fixed (at random) or learned")
    network.add_argument("--max-delay-steps", type=integer(), default=10, help="longest input delay (1 ms steps)")
    network.add_argument("--dropout", type=number(), default=0.0, help="dropout probability on hidden spikes")
    network.add_argument("--dales-law", action="store_true", help="Dale's law on both synapse layers")
    network.add_argument("--dale-layers", choices=["input", "readout", "both"], default=None,
                         help="Dale's law on these synapses only (implies --dales-law)")
    network.add_argument("--ie-ratio", type=number(), default=0.5, help="inhibitory fraction of presynaptic units")
    network.add_argument("--backend", choices=["fused", "snntorch"], default="fused")
    stimuli = p.add_argument_group("stimuli")
    stimuli.add_argument("--phase-noise", type=number(), default=0.0, help="training phase-delay noise sigma (rad)")
    stimuli.add_argument("--phase-offset", choices=["per_dataset", "per_sample"], default="per_dataset")
    stimuli.add_argument("--phase-noise-draw", choices=["per_dataset", "per_sample"], default="per_dataset")
    stimuli.add_argument("--training-data", default="fixed",
                         help="fixed (one training set for every epoch) or per_epoch (a fresh one every epoch)")
    training = p.add_argument_group("training")
    training.add_argument("--epochs", type=integer(), default=10)
    training.add_argument("--lr", type=number(), default=0.005, help="Adam learning rate")
    training.add_argument("--lr-schedule", default="constant",
                          help="constant, cosine or linear: anneal the learning rate to 0 over all epochs")
    training.add_argument("--patience", type=integer(), default=10,
                          help="stop after this many epochs without improvement")
    perturb_cli.add_robust_training_options(training)
    p.add_argument("--save", metavar="PATH", type=output_file, default=None,
                   help="save the trained network (see eval-ipd)")
    _common_options(p)
    p.set_defaults(handler=_train_ipd, parser=p, fields={"n_hidden": "--hidden", "tau_s": "--tau-ms",
                                                         "phase_noise_rad": "--phase-noise",
                                                         "input_delays": "--delays"})


def _train_ipd(args: argparse.Namespace) -> None:
    from spikeloc.experiments import ipd
    from spikeloc.networks.saved import save

    dale_layers = args.dale_layers or ("both" if args.dales_law else "none")
    run = ipd.IPDRun(epochs=args.epochs, n_hidden=args.hidden, tau_s=args.tau_ms * 1e-3, dropout=args.dropout,
                     phase_noise_rad=args.phase_noise, dale_layers=dale_layers, ie_ratio=args.ie_ratio,
                     phase_offset=args.phase_offset, phase_noise_draw=args.phase_noise_draw, backend=args.backend,
                     tau_distribution=args.tau_distribution, tau_spread=args.tau_spread, learn_tau=args.learn_tau,
                     input_delays=args.delays, max_delay_steps=args.max_delay_steps,
                     training_data=args.training_data, lr=args.lr, lr_schedule=args.lr_schedule,
                     patience=args.patience, device=args.device, **perturb_cli.robust_training_settings(args))
    configure(args.threads)
    network, (row,) = ipd.train_ipd_ensemble([(run, args.seed)], progress=not args.json)
    if args.save:
        save(network, args.save, ipd.model_metadata([(run, args.seed)]))
    row.pop("test_confusion", None)
    _print(row, args.json)


def _eval_ipd_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval-ipd", help="score a saved IPD network on fresh stimuli",
                              description="Score every member of a model saved by 'train-ipd --save' on a fresh "
                                          "test set. With the defaults (the training seed and settings) this is "
                                          "the test set it was scored on after training.")
    p.add_argument("--model", required=True, type=input_file, help="a file written by 'spikeloc train-ipd --save'")
    p.add_argument("--phase-noise", type=number(), default=0.0, help="test phase-delay noise sigma (rad)")
    p.add_argument("--phase-offset", choices=["per_dataset", "per_sample"], default=None,
                   help="default: the model's training protocol")
    p.add_argument("--n-samples", type=integer(), default=None, help="test samples (default: the training run's)")
    p.add_argument("--seed", type=integer(minimum=0), default=None,
                   help="test-data seed (default: the member's training seed)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    add_device_option(p)
    p.set_defaults(handler=_eval_ipd, parser=p, fields={"test_phase_noise_rad": "--phase-noise",
                                                        "phase_noise_rad": "--phase-noise",
                                                        "n_test_samples": "--n-samples"})


def _eval_ipd(args: argparse.Namespace) -> None:
    from spikeloc.experiments import ipd

    configure(1)
    settings = {"test_phase_noise_rad": args.phase_noise}
    if args.phase_offset is not None:
        settings["phase_offset"] = args.phase_offset
    if args.n_samples is not None:
        settings["n_test_samples"] = args.n_samples
    saved = _load_model(args.model, args.device)
    rows = ipd.evaluate_saved(saved, seed=args.seed, **settings)
    if args.json:
        print(json.dumps(rows[0] if len(rows) == 1 else rows))
        return
    for row in rows:
        _print(row, as_json=False)


def _train_digits_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-digits", help="train and test one spiking image classifier",
                              description="Train on a dataset's training images less a validation split, test on "
                                          "its test images. Local files only: mnist-5k ships with spikeloc; the "
                                          "others are read from --data-dir or SPIKELOC_DATA.")
    p.add_argument("--dataset", default="mnist-5k", help="mnist-5k | mnist | fashion-mnist | cifar10")
    p.add_argument("--data-dir", type=input_directory, default=None,
                   help="directory holding the dataset's standard files")
    p.add_argument("--hidden", type=integer(), nargs="+", default=[200], help="hidden layer sizes")
    p.add_argument("--readout", choices=["membrane", "spikes"], default="spikes")
    p.add_argument("--loss", choices=["cross_entropy", "mse_count"], default=None,
                   help="default: mse_count (target spike counts) with spikes, cross_entropy with membrane")
    p.add_argument("--encoding", choices=["rate", "latency", "current"], default="rate")
    p.add_argument("--steps", type=integer(), default=25, help="time steps T per image")
    p.add_argument("--gain", type=number(), default=1.0, help="encoder gain (rate: spike probability per unit pixel)")
    p.add_argument("--tau-ms", type=number(), default=10.0, help="membrane time constant (ms)")
    p.add_argument("--epochs", type=integer(), default=30)
    p.add_argument("--lr", type=number(), default=2e-3)
    p.add_argument("--backend", choices=["fused", "snntorch"], default="fused")
    perturb_cli.add_robust_training_options(p)
    p.add_argument("--save", metavar="PATH", type=output_file, default=None, help="save the trained network")
    _common_options(p)
    p.set_defaults(handler=_train_digits, parser=p, fields={"tau_s": "--tau-ms", "n_steps": "--steps"})


def _train_digits(args: argparse.Namespace) -> None:
    from spikeloc.experiments import digits
    from spikeloc.networks.saved import save

    loss = args.loss or ("mse_count" if args.readout == "spikes" else "cross_entropy")
    run = digits.DigitsRun(dataset=args.dataset, hidden=tuple(args.hidden), readout=args.readout, loss=loss,
                           encoding=args.encoding, steps=args.steps, gain=args.gain, tau_s=args.tau_ms * 1e-3,
                           epochs=args.epochs, lr=args.lr, backend=args.backend, device=args.device,
                           **perturb_cli.robust_training_settings(args))
    configure(args.threads)
    network, (row,) = digits.train_digits_ensemble([(run, args.seed)], root=args.data_dir, progress=not args.json)
    if args.save:
        save(network, args.save, digits.model_metadata([(run, args.seed)]))
    row.pop("test_confusion", None)
    _print(row, args.json)


def _export_nir_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export-nir", help="write one member of a saved model as a NIR graph",
                              description="Write member K of a model saved by 'train-ipd --save' or 'train-digits "
                                          "--save' as a NIR graph (HDF5) that snnTorch, Norse, Sinabs, Rockpool and "
                                          "neuromorphic tools read; time constants in snnTorch's convention "
                                          "(spikeloc.networks.nir). Needs the nir extra.")
    p.add_argument("--model", required=True, type=input_file, help="a spikeloc model file")
    p.add_argument("--member", type=integer(minimum=0), default=0, help="which ensemble member (default 0)")
    p.add_argument("out", type=output_file, help="the NIR file to write")
    p.set_defaults(handler=_export_nir, parser=p, fields={})


def _export_nir(args: argparse.Namespace) -> None:
    from spikeloc.networks import nir as nir_exchange

    network = _load_model(args.model).network
    if args.member >= network.n_members:
        raise UsageError("--member", f"{args.model} has members 0 to {network.n_members - 1}, got {args.member}")
    with _nir_installed():
        nir_exchange.write(network, args.out, args.member)
    print(f"member {args.member} of {args.model} written to {args.out} "
          f"(layers {'-'.join(map(str, network.config.layer_sizes))}, readout {network.config.readout})")


def _import_nir_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("import-nir", help="read a NIR graph into a spikeloc model file",
                              description="Read a NIR graph (a chain Input -> Linear -> LIF ... -> LI | LIF -> "
                                          "Output, e.g. from 'export-nir' or snnTorch's export_to_nir) and save it "
                                          "as a spikeloc model. Needs the nir extra.")
    p.add_argument("graph", type=input_file, help="the NIR file to read")
    p.add_argument("--save", required=True, metavar="PATH", type=output_file,
                   help="the spikeloc model file to write")
    p.add_argument("--dt-ms", type=number(above=0), default=1.0,
                   help="spikeloc's time step (ms) for expressing a foreign graph's decays as time constants")
    p.set_defaults(handler=_import_nir, parser=p, fields={})


def _import_nir(args: argparse.Namespace) -> None:
    from spikeloc.networks import nir as nir_exchange
    from spikeloc.networks.saved import save

    with _nir_installed():
        network = nir_exchange.read(args.graph, dt_s=args.dt_ms * 1e-3)
    save(network, args.save, {"imported_from_nir": str(args.graph)})
    print(f"{args.graph} read as a spikeloc network (layers {'-'.join(map(str, network.config.layer_sizes))}, "
          f"readout {network.config.readout}) and saved to {args.save}")


def _load_model(path: Path, device: str = "cpu"):
    """A saved model on ``device``, or a usage error naming ``--model``."""
    from spikeloc.networks.saved import ModelFileError, load

    try:
        return load(path, device)
    except ModelFileError as error:
        raise UsageError("--model", str(error)) from None


class _nir_installed:
    """Turn a missing optional nir package into one clear error line."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, ImportError):
            raise ValueError(str(error)) from None
        return False


def _print(row: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(row))
        return
    for key, value in row.items():
        shown = f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else value
        print(f"{key:>26}: {shown}")


def main(argv: list[str] | None = None) -> int:
    """Run the command; 0 on success, 2 on a usage error, 1 on a failure during the work (one line on stderr
    for both)."""
    parser = Parser(prog="spikeloc", description=__doc__.split("\n")[0])
    subparsers = parser.add_subparsers(required=True, metavar="command")
    for add in (_train_ipd_parser, _eval_ipd_parser, _train_digits_parser, _export_nir_parser, _import_nir_parser,
                perturb_cli.add_parser):
        add(subparsers)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already reported
        return stop.code
    try:
        args.handler(args)
    except UsageError as error:
        print(f"{args.parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as error:
        print(f"{args.parser.prog}: error: {option_error(error, args.parser, args.fields)}", file=sys.stderr)
        return 2
    except OSError as error:  # during the work: a disk that fills up while saving, say
        print(f"{args.parser.prog}: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
