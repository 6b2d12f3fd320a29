"""Fused leaky integrate-and-fire (LIF) time loops: the whole loop over time in one call, forward + backward.

Tensors are batch-major with time on axis -2: currents ``(..., T, N)``, e.g. ``(B, T, N)`` or ``(K, B, T, N)``
for an ensemble of K networks. Everything is dimensionless: currents and membranes are in units of the
firing-threshold scale (a current of 1 added to a resting membrane reaches the default threshold), and the
per-step decay ``beta = exp(-dt / tau)`` (time step ``dt`` and membrane time constant ``tau`` in the same
unit, e.g. seconds) lies in [0, 1].

:func:`lif_spikes` -- spiking LIF layer, equal to ``snn.Leaky(beta, threshold, reset_mechanism="zero",
spike_grad=surrogate.sigmoid(slope))`` (default ``reset_delay=True``) stepped over time from ``u = 0``::

    u_{-1} = 0
    r_t    = H(u_{t-1} - threshold)                  reset signal, detached (no gradient)
    u_t    = beta * ((1 - r_t) * u_{t-1}) + I_t      snnTorch's order of float operations
    s_t    = H(u_t - threshold)                      spike; H(x) = 1 if x > 0 else 0 (strict)

with the sigmoid surrogate derivative used in place of H' in the backward pass::

    ds_t/du_t = k e / (1 + e)^2,   e = exp(-k |x|),   x = u_t - threshold,   k = slope

(``k exp(-k x) / (1 + exp(-k x))^2`` is even in x; evaluating it at -|x| never overflows, so it is finite
where snnTorch's formula returns inf/inf = nan, i.e. for k x < -88 in float32, and equal elsewhere). The
backward pass runs in reverse time::

    g_u_t = g_s_t * ds_t/du_t + g_out_u_t + beta * (1 - r_{t+1}) * g_u_{t+1}      (r_{t+1} = s_t)
    g_I_t = g_u_t

where ``g_out_u_t`` is the gradient reaching the returned membrane, if it is returned and used.

``beta`` is one float for every neuron, or a tensor per neuron: shape ``(N,)`` (one per unit) or ``(M, N)``
(one per unit of each of the M slices along the currents' first axis, e.g. per ensemble member). A tensor
``beta`` that requires grad gets its gradient from the same reverse-time pass::

    dL/dbeta_n = sum_{t >= 1} g_u_t * (1 - r_t) * u_{t-1}        summed over all rows (batch) that share beta_n

(summed over time in the currents' dtype, over rows in float64). With a float ``beta`` the kernels run exactly as before (the constant is a
scalar in the compiled code; no gradient work).

:func:`leaky_integrate` -- non-spiking leaky readout ``v_t = beta v_{t-1} + I_t``, ``v_{-1} = 0``, computed
in parallel over time as a causal exponential filter (one matrix product).

Backends of :func:`lif_spikes`: ``"numba"`` (CPU, float32/float64) runs both time loops in compiled
single-threaded numba kernels; ``"torch"`` runs them as a loop of torch ops over time and works on any
device (CUDA) and dtype and without numba. ``"auto"`` picks numba where it applies. The per-step math
(:func:`_lif_step`, :func:`surrogate_grad`, :func:`_carry_grad`) is written once, as plain Python that both
numba (scalars) and torch (tensors) evaluate, so the backends cannot drift apart.

The numba kernels are single-threaded on purpose, by measurement on the 2-core development machine:
``prange`` versions (numba's OpenMP layer) were at best ~1.8x faster with the second core idle, but took
8-12 ms instead of 0.09 ms (forward) / 0.37 ms (backward) for B=64, T=100, N=30 whenever another process
was using the other core -- the normal case with several worker processes, which is how the package uses
cores -- and were slower for K=54 ensembles too. They would also add a second thread pool next to torch's.
The kernels release the GIL (``nogil=True``) and compile once per dtype on first use, cached on disk
(``cache=True``); see ``benchmarks/bench_lif_kernel.py`` for timings.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

try:  # numba is a declared dependency; the torch backend keeps the module usable without it
    import numba
    from numba import types as _nb_types
    from numba.extending import overload as _nb_overload
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None

__all__ = ["lif_spikes", "leaky_integrate", "KERNEL_BACKENDS", "NUMBA_AVAILABLE"]

KERNEL_BACKENDS = ("auto", "numba", "torch")
NUMBA_AVAILABLE = numba is not None
_NUMBA_DTYPES = (torch.float32, torch.float64)


# ---------------------------------------------------------------------------------------------------------
# The math, once. Plain Python on purpose: the torch backend calls these with tensors, the numba kernels
# call numba-compiled copies of the same functions with scalars. Operators only (no torch./np. calls) so
# both can evaluate them; ``mem * (mem <= thr)`` is ``(1 - r) * mem`` with the same IEEE result (also for
# inf/nan) and keeps float32 arithmetic in numba (bool * float32 -> float32).
# ---------------------------------------------------------------------------------------------------------

def _exp(y):
    """exp for the torch backend; numba kernels get the overload below (a vectorisable float32 exp)."""
    return torch.exp(y)


def _lif_step(mem_prev, current, beta, threshold):
    """u_t = beta * ((1 - r_t) * u_{t-1}) + I_t with r_t = H(u_{t-1} - threshold) (snnTorch's order)."""
    return beta * (mem_prev * (mem_prev <= threshold)) + current


def surrogate_grad(grad_spike, mem, threshold, slope, one):
    """g_s * k e / (1 + e)^2 with e = exp(-k |u - threshold|) (snnTorch's order: ((g k) e) / (e + 1)^2)."""
    e = _exp(-(slope * abs(mem - threshold)))
    return grad_spike * slope * e / ((e + one) * (e + one))


def _carry_grad(grad_local, grad_next, mem, beta, threshold):
    """g_u_t = local part + (g_u_{t+1} * beta) * (1 - r_{t+1}), r_{t+1} = H(u_t - threshold)."""
    return grad_local + grad_next * beta * (mem <= threshold)


def _beta_grad_term(grad_next, mem, threshold):
    """One step's share of dL/dbeta: g_u_{t+1} * (1 - r_{t+1}) * u_t, r_{t+1} = H(u_t - threshold)."""
    return grad_next * (mem * (mem <= threshold))


def _beta_at(beta, n):
    """beta of unit n: the scalar itself, or ``beta[n]`` of a per-unit row (numba: see the overload)."""
    return beta[n]


def _beta_row(beta, row):
    """The betas of one row of currents: the scalar itself, or row ``row`` of an (M, N) array."""
    return beta[row]


# ---------------------------------------------------------------------------------------------------------
# torch backend: a loop over time of torch ops (any device, any floating dtype).
# Arrays are (R, T, N) contiguous; R = product of the leading dimensions.
# ---------------------------------------------------------------------------------------------------------

def _forward_torch(cur: torch.Tensor, beta, threshold: float, keep_mem: bool = True, rows_per_beta: int = 1):
    beta = _expand_rows(beta, rows_per_beta)
    mem = torch.empty_like(cur)  # needed by the loop itself, so always kept
    mem[:, 0] = cur[:, 0]  # u_0 = beta * 0 + I_0
    for t in range(1, cur.shape[1]):
        mem[:, t] = _lif_step(mem[:, t - 1], cur[:, t], beta, threshold)
    return (mem > threshold).to(cur.dtype), mem


def _backward_torch(mem, grad_spk, grad_mem, beta, threshold: float, slope: float, rows_per_beta: int = 1,
                    want_grad_beta: bool = False):
    """Gradients w.r.t. the currents and (if ``want_grad_beta``) w.r.t. the (M, N) betas, else None."""
    grad = surrogate_grad(grad_spk, mem, threshold, slope, 1.0)  # a new tensor: safe to update in place
    if grad_mem is not None:
        grad += grad_mem
    row_beta = _expand_rows(beta, rows_per_beta)
    for t in range(mem.shape[1] - 2, -1, -1):
        grad[:, t] = _carry_grad(grad[:, t], grad[:, t + 1], mem[:, t], row_beta, threshold)
    if not want_grad_beta:
        return grad, None
    per_row = _beta_grad_term(grad[:, 1:], mem[:, :-1], threshold).sum(dim=1, dtype=torch.float64)  # (R, N)
    return grad, per_row.view(beta.shape[0], rows_per_beta, -1).sum(dim=1).to(mem.dtype)


def _expand_rows(beta, rows_per_beta: int):
    """A float stays a float; (M, N) betas become (M * rows_per_beta, N), one row per row of currents."""
    if not isinstance(beta, torch.Tensor):
        return beta
    return beta[:, None, :].expand(-1, rows_per_beta, -1).reshape(-1, beta.shape[-1])


# ---------------------------------------------------------------------------------------------------------
# numba backend: the same loops compiled. Single-threaded (see the module docstring), error_model="numpy"
# (no ZeroDivisionError checks: with them LLVM does not vectorise the backward loop, ~5x slower),
# fastmath off (no reassociation/FMA contraction: float32 results equal snnTorch's op by op).
# ---------------------------------------------------------------------------------------------------------

if NUMBA_AVAILABLE:
    _njit = functools.partial(numba.njit, cache=True, fastmath=False, error_model="numpy", nogil=True)

    @_nb_overload(_exp, jit_options={"fastmath": False, "error_model": "numpy"})
    def _exp_overload(y):
        """exp inside numba kernels. float32: an inlined Cephes-style expf that LLVM vectorises (a libm call
        is not vectorised without SVML: the backward kernel was ~3x slower with math.exp); measured max error
        1 ulp against float64 exp over the normal range, inf/nan/underflow handled. Other types: math.exp."""
        if not (isinstance(y, _nb_types.Float) and y.bitwidth == 32):
            return lambda y: math.exp(y)
        f32, i32 = np.float32, np.int32
        log2e, ln2_hi, ln2_lo = f32(1.44269504088896341), f32(0.693359375), f32(-2.12194440e-4)
        p0, p1, p2 = f32(1.9875691500e-4), f32(1.3981999507e-3), f32(8.3334519073e-3)
        p3, p4, p5 = f32(4.1665795894e-2), f32(1.6666665459e-1), f32(5.0000001201e-1)
        lo, hi = f32(-103.97208), f32(88.72284)  # exp(y) rounds to 0 below lo, overflows above hi
        half, one, zero, inf = f32(0.5), f32(1), f32(0), f32(np.inf)

        def expf(y):
            z = min(max(y, lo), hi)
            # float32 throughout (math.floor would return int64 and turn the polynomial into float64 math)
            n = np.floor(z * log2e + half)                       # z = n ln2 + r, |r| <= ln2 / 2
            r = (z - n * ln2_hi) - n * ln2_lo
            p = ((((p0 * r + p1) * r + p2) * r + p3) * r + p4) * r + p5
            p = (p * r) * r + r + one                             # exp(r)
            n1 = np.floor(n * half)                               # 2**n = 2**n1 * 2**n2, both normal
            scale1 = i32((i32(n1) + i32(127)) << i32(23)).view(f32)  # exponent bits, built directly
            scale2 = i32((i32(n - n1) + i32(127)) << i32(23)).view(f32)
            res = (p * scale1) * scale2                           # exact, or one rounding if subnormal
            res = zero if y < lo else res
            res = inf if y > hi else res
            return y if y != y else res                           # nan stays nan
        return expf

    @_nb_overload(_beta_at, jit_options={"fastmath": False, "error_model": "numpy"})
    def _beta_at_overload(beta, n):
        """A scalar beta is used as is (the fixed-beta kernels compile exactly as before); an array is indexed."""
        if isinstance(beta, _nb_types.Float):
            return lambda beta, n: beta
        return lambda beta, n: beta[n]

    @_nb_overload(_beta_row, jit_options={"fastmath": False, "error_model": "numpy"})
    def _beta_row_overload(beta, row):
        if isinstance(beta, _nb_types.Float):
            return lambda beta, row: beta
        return lambda beta, row: beta[row]

    _lif_step_nb = _njit(_lif_step)
    _surrogate_grad_nb = _njit(surrogate_grad)
    _carry_grad_nb = _njit(_carry_grad)
    _beta_grad_term_nb = _njit(_beta_grad_term)

    @functools.partial(_njit, inline="always")  # numba-level inlining: 2-3x faster than a call per row
    def _forward_row(cur, mem, spk, beta, threshold):  # pragma: no cover - compiled
        """One row: (T, N) currents -> membrane into ``mem``, spikes into ``spk``; ``beta`` a scalar or (N,)."""
        n_steps, n_units = cur.shape
        for n in range(n_units):
            m = cur[0, n]  # u_0 = beta * 0 + I_0
            mem[0, n] = m
            spk[0, n] = m > threshold
        for t in range(1, n_steps):
            for n in range(n_units):
                m = _lif_step_nb(mem[t - 1, n], cur[t, n], _beta_at(beta, n), threshold)
                mem[t, n] = m
                spk[t, n] = m > threshold

    @_njit
    def _forward_numba(cur, spk, mem, keep_mem, beta, rows_per_beta, threshold):  # pragma: no cover - compiled
        """(R, T, N) arrays; ``beta`` a scalar or (M, N), row r using ``beta[r // rows_per_beta]``. Without
        ``keep_mem`` the membrane goes to a (T, N) scratch that stays in cache and ``mem`` is not touched."""
        scratch = np.empty(cur.shape[1:], cur.dtype)
        for r in range(cur.shape[0]):
            row_beta = _beta_row(beta, r // rows_per_beta)
            if keep_mem:
                _forward_row(cur[r], mem[r], spk[r], row_beta, threshold)
            else:
                _forward_row(cur[r], scratch, spk[r], row_beta, threshold)

    @_njit
    def _backward_numba(cur, grad_spk, grad_mem, has_grad_mem, grad_cur, beta, rows_per_beta, grad_beta,
                        want_grad_beta, threshold, slope, one):  # pragma: no cover - compiled
        """(R, T, N) arrays. Row by row: recompute the membrane from the currents into a (T, N) scratch
        (cheaper than allocating and saving a full membrane tensor, see ``_LIFFunction``), then the
        surrogate pass over the row's T * N contiguous values (vectorises fully, unlike a loop over N = 30
        with its scalar remainder), then the reverse-time pass, all in L1/L2 cache. With
        ``want_grad_beta`` the reverse pass also accumulates dL/dbeta into ``grad_beta`` (M, N) float64."""
        n_rows, n_steps, n_units = cur.shape
        size = n_steps * n_units
        mem, spk = np.empty((n_steps, n_units), cur.dtype), np.empty((n_steps, n_units), cur.dtype)
        row_grad_beta = np.empty(n_units, cur.dtype)
        mem_flat = mem.reshape(size)
        for r in range(n_rows):
            row_beta = _beta_row(beta, r // rows_per_beta)
            _forward_row(cur[r], mem, spk, row_beta, threshold)
            gs, gi = grad_spk[r].reshape(size), grad_cur[r].reshape(size)
            for i in range(size):
                gi[i] = _surrogate_grad_nb(gs[i], mem_flat[i], threshold, slope, one)
            if has_grad_mem:
                gm = grad_mem[r].reshape(size)
                for i in range(size):
                    gi[i] = gi[i] + gm[i]
            g = grad_cur[r]
            if want_grad_beta:  # the row's sum in its own dtype (vectorises), then added in float64
                row_grad_beta[:] = 0
                for t in range(n_steps - 2, -1, -1):
                    for n in range(n_units):
                        row_grad_beta[n] += _beta_grad_term_nb(g[t + 1, n], mem[t, n], threshold)
                        g[t, n] = _carry_grad_nb(g[t, n], g[t + 1, n], mem[t, n], _beta_at(row_beta, n), threshold)
                gb = grad_beta[r // rows_per_beta]
                for n in range(n_units):
                    gb[n] += row_grad_beta[n]
            else:
                for t in range(n_steps - 2, -1, -1):
                    for n in range(n_units):
                        g[t, n] = _carry_grad_nb(g[t, n], g[t + 1, n], mem[t, n], _beta_at(row_beta, n), threshold)


def _numba_scalars(x: torch.Tensor, *values: float):
    kind = np.float32 if x.dtype == torch.float32 else np.float64
    return tuple(kind(v) for v in values)


def _numba_beta(cur: torch.Tensor, beta):
    """A float as the currents' numpy scalar type, or the (M, N) betas as a numpy array (same dtype)."""
    if isinstance(beta, torch.Tensor):
        return beta.detach().numpy()
    return _numba_scalars(cur, beta)[0]


def _forward_numba_host(cur: torch.Tensor, beta, threshold: float, keep_mem: bool, rows_per_beta: int = 1):
    spk = torch.empty_like(cur)
    mem = torch.empty_like(cur) if keep_mem else cur.new_empty((1,) + cur.shape[1:])  # unused placeholder
    _forward_numba(cur.detach().numpy(), spk.numpy(), mem.numpy(), keep_mem, _numba_beta(cur, beta),
                   rows_per_beta, *_numba_scalars(cur, threshold))
    return spk, (mem if keep_mem else None)


def _backward_numba_host(cur, grad_spk, grad_mem, beta, threshold: float, slope: float, rows_per_beta: int = 1,
                         want_grad_beta: bool = False):
    grad_cur = torch.empty_like(cur)
    has_grad_mem = grad_mem is not None
    grad_beta = torch.zeros(beta.shape if want_grad_beta else (1, 1), dtype=torch.float64)
    _backward_numba(cur.detach().numpy(), grad_spk.detach().numpy(),
                    (grad_mem if has_grad_mem else grad_spk).detach().numpy(), has_grad_mem, grad_cur.numpy(),
                    _numba_beta(cur, beta), rows_per_beta, grad_beta.numpy(), want_grad_beta,
                    *_numba_scalars(cur, threshold, slope, 1.0))
    return grad_cur, (grad_beta.to(cur.dtype) if want_grad_beta else None)


_FORWARD = {"torch": _forward_torch, "numba": _forward_numba_host}
_BACKWARD = {"torch": _backward_torch, "numba": _backward_numba_host}


class _LIFFunction(torch.autograd.Function):
    """Spikes (and the membrane if ``keep_mem``) from currents (R, T, N) contiguous.

    What is saved for backward, by measurement: the numba backend saves the input currents (an existing
    tensor; as much memory as a saved membrane would take) and recomputes the membrane row by row inside
    the backward kernel, in cache (~6 ms for (54*64, 100, 30) float32), so the forward allocates only the
    spikes. Allocating a fresh 41 MB membrane tensor cost ~25 ms of page faults on the development VM, more
    than the whole forward kernel (~5 ms). The torch backend saves the membrane (its forward loop needs it
    anyway, and on a GPU the caching allocator makes allocation free).

    ``beta`` is a float or an (M, N) tensor (contiguous, the currents' dtype and device), row r of the
    currents using ``beta[r // rows_per_beta]``; a tensor gets a gradient when it requires one.
    """

    @staticmethod
    def forward(ctx, cur, beta, threshold, slope, backend, keep_mem, rows_per_beta):
        spk, mem = _FORWARD[backend](cur, beta, threshold, keep_mem, rows_per_beta)
        per_neuron = isinstance(beta, torch.Tensor)
        ctx.save_for_backward(cur if backend == "numba" else mem, *((beta,) if per_neuron else ()))
        ctx.constants = (None if per_neuron else beta, threshold, slope, backend, rows_per_beta)
        ctx.set_materialize_grads(False)  # an unused membrane output costs nothing
        return (spk, mem) if keep_mem else spk

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_spk, grad_mem=None):
        beta, threshold, slope, backend, rows_per_beta = ctx.constants
        saved, *per_neuron_beta = ctx.saved_tensors
        if grad_spk is None and grad_mem is None:
            return None, None, None, None, None, None, None
        beta = per_neuron_beta[0] if per_neuron_beta else beta
        want_grad_beta = bool(per_neuron_beta) and ctx.needs_input_grad[1]
        grad_spk = torch.zeros_like(saved) if grad_spk is None else grad_spk.contiguous()
        grad_mem = None if grad_mem is None else grad_mem.contiguous()
        grad_cur, grad_beta = _BACKWARD[backend](saved, grad_spk, grad_mem, beta, threshold, slope, rows_per_beta,
                                                 want_grad_beta)
        return grad_cur, grad_beta, None, None, None, None, None


def _resolve_backend(backend: str, currents: torch.Tensor) -> str:
    if backend not in KERNEL_BACKENDS:
        raise ValueError(f"backend must be one of {KERNEL_BACKENDS}, got {backend!r}")
    numba_ok = NUMBA_AVAILABLE and currents.device.type == "cpu" and currents.dtype in _NUMBA_DTYPES
    if backend == "numba" and not numba_ok:
        why = ("numba is not installed" if not NUMBA_AVAILABLE else
               f"it needs a CPU float32/float64 tensor, got {currents.dtype} on {currents.device}")
        raise ValueError(f"backend='numba' is unavailable: {why}")
    if backend == "auto":
        return "numba" if numba_ok else "torch"
    return backend


def _check_currents(currents: torch.Tensor, name: str = "currents") -> None:
    if not isinstance(currents, torch.Tensor) or not currents.is_floating_point():
        raise TypeError(f"{name} must be a floating-point torch.Tensor, got "
                        f"{getattr(currents, 'dtype', type(currents).__name__)}")
    if currents.ndim < 2:
        raise ValueError(f"{name} must have shape (..., T, N), got shape {tuple(currents.shape)}")


def _as_constant(value, name: str) -> float:
    if isinstance(value, torch.Tensor) and value.requires_grad:
        raise TypeError(f"{name} is a constant here (no gradient flows to it); pass a float")
    return float(value)


def _check_beta(beta) -> float:
    beta = _as_constant(beta, "beta")
    if not 0.0 <= beta <= 1.0:  # also rejects nan
        raise ValueError(f"beta must lie in [0, 1] (beta = exp(-dt / tau)), got {beta}")
    return beta


def _per_neuron_beta(beta, currents: torch.Tensor):
    """``(beta, slices)``: a float checked as before (slices None), or a per-neuron tensor as (M, N) in the
    currents' dtype and device (differentiable) with M = 1 for shape (N,) or the currents' first axis."""
    if not (isinstance(beta, torch.Tensor) and beta.dim() >= 1):
        return _check_beta(beta), None
    n_units = currents.shape[-1]
    slices = currents.shape[0] if currents.dim() >= 3 else None
    if not (beta.shape == (n_units,) or (beta.dim() == 2 and slices is not None and beta.shape == (slices, n_units))):
        raise ValueError(f"beta must be a float or shaped (N,) = ({n_units},) or (M, N) = ({slices}, {n_units}) "
                         f"for currents {tuple(currents.shape)}, got shape {tuple(beta.shape)}")
    if not beta.is_floating_point():
        raise TypeError(f"beta must be a floating-point tensor, got {beta.dtype}")
    detached = beta.detach()
    if not bool(((detached >= 0) & (detached <= 1)).all()):  # also rejects nan
        raise ValueError(f"beta must lie in [0, 1] (beta = exp(-dt / tau)), got values in "
                         f"[{detached.min().item()}, {detached.max().item()}]")
    rows = beta.reshape(-1, n_units).to(dtype=currents.dtype, device=currents.device).contiguous()
    return rows, rows.shape[0]


def lif_spikes(currents: torch.Tensor, beta: float, threshold: float = 1.0, slope: float = 5.0, *,
               return_membrane: bool = False, backend: str = "auto"):
    """Spikes of a layer of LIF neurons (reset to zero) driven by ``currents``, over time axis -2.

    Equal to ``snn.Leaky(beta=beta, threshold=threshold, reset_mechanism="zero",
    spike_grad=snntorch.surrogate.sigmoid(slope=slope))`` stepped over ``t`` from a zero membrane, forward
    (bit for bit in float32: the same float operations in the same order) and backward (to float rounding:
    the surrogate is evaluated in an overflow-free form, see the module docstring)::

        r_t = H(u_{t-1} - threshold)  (detached),  u_t = beta * ((1 - r_t) * u_{t-1}) + I_t,  u_{-1} = 0
        s_t = H(u_t - threshold),  ds_t/du_t := k e / (1 + e)^2,  e = exp(-k |u_t - threshold|),  k = slope

    Args:
        currents: input currents ``(..., T, N)`` (e.g. ``(B, T, N)`` or ``(K, B, T, N)``), in units of the
            threshold's scale; any floating dtype and device. Gradients flow to it.
        beta: membrane decay per step, ``exp(-dt / tau)``, dimensionless, in [0, 1]. (snnTorch clamps an
            out-of-range beta silently; here it is an error. snnTorch stores beta and threshold as float32
            tensors; here they are used in the currents' dtype, which only matters for float64 currents
            whose beta or threshold is not a float32 number.) Per neuron: a tensor shaped ``(N,)`` or
            ``(M, N)`` with M = ``currents.shape[0]`` (e.g. one row per ensemble member of (K, B, T, N)
            currents); gradients flow to it (see the module docstring).
        threshold: firing threshold (same units as the currents).
        slope: surrogate steepness ``k`` (per unit of membrane), > 0.
        return_membrane: also return the membrane ``u`` (same shape); gradients through it are exact
            (as snnTorch's returned ``mem``: the reset stays detached).
        backend: ``"auto"`` (numba on CPU for float32/float64, else torch), ``"numba"`` or ``"torch"``.

    Returns:
        spikes (float 0/1, same shape, dtype and device as ``currents``), or ``(spikes, membrane)``.
    """
    _check_currents(currents)
    beta, beta_rows = _per_neuron_beta(beta, currents)
    threshold, slope = _as_constant(threshold, "threshold"), _as_constant(slope, "slope")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    if not (slope > 0 and math.isfinite(slope)):
        raise ValueError(f"slope must be finite and > 0, got {slope}")
    backend = _resolve_backend(backend, currents)
    if currents.numel() == 0:
        spk, mem = currents * 0, currents * 0  # empty; keeps the graph
    else:
        cur = currents.contiguous().reshape(-1, *currents.shape[-2:])  # (R, T, N): a view when contiguous
        rows_per_beta = 1 if beta_rows is None else cur.shape[0] // beta_rows
        out = _LIFFunction.apply(cur, beta, threshold, slope, backend, return_membrane, rows_per_beta)
        spk, mem = out if return_membrane else (out, None)
        spk = spk.view(currents.shape)
        mem = None if mem is None else mem.view(currents.shape)
    return (spk, mem) if return_membrane else spk


@functools.lru_cache(maxsize=32)
def _decay_matrix(n_steps: int, beta: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``L[t, s] = beta**(t - s)`` for ``s <= t`` else 0, (T, T), built in float64; cached, no grad."""
    with torch.inference_mode(False), torch.no_grad():  # a normal tensor even if first built in inference
        t = torch.arange(n_steps, dtype=torch.float64)
        lag = t[:, None] - t[None, :]
        decay = torch.where(lag >= 0, torch.pow(beta, lag.clamp(min=0)), torch.zeros((), dtype=torch.float64))
        return decay.to(device=device, dtype=dtype)


def _per_neuron_decay(n_steps: int, beta_rows: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``L[m, t, s, n] = beta[m, n]**(t - s)`` for ``s <= t`` else 0, (M, T, T, N); built in float64 from the
    (M, N) betas, differentiable w.r.t. them."""
    t = torch.arange(n_steps, dtype=torch.float64, device=beta_rows.device)
    lag = (t[:, None] - t[None, :])[None, :, :, None]
    powers = torch.pow(beta_rows.to(torch.float64)[:, None, None, :], lag.clamp(min=0))
    return torch.where(lag >= 0, powers, torch.zeros((), dtype=torch.float64, device=beta_rows.device)).to(dtype)


def leaky_integrate(currents: torch.Tensor, beta: float) -> torch.Tensor:
    """Non-spiking leaky integrator (readout membrane) over time axis -2, in parallel over time.

    ``v_t = beta * v_{t-1} + I_t``, ``v_{-1} = 0``, i.e. ``v_t = sum_{s <= t} beta**(t - s) I_s``: a causal
    exponential filter, computed as one matrix product with the (T, T) lower-triangular matrix of
    ``beta**(t - s)`` (built in float64, cast to the currents' dtype). Differentiable (autograd), any device.
    Same results as snnTorch's ``snn.Leaky(beta, reset_mechanism="none")`` membrane up to float rounding
    (summation order differs; measured max relative error ~1e-7 in float32 for T = 100, beta = exp(-1/5),
    smaller than the step-by-step float32 loop's own error against float64).

    Args:
        currents: ``(..., T, N)`` input currents (units of the membrane).
        beta: decay per step ``exp(-dt / tau)``, dimensionless, in [0, 1]; or one per neuron, a tensor shaped
            ``(N,)`` or ``(M, N)`` with M = ``currents.shape[0]`` (as :func:`lif_spikes`), differentiable:
            then ``v[m, ..., t, n] = sum_{s <= t} beta[m, n]**(t - s) I[m, ..., s, n]`` with an (M, T, T, N)
            decay tensor (fine for readouts of a few units).

    Returns:
        The membrane ``v`` with the shape, dtype and device of ``currents``.
    """
    _check_currents(currents)
    beta, beta_rows = _per_neuron_beta(beta, currents)
    if beta_rows is not None:
        grouped = currents.reshape(beta_rows, -1, *currents.shape[-2:])  # (M, R, T, N)
        decay = _per_neuron_decay(currents.shape[-2], beta, currents.dtype)
        return torch.einsum("mtsn,mrsn->mrtn", decay, grouped).reshape(currents.shape)
    # (T, T) @ (..., T, N), batched over the leading dims. The single-GEMM form (I^T L^T with the batch
    # folded into rows) measured the same speed on CPU and returns a transposed (non-contiguous) view.
    return torch.matmul(_decay_matrix(currents.shape[-2], beta, currents.dtype, currents.device), currents)
