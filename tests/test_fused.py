"""spikeloc.substrate.fused against snnTorch: spikes, membranes and input gradients of lif_spikes equal a step-by-step
snn.Leaky loop; the torch-loop backend equals the numba backend; leaky_integrate equals a Python loop.

The reference is always an independent implementation (snnTorch's own neuron and autograd, or a plain
loop), never the code under test.
"""

from __future__ import annotations

import math

import pytest
import snntorch as snn
import torch
from snntorch import surrogate

from spikeloc.substrate.fused import NUMBA_AVAILABLE, leaky_integrate, lif_spikes

BACKENDS = ["numba", "torch"] if NUMBA_AVAILABLE else ["torch"]
needs_numba = pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba not installed")



def as_float32(value: float) -> float:
    return torch.tensor(value, dtype=torch.float32).item()


# (beta, threshold, slope); beta and threshold are float32 numbers, so that float64 runs see the same
# constants as snnTorch (which stores them as float32 tensors).
SETTINGS = [
    (as_float32(math.exp(-1 / 5)), 1.0, 5.0),  # the package's default LIF (tau = 5 ms, dt = 1 ms)
    (0.5, 0.75, 25.0),                # snnTorch's default slope
    (0.96875, 1.5, 2.0),              # slow leak, high threshold, flat surrogate
    (1.0, 0.25, 10.0),                # no leak: pure integrate-and-fire
]
SHAPES = [(6, 60, 9), (3, 4, 40, 7)]  # (B, T, N) and (K, B, T, N)


def currents_for(shape, threshold, seed, dtype=torch.float32):
    """Currents in units of the threshold, so that a good fraction of (step, unit) pairs spike."""
    g = torch.Generator().manual_seed(seed)
    return (threshold * (0.7 * torch.randn(shape, generator=g, dtype=torch.float64) + 0.3)).to(dtype)


def snntorch_loop(currents, beta, threshold, slope):
    """snn.Leaky stepped over axis -2 from a zero membrane: (spikes, membranes), graph kept."""
    neuron = snn.Leaky(beta=beta, threshold=threshold, spike_grad=surrogate.sigmoid(slope=slope),
                       reset_mechanism="zero")
    mem = torch.zeros_like(currents[..., 0, :])
    spikes, mems = [], []
    for t in range(currents.shape[-2]):
        spk, mem = neuron(currents[..., t, :], mem)
        spikes.append(spk.to(currents.dtype))  # snnTorch's Sigmoid returns float32 spikes
        mems.append(mem)
    return torch.stack(spikes, -2), torch.stack(mems, -2)


def run(fn, currents, weights_spk, weights_mem=None):
    """Outputs of fn and the gradient of sum(spk * w) (+ sum(mem * w_mem)) w.r.t. the currents."""
    x = currents.clone().requires_grad_(True)
    spk, mem = fn(x)
    loss = (spk * weights_spk).sum()
    if weights_mem is not None:
        loss = loss + (mem * weights_mem).sum()
    loss.backward()
    return spk.detach(), mem.detach(), x.grad


def assert_meaningful(spikes, grad):
    rate = spikes.mean().item()
    assert 0.05 < rate < 0.7, f"test data should make a good fraction of units spike, rate {rate}"
    assert (grad != 0).float().mean() > 0.5, "gradients should mostly be nonzero"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("beta,threshold,slope", SETTINGS)
