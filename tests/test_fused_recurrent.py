"""Recurrent LIF layers on the fused substrate (``recurrent_spikes``) against snnTorch's ``snn.RLeaky(all_to_all=True,
linear_features=N)`` stepped over time (its neuron, its recurrent ``nn.Linear`` holding V^T with bias 0, and its
autograd are the reference): spikes and membranes bit for bit in float32 (resets "subtract" and "none"); gradients of
the currents, the recurrent weight and per-neuron beta to float64 rounding; reset "zero" (``Leaky``'s, not
``RLeaky``'s) against ``snn.Leaky`` driven by ``I_t + V^T s_{t-1}``; ``V = 0`` equals ``lif_spikes`` exactly; every
backend (Triton against numba, through its interpreter where there is no GPU: ``TRITON_INTERPRET=1``).
"""

from __future__ import annotations

import os

import pytest
import snntorch as snn
import torch

from spikeloc.substrate.fused import NUMBA_AVAILABLE, TRITON_AVAILABLE, lif_spikes, recurrent_spikes
from spikeloc.substrate.neurons import sigmoid_surrogate
from test_fused_beta import betas, currents_for

BACKENDS = ["numba", "torch"] if NUMBA_AVAILABLE else ["torch"]
THRESHOLD, SLOPE = 1.0, 5.0
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


def recurrent_weights(shape, seed: int, dtype=torch.float64, scale: float = 0.3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=g, dtype=torch.float64)).to(dtype)


def snntorch_rleaky(currents, weight, beta, reset):
    """Each member m of (M, B, T, N) currents through its own ``snn.RLeaky(learn_beta=True)`` with
    ``recurrent.weight = weight[m]^T`` and bias 0, stepped from zero state: (spikes, membranes, [beta parameters],
    [recurrent weights (out, in)])."""
    n_units = currents.shape[-1]
    spikes, membranes, beta_params, weight_params = [], [], [], []
    for m in range(currents.shape[0]):
        neuron = snn.RLeaky(beta=beta[m].clone(), all_to_all=True, linear_features=n_units, threshold=THRESHOLD,
                            spike_grad=sigmoid_surrogate(SLOPE), reset_mechanism=reset, learn_beta=True)
        neuron = neuron.to(currents.dtype)
        with torch.no_grad():
            neuron.recurrent.weight.copy_(weight[m].T)
            neuron.recurrent.bias.zero_()
        spk = mem = torch.zeros_like(currents[m, :, 0])
        steps = []
        for t in range(currents.shape[-2]):
            spk, mem = neuron(currents[m, :, t], spk, mem)
            steps.append((spk.to(currents.dtype), mem))
        spikes.append(torch.stack([s for s, _ in steps], -2))
        membranes.append(torch.stack([u for _, u in steps], -2))
        beta_params.append(neuron.beta)
        weight_params.append(neuron.recurrent.weight)
    return torch.stack(spikes), torch.stack(membranes), beta_params, weight_params


def snntorch_leaky_driven(currents, weight, beta):
    """Reset "zero" reference: ``snn.Leaky(reset_mechanism="zero", learn_beta=True)`` per member, its input at t
    the current plus the recurrent input of its own previous spikes (``I_t + V^T s_{t-1}``, float rounding aside
    the same equations). Returns as :func:`snntorch_rleaky`, with V itself as the weight (a leaf)."""
    spikes, membranes, beta_params, weights = [], [], [], []
    for m in range(currents.shape[0]):
        neuron = snn.Leaky(beta=beta[m].clone(), threshold=THRESHOLD, spike_grad=sigmoid_surrogate(SLOPE),
                           reset_mechanism="zero", learn_beta=True).to(currents.dtype)
        v = weight[m].clone().requires_grad_(True)
        spk = mem = torch.zeros_like(currents[m, :, 0])
        steps = []
        for t in range(currents.shape[-2]):
            spk, mem = neuron(currents[m, :, t] + spk @ v, mem)
            steps.append((spk, mem))
        spikes.append(torch.stack([s for s, _ in steps], -2))
        membranes.append(torch.stack([u for _, u in steps], -2))
        beta_params.append(neuron.beta)
        weights.append(v)
    return torch.stack(spikes), torch.stack(membranes), beta_params, weights


def zero_reset_loop(currents, weight, beta):
    """Reset "zero" written out literally in the documented float order, float32 reference for the kernels."""
    mem = spk = torch.zeros_like(currents[..., 0, :])
    spikes, membranes = [], []
    for t in range(currents.shape[-2]):
        reset = (mem > THRESHOLD).to(mem.dtype)
        mem = (beta * ((1 - reset) * mem) + currents[..., t, :]) + torch.matmul(spk, weight)
        spk = (mem > THRESHOLD).to(mem.dtype)
        spikes.append(spk)
        membranes.append(mem)
    return torch.stack(spikes, -2), torch.stack(membranes, -2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["subtract", "none"])
