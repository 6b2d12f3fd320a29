"""Seconds per training epoch of the IPD network, spikeloc's backends against the seed's own loop.

One epoch = 64 batches of 64 samples (T = 100 steps, 200 inputs, 30 hidden, 12 classes): forward,
backward and an Adam step per batch, as in training (validation not included). Every variant trains on
the same pre-generated spikes; data generation is not timed. Timings are medians of ``--repeats``
epochs, interleaved across variants so machine noise hits them alike; ratios are against the seed loop
measured in this same process. Peak memory is the peak resident memory one epoch adds on top of its
data and model, measured in a fresh process.

The grid comparison times ensembles of fused networks (3 runs x 3 dropouts x 6 sigmas, data shared
across dropouts as in the robustness study; 54 networks as 2 processes x 27, and as 1 process x 54 with
2 threads) against the seed loop run as 2 parallel processes, all on the machine's 2 cores, and reports
seconds per network-epoch (processes start their timed epoch together).

``--neurons`` times only the hidden-neuron kinds (leaky, its subtract reset, synaptic, adaptive; fixed and
per-neuron learned taus; recurrent) against leaky, one network on one thread, epochs interleaved.

    python benchmarks/bench_epoch.py [--repeats 5] [--members 54] [--neurons]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable

import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn

from spikeloc import seeding
from spikeloc.learning.surrogate import MemberData, TrainConfig, train_epoch
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
from spikeloc.runtime import configure
from spikeloc.substrate.synapses import Synapses
from spikeloc.tasks.ipd import IPDTask, generate

BATCH, N_BATCHES, HIDDEN, CLASSES, TAU_S, DT_S, LR = 64, 64, 30, 12, 5e-3, 1e-3, 0.005
ALPHA = math.exp(-DT_S / TAU_S)


def make_data(seed: int = 0, sigma: float = 0.0, device: str = "cpu") -> MemberData:
    """One epoch of IPD spikes, drawn on ``device`` (benchmarks/bench_gpu.py times the variants on a GPU)."""
    task = IPDTask(phase_noise_rad=sigma)
    data = generate(task, BATCH * N_BATCHES, seeding.generator(seed, "bench", device))
    return MemberData.stack([(data.spikes, data.labels)])


# --- the seed's loop (shared/seeds/001), re-implemented as the baseline ------------------------------------
class SeedSurrGradSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inp):
        ctx.save_for_backward(inp)
        out = torch.zeros_like(inp)
        out[inp > 0] = 1.0
        return out

    @staticmethod
    def backward(ctx, grad_output):
        inp, = ctx.saved_tensors
        s = torch.sigmoid(5 * inp)
        return grad_output * 5 * s * (1 - s)


def seed_forward(x, w1, w2, dropout):
    batch, steps, _ = x.shape
    v = torch.zeros(batch, HIDDEN, device=x.device)
    s = torch.zeros(batch, HIDDEN, device=x.device)
    s_rec = [s]
    h = torch.einsum("abc,cd->abd", (x, w1))
    for t in range(steps - 1):
        new_v = (ALPHA * v + h[:, t, :]) * (1 - s)
        s = SeedSurrGradSpike.apply(v - 1)
        v = new_v
        s_rec.append(s)
    s_rec = dropout(torch.stack(s_rec, dim=1))
    h2 = torch.einsum("abc,cd->abd", (s_rec, w2))
    v = torch.zeros(batch, CLASSES, device=x.device)
    v_rec = [v]
    for t in range(steps - 1):
        v = ALPHA * v + h2[:, t, :]
        v_rec.append(v)
    return torch.stack(v_rec, dim=1)


def seed_variant(data: MemberData) -> Callable[[], None]:
    g = torch.Generator().manual_seed(0)
    device = data.inputs.device
    w1 = nn.Parameter(((torch.rand(200, HIDDEN, generator=g) * 2 - 1) / math.sqrt(200)).to(device))
    w2 = nn.Parameter(((torch.rand(HIDDEN, CLASSES, generator=g) * 2 - 1) / math.sqrt(HIDDEN)).to(device))
    optimiser = torch.optim.Adam([w1, w2], lr=LR)
    dropout = nn.Dropout(0.5)
    spikes, labels = data.inputs[0], data.labels[0]

    def epoch():
        order = torch.randperm(len(labels), generator=g)
        for b in range(N_BATCHES):
            idx = order[b * BATCH:(b + 1) * BATCH]
            out = seed_forward(spikes[idx].float(), w1, w2, dropout)
            loss = nn.functional.nll_loss(nn.functional.log_softmax(out.sum(1) * 0.01, dim=1), labels[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return epoch


# --- a naive loop over snn.Leaky --------------------------------------------------------------------------
def naive_snntorch_variant(data: MemberData) -> Callable[[], None]:
    g = torch.Generator().manual_seed(0)
    fc1, fc2 = nn.Linear(200, HIDDEN, bias=False), nn.Linear(HIDDEN, CLASSES, bias=False)
    lif = snn.Leaky(beta=ALPHA, reset_mechanism="zero", spike_grad=surrogate.sigmoid(slope=5))
    readout = snn.Leaky(beta=ALPHA, reset_mechanism="none")
    optimiser = torch.optim.Adam([*fc1.parameters(), *fc2.parameters()], lr=LR)
    spikes, labels = data.inputs[0], data.labels[0]

    def epoch():
        order = torch.randperm(len(labels), generator=g)
        for b in range(N_BATCHES):
            idx = order[b * BATCH:(b + 1) * BATCH]
            x = spikes[idx].float()
            mem1, mem2 = torch.zeros(BATCH, HIDDEN), torch.zeros(BATCH, CLASSES)
            total = 0
            for t in range(x.shape[1]):
                spk, mem1 = lif(fc1(x[:, t]), mem1)
                _, mem2 = readout(fc2(spk), mem2)
                total = total + mem2
            loss = nn.functional.cross_entropy(total * 0.01, labels[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return epoch


# --- spikeloc ---------------------------------------------------------------------------------------------
def spikeloc_variant(data: MemberData, backend: str, members: list[Member] | None = None,
                     **settings) -> Callable[[], None]:
    """One training epoch of spikeloc's IPD network; ``settings``: other ClassifierConfig fields (e.g. neuron)."""
    members = members or [Member(seed=0, dropout=0.5)]
    device = data.inputs.device
    network = SpikingClassifier(ClassifierConfig(backend=backend, hidden=(HIDDEN,), **settings), members).to(device)
    optimiser = torch.optim.Adam(network.parameters(), lr=LR)
    config = TrainConfig(batch_size=BATCH)
    shuffle = [seeding.generator(m.seed, "shuffle") for m in members]
    dropout = [seeding.generator(m.seed, "dropout", device) for m in members]
    return lambda: train_epoch(network, optimiser, data, config, shuffle, dropout)