def test_lif_spikes_equals_snntorch_float32(backend, shape, beta, threshold, slope):
    currents = currents_for(shape, threshold, seed=hash((shape, beta)) % 2**31)
    w = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    ref_spk, ref_mem, ref_grad = run(lambda x: snntorch_loop(x, beta, threshold, slope), currents, w)
    spk, mem, grad = run(lambda x: lif_spikes(x, beta, threshold, slope, return_membrane=True,
                                              backend=backend), currents, w)
    assert_meaningful(ref_spk, ref_grad)
    assert spk.dtype == mem.dtype == torch.float32 and spk.shape == mem.shape == currents.shape
    assert torch.equal(spk, ref_spk)
    assert torch.equal(mem, ref_mem)  # same float32 operations in the same order: bit for bit
    # the surrogate's exp differs by <= 1 ulp; errors then run back through up to T steps of beta
    torch.testing.assert_close(grad, ref_grad, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("beta,threshold,slope", SETTINGS)
def test_lif_spikes_gradient_equals_snntorch_autograd_float64(backend, beta, threshold, slope):
    """The gradcheck-style test: H is not differentiable, so finite differences are meaningless; instead the
    hand-written backward must reproduce snnTorch's autograd graph, to float64 rounding."""
    shape = (5, 80, 6)
    currents = currents_for(shape, threshold, seed=7, dtype=torch.float64)
    # snnTorch's spikes are float32 even for float64 inputs, so the gradient reaching its surrogate is
    # rounded to float32 and multiplied by the slope in float32: weights with few significant bits keep
    # both steps exact, and the comparison is then float64 against float64.
    w = torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    w = torch.round(16 * w) / 16
    ref_spk, ref_mem, ref_grad = run(lambda x: snntorch_loop(x, beta, threshold, slope), currents, w)
    spk, mem, grad = run(lambda x: lif_spikes(x, beta, threshold, slope, return_membrane=True,
                                              backend=backend), currents, w)
    assert_meaningful(ref_spk, ref_grad)
    assert spk.dtype == torch.float64
    assert torch.equal(spk, ref_spk)
    torch.testing.assert_close(mem, ref_mem, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_through_returned_membrane_equals_snntorch(backend):
    beta, threshold, slope = SETTINGS[0]
    shape = (2, 3, 50, 8)
    currents = currents_for(shape, threshold, seed=3)
    g = torch.Generator().manual_seed(4)
    w_spk, w_mem = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    ref = run(lambda x: snntorch_loop(x, beta, threshold, slope), currents, w_spk, w_mem)
    out = run(lambda x: lif_spikes(x, beta, threshold, slope, return_membrane=True, backend=backend),
              currents, w_spk, w_mem)
    torch.testing.assert_close(out[2], ref[2], rtol=2e-5, atol=2e-6)
    # membrane-only loss: no gradient arrives at the spikes
    ref_m = run(lambda x: snntorch_loop(x, beta, threshold, slope), currents, 0 * w_spk, w_mem)
    out_m = run(lambda x: lif_spikes(x, beta, threshold, slope, return_membrane=True, backend=backend),
                currents, 0 * w_spk, w_mem)
    torch.testing.assert_close(out_m[2], ref_m[2], rtol=2e-5, atol=2e-6)
    assert not torch.allclose(out_m[2], out[2]), "the spike path must contribute to the gradient"
    # spikes not in the graph at all (their gradient arrives as None)
    x = currents.clone().requires_grad_(True)
    _, mem = lif_spikes(x, beta, threshold, slope, return_membrane=True, backend=backend)
    (mem * w_mem).sum().backward()
    torch.testing.assert_close(x.grad, ref_m[2], rtol=2e-5, atol=2e-6)


@needs_numba
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(64, 100, 30), (3, 5, 33, 17), (1, 1), (7, 1, 3)])
def test_torch_backend_equals_numba_backend(dtype, shape):
    beta, threshold, slope = math.exp(-1 / 5), 1.0, 5.0
    currents = currents_for(shape, threshold, seed=11, dtype=dtype)
    w = torch.randn(shape, generator=torch.Generator().manual_seed(5), dtype=dtype)
    fn = lambda backend: (lambda x: lif_spikes(x, beta, threshold, slope, return_membrane=True,  # noqa: E731
                                               backend=backend))
    spk_n, mem_n, grad_n = run(fn("numba"), currents, w)
    spk_t, mem_t, grad_t = run(fn("torch"), currents, w)
    assert torch.equal(spk_n, spk_t)
    assert torch.equal(mem_n, mem_t)
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(grad_n, grad_t, **tol)


