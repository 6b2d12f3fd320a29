"""The spikeloc command line: train and score spiking networks, exchange them as NIR, run the studies.

A bad command line is one line naming the option and exit status 2 (:mod:`spikeloc.options`): values are
parsed by their types, then each command builds its configs before any work, and a config that refuses a
value names the option that set it (``fields``: config field -> option, where the names differ). The
experiments (and torch) are imported only once the command line is parsed.

One convention for every command: ``--save PATH`` writes a model or file (``export-nir`` also takes the path
as its old positional argument), ``--out DIR`` is a study's output directory, ``--hidden`` takes one size per
hidden layer, ``--json`` prints JSON values (lists as lists). ``train-ipd`` and ``train-digits`` share their
network and training options (:func:`_network_options`, :func:`_training_options`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from spikeloc.devices import add_device_option
from spikeloc.options import (
    Parser,
    UsageError,
    input_directory,
    input_file,
    integer,
    number,
    option_error,
    output_file,
)
from spikeloc.perturbations import cli as perturb_cli
from spikeloc.runtime import configure

# The values the library accepts, spelled out here so that parsing loads no torch; tests/test_cli.py checks
# them against the library's own lists.
TAU_DISTRIBUTIONS = ("fixed", "gamma", "uniform")
DELAY_MODES = ("none", "fixed", "learned")
LR_SCHEDULES = ("constant", "cosine", "linear")
TRAINING_DATA = ("fixed", "per_epoch")
BACKENDS = ("fused", "snntorch")
READOUTS = ("membrane", "spikes")
ENCODINGS = ("rate", "latency", "current")
LOSSES = ("cross_entropy", "mse_count")
DATASETS = ("mnist-5k", "mnist", "fashion-mnist", "cifar10")
PHASE_DRAWS = ("per_dataset", "per_sample")
NEURONS = ("leaky", "synaptic", "recurrent", "adaptive")

#: Config fields set by options of another name, in every training command.
NETWORK_FIELDS = {"tau_s": "--tau-ms", "input_delays": "--delays", "dale_layers": "--dale-layers",
                  "tau_adapt_s": "--tau-adapt-ms"}


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=integer(minimum=0), default=0,
                   help="seed of every random stream (weights, data, encoding, dropout)")
    p.add_argument("--threads", type=integer(minimum=1), default=1, help="torch CPU threads")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    add_device_option(p)


def _network_options(p: argparse.ArgumentParser, hidden: list[int], tau_ms: float) -> None:
    """The network options of every training command (defaults: the task's ``hidden`` sizes and ``tau_ms``)."""
    network = p.add_argument_group("network")
    network.add_argument("--hidden", type=integer(minimum=1), nargs="+", default=hidden, metavar="SIZE",
                         help="hidden LIF units, one size per hidden layer")
    network.add_argument("--tau-ms", type=number(above=0), default=tau_ms,
                         help="membrane time constant (ms; the mean if drawn per neuron)")
    network.add_argument("--tau-distribution", choices=TAU_DISTRIBUTIONS, default="fixed",
                         help="per-neuron time constants around --tau-ms (every LIF layer and the readout)")
    network.add_argument("--tau-spread", type=number(minimum=0), default=0.0,
                         help="their spread: gamma's coefficient of variation, uniform's half-width / mean")
    network.add_argument("--learn-tau", action="store_true", help="learn per-neuron time constants")
    network.add_argument("--dropout", type=number(minimum=0), default=0.0,
                         help="dropout probability on hidden spikes")
    network.add_argument("--dales-law", action="store_true", help="Dale's law on both synapse layers")
    network.add_argument("--dale-layers", choices=["input", "readout", "both"], default=None,
                         help="Dale's law on these synapses only (implies --dales-law)")
    network.add_argument("--ie-ratio", type=number(minimum=0, maximum=1), default=0.5,
                         help="inhibitory fraction of presynaptic units under Dale's law")
    network.add_argument("--backend", choices=BACKENDS, default="fused",
                         help="LIF implementation: spikeloc's fused time loop or snnTorch's Leaky")
    network.add_argument("--neuron", choices=NEURONS, nargs="+", default=["leaky"], metavar="KIND",
                         help="hidden neurons, one kind for every hidden layer or one per --hidden size: "
                              "snnTorch's Leaky, its Synaptic (current-based LIF), its RLeaky (all-to-all recurrent "
                              "weights within the layer), or adaptive (a threshold raised by each spike: Bellec et al. "
                              "2018's ALIF; fused backend); one of " + ", ".join(NEURONS))
    network.add_argument("--tau-adapt-ms", type=number(above=0), default=200.0,
                         help="adaptive neurons: time constant of the threshold's decay (ms; the mean if drawn per "
                              "neuron)")
    network.add_argument("--adaptation", type=number(minimum=0), default=0.1,
                         help="adaptive neurons: threshold rise per spike (units of the threshold)")
    network.add_argument("--reset", choices=("zero", "subtract", "none"), default="zero",
                         help="what a spike does to the membrane (snnTorch's default is subtract)")


def _training_options(p: argparse.ArgumentParser, epochs: int, lr: float, patience: int) -> None:
    """The training options of every training command (defaults: the task's)."""
    training = p.add_argument_group("training")
    training.add_argument("--epochs", type=integer(minimum=1), default=epochs, help="most training epochs")
    training.add_argument("--lr", type=number(above=0), default=lr, help="Adam learning rate")
    training.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                          help="anneal the learning rate to 0 over all epochs (cosine, linear) or not (constant)")
    training.add_argument("--patience", type=integer(minimum=1), default=patience,
                          help="stop after this many epochs without a better validation loss")
    perturb_cli.add_robust_training_options(training)