def plain_order_variant(data: MemberData) -> Callable[[], None]:
    """The fused backend with the synapse product as ``x @ W`` (the order used before issue 7)."""
    def plain_product(self: Synapses, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        return torch.bmm(flat, self.effective_weight()).reshape(*x.shape[:-1], -1)

    epoch = spikeloc_variant(data, "fused")

    def run() -> None:
        transposed_product = Synapses.forward
        Synapses.forward = plain_product
        try:
            epoch()
        finally:
            Synapses.forward = transposed_product
    return run


# --- the lower bound: only the matrix products an epoch needs ---------------------------------------------
def matmul_variant(data: MemberData) -> Callable[[], None]:
    g = torch.Generator().manual_seed(0)
    w1, w2 = torch.randn(200, HIDDEN, generator=g), torch.randn(HIDDEN, CLASSES, generator=g)
    spikes = data.inputs[0]

    def epoch():
        for b in range(N_BATCHES):
            x = spikes[b * BATCH:(b + 1) * BATCH].float().reshape(-1, 200)
            hidden = x @ w1                                    # input currents
            hidden_spikes = (hidden > 0).float()
            out = hidden_spikes @ w2                           # readout currents
            x.T @ hidden                                       # grad of w1 (same shapes as the real one)
            hidden_spikes.T @ out                              # grad of w2
            out @ w2.T                                         # grad reaching the hidden layer
    return epoch


VARIANTS = {
    "seed loop (baseline)": seed_variant,
    "naive snn.Leaky loop": naive_snntorch_variant,
    "spikeloc snntorch backend": lambda d: spikeloc_variant(d, "snntorch"),
    "fused, x @ W order (before)": plain_order_variant,
    "spikeloc fused backend": lambda d: spikeloc_variant(d, "fused"),
    "matmul-only lower bound": matmul_variant,
}


#: Hidden-neuron kinds timed against leaky (``--neurons``): the fused backend, one network, one thread.
NEURON_VARIANTS: dict[str, Callable[[MemberData], Callable[[], None]]] = {
    "leaky (reset zero)": lambda data: spikeloc_variant(data, "fused"),
    "leaky, reset subtract": lambda data: spikeloc_variant(data, "fused", reset="subtract"),
    "synaptic (reset zero)": lambda data: spikeloc_variant(data, "fused", neuron="synaptic"),
    "synaptic, per-neuron learned taus": lambda data: spikeloc_variant(
        data, "fused", neuron="synaptic", tau_distribution="gamma", tau_spread=0.5, learn_tau=True),
    "leaky, per-neuron learned taus": lambda data: spikeloc_variant(
        data, "fused", tau_distribution="gamma", tau_spread=0.5, learn_tau=True),
    "recurrent (reset zero)": lambda data: spikeloc_variant(data, "fused", neuron="recurrent"),
    "adaptive (reset zero)": lambda data: spikeloc_variant(data, "fused", neuron="adaptive"),
    "adaptive, per-neuron learned taus": lambda data: spikeloc_variant(
        data, "fused", neuron="adaptive", tau_distribution="gamma", tau_spread=0.5, learn_tau=True),
}


def time_variants(repeats: int, variants=None) -> dict[str, float]:
    data = make_data()
    epochs = {name: make(data) for name, make in (variants or VARIANTS).items()}
    for epoch in epochs.values():  # warm-up (numba compile, allocator)
        epoch()
    times: dict[str, list[float]] = {name: [] for name in epochs}
    for _ in range(repeats):
        for name, epoch in epochs.items():
            start = time.perf_counter()
            epoch()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _memory_kib(field: str) -> int:
    """A field of /proc/self/status (VmRSS, VmHWM) in KiB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def _peak_memory_child(name: str, queue: mp.Queue) -> None:
    configure(1)
    epoch = VARIANTS[name](make_data())
    before = _memory_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear:  # reset the peak-RSS mark to the current RSS
        clear.write("5")
    epoch()
    queue.put((_memory_kib("VmHWM") - before) / 1024)


def peak_memory_mib(name: str) -> float:
    """Peak resident memory (MiB) one epoch adds on top of its data and model, in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_peak_memory_child, args=(name, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def grid_members(n: int, device: str = "cpu") -> tuple[list[Member], MemberData]:
    """n members cycling over 3 runs x 3 dropouts x 6 sigmas; data shared across dropouts (as in the study),
    drawn on ``device``."""
    grid = [(run, p, sigma) for run in range(3) for sigma in (0, 0.1, 0.2, 0.3, 0.4, 0.5) for p in (0, 0.5, 0.9)]
    grid = [grid[i % len(grid)] for i in range(n)]
    datasets = {}
    for run, _, sigma in grid:
        if (run, sigma) not in datasets:
            task = IPDTask(phase_noise_rad=sigma)
            datasets[(run, sigma)] = generate(task, BATCH * N_BATCHES, seeding.generator(run, f"bench/{sigma}", device))
    members = [Member(seed=run, dropout=p) for run, p, _ in grid]
    return members, MemberData.stack([(datasets[(run, sigma)].spikes, datasets[(run, sigma)].labels)
                                      for run, _, sigma in grid])


def seed_loop_epoch(_: int) -> Callable[[], None]:
    return seed_variant(make_data())


def ensemble_epoch(members: int) -> Callable[[], None]:
    group, data = grid_members(members)
    return spikeloc_variant(data, "fused", group)


def _epoch_process(factory: Callable[[int], Callable[[], None]], size: int, threads: int, ready, go, queue) -> None:
    configure(threads)
    epoch = factory(size)
    epoch()  # warm-up
    ready.set()
    go.wait()
    start = time.perf_counter()
    epoch()
    queue.put(time.perf_counter() - start)


def parallel_epoch_wall(factory: Callable[[int], Callable[[], None]], size: int, processes: int,
                        threads: int = 1) -> float:
    """Wall seconds for one epoch in each of ``processes`` processes started together (``threads`` each)."""
    ctx = mp.get_context("spawn")
    go, queue = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(processes)]
    workers = [ctx.Process(target=_epoch_process, args=(factory, size, threads, r, go, queue)) for r in readies]
    for w in workers:
        w.start()
    for r in readies:
        r.wait()
    start = time.perf_counter()
    go.set()
    for _ in workers:
        queue.get()
    wall = time.perf_counter() - start
    for w in workers:
        w.join()
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--members", type=int, default=54)
    parser.add_argument("--neurons", action="store_true",
                        help="only time the hidden-neuron kinds against leaky (ratios in the same process)")
    args = parser.parse_args()

    configure(1)
    if args.neurons:
        medians = time_variants(args.repeats, NEURON_VARIANTS)
        leaky = medians["leaky (reset zero)"]
        print(f"hidden-neuron kinds, fused backend, 1 thread, median of {args.repeats} interleaved epochs:")
        for name, seconds in medians.items():
            print(f"{name:<36}{seconds:>8.3f} s/epoch{seconds / leaky:>7.2f}x leaky")
        return
    print(f"torch {torch.__version__}, 1 thread; epoch = {N_BATCHES} batches x {BATCH}, T=100, 200 in, "
          f"{HIDDEN} hidden; median of {args.repeats}")
    medians = time_variants(args.repeats)
    baseline = medians["seed loop (baseline)"]
    bound = medians["matmul-only lower bound"]
    print(f"{'variant':<30}{'s/epoch':>10}{'speed-up vs seed':>18}{'x lower bound':>15}{'peak MiB':>10}")
    for name, seconds in medians.items():
        print(f"{name:<30}{seconds:>10.3f}{baseline / seconds:>17.1f}x{seconds / bound:>14.1f}x"
              f"{peak_memory_mib(name):>10.0f}")
    fused = medians["spikeloc fused backend"]
    print(f"fused backend: {medians['spikeloc snntorch backend'] / fused:.1f}x faster than the snnTorch backend; "
          f"the (W^T x^T)^T product saves {1 - fused / medians['fused, x @ W order (before)']:.0%} of an epoch "
          "over x @ W")

    seed_per_network = parallel_epoch_wall(seed_loop_epoch, 1, processes=2) / 2
    half = args.members // 2
    print(f"\ngrid of {2 * half} networks (3 runs x 3 dropouts x 6 sigmas) on 2 cores, seconds per network-epoch:")
    print(f"{'seed loop, 2 processes x 1 network':<46}{seed_per_network:>8.3f}   1.0x")
    ensembles = {
        f"fused ensemble, 2 processes x {half} networks": parallel_epoch_wall(ensemble_epoch, half, 2) / (2 * half),
        f"fused ensemble, 1 process x {2 * half}, 2 threads":
            parallel_epoch_wall(ensemble_epoch, 2 * half, 1, threads=2) / (2 * half),
    }
    for name, per_network in ensembles.items():
        print(f"{name:<46}{per_network:>8.3f}{seed_per_network / per_network:>6.1f}x")
    print(f"(the seed loop alone, 1 process, took {baseline:.3f} s/epoch above)")


if __name__ == "__main__":
    main()
