"""The competing-units rule's learning rate per hidden size, chosen on validation: the study's RULE_LR_BY_UNITS.

Run:  python benchmarks/choose_competing_rule_lr.py [--units 100 400 1000 2000] [--rule-epochs 100]
      [--rule-lrs 0.02 0.05 0.1 0.2 0.4] [--seeds 10 11 12] [--threads 1]

Per size and candidate lr (spikeloc.studies.competing_units.choose_rule_lr): one layer of competing units learned
for ``--rule-epochs`` epochs on MNIST-5k's 3600 training digits of each seed, Krotov's readout on them with beta
chosen per seed on the 400 validation digits (KROTOV_BETAS); prints each candidate's validation accuracy per seed
and its mean, and the chosen lr (best mean, ties to the smaller). The default seeds 10-12 are reported by no preset
(they use 0-4) nor by the accuracy checks, and no test accuracy is read.
"""

from __future__ import annotations

import argparse
import time

from spikeloc import runtime
from spikeloc.studies.competing_units import RULE_LR_CANDIDATES, RULE_LR_SELECTION_SEEDS, choose_rule_lr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[100, 400, 1000, 2000], help="hidden sizes")
    parser.add_argument("--rule-epochs", type=int, default=100, help="unsupervised epochs of the rule")
    parser.add_argument("--rule-lrs", type=float, nargs="+", default=list(RULE_LR_CANDIDATES), help="candidates")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(RULE_LR_SELECTION_SEEDS),
                        help="seeds the choice is made on (not those any table reports)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    runtime.configure(args.threads)
    print(f"MNIST-5k, one competing layer, {args.rule_epochs} unsupervised epochs, Krotov's readout (beta chosen per "
          f"seed on validation); rule lr chosen on the mean validation accuracy (%) over seeds {args.seeds}",
          flush=True)
    chosen = {}
    for units in args.units:
        start = time.perf_counter()
        chosen[units] = choose_rule_lr(units, args.rule_epochs, args.rule_lrs, args.seeds,
                                       log=lambda line: print(line, flush=True))[0]
        print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    print("RULE_LR_BY_UNITS entries: " + ", ".join(f"({units}, {args.rule_epochs}): {lr:g}"
                                                   for units, lr in chosen.items()))


if __name__ == "__main__":
    main()