def test_auto_backend_and_layouts():
    beta, threshold, slope = SETTINGS[0]
    base = currents_for((4, 30, 20), threshold, seed=9)
    expected = lif_spikes(base, beta, threshold, slope, backend="torch")
    # a non-contiguous view (time and batch swapped back) and a (T, N) input give the same spikes
    swapped = base.transpose(0, 1).contiguous().transpose(0, 1)
    assert not swapped.is_contiguous()
    assert torch.equal(lif_spikes(swapped, beta, threshold, slope), expected)
    assert torch.equal(lif_spikes(base[2], beta, threshold, slope), expected[2])
    # spikes without return_membrane, and under no_grad
    with torch.no_grad():
        assert torch.equal(lif_spikes(base, beta, threshold, slope), expected)
    # empty inputs
    for shape in [(0, 30, 20), (4, 0, 20), (4, 30, 0)]:
        empty = torch.zeros(shape, requires_grad=True)
        spk, mem = lif_spikes(empty, beta, threshold, slope, return_membrane=True)
        assert spk.shape == mem.shape == shape
        spk.sum().backward()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_membrane_exactly_at_threshold_does_not_spike(backend, dtype):
    """H is strict (x > 0) for the spike and the reset; the reset acts one step late (reset_delay=True)."""
    beta, threshold = 0.5, 1.0
    currents = torch.tensor([1.0, 0.5, 0.5, 0.25, 2.0, 0.0, 0.0], dtype=dtype)[:, None]  # (T, N=1)
    spk, mem = lif_spikes(currents, beta, threshold, return_membrane=True, backend=backend)
    # u: 1 (= thr, no spike), 1, 1, 0.75, 2.375 (spike), 0 + 0 (reset), 0
    expected_mem = torch.tensor([1.0, 1.0, 1.0, 0.75, 2.375, 0.0, 0.0], dtype=dtype)[:, None]
    assert torch.equal(mem, expected_mem)
    assert torch.equal(spk, (expected_mem > threshold).to(dtype))
    ref_spk, ref_mem = snntorch_loop(currents, beta, threshold, 5.0)
    assert torch.equal(spk, ref_spk) and torch.equal(mem, ref_mem)


def test_surrogate_is_finite_where_snntorch_overflows():
    """snnTorch evaluates k exp(-k x) / (exp(-k x) + 1)^2, which is inf / inf = nan once k |x| > 88 in
    float32; the even form k e / (1 + e)^2 with e = exp(-k |x|) gives the true (tiny) value."""
    beta, threshold, slope = 0.5, 1.0, 25.0
    currents = torch.tensor([[[-4.0], [0.5], [3.0], [-3.0]]])  # membranes -4, -1.5, 2.25, -3
    ref_grad = run(lambda x: snntorch_loop(x, beta, threshold, slope), currents, torch.ones_like(currents))[2]
    assert torch.isnan(ref_grad).any()
    for backend in BACKENDS:
        _, mem, grad = run(lambda x: lif_spikes(x, beta, threshold, slope, return_membrane=True,
                                                backend=backend), currents, torch.ones_like(currents))
        x = mem.double() - threshold
        e = torch.exp(-slope * x.abs())
        local = slope * e / (1 + e) ** 2
        expected = local.clone()
        for t in range(local.shape[-2] - 2, -1, -1):  # reverse-time recursion, reset where u_t > threshold
            expected[..., t, :] += beta * (x[..., t, :] <= 0) * expected[..., t + 1, :]
        assert torch.isfinite(grad).all()
        torch.testing.assert_close(grad.double(), expected, rtol=1e-5, atol=1e-30)
        finite = ~torch.isnan(ref_grad)
        torch.testing.assert_close(grad[finite], ref_grad[finite], rtol=1e-5, atol=1e-7)


@needs_numba
def test_numba_float32_exp_is_accurate():
    """The numba kernels use their own vectorisable float32 exp for the surrogate: <= 1 ulp in the normal
    range, correct under/overflow, nan propagates."""
    import numba
    import numpy as np

    from spikeloc.substrate.kernels import numba_cpu, step  # noqa: F401 (numba_cpu registers the overload)

    @numba.njit
    def exp_all(y, out):
        for i in range(y.size):
            out[i] = step._exp(y[i])

    rng = np.random.default_rng(0)
    y = np.concatenate([-np.abs(rng.standard_normal(200_000) * 30), np.linspace(-110, 89, 200_001),
                        [0.0, -0.0, np.inf, -np.inf, np.nan]]).astype(np.float32)
    out = np.empty_like(y)
    exp_all(y, out)
    with np.errstate(over="ignore"):
        exact = np.exp(y.astype(np.float64))
    normal = (exact >= np.finfo(np.float32).tiny) & (exact <= np.finfo(np.float32).max)
    ulp = np.spacing(exact[normal].astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(out[normal] - exact[normal]) / ulp) <= 1.0
    tiny = exact < np.finfo(np.float32).tiny
    assert np.max(np.abs(out[tiny] - exact[tiny])) <= np.finfo(np.float32).smallest_subnormal
    assert np.all(out[(exact > np.finfo(np.float32).max) & ~np.isnan(y)] == np.inf)
    assert np.isnan(out[-1]) and out[-2] == 0.0 and out[-3] == np.inf and out[-4] == out[-5] == 1.0