def _save_option(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("--save", metavar="PATH", type=output_file, default=None,
                   help=f"save the trained network (score it again with 'spikeloc eval --model PATH'); {command} "
                        "prints where")


def _network_settings(args: argparse.Namespace) -> dict:
    """The run-config fields the shared network and training options set (all but ``--hidden``)."""
    return dict(tau_s=args.tau_ms * 1e-3, tau_distribution=args.tau_distribution, tau_spread=args.tau_spread,
                learn_tau=args.learn_tau, dropout=args.dropout,
                dale_layers=args.dale_layers or ("both" if args.dales_law else "none"), ie_ratio=args.ie_ratio,
                backend=args.backend, epochs=args.epochs, lr=args.lr, lr_schedule=args.lr_schedule,
                patience=args.patience, device=args.device, reset=args.reset,
                neuron=args.neuron[0] if len(args.neuron) == 1 else tuple(args.neuron),
                tau_adapt_s=args.tau_adapt_ms * 1e-3, adaptation=args.adaptation,
                **perturb_cli.robust_training_settings(args))


def _train_ipd_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-ipd", help="train and test one IPD network; print its metrics",
                              description="Train on 64 batches of 64 samples, validate on 4096, test on 2048 "
                                          "fresh samples at phase noise 0.")
    _network_options(p, hidden=[30], tau_ms=5.0)
    delays = p.add_argument_group("input delays")
    delays.add_argument("--delays", choices=DELAY_MODES, default="none",
                        help="per-input-fibre delays: none, fixed (drawn at random) or learned")
    delays.add_argument("--max-delay-steps", type=integer(minimum=1), default=10,
                        help="longest input delay (1 ms steps)")
    stimuli = p.add_argument_group("stimuli")
    stimuli.add_argument("--phase-noise", type=number(minimum=0), default=0.0,
                         help="training phase-delay noise sigma (rad)")
    stimuli.add_argument("--phase-offset", choices=PHASE_DRAWS, default="per_dataset",
                         help="draw the stimulus phase offset once per dataset or per sample")
    stimuli.add_argument("--phase-noise-draw", choices=PHASE_DRAWS, default="per_dataset",
                         help="draw the phase-delay noise once per dataset or per sample")
    stimuli.add_argument("--training-data", choices=TRAINING_DATA, default="fixed",
                         help="one training set for every epoch (fixed) or a fresh one every epoch (per_epoch)")
    _training_options(p, epochs=10, lr=0.005, patience=10)
    _save_option(p, "train-ipd")
    _common_options(p)
    p.set_defaults(handler=_train_ipd, parser=p, fields={**NETWORK_FIELDS, "n_hidden": "--hidden",
                                                         "more_hidden": "--hidden",
                                                         "phase_noise_rad": "--phase-noise"})


def _train_ipd(args: argparse.Namespace) -> None:
    from spikeloc.experiments import ipd

    first, *more = args.hidden
    run = ipd.IPDRun(n_hidden=first, more_hidden=tuple(more), phase_noise_rad=args.phase_noise,
                     phase_offset=args.phase_offset, phase_noise_draw=args.phase_noise_draw,
                     input_delays=args.delays, max_delay_steps=args.max_delay_steps,
                     training_data=args.training_data, **_network_settings(args))
    configure(args.threads)
    network, (row,) = ipd.train_ipd_ensemble([(run, args.seed)], progress=not args.json)
    _report(row, args, network, ipd.model_metadata([(run, args.seed)]))


