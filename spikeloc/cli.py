"""The ``spikeloc`` command line: train and score IPD networks, train image classifiers."""

from __future__ import annotations

import argparse
import json
import math
import sys

from spikeloc.experiments import digits, ipd
from spikeloc.learning.surrogate import LR_SCHEDULES
from spikeloc.networks.saved import load, save
from spikeloc.runtime import configure
from spikeloc.substrate.delays import DELAY_MODES
from spikeloc.substrate.neurons import TAU_DISTRIBUTIONS


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")


def _train_ipd_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-ipd", help="train and test one IPD network; print its metrics",
                              description="Train on 64 batches of 64 samples, validate on 4096, test on 2048 "
                                          "fresh samples at phase noise 0.")
    network = p.add_argument_group("network")
    network.add_argument("--hidden", type=int, default=30, help="hidden LIF units")
    network.add_argument("--tau-ms", type=float, default=5.0, help="membrane time constant (ms; the mean if drawn)")
    network.add_argument("--tau-distribution", choices=list(TAU_DISTRIBUTIONS), default="fixed",
                         help="per-neuron time constants drawn around --tau-ms (hidden and readout)")
    network.add_argument("--tau-spread", type=float, default=0.0,
                         help="their spread: gamma's coefficient of variation, uniform's half-width / mean")
    network.add_argument("--learn-tau", action="store_true", help="learn per-neuron time constants")
    network.add_argument("--delays", choices=list(DELAY_MODES), default="none",
                         help="per-input-fibre delays, fixed at random or learned")
    network.add_argument("--max-delay-steps", type=int, default=10, help="longest input delay (1 ms steps)")
    network.add_argument("--dropout", type=float, default=0.0, help="dropout probability on hidden spikes")
    network.add_argument("--dales-law", action="store_true", help="Dale's law on both synapse layers")
    network.add_argument("--dale-layers", choices=["input", "readout", "both"], default=None,
                         help="Dale's law on these synapses only (implies --dales-law)")
    network.add_argument("--ie-ratio", type=float, default=0.5, help="inhibitory fraction of presynaptic units")
    network.add_argument("--backend", choices=["fused", "snntorch"], default="fused")
    stimuli = p.add_argument_group("stimuli")
    stimuli.add_argument("--phase-noise", type=float, default=0.0, help="training phase-delay noise sigma (rad)")
    stimuli.add_argument("--phase-offset", choices=["per_dataset", "per_sample"], default="per_dataset")
    stimuli.add_argument("--phase-noise-draw", choices=["per_dataset", "per_sample"], default="per_dataset")
    stimuli.add_argument("--training-data", choices=list(ipd.TRAINING_DATA), default="fixed",
                         help="one training set for every epoch, or a fresh one every epoch")
    training = p.add_argument_group("training")
    training.add_argument("--epochs", type=int, default=10)
    training.add_argument("--lr", type=float, default=0.005, help="Adam learning rate")
    training.add_argument("--lr-schedule", choices=list(LR_SCHEDULES), default="constant",
                          help="cosine: anneal the learning rate to 0 over all epochs")
    training.add_argument("--patience", type=int, default=10, help="stop after this many epochs without improvement")
    p.add_argument("--save", metavar="PATH", default=None, help="save the trained network (see eval-ipd)")
    _common_options(p)
    p.set_defaults(handler=_train_ipd)


def _train_ipd(args: argparse.Namespace) -> None:
    dale_layers = args.dale_layers or ("both" if args.dales_law else "none")
    run = ipd.IPDRun(epochs=args.epochs, n_hidden=args.hidden, tau_s=args.tau_ms * 1e-3, dropout=args.dropout,
                     phase_noise_rad=args.phase_noise, dale_layers=dale_layers, ie_ratio=args.ie_ratio,
                     phase_offset=args.phase_offset, phase_noise_draw=args.phase_noise_draw, backend=args.backend,
                     tau_distribution=args.tau_distribution, tau_spread=args.tau_spread, learn_tau=args.learn_tau,
                     input_delays=args.delays, max_delay_steps=args.max_delay_steps,
                     training_data=args.training_data, lr=args.lr, lr_schedule=args.lr_schedule,
                     patience=args.patience)
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
    p.add_argument("--model", required=True, help="a file written by 'spikeloc train-ipd --save'")
    p.add_argument("--phase-noise", type=float, default=0.0, help="test phase-delay noise sigma (rad)")
    p.add_argument("--phase-offset", choices=["per_dataset", "per_sample"], default=None,
                   help="default: the model's training protocol")
    p.add_argument("--n-samples", type=int, default=None, help="test samples (default: the training run's)")
    p.add_argument("--seed", type=int, default=None, help="test-data seed (default: the member's training seed)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    p.set_defaults(handler=_eval_ipd)


def _eval_ipd(args: argparse.Namespace) -> None:
    configure(1)
    settings = {"test_phase_noise_rad": args.phase_noise}
    if args.phase_offset is not None:
        settings["phase_offset"] = args.phase_offset
    if args.n_samples is not None:
        settings["n_test_samples"] = args.n_samples
    rows = ipd.evaluate_saved(load(args.model), seed=args.seed, **settings)
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
    p.add_argument("--data-dir", default=None, help="directory holding the dataset's standard files")
    p.add_argument("--hidden", type=int, nargs="+", default=[200], help="hidden layer sizes")
    p.add_argument("--readout", choices=["membrane", "spikes"], default="spikes")
    p.add_argument("--loss", choices=["cross_entropy", "mse_count"], default=None,
                   help="default: mse_count (target spike counts) with spikes, cross_entropy with membrane")
    p.add_argument("--encoding", choices=["rate", "latency", "current"], default="rate")
    p.add_argument("--steps", type=int, default=25, help="time steps T per image")
    p.add_argument("--gain", type=float, default=1.0, help="encoder gain (rate: spike probability per unit pixel)")
    p.add_argument("--tau-ms", type=float, default=10.0, help="membrane time constant (ms)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--backend", choices=["fused", "snntorch"], default="fused")
    p.add_argument("--save", metavar="PATH", default=None, help="save the trained network")
    _common_options(p)
    p.set_defaults(handler=_train_digits)


def _train_digits(args: argparse.Namespace) -> None:
    loss = args.loss or ("mse_count" if args.readout == "spikes" else "cross_entropy")
    run = digits.DigitsRun(dataset=args.dataset, hidden=tuple(args.hidden), readout=args.readout, loss=loss,
                           encoding=args.encoding, steps=args.steps, gain=args.gain, tau_s=args.tau_ms * 1e-3,
                           epochs=args.epochs, lr=args.lr, backend=args.backend)
    configure(args.threads)
    network, (row,) = digits.train_digits_ensemble([(run, args.seed)], root=args.data_dir, progress=not args.json)
    if args.save:
        save(network, args.save, digits.model_metadata([(run, args.seed)]))
    row.pop("test_confusion", None)
    _print(row, args.json)


def _print(row: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(row))
        return
    for key, value in row.items():
        shown = f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else value
        print(f"{key:>26}: {shown}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spikeloc", description=__doc__)
    subparsers = parser.add_subparsers(required=True, metavar="command")
    for add in (_train_ipd_parser, _eval_ipd_parser, _train_digits_parser):
        add(subparsers)
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"spikeloc: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
