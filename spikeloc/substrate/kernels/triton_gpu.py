"""Triton backend of the fused LIF loop (CUDA, float32/float64): the whole time loop in one kernel launch.

One Triton program owns ``BLOCK`` lanes, a lane being one neuron of one row of currents (R rows, N units,
R * N lanes); each lane runs its own loop over the T steps, so the launch count is one per pass whatever T,
where the torch loop launches several small kernels per step. The step math is :mod:`.step`'s, compiled by
``triton.jit`` (its ``_exp`` and ``abs`` resolved to ``tl.exp`` and ``tl.abs``), so this backend cannot drift
from the numba and torch ones.

* Forward: spikes (and the membrane only when asked for), nothing else stored.
* Backward, like the numba kernel: the membrane is recomputed from the saved currents into the gradient
  buffer (as scratch), then the reverse-time pass overwrites it in place with ``g_u_t``. A per-neuron beta's
  gradient is summed over time per lane in the currents' dtype (the same order as numba), written per row,
  and summed over the rows that share a beta in float64 by torch: no atomics, so the result is the same run
  to run.
* The reset mechanism (:data:`.step.RESETS`'s code) is a compile-time constant (``RESET``): the step
  functions' branches on it are resolved when the kernel compiles.
* Floating-point contraction is off (``enable_fp_fusion=False``): ``beta * x + I`` is a multiply and an add,
  as in snnTorch and the numba kernel, not one FMA, so the forward pass (spikes, membrane) equals theirs bit
  for bit. Gradients agree to float rounding: the surrogate's exp and division are Triton's, not numba's
  (see :func:`spikeloc.substrate.fused.lif_spikes`).

``TRITON_INTERPRET=1`` (set before this module is imported) runs the same kernels on CPU tensors through
Triton's interpreter: slow, but it is how the kernels are tested on machines without a GPU
(``make test-triton``).
"""

from __future__ import annotations

import os
import types

import torch
import triton
import triton.language as tl

from spikeloc.substrate.kernels import step

DTYPES = (torch.float32, torch.float64)
#: True when ``TRITON_INTERPRET=1`` was set at import (as Triton reads it): the kernels then run on CPU tensors.
INTERPRETED = os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on")
_BLOCK = 128


@triton.jit
def _exp_tl(y):
    return tl.exp(y)


@triton.jit
def _abs_tl(y):
    return tl.abs(y)


def _compiled(fn):
    """A function of :mod:`.step` compiled by ``triton.jit``: the same code, with ``_exp`` and the builtin
    ``abs`` (which Triton does not know) resolved to Triton's, and ``tl`` visible (the interpreter wants it)."""
    namespace = dict(fn.__globals__, _exp=_exp_tl, abs=_abs_tl, tl=tl)
    return triton.jit(types.FunctionType(fn.__code__, namespace, fn.__name__))


_lif_step = _compiled(step._lif_step)
_surrogate_grad = _compiled(step.surrogate_grad)
_carry_grad = _compiled(step._carry_grad)
_beta_grad_term = _compiled(step._beta_grad_term)


_adaptation_step = _compiled(step._adaptation_step)
_adaptive_threshold = _compiled(step._adaptive_threshold)
_adaptation_carry_grad = _compiled(step._adaptation_carry_grad)

