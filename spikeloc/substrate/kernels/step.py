"""The LIF step math, written once; every backend of :func:`spikeloc.substrate.fused.lif_spikes` follows it.

Plain Python on purpose: the torch backend (:mod:`.torch_loop`) calls these with tensors, the numba kernels
(:mod:`.numba_cpu`) call numba-compiled copies of the same functions with scalars, and the Triton kernels
(:mod:`.triton_gpu`) compile them with ``triton.jit``. Operators only (no torch./np. calls, except through
:func:`_exp`, which each compiled backend replaces with its own exp; Triton also gets its own ``abs``) so all
of them can evaluate them; ``mem * (mem <= thr)`` is ``(1 - r) * mem`` with the same IEEE result (also for
inf/nan) and keeps float32 arithmetic in numba and Triton (bool * float32 -> float32). The equations are in
:mod:`spikeloc.substrate.fused`.
"""

from __future__ import annotations

import torch


def _exp(y):
    """exp for the torch backend; numba kernels get an overload (a vectorisable float32 exp, see
    :mod:`.numba_cpu`) and Triton kernels ``tl.exp`` (see :mod:`.triton_gpu`)."""
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
