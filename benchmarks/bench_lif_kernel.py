"""Time forward + backward of one LIF layer's time loop: snn.Leaky stepped in Python vs a plain torch-ops loop
vs :func:`spikeloc.substrate.fused.lif_spikes` (numba on CPU; also its torch-loop backend), single-threaded;
and lif_spikes with a learnable per-neuron beta against the fixed beta (ratio, same process).

Run:  python benchmarks/bench_lif_kernel.py [--repeats 7]

Every variant computes the same thing: snn.Leaky(beta, threshold, reset_mechanism="zero",
spike_grad=surrogate.sigmoid(slope)) over axis -2 from a zero membrane, then backward of sum(spikes * w)
into the currents. Times are medians of the repeats (after one warm-up call), in seconds; the ratio is
time / snn.Leaky-loop time measured in the same process. The first line reports the first call of
lif_spikes in this process (numba compilation, or loading it from numba's on-disk cache).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import snntorch as snn
import torch
from snntorch import surrogate

from spikeloc.substrate.fused import leaky_integrate, lif_spikes

BETA, THRESHOLD, SLOPE = math.exp(-1 / 5), 1.0, 5.0
SHAPES = [(64, 100, 30), (54, 64, 100, 30)]


def snn_leaky_loop(currents: torch.Tensor) -> torch.Tensor:
    neuron = snn.Leaky(beta=BETA, threshold=THRESHOLD, spike_grad=surrogate.sigmoid(slope=SLOPE),
                       reset_mechanism="zero")
    mem = torch.zeros_like(currents[..., 0, :])
    spikes = []
    for t in range(currents.shape[-2]):
        spk, mem = neuron(currents[..., t, :], mem)
        spikes.append(spk)
    return torch.stack(spikes, dim=-2)


def torch_ops_loop(currents: torch.Tensor) -> torch.Tensor:
    """The same model with plain autograd ops; the surrogate via the straight-through sigmoid trick
    (forward H(x), gradient k sigmoid(k x) (1 - sigmoid(k x)))."""
    mem = torch.zeros_like(currents[..., 0, :])
    spikes = []
    for t in range(currents.shape[-2]):
        reset = (mem > THRESHOLD).to(mem.dtype)  # no gradient, as snnTorch's detached reset
        mem = BETA * ((1 - reset) * mem) + currents[..., t, :]
        x = mem - THRESHOLD
        soft = torch.sigmoid(SLOPE * x)
        spikes.append(soft + ((x > 0).to(x.dtype) - soft).detach())
    return torch.stack(spikes, dim=-2)


def leaky_loop(currents: torch.Tensor) -> torch.Tensor:
    v = torch.zeros_like(currents[..., 0, :])
    out = []
    for t in range(currents.shape[-2]):
        v = BETA * v + currents[..., t, :]
        out.append(v)
    return torch.stack(out, dim=-2)


def time_fwd_bwd(fn, currents: torch.Tensor, weights: torch.Tensor, repeats: int) -> float:
    x = currents.clone().requires_grad_(True)

    def once():
        x.grad = None
        (fn(x) * weights).sum().backward()

    once()  # warm-up (and numba compilation / cache load on the very first call)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def per_neuron_ratio(shape, currents: torch.Tensor, weights: torch.Tensor, repeats: int) -> None:
    """lif_spikes with one beta per neuron (per member and unit for ensembles), learnable (its gradient
    computed in the backward), against the fixed float beta, same currents, same process."""
    generator = torch.Generator().manual_seed(1)
    beta_shape = (shape[0], shape[-1]) if len(shape) == 4 else (shape[-1],)
    beta = torch.exp(-1 / (2 + 8 * torch.rand(beta_shape, generator=generator))).requires_grad_(True)
    for backend in ("numba", "torch"):
        fixed_s = time_fwd_bwd(lambda c: lif_spikes(c, BETA, THRESHOLD, SLOPE, backend=backend), currents, weights,
                               repeats)
        per_neuron_s = time_fwd_bwd(lambda c: lif_spikes(c, beta, THRESHOLD, SLOPE, backend=backend), currents,
                                    weights, repeats)
        print(f"{str(shape):18s} {'per-neuron beta ' + backend:26s} {per_neuron_s:9.5f} s   "
              f"ratio to fixed beta ({fixed_s:.5f} s) {per_neuron_s / fixed_s:7.4f}   (beta {tuple(beta_shape)}, "
              f"with its gradient)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    x = torch.randn(2, 10, 3, requires_grad=True)
    t0 = time.perf_counter()
    lif_spikes(x, BETA, THRESHOLD, SLOPE).sum().backward()
    print(f"first lif_spikes fwd+bwd call in this process (numba compile or cache load): "
          f"{time.perf_counter() - t0:.3f} s")
    print(f"torch {torch.__version__}, snntorch {snn.__version__}, torch threads {torch.get_num_threads()}, "
          f"median of {args.repeats} repeats, forward + backward")

    variants = [
        ("snn.Leaky loop", snn_leaky_loop),
        ("torch-ops loop", torch_ops_loop),
        ("lif_spikes (auto=numba)", lambda c: lif_spikes(c, BETA, THRESHOLD, SLOPE)),
        ("lif_spikes backend=torch", lambda c: lif_spikes(c, BETA, THRESHOLD, SLOPE, backend="torch")),
        # what the harness itself costs (allocating the output, sum(out * w), its backward): a floor
        ("floor: harness on c * 1", lambda c: c * 1),
    ]
    for shape in SHAPES:
        currents = 0.6 * torch.randn(shape) + 0.35  # ~20% of (unit, step) pairs spike
        weights = torch.randn(shape)
        rate = lif_spikes(currents, BETA, THRESHOLD, SLOPE).mean().item()
        reference = None
        for name, fn in variants:
            seconds = time_fwd_bwd(fn, currents, weights, args.repeats)
            reference = reference or seconds
            print(f"{str(shape):18s} {name:26s} {seconds:9.5f} s   "
                  f"ratio to snn.Leaky loop {seconds / reference:7.4f}   (spike rate {rate:.3f})")
        per_neuron_ratio(shape, currents, weights, args.repeats)
        loop_s = time_fwd_bwd(leaky_loop, currents, weights, args.repeats)
        fused_s = time_fwd_bwd(lambda c: leaky_integrate(c, BETA), currents, weights, args.repeats)
        print(f"{str(shape):18s} {'leaky readout: loop':26s} {loop_s:9.5f} s")
        print(f"{str(shape):18s} {'leaky_integrate (matmul)':26s} {fused_s:9.5f} s   ratio to loop "
              f"{fused_s / loop_s:7.4f}")


if __name__ == "__main__":
    main()
