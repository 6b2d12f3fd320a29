"""The LIF step math, written once; every backend of :func:`spikeloc.substrate.fused.lif_spikes` follows it.

Plain Python on purpose: the torch backend (:mod:`.torch_loop`) calls these with tensors, the numba kernels
(:mod:`.numba_cpu`) call numba-compiled copies of the same functions with scalars, and the Triton kernels
(:mod:`.triton_gpu`) compile them with ``triton.jit``. Operators only (no torch./np. calls, except through
:func:`_exp`, which each compiled backend replaces with its own exp; Triton also gets its own ``abs``) so all
of them can evaluate them; ``mem * (mem <= thr)`` is ``(1 - r) * mem`` with the same IEEE result (also for
inf/nan) and keeps float32 arithmetic in numba and Triton (bool * float32 -> float32). The equations are in
:mod:`spikeloc.substrate.fused`.

The reset mechanism is an integer code (an index into :data:`RESETS`: numba compiles one kernel whose
branches LLVM hoists out of the loops, Triton gets it as a compile-time constant):

* ``"zero"`` (0): ``u_t = beta ((1 - r_t) u_{t-1}) + I_t`` (snnTorch's ``reset_mechanism="zero"``);
* ``"subtract"`` (1): ``u_t = (beta u_{t-1} + I_t) - r_t threshold`` (snnTorch's default);
* ``"none"`` (2): ``u_t = beta u_{t-1} + I_t`` (spikes without reset).

The reset signal ``r_t = H(u_{t-1} - threshold)`` is detached (snnTorch's), so with ``"subtract"`` and
``"none"`` the membrane carries its gradient through every step: ``du_t / du_{t-1} = beta`` and
``du_t / dbeta = u_{t-1}``, no reset mask (``"zero"``: both times ``1 - r_t``).
"""

from __future__ import annotations

import torch

#: Reset mechanisms of the spiking neurons, in the order of their integer codes in the kernels.
RESETS = ("zero", "subtract", "none")


def _exp(y):
    """exp for the torch backend; numba kernels get an overload (a vectorisable float32 exp, see
    :mod:`.numba_cpu`) and Triton kernels ``tl.exp`` (see :mod:`.triton_gpu`)."""
    return torch.exp(y)


def _lif_step(mem_prev, current, beta, threshold, reset):
    """u_t from u_{t-1} and I_t, r_t = H(u_{t-1} - threshold), in snnTorch's order of float operations:
    zero ``beta * ((1 - r_t) * u_{t-1}) + I_t``; subtract ``(beta * u_{t-1} + I_t) - r_t * threshold``;
    none ``beta * u_{t-1} + I_t``."""
    if reset == 0:
        mem = beta * (mem_prev * (mem_prev <= threshold)) + current
    elif reset == 1:
        mem = (beta * mem_prev + current) - threshold * (mem_prev > threshold)
    else:
        mem = beta * mem_prev + current
    return mem


def surrogate_grad(grad_spike, mem, threshold, slope, one):
    """g_s * k e / (1 + e)^2 with e = exp(-k |u - threshold|) (snnTorch's order: ((g k) e) / (e + 1)^2)."""
    e = _exp(-(slope * abs(mem - threshold)))
    return grad_spike * slope * e / ((e + one) * (e + one))


def _carry_grad(grad_local, grad_next, mem, beta, threshold, reset):
    """g_u_t = local part + (g_u_{t+1} * beta) * (1 - r_{t+1}), r_{t+1} = H(u_t - threshold) (reset zero);
    local part + g_u_{t+1} * beta (subtract, none: the detached reset takes no share)."""
    if reset == 0:
        grad = grad_local + grad_next * beta * (mem <= threshold)
    else:
        grad = grad_local + grad_next * beta
    return grad


def _beta_grad_term(grad_next, mem, threshold, reset):
    """One step's share of dL/dbeta: g_u_{t+1} * (1 - r_{t+1}) * u_t, r_{t+1} = H(u_t - threshold) (reset zero);
    g_u_{t+1} * u_t (subtract, none)."""
    if reset == 0:
        term = grad_next * (mem * (mem <= threshold))
    else:
        term = grad_next * mem
    return term