@pytest.mark.parametrize("beta_kind", ["float", "per_neuron"])
def test_float32_spikes_and_membranes_equal_snntorch_rleaky(backend, reset, beta_kind):
    shape = (3, 8, 80, 20)
    currents = currents_for(shape, seed=31, dtype=torch.float32)
    weight = recurrent_weights((3, 20, 20), seed=32, dtype=torch.float32)
    beta = betas((3, 20), seed=33, dtype=torch.float32) if beta_kind == "per_neuron" else torch.full((3, 20), 0.8125)
    spk_ref, mem_ref, _, _ = snntorch_rleaky(currents, weight, beta, reset)
    spk, mem = recurrent_spikes(currents, weight, beta if beta_kind == "per_neuron" else 0.8125, THRESHOLD, SLOPE,
                                return_membrane=True, backend=backend, reset=reset)
    assert 0.05 < spk_ref.mean() < 0.9
    assert torch.equal(spk, spk_ref)
    assert torch.equal(mem, mem_ref)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_zero_reset_equals_its_equations(backend):
    """Reset "zero" bit for bit against the documented float order, and unlike ``snn.RLeaky``'s "zero" (which
    drops the reset step's input): the docstring's warning is true."""
    currents = currents_for((2, 8, 80, 20), seed=34, dtype=torch.float32)
    weight = recurrent_weights((2, 20, 20), seed=35, dtype=torch.float32)
    beta = betas((2, 20), seed=36, dtype=torch.float32)
    spk_ref, mem_ref = zero_reset_loop(currents, weight, beta[:, None, :])
    spk, mem = recurrent_spikes(currents, weight, beta, return_membrane=True, backend=backend, reset="zero")
    assert 0.05 < spk_ref.mean() < 0.9
    assert torch.equal(spk, spk_ref) and torch.equal(mem, mem_ref)
    assert not torch.equal(spk, snntorch_rleaky(currents, weight, beta, "zero")[0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["subtract", "none", "zero"])
def test_gradients_equal_snntorch_autograd_float64(backend, reset):
    """Gradients of the currents, the (M, N, N) recurrent weight and per-neuron beta against snnTorch's autograd
    (RLeaky; for "zero", Leaky driven by I + V^T s), loss on spikes and membranes."""
    shape = (2, 4, 50, 12)
    currents = currents_for(shape, seed=37)
    weight = recurrent_weights((2, 12, 12), seed=38)
    beta = betas((2, 12), seed=39)
    weights_spk, weights_mem = (torch.round(16 * currents_for(shape, seed=s)) / 16 for s in (40, 41))
    reference = snntorch_leaky_driven if reset == "zero" else snntorch_rleaky
    x_ref = currents.clone().requires_grad_(True)
    spk_ref, mem_ref, beta_params, weight_params = reference(x_ref, weight, beta, *(() if reset == "zero" else
                                                                                     (reset,)))
    ((spk_ref * weights_spk).sum() + (mem_ref * weights_mem).sum()).backward()
    x, v, b = (t.clone().requires_grad_(True) for t in (currents, weight, beta))
    spk, mem = recurrent_spikes(x, v, b, THRESHOLD, SLOPE, return_membrane=True, backend=backend, reset=reset)
    ((spk * weights_spk).sum() + (mem * weights_mem).sum()).backward()
    assert 0.05 < spk_ref.mean() < 0.9
    assert torch.equal(spk, spk_ref)
    torch.testing.assert_close(mem, mem_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-9, atol=1e-10)
    grad_weight_ref = torch.stack([w.grad if reset == "zero" else w.grad.T for w in weight_params])
    assert grad_weight_ref.abs().max() > 0.1
    torch.testing.assert_close(v.grad, grad_weight_ref, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(b.grad, torch.stack([p.grad for p in beta_params]), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_weight_equals_lif_spikes_exactly(backend, reset, dtype):
    """V = 0: spikes, membranes and the gradients of the currents and beta are lif_spikes's, bit for bit."""
    shape = (3, 5, 40, 9)
    currents, weights = currents_for(shape, seed=42, dtype=dtype), currents_for(shape, seed=43, dtype=dtype)
    outputs = []
    for run in ("recurrent", "lif"):
        x, b = currents.clone().requires_grad_(True), betas((3, 9), seed=44, dtype=dtype).requires_grad_(True)
        if run == "recurrent":
            spk, mem = recurrent_spikes(x, torch.zeros(3, 9, 9, dtype=dtype), b, return_membrane=True,
                                        backend=backend, reset=reset)
        else:
            spk, mem = lif_spikes(x, b, return_membrane=True, backend=backend, reset=reset)
        ((spk * weights).sum() + mem.sum()).backward()
        outputs.append((spk, mem, x.grad, b.grad))
    for mine, theirs in zip(*outputs):
        assert torch.equal(mine, theirs)


@pytest.mark.skipif(not NUMBA_AVAILABLE, reason="needs numba")
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_numba_equals_torch_backend_with_shared_weight_and_float_beta(reset):
    """An (N, N) weight shared by every row, a float beta, no membrane returned: the two backends agree (spikes
    exactly, float64 gradients to rounding; in float32 the exps differ by an ulp and the recurrence amplifies it
    over 70 steps, measured up to 3e-4 relative)."""
    currents = currents_for((6, 70, 16), seed=45)
    weight = recurrent_weights((16, 16), seed=46)
    grads = []
    for backend in BACKENDS:
        x, v = currents.clone().requires_grad_(True), weight.clone().requires_grad_(True)
        spk = recurrent_spikes(x, v, 0.9, backend=backend, reset=reset)
        (spk * currents).sum().backward()
        grads.append((spk, x.grad, v.grad))
    assert torch.equal(grads[0][0], grads[-1][0])
    torch.testing.assert_close(grads[0][1], grads[-1][1], rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(grads[0][2], grads[-1][2], rtol=1e-9, atol=1e-9)


def test_recurrence_changes_spikes():
    """A non-zero V reaches the kernels: spikes differ from the non-recurrent layer's."""
    currents = currents_for((4, 60, 10), seed=47, dtype=torch.float32)
    assert not torch.equal(recurrent_spikes(currents, recurrent_weights((10, 10), 48, torch.float32), 0.9),
                           lif_spikes(currents, 0.9))


@pytest.mark.parametrize("weight, message", [
    (torch.zeros(5, 4), r"recurrent_weight must be shaped \(N, N\) = \(4, 4\) or \(M, N, N\) = \(2, 4, 4\)"),
    (torch.zeros(3, 4, 4), r"recurrent_weight must be shaped"),
    (torch.full((4, 4), float("nan")), "recurrent_weight must be finite"),
    (torch.zeros(4, 4, dtype=torch.long), "recurrent_weight must be a floating-point torch.Tensor"),
])
def test_bad_recurrent_weight_is_one_clear_error(weight, message):
    with pytest.raises((ValueError, TypeError), match=message):
        recurrent_spikes(torch.zeros(2, 3, 5, 4), weight, 0.9)


@pytest.mark.skipif(not (TRITON_AVAILABLE and NUMBA_AVAILABLE and (INTERPRET or torch.cuda.is_available())),
                    reason="needs triton and numba, and CUDA or TRITON_INTERPRET=1")
@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
def test_triton_equals_numba(reset):
    """Triton (one program per row) against numba: float32 spikes and membranes bit for bit; float64 gradients
    of the currents, the (M, N, N) weight and per-neuron beta to float64 rounding. (float32 gradients differ: the
    surrogate's exp is Triton's, and the recurrence amplifies an ulp over the steps.)"""
    device = "cpu" if INTERPRET or not torch.cuda.is_available() else "cuda"
    shape = (2, 2, 25, 6)
    for dtype in (torch.float32, torch.float64):
        currents, weights = currents_for(shape, 49, dtype), currents_for(shape, 50, dtype)
        weight, beta = recurrent_weights((2, 6, 6), 51, dtype, scale=0.4), betas((2, 6), 52, dtype)
        outputs = []
        for backend, where in (("numba", "cpu"), ("triton", device)):
            x, v, b = (t.to(where).clone().requires_grad_(True) for t in (currents, weight, beta))
            spk, mem = recurrent_spikes(x, v, b, return_membrane=True, backend=backend, reset=reset)
            ((spk * weights.to(where)).sum() + mem.sum()).backward()
            outputs.append([t.cpu() for t in (spk, mem, x.grad, v.grad, b.grad)])
        (spk, mem, *grads), (spk_t, mem_t, *grads_t) = outputs
        assert 0.05 < spk.mean() < 0.9
        assert torch.equal(spk, spk_t) and torch.equal(mem, mem_t)
        if dtype == torch.float64:
            for mine, theirs in zip(grads_t, grads):
                torch.testing.assert_close(mine, theirs, rtol=1e-12, atol=1e-12)
