"""Per-neuron membrane decay in the fused kernels: lif_spikes and leaky_integrate with beta per unit (N,) or per
slice and unit (M, N) equal snnTorch's ``snn.Leaky(learn_beta=True)`` with a per-neuron beta tensor stepped
over time, forward and backward (the gradient w.r.t. beta included); a per-neuron beta whose entries are all
equal gives exactly the fixed-beta results. The reference is snnTorch's own neuron and autograd.
"""

from __future__ import annotations

import math

import pytest
import snntorch as snn
import torch
from snntorch import surrogate

from spikeloc.substrate.fused import NUMBA_AVAILABLE, leaky_integrate, lif_spikes

BACKENDS = ["numba", "torch"] if NUMBA_AVAILABLE else ["torch"]


def betas(shape, seed: int, dtype=torch.float64) -> torch.Tensor:
    """Decays exp(-1 / tau) for tau uniform in [2, 20] steps."""
    g = torch.Generator().manual_seed(seed)
    return torch.exp(-1 / (2 + 18 * torch.rand(shape, generator=g, dtype=torch.float64))).to(dtype)


def currents_for(shape, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (0.7 * torch.randn(shape, generator=g, dtype=torch.float64) + 0.3).to(dtype)


def snntorch_learned_beta(currents, beta, threshold, slope, reset="zero"):
    """snn.Leaky(learn_beta=True) with ``beta`` broadcast over the batch, stepped from a zero membrane:
    (spikes, membranes, its beta parameter)."""
    shaped = beta if beta.dim() == 1 else beta[:, None, :]  # (M, N) -> (M, 1, N) against (M, B, N) states
    neuron = snn.Leaky(beta=shaped.clone(), threshold=threshold, spike_grad=surrogate.sigmoid(slope=slope),
                       reset_mechanism=reset, learn_beta=True)
    mem = torch.zeros_like(currents[..., 0, :])
    spikes, mems = [], []
    for t in range(currents.shape[-2]):
        spk, mem = neuron(currents[..., t, :], mem)
        spikes.append(spk.to(currents.dtype))
        mems.append(mem)
    return torch.stack(spikes, -2), torch.stack(mems, -2), neuron.beta


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape, beta_shape", [((5, 50, 7), (7,)), ((3, 4, 40, 6), (6,)), ((3, 4, 40, 6), (3, 6))])
def test_per_neuron_beta_gradient_equals_snntorch_learn_beta(backend, shape, beta_shape):
    threshold, slope = 1.0, 5.0
    currents = currents_for(shape, seed=1)
    # snnTorch's spikes are float32 even for float64 inputs, so the gradient reaching its surrogate is rounded
    # to float32: weights with few significant bits keep that exact (as tests/test_fused.py does)
    weights_spk, weights_mem = (torch.round(16 * currents_for(shape, seed=s)) / 16 for s in (2, 3))
    beta = betas(beta_shape, seed=4)

    x_ref = currents.clone().requires_grad_(True)
    spk_ref, mem_ref, beta_param = snntorch_learned_beta(x_ref, beta, threshold, slope)
    ((spk_ref * weights_spk).sum() + (mem_ref * weights_mem).sum()).backward()

    x = currents.clone().requires_grad_(True)
    b = beta.clone().requires_grad_(True)
    spk, mem = lif_spikes(x, b, threshold, slope, return_membrane=True, backend=backend)
    ((spk * weights_spk).sum() + (mem * weights_mem).sum()).backward()

    assert 0.05 < spk.mean() < 0.5  # the test exercises spikes and resets
    torch.testing.assert_close(spk, spk_ref, rtol=0, atol=0)
    torch.testing.assert_close(mem, mem_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(b.grad, beta_param.grad.reshape(beta_shape), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_per_neuron_beta_float32_spikes_equal_snntorch(backend):
    shape = (3, 8, 60, 10)
    currents = currents_for(shape, seed=5, dtype=torch.float32)
    beta = betas((3, 10), seed=6, dtype=torch.float32)
    spk_ref, mem_ref, _ = snntorch_learned_beta(currents, beta, 1.0, 5.0)
    spk, mem = lif_spikes(currents, beta, 1.0, 5.0, return_membrane=True, backend=backend)
    torch.testing.assert_close(spk, spk_ref, rtol=0, atol=0)
    torch.testing.assert_close(mem, mem_ref, rtol=0, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_equal_per_neuron_betas_give_the_fixed_beta_results(backend):
    shape, beta = (2, 6, 50, 8), math.exp(-1 / 5)
    currents = currents_for(shape, seed=7, dtype=torch.float32)
    weights = currents_for(shape, seed=8, dtype=torch.float32)
    outputs = []
    for b in (beta, torch.full((2, 8), beta, requires_grad=True)):
        x = currents.clone().requires_grad_(True)
        spk = lif_spikes(x, b, backend=backend)
        (spk * weights).sum().backward()
        outputs.append((spk, x.grad))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


def test_per_neuron_beta_backends_agree_float32():
    if not NUMBA_AVAILABLE:
        pytest.skip("numba not installed")
    shape = (4, 16, 100, 30)
    currents, weights = currents_for(shape, 9, torch.float32), currents_for(shape, 10, torch.float32)
    grads = []
    for backend in BACKENDS:
        x, b = currents.clone().requires_grad_(True), betas((4, 30), 11, torch.float32).requires_grad_(True)
        (lif_spikes(x, b, backend=backend) * weights).sum().backward()
        grads.append((x.grad, b.grad))
    # the surrogate's exp differs by <= 1 ulp between backends (numba's vectorised expf vs torch.exp)
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=2e-5, atol=2e-6)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("beta_shape", [(6,), (3, 6)])
def test_leaky_integrate_per_neuron_equals_snntorch_learn_beta(beta_shape):
    shape = (3, 4, 30, 6)
    currents, weights = currents_for(shape, 12), currents_for(shape, 13)
    beta = betas(beta_shape, 14)
    x_ref = currents.clone().requires_grad_(True)
    _, mem_ref, beta_param = snntorch_learned_beta(x_ref, beta, 1.0, 5.0, reset="none")
    (mem_ref * weights).sum().backward()
    x, b = currents.clone().requires_grad_(True), beta.clone().requires_grad_(True)
    mem = leaky_integrate(x, b)
    (mem * weights).sum().backward()
    torch.testing.assert_close(mem, mem_ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(b.grad, beta_param.grad.reshape(beta_shape), rtol=1e-9, atol=1e-9)


def test_per_neuron_beta_bad_input_is_one_clear_error():
    currents = torch.zeros(3, 4, 10, 6)
    for bad in (torch.full((5,), 0.5), torch.full((2, 6), 0.5), torch.full((3, 4, 6), 0.5)):
        with pytest.raises(ValueError, match="beta must be a float or shaped"):
            lif_spikes(currents, bad)
    for bad in (torch.full((6,), 1.5), torch.full((6,), -0.1), torch.full((6,), float("nan"))):
        with pytest.raises(ValueError, match=r"beta must lie in \[0, 1\]"):
            leaky_integrate(currents, bad)