def _train_digits_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-digits", help="train and test one spiking image classifier",
                              description="Train on a dataset's training images less a validation split, test on "
                                          "its test images. Local files only: mnist-5k ships with spikeloc; the "
                                          "others are read from --data-dir or SPIKELOC_DATA.")
    _data_options(p, default="mnist-5k")
    _network_options(p, hidden=[200], tau_ms=10.0)
    p.add_argument("--readout", choices=READOUTS, default="spikes",
                   help="class scores: output spike counts, or the time-summed readout membrane")
    p.add_argument("--loss", choices=LOSSES, default=None,
                   help="default: mse_count (target spike counts) with spikes, cross_entropy with membrane")
    p.add_argument("--encoding", choices=ENCODINGS, default="rate",
                   help="how pixels become input: spike rates, first-spike latencies or a constant current")
    p.add_argument("--steps", type=integer(minimum=1), default=25, help="time steps T per image")
    p.add_argument("--gain", type=number(above=0), default=1.0,
                   help="encoder gain (rate: spike probability per unit pixel)")
    _training_options(p, epochs=30, lr=2e-3, patience=8)
    _save_option(p, "train-digits")
    _common_options(p)
    p.set_defaults(handler=_train_digits, parser=p, fields={**NETWORK_FIELDS, "n_steps": "--steps"})


def _data_options(p: argparse.ArgumentParser, default: str | None) -> None:
    p.add_argument("--dataset", choices=DATASETS, default=default,
                   help="image dataset (mnist-5k ships with spikeloc; the others are read from --data-dir)")
    p.add_argument("--data-dir", type=input_directory, default=None, metavar="DIR",
                   help="directory holding the dataset's standard files (default: $SPIKELOC_DATA)")


def _train_digits(args: argparse.Namespace) -> None:
    from spikeloc.experiments import digits

    loss = args.loss or ("mse_count" if args.readout == "spikes" else "cross_entropy")
    run = digits.DigitsRun(dataset=args.dataset, hidden=tuple(args.hidden), readout=args.readout, loss=loss,
                           encoding=args.encoding, steps=args.steps, gain=args.gain, **_network_settings(args))
    configure(args.threads)
    with _data_dir_named():
        network, (row,) = digits.train_digits_ensemble([(run, args.seed)], root=args.data_dir,
                                                        progress=not args.json)
    _report(row, args, network, digits.model_metadata([(run, args.seed)]))


def _report(row: dict, args: argparse.Namespace, network, metadata: dict) -> None:
    """Save the trained network if asked, then print its metrics and where it went."""
    from spikeloc.networks.saved import save

    row.pop("test_confusion", None)
    if args.save:
        save(network, args.save, metadata)
        row["saved_to"] = str(args.save)
    _print(row, args.json)


