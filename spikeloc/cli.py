"""The ``spikeloc`` command line."""

from __future__ import annotations

import argparse
import json
import math
import sys

from spikeloc.experiments.ipd import IPDRun, run_ipd
from spikeloc.runtime import configure


def _train_ipd_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-ipd", help="train and test one IPD network; print its metrics",
                              description="Train on 64 batches of 64 samples, validate on 4096, test on 2048 "
                                          "fresh samples at phase noise 0.")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--hidden", type=int, default=30, help="hidden LIF units")
    p.add_argument("--tau-ms", type=float, default=5.0, help="membrane time constant (ms)")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout probability on hidden spikes")
    p.add_argument("--phase-noise", type=float, default=0.0, help="training phase-delay noise sigma (rad)")
    p.add_argument("--dales-law", action="store_true", help="Dale's law on both synapse layers")
    p.add_argument("--dale-layers", choices=["input", "readout", "both"], default=None,
                   help="Dale's law on these synapses only (implies --dales-law)")
    p.add_argument("--ie-ratio", type=float, default=0.5, help="inhibitory fraction of presynaptic units")
    p.add_argument("--phase-offset", choices=["per_dataset", "per_sample"], default="per_dataset")
    p.add_argument("--phase-noise-draw", choices=["per_dataset", "per_sample"], default="per_dataset")
    p.add_argument("--backend", choices=["fused", "snntorch"], default="fused")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    p.set_defaults(handler=_train_ipd)


def _train_ipd(args: argparse.Namespace) -> None:
    dale_layers = args.dale_layers or ("both" if args.dales_law else "none")
    run = IPDRun(epochs=args.epochs, n_hidden=args.hidden, tau_s=args.tau_ms * 1e-3, dropout=args.dropout,
                 phase_noise_rad=args.phase_noise, dale_layers=dale_layers, ie_ratio=args.ie_ratio,
                 phase_offset=args.phase_offset, phase_noise_draw=args.phase_noise_draw, backend=args.backend)
    configure(args.threads)
    result = run_ipd(run, args.seed, progress=not args.json)
    result.pop("test_confusion", None)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        shown = f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else value
        print(f"{key:>26}: {shown}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spikeloc", description=__doc__)
    subparsers = parser.add_subparsers(required=True, metavar="command")
    _train_ipd_parser(subparsers)
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except ValueError as error:
        print(f"spikeloc: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
