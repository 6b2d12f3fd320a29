"""The Triton backend of lif_spikes against the numba backend (itself checked against snnTorch in test_fused.py):
spikes and membranes bit for bit, gradients (input and per-neuron beta) to float rounding.

Without a GPU the kernels run on CPU tensors through Triton's interpreter, which must be switched on before
triton is imported: ``TRITON_INTERPRET=1`` (``make test-triton``). The tests skip with the reason where triton
is not installed (it is the optional extra ``spikeloc[gpu]``) or neither CUDA nor the interpreter is there.
The CUDA-only tests (the kernel compiled for the GPU, ``backend="auto"`` picking it) skip without a GPU.
"""

from __future__ import annotations

import math
import os

import pytest
import torch

from spikeloc.substrate.fused import NUMBA_AVAILABLE, TRITON_AVAILABLE, lif_spikes

CUDA = torch.cuda.is_available()
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
needs_kernels = [
    pytest.mark.skipif(not TRITON_AVAILABLE, reason="triton is not installed (pip install -e '.[gpu]')"),
    pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba (the reference) is not installed"),
    pytest.mark.skipif(not (CUDA or INTERPRET), reason="no CUDA device; run with TRITON_INTERPRET=1 "
                                                       "(make test-triton) to test the kernels on CPU"),
]


def kernel_test(function):
    """Mark a test that runs the Triton kernels (on CUDA or through the interpreter)."""
    for mark in needs_kernels:
        function = mark(function)
    return function


needs_cuda = pytest.mark.skipif(not CUDA or INTERPRET, reason="needs a CUDA device (and no TRITON_INTERPRET)")
DEVICE = "cpu" if INTERPRET or not CUDA else "cuda"

# (beta, threshold, slope), as test_fused.py: the package's default LIF, snnTorch's default slope, a slow
# leak with a high threshold, no leak at all
SETTINGS = [(torch.tensor(math.exp(-1 / 5), dtype=torch.float32).item(), 1.0, 5.0), (0.5, 0.75, 25.0),
            (0.96875, 1.5, 2.0), (1.0, 0.25, 10.0)]


def currents_for(shape, threshold, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (threshold * (0.7 * torch.randn(shape, generator=g, dtype=torch.float64) + 0.3)).to(dtype)


def run(backend, currents, beta, threshold, slope, weights_spk, weights_mem, device="cpu"):
    """Spikes, membrane, d/dcurrents and d/dbeta (None for a float beta) of sum(s w_s) + sum(u w_u), on CPU."""
    x = currents.to(device, copy=True).requires_grad_(True)  # a fresh leaf per run: no shared .grad
    b = beta.to(device, copy=True).requires_grad_(True) if isinstance(beta, torch.Tensor) else beta
    spk, mem = lif_spikes(x, b, threshold, slope, return_membrane=True, backend=backend)
    loss = (spk * weights_spk.to(device)).sum()
    if weights_mem is not None:
        loss = loss + (mem * weights_mem.to(device)).sum()
    loss.backward()
    grad_beta = b.grad.cpu() if isinstance(b, torch.Tensor) else None
    return spk.detach().cpu(), mem.detach().cpu(), x.grad.cpu(), grad_beta


def assert_same(numba_out, triton_out, dtype):
    spk_n, mem_n, grad_n, beta_n = numba_out
    spk_t, mem_t, grad_t, beta_t = triton_out
    assert 0.05 < spk_n.mean().item() < 0.7, "test data should make a good fraction of units spike"
    assert torch.equal(spk_t, spk_n)
    assert torch.equal(mem_t, mem_n)  # the same float operations in the same order, no FMA: bit for bit
    # the surrogate's exp (and on a GPU its division) differ by ulps; the error then runs back through T steps
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(grad_t, grad_n, **tol)
    if beta_n is not None:
        assert (beta_n != 0).all()
        torch.testing.assert_close(beta_t, beta_n, **tol)


@kernel_test
@pytest.mark.parametrize("shape", [(6, 60, 9), (3, 4, 40, 7), (2, 130, 1)])  # 130 lanes: more than one block
@pytest.mark.parametrize("beta,threshold,slope", SETTINGS)
def test_triton_equals_numba_scalar_beta(shape, beta, threshold, slope):
    currents = currents_for(shape, threshold, seed=hash((shape, beta)) % 2**31)
    g = torch.Generator().manual_seed(1)
    w_spk, w_mem = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    args = (currents, beta, threshold, slope, w_spk, w_mem)
    assert_same(run("numba", *args), run("triton", *args, device=DEVICE), torch.float32)


@kernel_test
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape, beta_shape", [((5, 50, 7), (7,)), ((3, 4, 40, 6), (6,)), ((3, 4, 40, 6), (3, 6))])
def test_triton_equals_numba_per_neuron_beta(dtype, shape, beta_shape):
    currents = currents_for(shape, 1.0, seed=2, dtype=dtype)
    g = torch.Generator().manual_seed(3)
    beta = torch.exp(-1 / (2 + 18 * torch.rand(beta_shape, generator=g, dtype=torch.float64))).to(dtype)
    w_spk, w_mem = torch.randn(shape, generator=g, dtype=dtype), torch.randn(shape, generator=g, dtype=dtype)
    for weights_mem in (w_mem, None):  # with and without a gradient reaching the membrane
        args = (currents, beta, 1.0, 5.0, w_spk, weights_mem)
        assert_same(run("numba", *args), run("triton", *args, device=DEVICE), dtype)


@kernel_test
def test_triton_spikes_only_and_without_grad():
    """The forward without the membrane (nothing but spikes stored) and under no_grad gives the same spikes."""
    beta, threshold, slope = SETTINGS[0]
    currents = currents_for((4, 30, 20), threshold, seed=9)
    expected = lif_spikes(currents, beta, threshold, slope, backend="numba")
    with torch.no_grad():
        assert torch.equal(lif_spikes(currents.to(DEVICE), beta, threshold, slope, backend="triton").cpu(), expected)
    x = currents.to(DEVICE, copy=True).requires_grad_(True)
    lif_spikes(x, beta, threshold, slope, backend="triton").sum().backward()
    y = currents.clone().requires_grad_(True)
    lif_spikes(y, beta, threshold, slope, backend="numba").sum().backward()
    torch.testing.assert_close(x.grad.cpu(), y.grad, rtol=2e-5, atol=2e-6)


@pytest.mark.skipif(INTERPRET or CUDA, reason="checks the refusal on CPU without the interpreter")
def test_triton_backend_where_it_cannot_run_is_a_clear_error():
    why = "it needs a CUDA" if TRITON_AVAILABLE else "triton is not installed"
    with pytest.raises(ValueError, match=f"^backend='triton' is unavailable: {why}"):
        lif_spikes(torch.zeros(2, 3, 4), 0.5, backend="triton")


@kernel_test
@needs_cuda
def test_auto_picks_triton_on_cuda_and_equals_numba():
    from spikeloc.substrate import fused

    currents = currents_for((8, 100, 30), 1.0, seed=5)
    assert fused._resolve_backend("auto", currents.cuda()) == "triton"
    g = torch.Generator().manual_seed(6)
    w = torch.randn(currents.shape, generator=g)
    args = (currents, SETTINGS[0][0], 1.0, 5.0, w, None)
    assert_same(run("numba", *args), run("auto", *args, device="cuda"), torch.float32)