def _eval_parser(subparsers: argparse._SubParsersAction, name: str = "eval",
                 summary: str = "score a saved model on its task") -> None:
    p = subparsers.add_parser(name, help=summary,
                              description="Score every member of a saved model on fresh test data of its task: an "
                                          "IPD model ('train-ipd --save') on fresh stimuli (with the defaults, the "
                                          "training seed and settings, the test set it was scored on after "
                                          "training), an image model ('train-digits --save') on its dataset's test "
                                          "images. A model read from NIR ('import-nir') is scored on IPD stimuli, "
                                          "or on images with --dataset.")
    p.add_argument("--model", required=True, type=input_file, help="a file written by a spikeloc command's --save")
    images = p.add_argument_group("image models")
    images.add_argument("--dataset", choices=DATASETS, default=None,
                        help="score on this dataset's test images (default: the model's; needed for an imported "
                             "image model)")
    images.add_argument("--data-dir", type=input_directory, default=None, metavar="DIR",
                        help="directory holding the dataset's standard files (default: $SPIKELOC_DATA)")
    ipd_group = p.add_argument_group("IPD models")
    ipd_group.add_argument("--phase-noise", type=number(minimum=0), default=0.0,
                           help="test phase-delay noise sigma (rad)")
    ipd_group.add_argument("--phase-offset", choices=PHASE_DRAWS, default=None,
                           help="default: the model's training protocol")
    ipd_group.add_argument("--n-samples", type=integer(minimum=1), default=None,
                           help="test samples (default: the training run's)")
    ipd_group.add_argument("--seed", type=integer(minimum=0), default=None,
                           help="test-data seed (default: the member's training seed)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    add_device_option(p)
    p.set_defaults(handler=_eval, parser=p, fields={"test_phase_noise_rad": "--phase-noise",
                                                    "phase_noise_rad": "--phase-noise",
                                                    "n_test_samples": "--n-samples", "model": "--model"})


def _eval(args: argparse.Namespace) -> None:
    from spikeloc.experiments.ensembles import has_training_records
    from spikeloc.networks.saved import ModelFileError

    configure(1)
    saved = _load_model(args.model, args.device)
    if has_training_records(saved.metadata):  # an IPD model, an image model, or a damaged record (refused)
        task = "digits" if saved.metadata.get("task") == "digits" else "ipd"
    else:  # read from NIR: scored on images when a dataset is named
        task = "digits" if args.dataset else "ipd"
    try:
        rows = _scores(saved, task, args)
    except ModelFileError as error:  # the file's own metadata: blamed on --model, not on the other options
        raise UsageError("--model", str(error)) from None
    if args.json:
        print(json.dumps(rows[0] if len(rows) == 1 else rows))
        return
    for row in rows:
        _print(row, as_json=False)


def _scores(saved, task: str, args: argparse.Namespace) -> list[dict]:
    """One row per member of ``saved``: its scores on the test data of ``task`` that the options choose."""
    if task == "digits":
        from spikeloc.experiments import digits

        _refuse_options(args, task, ("--phase-noise", "--phase-offset", "--n-samples", "--seed"))
        with _data_dir_named():
            return digits.evaluate_saved(saved, root=args.data_dir, dataset=args.dataset)
    from spikeloc.experiments import ipd

    _refuse_options(args, task, ("--dataset", "--data-dir"))
    settings = {"test_phase_noise_rad": args.phase_noise}
    if args.phase_offset is not None:
        settings["phase_offset"] = args.phase_offset
    if args.n_samples is not None:
        settings["n_test_samples"] = args.n_samples
    return ipd.evaluate_saved(saved, seed=args.seed, **settings)


def _refuse_options(args: argparse.Namespace, task: str, options: tuple[str, ...]) -> None:
    """A usage error naming the first of ``options`` given for a model of another task."""
    for option in options:
        name = option.removeprefix("--").replace("-", "_")
        if getattr(args, name) != args.parser.get_default(name):
            raise UsageError(option, f"does not apply to {args.model}, a model of task {task!r}")


def _export_nir_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export-nir", help="write one member of a saved model as a NIR graph",
                              description="Write member K of a model saved by 'train-ipd --save' or 'train-digits "
                                          "--save' as a NIR graph (HDF5) that snnTorch, Norse, Sinabs, Rockpool and "
                                          "neuromorphic tools read; time constants in snnTorch's convention "
                                          "(spikeloc.networks.nir). Needs the nir extra.")
    p.add_argument("--model", required=True, type=input_file, help="a spikeloc model file")
    p.add_argument("--member", type=integer(minimum=0), default=0, help="which ensemble member")
    p.add_argument("--save", metavar="PATH", type=output_file, default=None, help="the NIR file to write")
    p.add_argument("out", nargs="?", metavar="PATH", type=output_file, default=None,
                   help="the NIR file to write (the older spelling of --save)")
    p.set_defaults(handler=_export_nir, parser=p, fields={})


def _export_nir(args: argparse.Namespace) -> None:
    from spikeloc.networks import nir as nir_exchange

    if (args.save is None) == (args.out is None):
        raise UsageError("--save", "give the NIR file to write once: --save PATH (or the positional PATH)")
    path = args.save or args.out
    network = _load_model(args.model).network
    if args.member >= network.n_members:
        raise UsageError("--member", f"{args.model} has members 0 to {network.n_members - 1}, got {args.member}")
    with _nir_installed():
        nir_exchange.write(network, path, args.member)
    print(f"member {args.member} of {args.model} written to {path} "
          f"(layers {'-'.join(map(str, network.config.layer_sizes))}, readout {network.config.readout})")


def _import_nir_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("import-nir", help="read a NIR graph into a spikeloc model file",
                              description="Read a NIR graph (a chain Input -> Linear -> LIF ... -> LI | LIF -> "
                                          "Output, e.g. from 'export-nir' or snnTorch's export_to_nir) and save it "
                                          "as a spikeloc model ('spikeloc eval --model' scores it). Needs the nir "
                                          "extra.")
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


