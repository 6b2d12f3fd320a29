"""IPD accuracy of the hidden-neuron kinds, paired on seeds: each kind (default leaky and synaptic, tau_syn 5 ms,
reset zero; adaptive: ClassifierConfig's tau_adapt_s and adaptation) with 30 hidden units, robust protocol
(per-sample phase offset and noise draw), fresh stimuli every epoch, trained as one ensemble of the seeds for EPOCHS
epochs. Prints each kind's test accuracies per seed and their mean (seconds per epoch depend on what else the machine
runs: not a speed measure; bench_epoch.py --neurons is).

    python benchmarks/check_neuron_accuracy.py EPOCHS [--seeds 0 1 2] [--neurons leaky synaptic]
"""
import argparse
import time

import torch

from spikeloc.experiments.ipd import IPDRun, run_ipd_ensemble
from spikeloc.substrate.neurons import NEURONS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("epochs", type=int, nargs="?", help="training epochs (or --epochs)")
    parser.add_argument("--epochs", dest="epochs_option", type=int, default=None, help="training epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--neurons", nargs="+", choices=NEURONS, default=["leaky", "synaptic"])
    args = parser.parse_args()
    epochs = args.epochs_option if args.epochs_option is not None else args.epochs
    if epochs is None:
        parser.error("give the number of epochs (EPOCHS or --epochs)")
    torch.set_num_threads(1)
    for neuron in args.neurons:
        run = IPDRun(n_hidden=30, epochs=epochs, phase_offset="per_sample", phase_noise_draw="per_sample",
                     training_data="per_epoch", neuron=neuron)
        start = time.time()
        rows = run_ipd_ensemble([(run, seed) for seed in args.seeds])
        accuracies = [r["test_acc"] for r in rows]
        print(neuron, epochs, "epochs", [round(a, 4) for a in accuracies], "mean", sum(accuracies) / len(accuracies),
              "s/epoch/run", round(rows[0]["seconds_per_epoch"], 2), "wall", round(time.time() - start), flush=True)


if __name__ == "__main__":
    main()
