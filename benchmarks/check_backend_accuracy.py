"""Does the fused backend learn exactly what the snnTorch backend learns? Same seeds, same epochs.

Trains the default IPD run (seed protocol, 10 epochs, dropout 0.5 so the dropout path is exercised too)
with both backends for each seed, and prints per seed the test accuracy, test error and best validation
loss of each, the largest difference, and a paired t-test over seeds (spikeloc.study.stats.paired_test). The fused backend's
forward pass is bit-identical to snn.Leaky in float32; its readout (a matrix product over time) and its
gradients agree to float rounding, so trajectories can only separate if a rounding difference flips a
spike.

    python benchmarks/check_backend_accuracy.py [--seeds 5] [--epochs 10]
"""

from __future__ import annotations

import argparse

import numpy as np

from spikeloc.experiments.ipd import IPDRun, run_ipd
from spikeloc.runtime import configure
from spikeloc.study.stats import paired_test

METRICS = ("test_acc", "test_error_deg", "best_val_loss")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    configure(1)
    rows = {backend: [run_ipd(IPDRun(backend=backend, dropout=0.5, epochs=args.epochs), seed)
                      for seed in range(args.seeds)] for backend in ("snntorch", "fused")}
    print(f"{'seed':>4}  " + "  ".join(f"{m + ' snntorch':>24}{m + ' fused':>22}" for m in METRICS))
    for seed in range(args.seeds):
        print(f"{seed:>4}  " + "  ".join(f"{rows['snntorch'][seed][m]:>24.6g}{rows['fused'][seed][m]:>22.6g}"
                                         for m in METRICS))
    for metric in METRICS:
        a = [row[metric] for row in rows["snntorch"]]
        b = [row[metric] for row in rows["fused"]]
        largest = max(abs(x - y) for x, y in zip(a, b))
        verdict = ("identical on every seed" if largest == 0 else
                   f"paired t-test p = {paired_test(np.subtract(a, b))['p_ttest']:.3g} ({args.seeds} seeds)")
        print(f"{metric}: largest |snntorch - fused| = {largest:.3g}; {verdict}")
    speed = [r["seconds_per_epoch"] for r in rows["snntorch"]], [r["seconds_per_epoch"] for r in rows["fused"]]
    print(f"seconds per epoch (incl. validation): snntorch {sum(speed[0]) / args.seeds:.2f}, "
          f"fused {sum(speed[1]) / args.seeds:.2f}")


if __name__ == "__main__":
    main()