def _study_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("study", help="run a study (spikeloc study --list; spikeloc study NAME --help)",
                              description="Run one of spikeloc's studies: the same study, options and outputs as "
                                          "'python studies/NAME.py' in a source tree. 'spikeloc study NAME --help' "
                                          "lists its options.")
    p.add_argument("--list", action="store_true", help="list the studies and what each compares")
    p.add_argument("name", nargs="?", metavar="NAME", help="the study to run")
    p.add_argument("options", nargs=argparse.REMAINDER, metavar="...", help="the study's own options")
    p.set_defaults(handler=_study, parser=p, fields={})


def _study(args: argparse.Namespace) -> int:
    from spikeloc import studies
    from spikeloc.study.cli import run_script

    if args.list or args.name is None:
        width = max(map(len, studies.NAMES))
        for name in studies.NAMES:
            print(f"{name:<{width}}  {studies.summary_line(name)}")
        return 0
    if args.name not in studies.NAMES:
        raise UsageError("NAME", f"no study {args.name!r}; choose from {', '.join(studies.NAMES)}")
    module = studies.study(args.name)
    parser = module.parser()
    parser.prog = f"{args.parser.prog} {args.name}"
    try:
        run_script(lambda: module.run(parser.parse_args(args.options)), args.name)
    except SystemExit as stop:  # --help, a usage error or a failed study, already reported
        return _exit_status(stop)
    return 0


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


class _data_dir_named:
    """Name the command line's ``--data-dir`` where a missing dataset's message names the library's ``root=``."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, FileNotFoundError):
            raise UsageError("--data-dir", str(error).replace("root=", "--data-dir")) from None
        return False


def _json_value(value):
    """A row value as JSON has it: columns holding JSON text (a list of time constants, say) as their values."""
    if isinstance(value, str) and value[:1] in "[{" and value:
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _print(row: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps({key: _json_value(value) for key, value in row.items()}))
        return
    for key, value in row.items():
        if value == "":  # an empty field (no error) is not shown
            continue
        shown = f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else value
        print(f"{key:>26}: {shown}")


def _exit_status(stop: SystemExit) -> int:
    """The exit status ``sys.exit`` was given: None is 0, a message (printed here) is 1."""
    if stop.code is None or isinstance(stop.code, int):
        return stop.code or 0
    print(stop.code, file=sys.stderr)
    return 1


class _Version(argparse.Action):
    """``--version``: print ``spikeloc VERSION`` and exit (the version is looked up only then)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        import spikeloc

        print(f"{parser.prog} {spikeloc.__version__}")
        parser.exit()


def parser() -> Parser:
    """The ``spikeloc`` command line (building it imports nothing heavy)."""
    command = Parser(prog="spikeloc", description=__doc__.split("\n")[0])
    command.add_argument("--version", action=_Version, help="print spikeloc's version and exit")
    subparsers = command.add_subparsers(required=True, metavar="command")
    for add in (_train_ipd_parser, _train_digits_parser, _eval_parser, _export_nir_parser, _import_nir_parser,
                _study_parser, perturb_cli.add_parser):
        add(subparsers)
    _eval_parser(subparsers, "eval-ipd", "the older name of 'spikeloc eval' (scripts may rely on it)")
    return command


#: Exit status after Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2).
INTERRUPTED_EXIT_STATUS = 130


def main(argv: list[str] | None = None) -> int:
    """Run the command; 0 on success, 2 on a usage error, 1 on a failure during the work (one line on stderr
    for both), 130 after Ctrl-C (one line saying nothing was saved, no traceback)."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        words = [word for word in (sys.argv[1:] if argv is None else argv) if not word.startswith("-")]
        print(f"{' '.join(['spikeloc', *words[:1]])}: interrupted (Ctrl-C); nothing was saved", file=sys.stderr)
        return INTERRUPTED_EXIT_STATUS


def _run(argv: list[str] | None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error already reported
        return _exit_status(stop)
    try:
        status = args.handler(args)
    except UsageError as error:
        print(f"{args.parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as error:
        print(f"{args.parser.prog}: error: {option_error(error, args.parser, args.fields)}", file=sys.stderr)
        return 2
    except OSError as error:  # during the work: a disk that fills up while saving, say
        print(f"{args.parser.prog}: error: {error}", file=sys.stderr)
        return 1
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
