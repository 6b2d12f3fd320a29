"""Aim: mismatch-aware training keeps >= 90 % of clean IPD accuracy at 30 % mismatch (3 sigma: sigma = 0.1),
paired on seeds against plain training.

Trains the seed's IPD network (30 hidden units) plainly and with mismatch-aware training (a fresh chip-mismatch
draw of every weight, threshold and time constant per batch, sigma = --train-sigma), each regime's seeds as one
ensemble, then scores every network clean and under --draws chip-mismatch draws at sigma = 0.1
(spikeloc.perturbations, 'chip_mismatch'). Kept = mean mismatched accuracy / clean accuracy, per seed.

    python benchmarks/check_mismatch_training.py [--seeds 0 1 2 3 4] [--epochs 10] [--draws 10]
"""

import argparse
import time

import pandas as pd
import torch

from spikeloc.experiments.ipd import IPDRun, train_ipd_ensemble
from spikeloc.perturbations import ipd_data, perturbation_curves
from spikeloc.study.stats import paired_comparison, with_verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--train-sigma", type=float, default=0.1)
    parser.add_argument("--test-sigma", type=float, default=0.1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for regime, sigma in (("plain", 0.0), ("mismatch_aware", args.train_sigma)):
        start = time.perf_counter()
        runs = [(IPDRun(n_hidden=30, epochs=args.epochs, mismatch_training=sigma), seed) for seed in args.seeds]
        network, _ = train_ipd_ensemble(runs)
        table = perturbation_curves(network, ipd_data(runs), [("chip_mismatch", (args.test_sigma,))], args.draws)
        for member, seed in enumerate(args.seeds):
            mine = table[table["member"] == member]
            clean = float(mine.loc[mine["level"] == 0, "acc"].iloc[0])
            perturbed = float(mine.loc[mine["level"] == args.test_sigma, "acc"].mean())
            rows.append({"regime": regime, "seed": seed, "clean_acc": clean, "mismatch_acc": perturbed,
                         "kept": perturbed / clean})
        print(f"{regime}: trained and scored {len(args.seeds)} seeds in {time.perf_counter() - start:.0f} s")
    frame = pd.DataFrame(rows).assign(status="ok")
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for regime, part in frame.groupby("regime", sort=False):
        kept = part["kept"].mean()
        print(f"{regime}: clean {part['clean_acc'].mean():.3f}, at sigma {args.test_sigma} (30 % at 3 sigma) "
              f"{part['mismatch_acc'].mean():.3f}, kept {kept:.3f} of clean "
              f"({'meets' if kept >= 0.9 else 'misses'} the 90 % aim; n = {len(part)} seeds)")
    comparison = with_verdicts(paired_comparison(frame, "regime", "plain", "mismatch_aware",
                                                 ["clean_acc", "mismatch_acc", "kept"], ["seed"], unit="seed"))
    print(comparison[["metric", "n_units", "mean_difference", "ci_low", "ci_high", "p_ttest", "verdict"]]
          .to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
