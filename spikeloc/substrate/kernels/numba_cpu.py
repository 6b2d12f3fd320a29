"""numba backend of the fused LIF loop (CPU, float32/float64): both time loops in compiled single-threaded kernels.

Single-threaded (see :mod:`spikeloc.substrate.fused`), error_model="numpy" (no ZeroDivisionError checks: with
them LLVM does not vectorise the backward loop, ~5x slower), fastmath off (no reassociation/FMA contraction:
float32 results equal snnTorch's op by op).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from spikeloc.substrate.kernels.step import (_adaptation_carry_grad, _adaptation_step, _adaptive_threshold, _beta_at,
                                             _beta_grad_term, _beta_row, _carry_grad, _exp, _lif_step, _recurrent_step,
                                             _surrogate_exp, _surrogate_grad_from_exp, surrogate_grad)

try:  # numba is a declared dependency; the torch backend keeps the package usable without it
    import numba
    from numba import types as _nb_types
    from numba.extending import overload as _nb_overload
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None

AVAILABLE = numba is not None
DTYPES = (torch.float32, torch.float64)

if AVAILABLE:
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
    def _forward_row(cur, mem, spk, beta, threshold, reset):  # pragma: no cover - compiled
        """One row: (T, N) currents -> membrane into ``mem``, spikes into ``spk``; ``beta`` a scalar or (N,)."""
        n_steps, n_units = cur.shape
        for n in range(n_units):
            m = cur[0, n]  # u_0 = beta * 0 + I_0
            mem[0, n] = m
            spk[0, n] = m > threshold
        for t in range(1, n_steps):
            for n in range(n_units):
                m = _lif_step_nb(mem[t - 1, n], cur[t, n], _beta_at(beta, n), threshold, reset)
                mem[t, n] = m
                spk[t, n] = m > threshold

    @_njit
    def _forward_numba(cur, spk, mem, keep_mem, beta, rows_per_beta, threshold, reset):  # pragma: no cover
        """(R, T, N) arrays; ``beta`` a scalar or (M, N), row r using ``beta[r // rows_per_beta]``. Without
        ``keep_mem`` the membrane goes to a (T, N) scratch that stays in cache and ``mem`` is not touched."""
        scratch = np.empty(cur.shape[1:], cur.dtype)
        for r in range(cur.shape[0]):
            row_beta = _beta_row(beta, r // rows_per_beta)
            if keep_mem:
                _forward_row(cur[r], mem[r], spk[r], row_beta, threshold, reset)
            else:
                _forward_row(cur[r], scratch, spk[r], row_beta, threshold, reset)

    @_njit
    def _backward_numba(cur, grad_spk, grad_mem, has_grad_mem, grad_cur, beta, rows_per_beta, grad_beta,
                        want_grad_beta, threshold, slope, one, reset):  # pragma: no cover - compiled
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
            _forward_row(cur[r], mem, spk, row_beta, threshold, reset)
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
                        row_grad_beta[n] += _beta_grad_term_nb(g[t + 1, n], mem[t, n], threshold, reset)
                        g[t, n] = _carry_grad_nb(g[t, n], g[t + 1, n], mem[t, n], _beta_at(row_beta, n), threshold,
                                                 reset)
                gb = grad_beta[r // rows_per_beta]
                for n in range(n_units):
                    gb[n] += row_grad_beta[n]
            else:
                for t in range(n_steps - 2, -1, -1):
                    for n in range(n_units):
                        g[t, n] = _carry_grad_nb(g[t, n], g[t + 1, n], mem[t, n], _beta_at(row_beta, n), threshold,
                                                 reset)

    _adaptation_step_nb = _njit(_adaptation_step)
    _adaptive_threshold_nb = _njit(_adaptive_threshold)
    _adaptation_carry_grad_nb = _njit(_adaptation_carry_grad)
    _surrogate_exp_nb = _njit(_surrogate_exp)
    _surrogate_grad_from_exp_nb = _njit(_surrogate_grad_from_exp)

    @functools.partial(_njit, inline="always")
    def _adaptive_forward_row(cur, mem, adapt, spk, beta, rho, threshold, strength, reset):  # pragma: no cover
        """One row of adaptive neurons: (T, N) currents -> membrane ``mem``, adaptation ``adapt``, spikes ``spk``;
        ``beta`` and ``rho`` (N,). u_0 = I_0, a_0 = 0; then a_t from s_{t-1}, u_t by the LIF step at the threshold
        theta_{t-1} the neuron had (its reset signal is s_{t-1}), s_t = H(u_t - theta_t)."""
        n_steps, n_units = cur.shape
        for n in range(n_units):
            m = cur[0, n]
            mem[0, n] = m
            adapt[0, n] = 0
            spk[0, n] = m > _adaptive_threshold_nb(threshold, strength, adapt[0, n])
        for t in range(1, n_steps):
            for n in range(n_units):
                a_prev = adapt[t - 1, n]
                a = _adaptation_step_nb(a_prev, spk[t - 1, n], rho[n])
                m = _lif_step_nb(mem[t - 1, n], cur[t, n], beta[n], _adaptive_threshold_nb(threshold, strength, a_prev),
                                 reset)
                mem[t, n] = m
                adapt[t, n] = a
                spk[t, n] = m > _adaptive_threshold_nb(threshold, strength, a)

    @_njit
    def _adaptive_forward_numba(cur, spk, mem, keep_mem, beta, rows_per_beta, rho, rows_per_rho, threshold, strength,
                                reset):  # pragma: no cover - compiled
        """(R, T, N) arrays; ``beta`` (Mb, N) and ``rho`` (Mr, N), row r using ``beta[r // rows_per_beta]`` and
        ``rho[r // rows_per_rho]``. The adaptation (and the membrane without ``keep_mem``) go to (T, N) scratch."""
        scratch, adapt = np.empty(cur.shape[1:], cur.dtype), np.empty(cur.shape[1:], cur.dtype)
        for r in range(cur.shape[0]):
            row_beta, row_rho = beta[r // rows_per_beta], rho[r // rows_per_rho]
            _adaptive_forward_row(cur[r], mem[r] if keep_mem else scratch, adapt, spk[r], row_beta, row_rho,
                                  threshold, strength, reset)

    @_njit
    def _adaptive_backward_numba(cur, grad_spk, grad_mem, has_grad_mem, grad_cur, beta, rows_per_beta, grad_beta, rho,
                                 rows_per_rho, grad_rho, threshold, strength, slope, one,
                                 reset):  # pragma: no cover - compiled
        """(R, T, N) arrays. Row by row (as ``_backward_numba``): the membrane, adaptation and spikes recomputed
        into (T, N) scratch, the surrogate's exp evaluated over the row's T * N values in one pass (it depends on
        the states only; in the reverse loop over N = 30 units its scalar remainder made the kernel ~3x slower),
        then one reverse-time pass carrying G_u (in ``grad_cur``) and G_a (an (N,) row): G_s_t = g_s_t + G_a_{t+1},
        q_t = G_s_t ds_t/du_t, G_u_t = q_t + g_u_t + carry, G_a_t (step.py). dL/dbeta and dL/drho of the row are
        summed over time in its dtype, then added to the (M, N) float64 sums."""
        n_rows, n_steps, n_units = cur.shape
        size = n_steps * n_units
        mem, adapt = np.empty((n_steps, n_units), cur.dtype), np.empty((n_steps, n_units), cur.dtype)
        spk, expo = np.empty((n_steps, n_units), cur.dtype), np.empty((n_steps, n_units), cur.dtype)
        mem_flat, adapt_flat, expo_flat = mem.reshape(size), adapt.reshape(size), expo.reshape(size)
        grad_adapt = np.empty(n_units, cur.dtype)  # G_a_{t+1}
        row_grad_beta, row_grad_rho = np.empty(n_units, cur.dtype), np.empty(n_units, cur.dtype)
        zero = one - one
        last = n_steps - 1
        for r in range(n_rows):
            row_beta, row_rho = beta[r // rows_per_beta], rho[r // rows_per_rho]
            _adaptive_forward_row(cur[r], mem, adapt, spk, row_beta, row_rho, threshold, strength, reset)
            for i in range(size):
                theta = _adaptive_threshold_nb(threshold, strength, adapt_flat[i])
                expo_flat[i] = _surrogate_exp_nb(mem_flat[i], theta, slope)
            gs, gm, g = grad_spk[r], grad_mem[r], grad_cur[r]
            row_grad_beta[:] = 0
            row_grad_rho[:] = 0
            for n in range(n_units):  # t = T - 1: nothing carried back from T
                theta = _adaptive_threshold_nb(threshold, strength, adapt[last, n])
                q = _surrogate_grad_from_exp_nb(gs[last, n], expo[last, n], slope, one)
                g[last, n] = q + gm[last, n] if has_grad_mem else q
                grad_adapt[n] = _adaptation_carry_grad_nb(q, zero, zero, mem[last, n], theta, row_rho[n], strength,
                                                          reset)
            for t in range(n_steps - 2, -1, -1):
                for n in range(n_units):
                    m, a = mem[t, n], adapt[t, n]
                    theta = _adaptive_threshold_nb(threshold, strength, a)
                    grad_adapt_next, grad_next = grad_adapt[n], g[t + 1, n]
                    q = _surrogate_grad_from_exp_nb(gs[t, n] + grad_adapt_next, expo[t, n], slope, one)
                    local = q + gm[t, n] if has_grad_mem else q
                    row_grad_beta[n] += _beta_grad_term_nb(grad_next, m, theta, reset)
                    row_grad_rho[n] += grad_adapt_next * a
                    g[t, n] = _carry_grad_nb(local, grad_next, m, row_beta[n], theta, reset)
                    grad_adapt[n] = _adaptation_carry_grad_nb(q, grad_adapt_next, grad_next, m, theta, row_rho[n],
                                                              strength, reset)
            gb, gr = grad_beta[r // rows_per_beta], grad_rho[r // rows_per_rho]
            for n in range(n_units):
                gb[n] += row_grad_beta[n]
                gr[n] += row_grad_rho[n]


if AVAILABLE:
    _recurrent_step_nb = _njit(_recurrent_step)

    @functools.partial(_njit, inline="always")
    def _recurrent_forward_row(cur, mem, spk, weight, beta, threshold, reset, recurrent):  # pragma: no cover
        """One row of a recurrent layer: (T, N) currents and the (N, N) weight V (presynaptic unit first) ->
        membrane into ``mem``, spikes into ``spk``; ``recurrent`` is (N,) scratch for R_t = V^T s_{t-1}, summed
        over the presynaptic units in their order (skipping silent ones: adding 0 * V changes no sum), as
        torch's matmul of 0/1 spikes sums them."""
        n_steps, n_units = cur.shape
        for n in range(n_units):
            m = cur[0, n]  # u_0 = beta * 0 + I_0 + V^T 0
            mem[0, n] = m
            spk[0, n] = m > threshold
        for t in range(1, n_steps):
            recurrent[:] = 0
            for i in range(n_units):
                s = spk[t - 1, i]
                if s != 0:
                    for n in range(n_units):
                        recurrent[n] += s * weight[i, n]
            for n in range(n_units):
                m = _recurrent_step_nb(mem[t - 1, n], cur[t, n], recurrent[n], _beta_at(beta, n), threshold, reset)
                mem[t, n] = m
                spk[t, n] = m > threshold

    @_njit
    def _recurrent_forward_numba(cur, spk, mem, keep_mem, weight, rows_per_weight, beta, rows_per_beta, threshold,
                                 reset):  # pragma: no cover - compiled
        """(R, T, N) arrays, weight (M, N, N): row r uses ``weight[r // rows_per_weight]`` and
        ``beta[r // rows_per_beta]`` (or the scalar beta); as :func:`_forward_numba` otherwise."""
        scratch = np.empty(cur.shape[1:], cur.dtype)
        recurrent = np.empty(cur.shape[2], cur.dtype)
        for r in range(cur.shape[0]):
            row_beta = _beta_row(beta, r // rows_per_beta)
            target = mem[r] if keep_mem else scratch
            _recurrent_forward_row(cur[r], target, spk[r], weight[r // rows_per_weight], row_beta, threshold, reset,
                                   recurrent)

    @_njit
    def _recurrent_backward_numba(cur, grad_spk, grad_mem, has_grad_mem, grad_cur, weight, weight_t, rows_per_weight,
                                  grad_weight, want_grad_weight, beta, rows_per_beta, grad_beta, want_grad_beta,
                                  threshold, slope, one, reset):  # pragma: no cover - compiled
        """Row by row: recompute membrane and spikes into (T, N) scratch, then one reverse-time pass (the
        recurrence couples a step's units, so the surrogate cannot be taken for the whole row first)::

            g_s_t = g_out_s_t + V g_u_{t+1}                 (t < T - 1; V g summed as axpys over V^T's rows)
            g_u_t = g_s_t * ds_t/du_t + g_out_u_t + carry(g_u_{t+1})
            dL/dV += s_{t-1} g_u_t^T  (t >= 1),   dL/dbeta += beta's share (as :func:`_backward_numba`)

        Per row in the currents' dtype, added into the float64 (M, N, N) / (M, N) accumulators."""
        n_rows, n_steps, n_units = cur.shape
        mem, spk = np.empty((n_steps, n_units), cur.dtype), np.empty((n_steps, n_units), cur.dtype)
        recurrent, grad_s = np.empty(n_units, cur.dtype), np.empty(n_units, cur.dtype)
        row_grad_beta = np.empty(n_units, cur.dtype)
        row_grad_weight = np.empty((n_units, n_units), cur.dtype)
        for r in range(n_rows):
            row_beta = _beta_row(beta, r // rows_per_beta)
            row_weight, row_weight_t = weight[r // rows_per_weight], weight_t[r // rows_per_weight]
            _recurrent_forward_row(cur[r], mem, spk, row_weight, row_beta, threshold, reset, recurrent)
            g, gs = grad_cur[r], grad_spk[r]
            row_grad_beta[:] = 0
            row_grad_weight[:, :] = 0
            for t in range(n_steps - 1, -1, -1):
                later = t < n_steps - 1
                grad_s[:] = 0
                if later:
                    for n in range(n_units):
                        g_next = g[t + 1, n]
                        for i in range(n_units):
                            grad_s[i] += g_next * row_weight_t[n, i]
                for n in range(n_units):
                    grad = _surrogate_grad_nb(gs[t, n] + grad_s[n], mem[t, n], threshold, slope, one)
                    if has_grad_mem:
                        grad = grad + grad_mem[r, t, n]
                    if later:
                        if want_grad_beta:
                            row_grad_beta[n] += _beta_grad_term_nb(g[t + 1, n], mem[t, n], threshold, reset)
                        grad = _carry_grad_nb(grad, g[t + 1, n], mem[t, n], _beta_at(row_beta, n), threshold, reset)
                    g[t, n] = grad
                if want_grad_weight and t > 0:
                    for i in range(n_units):
                        s = spk[t - 1, i]
                        if s != 0:
                            for n in range(n_units):
                                row_grad_weight[i, n] += s * g[t, n]
            if want_grad_beta:
                gb = grad_beta[r // rows_per_beta]
                for n in range(n_units):
                    gb[n] += row_grad_beta[n]
            if want_grad_weight:
                gw = grad_weight[r // rows_per_weight]
                for i in range(n_units):
                    for n in range(n_units):
                        gw[i, n] += row_grad_weight[i, n]


def _numba_scalars(x: torch.Tensor, *values: float):
    kind = np.float32 if x.dtype == torch.float32 else np.float64
    return tuple(kind(v) for v in values)


def _numba_beta(cur: torch.Tensor, beta):
    """A float as the currents' numpy scalar type, or the (M, N) betas as a numpy array (same dtype)."""
    if isinstance(beta, torch.Tensor):
        return beta.detach().numpy()
    return _numba_scalars(cur, beta)[0]


def forward(cur: torch.Tensor, beta, threshold: float, keep_mem: bool, rows_per_beta: int = 1, reset: int = 0):
    spk = torch.empty_like(cur)
    mem = torch.empty_like(cur) if keep_mem else cur.new_empty((1,) + cur.shape[1:])  # unused placeholder
    _forward_numba(cur.detach().numpy(), spk.numpy(), mem.numpy(), keep_mem, _numba_beta(cur, beta),
                   rows_per_beta, *_numba_scalars(cur, threshold), reset)
    return spk, (mem if keep_mem else None)


def backward(cur, grad_spk, grad_mem, beta, threshold: float, slope: float, rows_per_beta: int = 1,
             want_grad_beta: bool = False, reset: int = 0):
    grad_cur = torch.empty_like(cur)
    has_grad_mem = grad_mem is not None
    grad_beta = torch.zeros(beta.shape if want_grad_beta else (1, 1), dtype=torch.float64)
    _backward_numba(cur.detach().numpy(), grad_spk.detach().numpy(),
                    (grad_mem if has_grad_mem else grad_spk).detach().numpy(), has_grad_mem, grad_cur.numpy(),
                    _numba_beta(cur, beta), rows_per_beta, grad_beta.numpy(), want_grad_beta,
                    *_numba_scalars(cur, threshold, slope, 1.0), reset)
    return grad_cur, (grad_beta.to(cur.dtype) if want_grad_beta else None)


def recurrent_forward(cur: torch.Tensor, weight: torch.Tensor, beta, threshold: float, keep_mem: bool,
                      rows_per_weight: int, rows_per_beta: int = 1, reset: int = 0):
    """Spikes (and membrane if ``keep_mem``) of a recurrent layer: (R, T, N) currents, (M, N, N) weight."""
    spk = torch.empty_like(cur)
    mem = torch.empty_like(cur) if keep_mem else cur.new_empty((1,) + cur.shape[1:])  # unused placeholder
    _recurrent_forward_numba(cur.detach().numpy(), spk.numpy(), mem.numpy(), keep_mem, weight.detach().numpy(),
                             rows_per_weight, _numba_beta(cur, beta), rows_per_beta, *_numba_scalars(cur, threshold),
                             reset)
    return spk, (mem if keep_mem else None)


def recurrent_backward(cur, grad_spk, grad_mem, weight, beta, threshold: float, slope: float, rows_per_weight: int,
                       rows_per_beta: int = 1, want_grad_weight: bool = False, want_grad_beta: bool = False,
                       reset: int = 0):
    """(grad of the currents, of the (M, N, N) weight or None, of the (M, N) betas or None)."""
    grad_cur = torch.empty_like(cur)
    has_grad_mem = grad_mem is not None
    grad_weight = torch.zeros(weight.shape if want_grad_weight else (1, 1, 1), dtype=torch.float64)
    grad_beta = torch.zeros(beta.shape if want_grad_beta else (1, 1), dtype=torch.float64)
    weight = weight.detach()
    _recurrent_backward_numba(cur.detach().numpy(), grad_spk.detach().numpy(),
                              (grad_mem if has_grad_mem else grad_spk).detach().numpy(), has_grad_mem,
                              grad_cur.numpy(), weight.numpy(), weight.transpose(1, 2).contiguous().numpy(),
                              rows_per_weight, grad_weight.numpy(), want_grad_weight, _numba_beta(cur, beta),
                              rows_per_beta, grad_beta.numpy(), want_grad_beta,
                              *_numba_scalars(cur, threshold, slope, 1.0), reset)
    return (grad_cur, grad_weight.to(cur.dtype) if want_grad_weight else None,
            grad_beta.to(cur.dtype) if want_grad_beta else None)


def adaptive_forward(cur: torch.Tensor, beta: torch.Tensor, rho: torch.Tensor, threshold: float, strength: float,
                     keep_mem: bool, rows_per_beta: int = 1, rows_per_rho: int = 1, reset: int = 0):
    """Spikes (and the membrane if ``keep_mem``, else None) of adaptive neurons; ``beta`` (Mb, N) and ``rho``
    (Mr, N) in the currents' dtype."""
    spk = torch.empty_like(cur)
    mem = torch.empty_like(cur) if keep_mem else cur.new_empty((1,) + cur.shape[1:])  # unused placeholder
    _adaptive_forward_numba(cur.detach().numpy(), spk.numpy(), mem.numpy(), keep_mem, beta.detach().numpy(),
                            rows_per_beta, rho.detach().numpy(), rows_per_rho,
                            *_numba_scalars(cur, threshold, strength), reset)
    return spk, (mem if keep_mem else None)


def adaptive_backward(cur, grad_spk, grad_mem, beta, rho, threshold: float, strength: float, slope: float,
                      rows_per_beta: int = 1, rows_per_rho: int = 1, reset: int = 0):
    """Gradients w.r.t. the currents, the (Mb, N) betas and the (Mr, N) rhos."""
    grad_cur = torch.empty_like(cur)
    has_grad_mem = grad_mem is not None
    grad_beta = torch.zeros(beta.shape, dtype=torch.float64)
    grad_rho = torch.zeros(rho.shape, dtype=torch.float64)
    _adaptive_backward_numba(cur.detach().numpy(), grad_spk.detach().numpy(),
                             (grad_mem if has_grad_mem else grad_spk).detach().numpy(), has_grad_mem,
                             grad_cur.numpy(), beta.detach().numpy(), rows_per_beta, grad_beta.numpy(),
                             rho.detach().numpy(), rows_per_rho, grad_rho.numpy(),
                             *_numba_scalars(cur, threshold, strength, slope, 1.0), reset)
    return grad_cur, grad_beta.to(cur.dtype), grad_rho.to(cur.dtype)
