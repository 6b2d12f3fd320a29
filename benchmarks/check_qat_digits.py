"""Aim: 4-bit quantisation-aware training within 1 point of float on MNIST-5k.

Trains the spiking MNIST-5k classifier (DigitsRun's defaults unless --epochs) in float and with
quantisation-aware training (--bits, straight-through rounding), the seeds as one ensemble per regime, and
prints per seed: the float network's float test accuracy, the same network quantised after training
(post-training quantisation, for reference) and the QAT network quantised to --bits bits (its weights as a chip
would hold them; spikeloc.perturbations 'quantisation', no random draw).

    python benchmarks/check_qat_digits.py [--seeds 0 1 2] [--epochs 30] [--bits 4]
"""

import argparse
import time

import torch

from spikeloc import datasets
from spikeloc.experiments.digits import DigitsRun, train_digits_ensemble
from spikeloc.perturbations import image_data, perturbation_curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--bits", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    accuracy = {}
    for regime, bits in (("float", 0), ("qat", args.bits)):
        start = time.perf_counter()
        runs = [(DigitsRun(epochs=args.epochs, qat_bits=bits), seed) for seed in args.seeds]
        network, _ = train_digits_ensemble(runs)
        table = perturbation_curves(network, image_data(runs[0][0], len(runs)), [("quantisation", (args.bits,))],
                                    draws=1)
        for member, seed in enumerate(args.seeds):
            mine = table[table["member"] == member].set_index("severity")["acc"]
            accuracy[regime, seed] = (float(mine.loc[0.0]), float(mine.loc[1 / args.bits]))
        print(f"{regime}: trained and scored {len(args.seeds)} seeds in {time.perf_counter() - start:.0f} s")
    gaps = []
    for seed in args.seeds:
        float_acc, post_training = accuracy["float", seed]
        qat = accuracy["qat", seed][1]
        gaps.append(float_acc - qat)
        print(f"seed {seed}: float {100 * float_acc:.2f} %, float quantised to {args.bits} bits after training "
              f"{100 * post_training:.2f} %, {args.bits}-bit QAT {100 * qat:.2f} % (float - QAT {100 * gaps[-1]:+.2f})")
    mean_gap = 100 * sum(gaps) / len(gaps)
    print(f"mean float - {args.bits}-bit QAT: {mean_gap:+.2f} points over {len(gaps)} seeds "
          f"({'meets' if mean_gap <= 1 else 'misses'} the 1-point aim; {args.epochs} epochs, {datasets.NAMES[0]})")


if __name__ == "__main__":
    main()