def _beta_at(beta, n):
    """beta of unit n: the scalar itself, or ``beta[n]`` of a per-unit row (numba: see the overload)."""
    return beta[n]


def _beta_row(beta, row):
    """The betas of one row of currents: the scalar itself, or row ``row`` of an (M, N) array."""
    return beta[row]


def _recurrent_step(mem_prev, current, recurrent, beta, threshold, reset):
    """u_t of a recurrent LIF neuron (snnTorch's ``RLeaky``) from u_{t-1}, I_t and the recurrent input
    R_t = (V^T s_{t-1})_n, r_t = H(u_{t-1} - threshold), in ``RLeaky``'s order of float operations (the recurrent
    input added after the leak and the input current, before the reset's subtraction):
    subtract ``((beta * u_{t-1} + I_t) + R_t) - r_t * threshold``; none ``(beta * u_{t-1} + I_t) + R_t``;
    zero ``(beta * ((1 - r_t) * u_{t-1}) + I_t) + R_t`` (``Leaky``'s zero reset, see
    :func:`spikeloc.substrate.fused.recurrent_spikes`). With R_t = 0 each is :func:`_lif_step` exactly."""
    if reset == 0:
        mem = (beta * (mem_prev * (mem_prev <= threshold)) + current) + recurrent
    elif reset == 1:
        mem = ((beta * mem_prev + current) + recurrent) - threshold * (mem_prev > threshold)
    else:
        mem = (beta * mem_prev + current) + recurrent
    return mem


# --- adaptive threshold (ALIF, Bellec et al. 2018): :func:`spikeloc.substrate.fused.adaptive_spikes` ----------
# The membrane step is _lif_step with the previous step's threshold theta_{t-1} (r_t = H(u_{t-1} - theta_{t-1})
# = s_{t-1}); the membrane's backward is _carry_grad / _beta_grad_term at theta_t. The gradient reaching s_t is
# the output's plus the adaptation's, g_s_t + G_a_{t+1} (a_{t+1} = rho a_t + s_t), added by each backend.

def _adaptation_step(adapt_prev, spike_prev, rho):
    """a_t = rho * a_{t-1} + s_{t-1}: the adaptation, a decaying count of the neuron's past spikes."""
    return rho * adapt_prev + spike_prev


def _adaptive_threshold(threshold, strength, adapt):
    """theta_t = theta_0 + b * a_t (b = ``strength``, in units of the threshold per spike)."""
    return threshold + strength * adapt


def _adaptation_carry_grad(grad_surrogate, grad_adapt_next, grad_mem_next, mem, theta, rho, strength, reset):
    """G_a_t = rho * G_a_{t+1} - b * (q_t + r_{t+1} * G_u_{t+1}) (reset subtract: u_{t+1} subtracts r_{t+1} theta_t,
    which carries gradient through a_t), else rho * G_a_{t+1} - b * q_t; q_t = G_s_t * ds_t/du_t (the surrogate
    term, ``surrogate_grad``), r_{t+1} = H(u_t - theta_t). ``grad_mem_next`` is G_u_{t+1} (0 at the last step)."""
    if reset == 1:
        direct = grad_surrogate + grad_mem_next * (mem > theta)
    else:
        direct = grad_surrogate
    return rho * grad_adapt_next - strength * direct


def _surrogate_exp(mem, threshold, slope):
    """e = exp(-k |u - threshold|): :func:`surrogate_grad`'s exp, for a kernel that evaluates it apart from the
    gradient (the adaptive numba backward: one vectorised pass per row); then :func:`_surrogate_grad_from_exp`."""
    return _exp(-(slope * abs(mem - threshold)))


def _surrogate_grad_from_exp(grad_spike, e, slope, one):
    """:func:`surrogate_grad` given its exp ``e``: the same operations in the same order, so the same result."""
    return grad_spike * slope * e / ((e + one) * (e + one))