@triton.jit
def _lanes(n_lanes, n_steps, n_units, rows_per_beta, BLOCK: tl.constexpr, PER_NEURON: tl.constexpr):
    """This program's lanes: (mask, offset of step 0 in the (R, T, N) arrays, index into the betas)."""
    lane = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = lane < n_lanes
    row = lane // n_units
    unit = lane % n_units
    if PER_NEURON:
        beta_index = (row // rows_per_beta) * n_units + unit
    else:
        beta_index = lane * 0
    return ok, row * n_steps * n_units + unit, beta_index


@triton.jit
def _membrane_pass(cur_ptr, spk_ptr, mem_ptr, base, ok, beta, threshold, n_steps, n_units,
                   STORE_SPIKES: tl.constexpr, STORE_MEM: tl.constexpr, RESET: tl.constexpr):
    """The forward loop of one block of lanes: u_0 = I_0, u_t = step(u_{t-1}, I_t); stores s_t and/or u_t."""
    mem = tl.load(cur_ptr + base, mask=ok, other=0.0)
    for t in range(n_steps):
        offset = base + t * n_units
        if t > 0:
            mem = _lif_step(mem, tl.load(cur_ptr + offset, mask=ok, other=0.0), beta, threshold, RESET)
        if STORE_SPIKES:
            tl.store(spk_ptr + offset, (mem > threshold).to(mem.dtype), mask=ok)
        if STORE_MEM:
            tl.store(mem_ptr + offset, mem, mask=ok)


@triton.jit
def _forward_kernel(cur_ptr, spk_ptr, mem_ptr, beta_ptr, consts_ptr, n_lanes, n_steps, n_units, rows_per_beta,
                    PER_NEURON: tl.constexpr, KEEP_MEM: tl.constexpr, BLOCK: tl.constexpr, RESET: tl.constexpr):
    ok, base, beta_index = _lanes(n_lanes, n_steps, n_units, rows_per_beta, BLOCK, PER_NEURON)
    beta = tl.load(beta_ptr + beta_index, mask=ok, other=0.0)
    _membrane_pass(cur_ptr, spk_ptr, mem_ptr, base, ok, beta, tl.load(consts_ptr), n_steps, n_units, True, KEEP_MEM,
                   RESET)


@triton.jit
def _backward_kernel(cur_ptr, grad_spk_ptr, grad_mem_ptr, grad_cur_ptr, beta_ptr, grad_beta_ptr, consts_ptr,
                     n_lanes, n_steps, n_units, rows_per_beta, PER_NEURON: tl.constexpr,
                     HAS_GRAD_MEM: tl.constexpr, WANT_GRAD_BETA: tl.constexpr, BLOCK: tl.constexpr,
                     RESET: tl.constexpr):
    ok, base, beta_index = _lanes(n_lanes, n_steps, n_units, rows_per_beta, BLOCK, PER_NEURON)
    beta = tl.load(beta_ptr + beta_index, mask=ok, other=0.0)
    threshold = tl.load(consts_ptr)
    slope = tl.load(consts_ptr + 1)
    # the membrane, recomputed into the gradient buffer (scratch): then read back in reverse, overwritten by g_u
    _membrane_pass(cur_ptr, grad_cur_ptr, grad_cur_ptr, base, ok, beta, threshold, n_steps, n_units, False, True,
                   RESET)
    grad_next = tl.zeros_like(beta)
    grad_beta = tl.zeros_like(beta)
    for i in range(n_steps):
        offset = base + (n_steps - 1 - i) * n_units
        mem = tl.load(grad_cur_ptr + offset, mask=ok, other=0.0)
        grad = _surrogate_grad(tl.load(grad_spk_ptr + offset, mask=ok, other=0.0), mem, threshold, slope, 1.0)
        if HAS_GRAD_MEM:
            grad = grad + tl.load(grad_mem_ptr + offset, mask=ok, other=0.0)
        if i > 0:  # t < T - 1: the carry from t + 1 (and beta's share), in the numba kernel's order
            if WANT_GRAD_BETA:
                grad_beta += _beta_grad_term(grad_next, mem, threshold, RESET)
            grad = _carry_grad(grad, grad_next, mem, beta, threshold, RESET)
        tl.store(grad_cur_ptr + offset, grad, mask=ok)
        grad_next = grad
    if WANT_GRAD_BETA:
        lane = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        tl.store(grad_beta_ptr + lane, grad_beta, mask=ok)


def _launch_args(cur: torch.Tensor, beta, rows_per_beta: int, *constants: float):
    """(grid, betas as an array in the currents' dtype, constants array, sizes, per_neuron)."""
    n_rows, n_steps, n_units = cur.shape
    per_neuron = isinstance(beta, torch.Tensor)
    betas = beta.detach() if per_neuron else torch.full((1,), beta, dtype=cur.dtype, device=cur.device)
    consts = torch.tensor(constants, dtype=cur.dtype, device=cur.device)
    n_lanes = n_rows * n_units
    return (triton.cdiv(n_lanes, _BLOCK),), betas, consts, (n_lanes, n_steps, n_units, rows_per_beta), per_neuron


def forward(cur: torch.Tensor, beta, threshold: float, keep_mem: bool, rows_per_beta: int = 1, reset: int = 0):
    """Spikes (and the membrane if ``keep_mem``, else None) of (R, T, N) contiguous currents."""
    spk = torch.empty_like(cur)
    mem = torch.empty_like(cur) if keep_mem else spk  # a placeholder pointer when not stored
    grid, betas, consts, sizes, per_neuron = _launch_args(cur, beta, rows_per_beta, threshold)
    _forward_kernel[grid](cur, spk, mem, betas, consts, *sizes, PER_NEURON=per_neuron, KEEP_MEM=keep_mem,
                          BLOCK=_BLOCK, RESET=reset, enable_fp_fusion=False)
    return spk, (mem if keep_mem else None)


def backward(cur, grad_spk, grad_mem, beta, threshold: float, slope: float, rows_per_beta: int = 1,
             want_grad_beta: bool = False, reset: int = 0):
    """Gradients w.r.t. the currents and (if ``want_grad_beta``) the (M, N) betas, else None."""
    grad_cur = torch.empty_like(cur)
    grid, betas, consts, sizes, per_neuron = _launch_args(cur, beta, rows_per_beta, threshold, slope)
    per_row = torch.empty(cur.shape[0], cur.shape[2], dtype=cur.dtype, device=cur.device) if want_grad_beta \
        else grad_cur  # a placeholder pointer when not written
    _backward_kernel[grid](cur, grad_spk, grad_spk if grad_mem is None else grad_mem, grad_cur, betas, per_row,
                           consts, *sizes, PER_NEURON=per_neuron, HAS_GRAD_MEM=grad_mem is not None,
                           WANT_GRAD_BETA=want_grad_beta, BLOCK=_BLOCK, RESET=reset, enable_fp_fusion=False)
    if not want_grad_beta:
        return grad_cur, None
    grad_beta = per_row.view(beta.shape[0], rows_per_beta, -1).sum(dim=1, dtype=torch.float64)
    return grad_cur, grad_beta.to(cur.dtype)


# ------------------------------------------------------------------------------------------------ recurrent
# One program per row of currents, one lane per unit (a block of the next power of two >= N): the recurrent
# product couples a row's units. R_t = V^T s_{t-1} and V g_u_{t+1} are summed in the numba kernel's order (one
# presynaptic unit after the other, each a scalar read back from the row's stored spikes / gradients times a row
# of V or V^T), so the forward pass is numba's (and snnTorch's) bit for bit. ``tl.debug_barrier`` makes a step's
# stores visible to every lane of the program before the next step reads them.
_recurrent_step = _compiled(step._recurrent_step)


@triton.jit
def _recurrent_row(row, n_steps, n_units, rows_per_beta, beta_ptr, BLOCK: tl.constexpr, PER_NEURON: tl.constexpr):
    """(units, mask, offset of the row's step 0, this row's beta per lane)."""
    unit = tl.arange(0, BLOCK)
    ok = unit < n_units
    if PER_NEURON:
        beta = tl.load(beta_ptr + (row // rows_per_beta) * n_units + unit, mask=ok, other=0.0)
    else:
        beta = tl.load(beta_ptr + unit * 0)
    return unit, ok, row * n_steps * n_units, beta


@triton.jit
def _recurrent_pass(cur_ptr, spk_ptr, mem_ptr, w_ptr, start, unit, ok, beta, threshold, n_steps, n_units,
                    STORE_MEM: tl.constexpr, RESET: tl.constexpr):
    """u_0 = I_0, u_t = step(u_{t-1}, I_t, V^T s_{t-1}); stores s_t (always: the next step reads it) and u_t."""
    mem = tl.load(cur_ptr + start + unit, mask=ok, other=0.0)
    for t in range(n_steps):
        offset = start + t * n_units + unit
        if t > 0:
            recurrent = tl.zeros_like(mem)
            for i in range(n_units):
                spike = tl.load(spk_ptr + start + (t - 1) * n_units + i)
                recurrent += spike * tl.load(w_ptr + i * n_units + unit, mask=ok, other=0.0)
            mem = _recurrent_step(mem, tl.load(cur_ptr + offset, mask=ok, other=0.0), recurrent, beta, threshold,
                                  RESET)
        tl.store(spk_ptr + offset, (mem > threshold).to(mem.dtype), mask=ok)
        if STORE_MEM:
            tl.store(mem_ptr + offset, mem, mask=ok)
        tl.debug_barrier()


@triton.jit
def _recurrent_forward_kernel(cur_ptr, spk_ptr, mem_ptr, weight_ptr, beta_ptr, consts_ptr, n_steps, n_units,
                              rows_per_weight, rows_per_beta, PER_NEURON: tl.constexpr, KEEP_MEM: tl.constexpr,
                              BLOCK: tl.constexpr, RESET: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    unit, ok, start, beta = _recurrent_row(row, n_steps, n_units, rows_per_beta, beta_ptr, BLOCK, PER_NEURON)
    w_ptr = weight_ptr + (row // rows_per_weight) * n_units * n_units
    _recurrent_pass(cur_ptr, spk_ptr, mem_ptr, w_ptr, start, unit, ok, beta, tl.load(consts_ptr), n_steps, n_units,
                    KEEP_MEM, RESET)


@triton.jit
def _recurrent_backward_kernel(cur_ptr, spk_ptr, grad_spk_ptr, grad_mem_ptr, grad_cur_ptr, weight_ptr, weight_t_ptr,
                               grad_weight_ptr, beta_ptr, grad_beta_ptr, consts_ptr, n_steps, n_units,
                               rows_per_weight, rows_per_beta, PER_NEURON: tl.constexpr, HAS_GRAD_MEM: tl.constexpr,
                               WANT_GRAD_WEIGHT: tl.constexpr, WANT_GRAD_BETA: tl.constexpr, BLOCK: tl.constexpr,
                               RESET: tl.constexpr):
    """As ``_recurrent_backward_numba``: membrane and spikes recomputed (the membrane into the gradient buffer),
    then one reverse pass; dL/dV and dL/dbeta summed over time per row, written per row."""
    row = tl.program_id(0).to(tl.int64)
    unit, ok, start, beta = _recurrent_row(row, n_steps, n_units, rows_per_beta, beta_ptr, BLOCK, PER_NEURON)
    group = row // rows_per_weight
    threshold = tl.load(consts_ptr)
    slope = tl.load(consts_ptr + 1)
    _recurrent_pass(cur_ptr, spk_ptr, grad_cur_ptr, weight_ptr + group * n_units * n_units, start, unit, ok, beta,
                    threshold, n_steps, n_units, True, RESET)
    wt_ptr = weight_t_ptr + group * n_units * n_units
    grad_next = tl.zeros_like(beta)
    grad_beta = tl.zeros_like(beta)
    grad_weight = tl.zeros((BLOCK, BLOCK), dtype=beta.dtype)
    for k in range(n_steps):
        t = n_steps - 1 - k
        offset = start + t * n_units + unit
        mem = tl.load(grad_cur_ptr + offset, mask=ok, other=0.0)
        back = tl.zeros_like(mem)  # V g_u_{t+1} (0 at the last step)
        if k > 0:
            for n in range(n_units):
                g_n = tl.load(grad_cur_ptr + start + (t + 1) * n_units + n)
                back += g_n * tl.load(wt_ptr + n * n_units + unit, mask=ok, other=0.0)
        grad = _surrogate_grad(tl.load(grad_spk_ptr + offset, mask=ok, other=0.0) + back, mem, threshold, slope, 1.0)
        if HAS_GRAD_MEM:
            grad = grad + tl.load(grad_mem_ptr + offset, mask=ok, other=0.0)
        if k > 0:
            if WANT_GRAD_BETA:
                grad_beta += _beta_grad_term(grad_next, mem, threshold, RESET)
            grad = _carry_grad(grad, grad_next, mem, beta, threshold, RESET)
        if WANT_GRAD_WEIGHT:
            if t > 0:
                spikes = tl.load(spk_ptr + offset - n_units, mask=ok, other=0.0)
                grad_weight += spikes[:, None] * grad[None, :]
        tl.store(grad_cur_ptr + offset, grad, mask=ok)  # over u_t, which only this lane read
        tl.debug_barrier()  # g_u_t visible to every lane before step t - 1 reads it
        grad_next = grad
    if WANT_GRAD_BETA:
        tl.store(grad_beta_ptr + row * n_units + unit, grad_beta, mask=ok)
    if WANT_GRAD_WEIGHT:
        pairs = unit[:, None] * n_units + unit[None, :]
        tl.store(grad_weight_ptr + row * n_units * n_units + pairs, grad_weight, mask=ok[:, None] & ok[None, :])


def _recurrent_args(cur: torch.Tensor, beta, *constants: float):
    """(grid, block, betas in the currents' dtype, constants, per_neuron) for one program per row."""
    per_neuron = isinstance(beta, torch.Tensor)
    betas = beta.detach() if per_neuron else torch.full((1,), beta, dtype=cur.dtype, device=cur.device)
    consts = torch.tensor(constants, dtype=cur.dtype, device=cur.device)
    return (cur.shape[0],), triton.next_power_of_2(cur.shape[2]), betas, consts, per_neuron


def recurrent_forward(cur: torch.Tensor, weight: torch.Tensor, beta, threshold: float, keep_mem: bool,
                      rows_per_weight: int, rows_per_beta: int = 1, reset: int = 0):
    """Spikes (and membrane if ``keep_mem``) of a recurrent layer: (R, T, N) currents, (M, N, N) weight."""
    spk = torch.empty_like(cur)
    mem = torch.empty_like(cur) if keep_mem else spk
    grid, block, betas, consts, per_neuron = _recurrent_args(cur, beta, threshold)
    _recurrent_forward_kernel[grid](cur, spk, mem, weight.detach(), betas, consts, cur.shape[1], cur.shape[2],
                                    rows_per_weight, rows_per_beta, PER_NEURON=per_neuron, KEEP_MEM=keep_mem,
                                    BLOCK=block, RESET=reset, enable_fp_fusion=False)
    return spk, (mem if keep_mem else None)


def recurrent_backward(cur, grad_spk, grad_mem, weight, beta, threshold: float, slope: float, rows_per_weight: int,
                       rows_per_beta: int = 1, want_grad_weight: bool = False, want_grad_beta: bool = False,
                       reset: int = 0):
    """(grad of the currents, of the (M, N, N) weight or None, of the (M, N) betas or None); per-row sums added
    over the rows of a weight / beta in float64 by torch."""
    n_rows, _, n_units = cur.shape
    grad_cur, spk = torch.empty_like(cur), torch.empty_like(cur)
    grid, block, betas, consts, per_neuron = _recurrent_args(cur, beta, threshold, slope)
    weight = weight.detach()
    per_row_weight = cur.new_empty(n_rows, n_units, n_units) if want_grad_weight else grad_cur
    per_row_beta = cur.new_empty(n_rows, n_units) if want_grad_beta else grad_cur
    _recurrent_backward_kernel[grid](cur, spk, grad_spk, grad_spk if grad_mem is None else grad_mem, grad_cur, weight,
                                     weight.transpose(1, 2).contiguous(), per_row_weight, betas, per_row_beta, consts,
                                     cur.shape[1], n_units, rows_per_weight, rows_per_beta, PER_NEURON=per_neuron,
                                     HAS_GRAD_MEM=grad_mem is not None, WANT_GRAD_WEIGHT=want_grad_weight,
                                     WANT_GRAD_BETA=want_grad_beta, BLOCK=block, RESET=reset, enable_fp_fusion=False)
    grad_weight = grad_beta = None
    if want_grad_weight:
        grad_weight = per_row_weight.view(weight.shape[0], rows_per_weight, n_units, n_units).sum(
            dim=1, dtype=torch.float64).to(cur.dtype)
    if want_grad_beta:
        grad_beta = per_row_beta.view(beta.shape[0], rows_per_beta, n_units).sum(dim=1, dtype=torch.float64).to(
            cur.dtype)
    return grad_cur, grad_weight, grad_beta


# --- adaptive threshold (ALIF): the same layout, one lane per neuron of a row; beta and rho per neuron -----------
@triton.jit
def _adaptive_lanes(n_lanes, n_steps, n_units, rows_per_beta, rows_per_rho, BLOCK: tl.constexpr):
    """This program's lanes: (mask, offset of step 0 in the (R, T, N) arrays, index into the betas, into the rhos)."""
    lane = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    row = lane // n_units
    unit = lane % n_units
    return (lane < n_lanes, row * n_steps * n_units + unit, (row // rows_per_beta) * n_units + unit,
            (row // rows_per_rho) * n_units + unit)


@triton.jit
def _adaptive_pass(cur_ptr, spk_ptr, mem_ptr, adapt_ptr, base, ok, beta, rho, threshold, strength, n_steps, n_units,
                   STORE_SPIKES: tl.constexpr, STORE_STATES: tl.constexpr, RESET: tl.constexpr):
    """The forward loop of one block of adaptive lanes: u_0 = I_0, a_0 = 0; a_t = step(a_{t-1}, s_{t-1}),
    u_t = LIF step at theta_{t-1}, s_t = H(u_t - theta_t); stores s_t and/or (u_t, a_t)."""
    mem = tl.load(cur_ptr + base, mask=ok, other=0.0)
    adapt = tl.zeros_like(mem)
    spike = (mem > _adaptive_threshold(threshold, strength, adapt)).to(mem.dtype)
    for t in range(n_steps):
        offset = base + t * n_units
        if t > 0:
            adapt_prev = adapt
            adapt = _adaptation_step(adapt_prev, spike, rho)
            mem = _lif_step(mem, tl.load(cur_ptr + offset, mask=ok, other=0.0), beta,
                            _adaptive_threshold(threshold, strength, adapt_prev), RESET)
            spike = (mem > _adaptive_threshold(threshold, strength, adapt)).to(mem.dtype)
        if STORE_SPIKES:
            tl.store(spk_ptr + offset, spike, mask=ok)
        if STORE_STATES:
            tl.store(mem_ptr + offset, mem, mask=ok)
            tl.store(adapt_ptr + offset, adapt, mask=ok)


@triton.jit
def _adaptive_forward_kernel(cur_ptr, spk_ptr, mem_ptr, adapt_ptr, beta_ptr, rho_ptr, consts_ptr, n_lanes, n_steps,
                             n_units, rows_per_beta, rows_per_rho, KEEP_MEM: tl.constexpr, BLOCK: tl.constexpr,
                             RESET: tl.constexpr):
    ok, base, beta_index, rho_index = _adaptive_lanes(n_lanes, n_steps, n_units, rows_per_beta, rows_per_rho, BLOCK)
    beta = tl.load(beta_ptr + beta_index, mask=ok, other=0.0)
    rho = tl.load(rho_ptr + rho_index, mask=ok, other=0.0)
    _adaptive_pass(cur_ptr, spk_ptr, mem_ptr, adapt_ptr, base, ok, beta, rho, tl.load(consts_ptr),
                   tl.load(consts_ptr + 1), n_steps, n_units, True, KEEP_MEM, RESET)


@triton.jit
def _adaptive_backward_kernel(cur_ptr, grad_spk_ptr, grad_mem_ptr, grad_cur_ptr, adapt_ptr, beta_ptr, rho_ptr,
                              grad_beta_ptr, grad_rho_ptr, consts_ptr, n_lanes, n_steps, n_units, rows_per_beta,
                              rows_per_rho, HAS_GRAD_MEM: tl.constexpr, BLOCK: tl.constexpr, RESET: tl.constexpr):
    ok, base, beta_index, rho_index = _adaptive_lanes(n_lanes, n_steps, n_units, rows_per_beta, rows_per_rho, BLOCK)
    beta = tl.load(beta_ptr + beta_index, mask=ok, other=0.0)
    rho = tl.load(rho_ptr + rho_index, mask=ok, other=0.0)
    threshold = tl.load(consts_ptr)
    strength = tl.load(consts_ptr + 1)
    slope = tl.load(consts_ptr + 2)
    # membrane (into the gradient buffer, as scratch) and adaptation recomputed, then read back in reverse
    _adaptive_pass(cur_ptr, grad_cur_ptr, grad_cur_ptr, adapt_ptr, base, ok, beta, rho, threshold, strength, n_steps,
                   n_units, False, True, RESET)
    grad_next = tl.zeros_like(beta)
    grad_adapt_next = tl.zeros_like(beta)
    grad_beta = tl.zeros_like(beta)
    grad_rho = tl.zeros_like(beta)
    for i in range(n_steps):
        offset = base + (n_steps - 1 - i) * n_units
        mem = tl.load(grad_cur_ptr + offset, mask=ok, other=0.0)
        adapt = tl.load(adapt_ptr + offset, mask=ok, other=0.0)
        theta = _adaptive_threshold(threshold, strength, adapt)
        q = _surrogate_grad(tl.load(grad_spk_ptr + offset, mask=ok, other=0.0) + grad_adapt_next, mem, theta, slope,
                            1.0)
        grad = q
        if HAS_GRAD_MEM:
            grad = grad + tl.load(grad_mem_ptr + offset, mask=ok, other=0.0)
        if i > 0:  # t < T - 1: the carry from t + 1 (and the shares of beta and rho), in the numba kernel's order
            grad_beta += _beta_grad_term(grad_next, mem, theta, RESET)
            grad_rho += grad_adapt_next * adapt
            grad = _carry_grad(grad, grad_next, mem, beta, theta, RESET)
        grad_adapt_next = _adaptation_carry_grad(q, grad_adapt_next, grad_next, mem, theta, rho, strength, RESET)
        tl.store(grad_cur_ptr + offset, grad, mask=ok)
        grad_next = grad
    lane = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    tl.store(grad_beta_ptr + lane, grad_beta, mask=ok)
    tl.store(grad_rho_ptr + lane, grad_rho, mask=ok)


def adaptive_forward(cur: torch.Tensor, beta: torch.Tensor, rho: torch.Tensor, threshold: float, strength: float,
                     keep_mem: bool, rows_per_beta: int = 1, rows_per_rho: int = 1, reset: int = 0):
    """Spikes (and the membrane if ``keep_mem``, else None) of adaptive neurons; ``beta`` (Mb, N), ``rho`` (Mr, N)."""
    spk = torch.empty_like(cur)
    mem, adapt = (torch.empty_like(cur), torch.empty_like(cur)) if keep_mem else (spk, spk)  # placeholders if not
    grid, consts, sizes = _adaptive_launch_args(cur, rows_per_beta, rows_per_rho, threshold, strength)
    _adaptive_forward_kernel[grid](cur, spk, mem, adapt, beta.detach(), rho.detach(), consts, *sizes,
                                   KEEP_MEM=keep_mem, BLOCK=_BLOCK, RESET=reset, enable_fp_fusion=False)
    return spk, (mem if keep_mem else None)


def adaptive_backward(cur, grad_spk, grad_mem, beta, rho, threshold: float, strength: float, slope: float,
                      rows_per_beta: int = 1, rows_per_rho: int = 1, reset: int = 0):
    """Gradients w.r.t. the currents, the (Mb, N) betas and the (Mr, N) rhos (per lane sums over time in the
    currents' dtype, over the rows that share a value in float64)."""
    grad_cur, adapt = torch.empty_like(cur), torch.empty_like(cur)
    per_row_beta = cur.new_empty(cur.shape[0], cur.shape[2])
    per_row_rho = cur.new_empty(cur.shape[0], cur.shape[2])
    grid, consts, sizes = _adaptive_launch_args(cur, rows_per_beta, rows_per_rho, threshold, strength, slope)
    _adaptive_backward_kernel[grid](cur, grad_spk, grad_spk if grad_mem is None else grad_mem, grad_cur, adapt,
                                    beta.detach(), rho.detach(), per_row_beta, per_row_rho, consts, *sizes,
                                    HAS_GRAD_MEM=grad_mem is not None, BLOCK=_BLOCK, RESET=reset,
                                    enable_fp_fusion=False)
    return (grad_cur, per_row_beta.view(beta.shape[0], rows_per_beta, -1).sum(dim=1, dtype=torch.float64).to(cur.dtype),
            per_row_rho.view(rho.shape[0], rows_per_rho, -1).sum(dim=1, dtype=torch.float64).to(cur.dtype))


def _adaptive_launch_args(cur: torch.Tensor, rows_per_beta: int, rows_per_rho: int, *constants: float):
    """(grid, constants array, sizes) of the adaptive kernels."""
    n_rows, n_steps, n_units = cur.shape
    consts = torch.tensor(constants, dtype=cur.dtype, device=cur.device)
    n_lanes = n_rows * n_units
    return (triton.cdiv(n_lanes, _BLOCK),), consts, (n_lanes, n_steps, n_units, rows_per_beta, rows_per_rho)