def test_invalid_arguments():
    x = torch.zeros(2, 5, 3)
    with pytest.raises(ValueError, match="beta"):
        lif_spikes(x, 1.5)
    with pytest.raises(ValueError, match="beta"):
        leaky_integrate(x, -0.1)
    with pytest.raises(ValueError, match="slope"):
        lif_spikes(x, 0.5, slope=0.0)
    with pytest.raises(ValueError, match="backend"):
        lif_spikes(x, 0.5, backend="cuda")
    with pytest.raises(ValueError, match="shape"):
        lif_spikes(torch.zeros(5), 0.5)
    with pytest.raises(TypeError):
        lif_spikes(torch.zeros(2, 5, 3, dtype=torch.int64), 0.5)
    with pytest.raises(TypeError, match="constant"):
        lif_spikes(x, torch.tensor(0.5, requires_grad=True))
    if NUMBA_AVAILABLE:
        with pytest.raises(ValueError, match="numba"):
            lif_spikes(x.half(), 0.5, backend="numba")
    # other dtypes fall back to the torch loop
    assert torch.equal(lif_spikes(x.bfloat16() + 2, 0.5), torch.ones(2, 5, 3, dtype=torch.bfloat16))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_runs_torch_loop_and_matches_cpu():
    beta, threshold, slope = SETTINGS[0]
    currents = currents_for((3, 4, 40, 7), threshold, seed=12)
    w = torch.randn(currents.shape, generator=torch.Generator().manual_seed(6))
    cpu = run(lambda x: lif_spikes(x, beta, threshold, slope, return_membrane=True), currents, w)
    gpu = run(lambda x: lif_spikes(x, beta, threshold, slope, return_membrane=True),
              currents.cuda(), w.cuda())
    assert torch.equal(gpu[0].cpu(), cpu[0])
    torch.testing.assert_close(gpu[1].cpu(), cpu[1], rtol=0, atol=0)
    torch.testing.assert_close(gpu[2].cpu(), cpu[2], rtol=2e-5, atol=2e-6)


# ------------------------------------------------------------------------------------------------------
# leaky_integrate
# ------------------------------------------------------------------------------------------------------

def leaky_loop(currents, beta):
    v = torch.zeros_like(currents[..., 0, :])
    out = []
    for t in range(currents.shape[-2]):
        v = beta * v + currents[..., t, :]
        out.append(v)
    return torch.stack(out, -2)


@pytest.mark.parametrize("shape", [(8, 100, 5), (3, 4, 100, 6), (100, 2)])
@pytest.mark.parametrize("beta", [math.exp(-1 / 5), 0.0, 0.999, 1.0])
def test_leaky_integrate_equals_loop_and_its_gradient(shape, beta):
    g = torch.Generator().manual_seed(0)
    currents = torch.randn(shape, generator=g, dtype=torch.float64)
    w = torch.randn(shape, generator=g, dtype=torch.float64)
    x_ref = currents.clone().requires_grad_(True)
    ref = leaky_loop(x_ref, beta)
    (ref * w).sum().backward()
    tolerances = {torch.float64: dict(rtol=1e-12, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-5)}
    for dtype, tol in tolerances.items():
        x = currents.to(dtype, copy=True).requires_grad_(True)
        v = leaky_integrate(x, beta)
        (v * w.to(dtype)).sum().backward()
        assert v.dtype == dtype and v.shape == currents.shape
        torch.testing.assert_close(v.double(), ref.detach(), **tol)
        torch.testing.assert_close(x.grad.double(), x_ref.grad, **tol)


def test_leaky_integrate_float32_accuracy_vs_loop():
    """Against a float64 loop, the matmul is at least as accurate as the float32 step-by-step loop."""
    beta = math.exp(-1 / 5)
    currents = torch.randn(64, 100, 30, generator=torch.Generator().manual_seed(1))
    exact = leaky_loop(currents.double(), beta)
    err_matmul = (leaky_integrate(currents, beta).double() - exact).abs().max().item()
    err_loop = (leaky_loop(currents, beta).double() - exact).abs().max().item()
    assert err_matmul < 1e-5 * exact.abs().max().item()
    assert err_matmul <= 2 * err_loop


def test_leaky_integrate_under_inference_mode_then_autograd():
    """The cached decay matrix must stay usable by autograd after a first call in inference mode."""
    x = torch.randn(2, 17, 3)
    with torch.inference_mode():
        leaky_integrate(x, 0.3)
    y = x.clone().requires_grad_(True)
    leaky_integrate(y, 0.3).sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
