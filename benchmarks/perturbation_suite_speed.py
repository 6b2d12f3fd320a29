"""Aim: the perturbation suite (8 perturbations x 5 levels x 10 draws) on a 30-hidden IPD network in under 60 s
on one CPU thread, draws batched as ensemble members (spikeloc.perturbations.curves).

Prints the suite's wall time, its CPU time (on a machine shared with other jobs, the wall time of an unloaded
run: one thread computes only while it holds a core) and, as a machine-independent ratio, the time of one clean evaluation of the same
network replicated to 10 members (one level's work) measured in the same process. The network is untrained
(its weights do not change the work: every perturbation scores every test sample at every level).

    python benchmarks/perturbation_suite_speed.py [--test-samples 2048] [--draws 10]
"""

import argparse
import time

import torch

from spikeloc.experiments.ipd import IPDRun
from spikeloc.learning.surrogate import evaluate
from spikeloc.networks.classifier import SpikingClassifier
from spikeloc.perturbations import SUITES, ipd_data, perturbation_curves
from spikeloc.perturbations.suite import QUICK_NAMES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--test-samples", type=int, default=2048)
    parser.add_argument("--draws", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = IPDRun(n_hidden=30, n_test_samples=args.test_samples)
    network = SpikingClassifier(run.network_config(), [run.member(0)]).eval()
    data = ipd_data([(run, 0)])
    suite = tuple((name, levels) for name, levels in SUITES["default"] if name in QUICK_NAMES)
    replicas = network.restrict([0] * args.draws)
    start = time.perf_counter()
    evaluate(replicas, data.replicated([0] * args.draws).member_data, split="test")
    clean = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    table = perturbation_curves(network, data, suite, draws=args.draws, seed=0)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    evaluations = sum(len(levels) for _, levels in suite)
    print(f"suite: {len(suite)} perturbations x {evaluations // len(suite)} levels x {args.draws} draws on "
          f"{args.test_samples} IPD test samples ({len(table)} rows), one thread: {seconds:.1f} s wall, "
          f"{cpu:.1f} s CPU ({'meets' if cpu < 60 else 'misses'} the 60 s aim)")
    print(f"one clean evaluation of the {args.draws} replicas: {clean:.2f} s; the suite = "
          f"{seconds / clean:.1f} of them ({evaluations} levels + the clean pass)")
    for name, _ in suite:
        print(f"  {name}: mean accuracy {table[table['perturbation'] == name]['acc'].mean():.3f}")


if __name__ == "__main__":
    main()
