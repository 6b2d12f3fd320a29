"""Reset mechanisms of the fused LIF loop: ``lif_spikes(reset="subtract" | "none")`` against snnTorch's
``snn.Leaky(reset_mechanism=...)`` stepped over time (its own neuron and autograd are the reference): spikes and
membranes bit for bit in float32; input and per-neuron beta gradients to float rounding in float64; every backend
(numba, torch, Triton through its interpreter where importable) the same.
"""

from __future__ import annotations

import os

import pytest
import torch

from spikeloc.substrate.fused import NUMBA_AVAILABLE, TRITON_AVAILABLE, lif_spikes
from test_fused_beta import betas, currents_for, snntorch_learned_beta

BACKENDS = ["numba", "torch"] if NUMBA_AVAILABLE else ["torch"]
RESETS = ["subtract", "none", "zero"]
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("beta_kind", ["float", "per_neuron"])
def test_float32_spikes_and_membranes_equal_snntorch(backend, reset, beta_kind):
    shape = (3, 8, 60, 10)
    currents = currents_for(shape, seed=21, dtype=torch.float32)
    beta = betas((3, 10), seed=22, dtype=torch.float32) if beta_kind == "per_neuron" else torch.full((10,), 0.8125)
    spk_ref, mem_ref, _ = snntorch_learned_beta(currents, beta, 1.0, 5.0, reset=reset)
    spk, mem = lif_spikes(currents, beta if beta_kind == "per_neuron" else 0.8125, 1.0, 5.0,
                          return_membrane=True, backend=backend, reset=reset)
    assert 0.05 < spk_ref.mean() < 0.9  # "none": a membrane above threshold stays there
    assert torch.equal(spk, spk_ref)
    assert torch.equal(mem, mem_ref)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", RESETS)
def test_gradients_equal_snntorch_autograd_float64(backend, reset):
    """Input and per-neuron beta gradients (the subtract / none carry has no reset mask) against snnTorch's
    autograd through learn_beta, to float64 rounding."""
    shape, threshold, slope = (3, 4, 40, 6), 1.0, 5.0
    currents = currents_for(shape, seed=23)
    weights_spk, weights_mem = (torch.round(16 * currents_for(shape, seed=s)) / 16 for s in (24, 25))
    beta = betas((3, 6), seed=26)
    x_ref = currents.clone().requires_grad_(True)
    spk_ref, mem_ref, beta_param = snntorch_learned_beta(x_ref, beta, threshold, slope, reset=reset)
    ((spk_ref * weights_spk).sum() + (mem_ref * weights_mem).sum()).backward()
    x, b = currents.clone().requires_grad_(True), beta.clone().requires_grad_(True)
    spk, mem = lif_spikes(x, b, threshold, slope, return_membrane=True, backend=backend, reset=reset)
    ((spk * weights_spk).sum() + (mem * weights_mem).sum()).backward()
    assert torch.equal(spk, spk_ref)
    torch.testing.assert_close(mem, mem_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(b.grad, beta_param.grad.reshape(3, 6), rtol=1e-9, atol=1e-9)


def test_resets_differ():
    """The three mechanisms give different spikes on the same currents (the option reaches the kernels)."""
    currents = currents_for((4, 60, 10), seed=27, dtype=torch.float32)
    spikes = [lif_spikes(currents, 0.9, reset=reset) for reset in RESETS]
    assert not torch.equal(spikes[0], spikes[1]) and not torch.equal(spikes[0], spikes[2])
    assert not torch.equal(spikes[1], spikes[2])


def test_unknown_reset_is_one_clear_error():
    with pytest.raises(ValueError, match="reset = 'subtrac' is invalid: must be one of 'zero', 'subtract', 'none'"):
        lif_spikes(torch.zeros(2, 5, 3), 0.9, reset="subtrac")


@pytest.mark.skipif(not (TRITON_AVAILABLE and NUMBA_AVAILABLE and (INTERPRET or torch.cuda.is_available())),
                    reason="needs triton and numba, and CUDA or TRITON_INTERPRET=1")
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_triton_equals_numba(reset, dtype):
    device = "cpu" if INTERPRET or not torch.cuda.is_available() else "cuda"
    shape = (3, 4, 40, 7)
    currents, weights = currents_for(shape, 28, dtype), currents_for(shape, 29, dtype)
    outputs = []
    for backend, where in (("numba", "cpu"), ("triton", device)):
        x = currents.to(where, copy=True).requires_grad_(True)
        b = betas((3, 7), 30, dtype).to(where).requires_grad_(True)
        spk, mem = lif_spikes(x, b, return_membrane=True, backend=backend, reset=reset)
        ((spk + mem) * weights.to(where)).sum().backward()
        outputs.append([t.detach().cpu() for t in (spk, mem, x.grad, b.grad)])
    (spk_n, mem_n, gx_n, gb_n), (spk_t, mem_t, gx_t, gb_t) = outputs
    assert torch.equal(spk_t, spk_n) and torch.equal(mem_t, mem_n)
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(gx_t, gx_n, **tol)
    torch.testing.assert_close(gb_t, gb_n, **(tol if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-4)))
