"""IPD accuracy of the hidden-neuron kinds, paired on seeds: each kind (default leaky and synaptic, tau_syn 5 ms,
reset zero; adaptive: ClassifierConfig's tau_adapt_s and adaptation; recurrent: all-to-all weights) with 30 hidden
units, robust protocol (per-sample phase offset and noise draw), fresh stimuli every epoch, trained as one ensemble
of the seeds for EPOCHS epochs (``--jobs``: kinds in parallel processes, one thread each). Prints each kind's test
accuracies per seed and their mean, then every other kind against the first, paired on seed (spikeloc's paired
statistics, Holm-adjusted over those comparisons; the number of seeds beside every p). Seconds per epoch depend on
what else the machine runs: not a speed measure; bench_epoch.py --neurons is.

    python benchmarks/check_neuron_accuracy.py EPOCHS [--seeds 0 1 2] [--neurons leaky synaptic] [--jobs 1]
"""
import argparse
import multiprocessing
import time

import pandas as pd
import torch

from spikeloc.experiments.ipd import IPDRun, run_ipd_ensemble
from spikeloc.study.stats import format_comparisons, paired_comparison, with_verdicts
from spikeloc.substrate.neurons import NEURONS


def test_accuracies(neuron: str, epochs: int, seeds: list[int]) -> tuple[list[float], float, float]:
    """(test accuracy per seed, seconds per epoch of the first run, wall seconds) of one kind."""
    torch.set_num_threads(1)
    run = IPDRun(n_hidden=30, epochs=epochs, phase_offset="per_sample", phase_noise_draw="per_sample",
                 training_data="per_epoch", neuron=neuron)
    start = time.time()
    rows = run_ipd_ensemble([(run, seed) for seed in seeds])
    return [r["test_acc"] for r in rows], rows[0]["seconds_per_epoch"], time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("epochs", type=int, nargs="?", help="training epochs (or --epochs)")
    parser.add_argument("--epochs", dest="epochs_option", type=int, default=None, help="training epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--neurons", nargs="+", choices=NEURONS, default=["leaky", "synaptic"])
    parser.add_argument("--jobs", type=int, default=1, help="kinds trained at once, each in its own process")
    args = parser.parse_args()
    epochs = args.epochs_option if args.epochs_option is not None else args.epochs
    if epochs is None:
        parser.error("give the number of epochs (EPOCHS or --epochs)")
    work = [(neuron, epochs, args.seeds) for neuron in args.neurons]
    if args.jobs > 1:
        with multiprocessing.get_context("spawn").Pool(min(args.jobs, len(work))) as pool:
            results = pool.starmap(test_accuracies, work)
    else:
        results = [test_accuracies(*item) for item in work]
    table = []
    for neuron, (accuracies, seconds_per_epoch, wall) in zip(args.neurons, results):
        print(neuron, epochs, "epochs", [round(a, 4) for a in accuracies], "mean", sum(accuracies) / len(accuracies),
              "s/epoch/run", round(seconds_per_epoch, 2), "wall", round(wall), flush=True)
        table += [{"neuron": neuron, "seed": seed, "test_acc": a} for seed, a in zip(args.seeds, accuracies)]
    if len(args.neurons) > 1:
        frame = pd.DataFrame(table)
        comparisons = pd.concat([paired_comparison(frame, "neuron", args.neurons[0], other, ["test_acc"], ["seed"])
                                 .assign(comparison=f"{other} - {args.neurons[0]}") for other in args.neurons[1:]],
                                ignore_index=True)
        print(format_comparisons(with_verdicts(comparisons), keys=["comparison"]))


if __name__ == "__main__":
    main()
