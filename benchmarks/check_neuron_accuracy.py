"""IPD accuracy of the hidden-neuron kinds, paired on seeds: leaky against synaptic (tau_syn 5 ms, reset zero),
30 hidden units, robust protocol (per-sample phase offset and noise draw), fresh stimuli every epoch, seeds 0-2,
each kind trained as one 3-member ensemble for EPOCHS epochs. Prints each kind's test accuracies per seed and their
mean (seconds per epoch depend on what else the machine runs: not a speed measure; bench_epoch.py --neurons is).

    python benchmarks/check_neuron_accuracy.py EPOCHS
"""
import sys, time, json, dataclasses
import torch
torch.set_num_threads(1)
from spikeloc.experiments.ipd import IPDRun, run_ipd_ensemble
epochs = int(sys.argv[1]); seeds = [0, 1, 2]
for neuron in ("leaky", "synaptic"):
    run = IPDRun(n_hidden=30, epochs=epochs, phase_offset="per_sample", phase_noise_draw="per_sample",
                 training_data="per_epoch", neuron=neuron)
    t = time.time()
    rows = run_ipd_ensemble([(run, s) for s in seeds])
    print(neuron, epochs, "epochs", [round(r["test_acc"], 4) for r in rows], "mean", sum(r["test_acc"] for r in rows) / 3,
          "s/epoch/run", [round(r["seconds_per_epoch"], 2) for r in rows][0], "wall", round(time.time() - t), flush=True)
