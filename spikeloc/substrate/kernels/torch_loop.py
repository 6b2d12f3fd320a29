"""torch backend of the fused LIF loop: a loop over time of torch ops (any device, any floating dtype).

Arrays are (R, T, N) contiguous; R = product of the leading dimensions. Works everywhere, launch-bound on a
GPU (one small kernel per op per step); the reference the compiled backends are checked against. ``reset`` is
the integer code of :data:`.step.RESETS`.
"""

from __future__ import annotations

import torch

from spikeloc.substrate.kernels.step import (_adaptation_carry_grad, _adaptation_step, _adaptive_threshold,
                                             _beta_grad_term, _carry_grad, _lif_step, _recurrent_step, surrogate_grad)


def _constant(value: float, like: torch.Tensor) -> torch.Tensor:
    """A constant as a 0-dim tensor of the currents' dtype (``threshold * bool_tensor`` stays in that dtype)."""
    return torch.tensor(value, dtype=like.dtype, device=like.device)


def forward(cur: torch.Tensor, beta, threshold: float, keep_mem: bool = True, rows_per_beta: int = 1,
            reset: int = 0):
    beta = _expand_rows(beta, rows_per_beta)
    threshold = _constant(threshold, cur)
    mem = torch.empty_like(cur)  # needed by the loop itself, so always kept
    mem[:, 0] = cur[:, 0]  # u_0 = beta * 0 + I_0
    for t in range(1, cur.shape[1]):
        mem[:, t] = _lif_step(mem[:, t - 1], cur[:, t], beta, threshold, reset)
    return (mem > threshold).to(cur.dtype), mem


def backward(mem, grad_spk, grad_mem, beta, threshold: float, slope: float, rows_per_beta: int = 1,
             want_grad_beta: bool = False, reset: int = 0):
    """Gradients w.r.t. the currents and (if ``want_grad_beta``) w.r.t. the (M, N) betas, else None."""
    threshold = _constant(threshold, mem)
    grad = surrogate_grad(grad_spk, mem, threshold, slope, 1.0)  # a new tensor: safe to update in place
    if grad_mem is not None:
        grad += grad_mem
    row_beta = _expand_rows(beta, rows_per_beta)
    for t in range(mem.shape[1] - 2, -1, -1):
        grad[:, t] = _carry_grad(grad[:, t], grad[:, t + 1], mem[:, t], row_beta, threshold, reset)
    return grad, (_beta_gradient(grad, mem, beta, threshold, rows_per_beta, reset) if want_grad_beta else None)


def _beta_gradient(grad, mem, beta, threshold, rows_per_beta: int, reset: int) -> torch.Tensor:
    """dL/dbeta (M, N) from g_u and u (R, T, N): summed over time per row, over the rows of a beta in float64."""
    per_row = _beta_grad_term(grad[:, 1:], mem[:, :-1], threshold, reset).sum(dim=1, dtype=torch.float64)  # (R, N)
    return per_row.view(beta.shape[0], rows_per_beta, -1).sum(dim=1).to(mem.dtype)


def _expand_rows(beta, rows_per_beta: int):
    """A float stays a float; (M, N) betas become (M * rows_per_beta, N), one row per row of currents."""
    if not isinstance(beta, torch.Tensor):
        return beta
    return beta[:, None, :].expand(-1, rows_per_beta, -1).reshape(-1, beta.shape[-1])


def recurrent_forward(cur: torch.Tensor, weight: torch.Tensor, beta, threshold: float, keep_mem: bool = True,
                      rows_per_weight: int = 1, rows_per_beta: int = 1, reset: int = 0):
    """Spikes and membrane of a recurrent layer: (R, T, N) currents, (M, N, N) weight V (row r uses
    ``weight[r // rows_per_weight]``); R_t = V^T s_{t-1} as one batched matmul per step."""
    beta = _expand_rows(beta, rows_per_beta)
    threshold = _constant(threshold, cur)
    groups, n_units = weight.shape[0], cur.shape[2]
    mem, spk = torch.empty_like(cur), torch.empty_like(cur)
    mem[:, 0] = cur[:, 0]
    spk[:, 0] = mem[:, 0] > threshold
    for t in range(1, cur.shape[1]):
        recurrent = torch.bmm(spk[:, t - 1].reshape(groups, -1, n_units), weight).reshape(-1, n_units)
        mem[:, t] = _recurrent_step(mem[:, t - 1], cur[:, t], recurrent, beta, threshold, reset)
        spk[:, t] = mem[:, t] > threshold
    return spk, mem


def recurrent_backward(mem, grad_spk, grad_mem, weight, beta, threshold: float, slope: float, rows_per_weight: int = 1,
                       rows_per_beta: int = 1, want_grad_weight: bool = False, want_grad_beta: bool = False,
                       reset: int = 0):
    """(grad of the currents, of the (M, N, N) weight or None, of the (M, N) betas or None); the equations are
    :func:`spikeloc.substrate.kernels.numba_cpu._recurrent_backward_numba`'s."""
    threshold = _constant(threshold, mem)
    groups, n_steps, n_units = weight.shape[0], mem.shape[1], mem.shape[2]
    row_beta = _expand_rows(beta, rows_per_beta)
    weight_t = weight.transpose(1, 2)
    grad = torch.empty_like(mem)
    for t in range(n_steps - 1, -1, -1):
        grad_s = grad_spk[:, t]
        if t < n_steps - 1:
            grad_s = grad_s + torch.bmm(grad[:, t + 1].reshape(groups, -1, n_units), weight_t).reshape(-1, n_units)
        grad_t = surrogate_grad(grad_s, mem[:, t], threshold, slope, 1.0)
        if grad_mem is not None:
            grad_t = grad_t + grad_mem[:, t]
        if t < n_steps - 1:
            grad_t = _carry_grad(grad_t, grad[:, t + 1], mem[:, t], row_beta, threshold, reset)
        grad[:, t] = grad_t
    grad_weight = None
    if want_grad_weight:  # sum over rows and steps t >= 1 of s_{t-1} g_u_t^T, per weight
        spk = (mem[:, :-1] > threshold).to(mem.dtype).reshape(groups, -1, n_units)
        grad_weight = torch.bmm(spk.transpose(1, 2), grad[:, 1:].reshape(groups, -1, n_units))
    grad_beta = _beta_gradient(grad, mem, beta, threshold, rows_per_beta, reset) if want_grad_beta else None
    return grad, grad_weight, grad_beta


def _adaptive_states(cur, beta, rho, threshold, strength, rows_per_beta: int, rows_per_rho: int, reset: int):
    """Spikes, membrane and adaptation (R, T, N) of adaptive neurons (:mod:`.step`), stepped over time."""
    beta, rho = _expand_rows(beta, rows_per_beta), _expand_rows(rho, rows_per_rho)
    spk, mem, adapt = torch.empty_like(cur), torch.empty_like(cur), torch.zeros_like(cur)
    mem[:, 0] = cur[:, 0]  # u_0 = I_0, a_0 = 0
    spk[:, 0] = mem[:, 0] > _adaptive_threshold(threshold, strength, adapt[:, 0])
    for t in range(1, cur.shape[1]):
        adapt[:, t] = _adaptation_step(adapt[:, t - 1], spk[:, t - 1], rho)
        theta_prev = _adaptive_threshold(threshold, strength, adapt[:, t - 1])
        mem[:, t] = _lif_step(mem[:, t - 1], cur[:, t], beta, theta_prev, reset)
        spk[:, t] = mem[:, t] > _adaptive_threshold(threshold, strength, adapt[:, t])
    return spk, mem, adapt


def adaptive_forward(cur, beta, rho, threshold: float, strength: float, keep_mem: bool = True, rows_per_beta: int = 1,
                     rows_per_rho: int = 1, reset: int = 0):
    spk, mem, _ = _adaptive_states(cur, beta, rho, _constant(threshold, cur), _constant(strength, cur),
                                   rows_per_beta, rows_per_rho, reset)
    return spk, (mem if keep_mem else None)


def adaptive_backward(cur, grad_spk, grad_mem, beta, rho, threshold: float, strength: float, slope: float,
                      rows_per_beta: int = 1, rows_per_rho: int = 1, reset: int = 0):
    """Gradients w.r.t. the currents, the (Mb, N) betas and the (Mr, N) rhos; the states are recomputed from the
    currents (as the compiled backends do)."""
    threshold, strength = _constant(threshold, cur), _constant(strength, cur)
    _, mem, adapt = _adaptive_states(cur, beta, rho, threshold, strength, rows_per_beta, rows_per_rho, reset)
    theta = _adaptive_threshold(threshold, strength, adapt)
    row_beta, row_rho = _expand_rows(beta, rows_per_beta), _expand_rows(rho, rows_per_rho)
    grad, grad_adapt = torch.empty_like(cur), torch.empty_like(cur)
    grad_adapt_next = grad_next = torch.zeros_like(cur[:, 0])
    for t in range(cur.shape[1] - 1, -1, -1):
        q = surrogate_grad(grad_spk[:, t] + grad_adapt_next, mem[:, t], theta[:, t], slope, 1.0)
        local = q if grad_mem is None else q + grad_mem[:, t]
        grad[:, t] = local if t == cur.shape[1] - 1 else _carry_grad(local, grad_next, mem[:, t], row_beta,
                                                                      theta[:, t], reset)
        grad_adapt[:, t] = _adaptation_carry_grad(q, grad_adapt_next, grad_next, mem[:, t], theta[:, t], row_rho,
                                                  strength, reset)
        grad_next, grad_adapt_next = grad[:, t], grad_adapt[:, t]
    per_row_beta = _beta_grad_term(grad[:, 1:], mem[:, :-1], theta[:, :-1], reset).sum(dim=1, dtype=torch.float64)
    per_row_rho = (grad_adapt[:, 1:] * adapt[:, :-1]).sum(dim=1, dtype=torch.float64)
    return (grad, per_row_beta.view(beta.shape[0], rows_per_beta, -1).sum(dim=1).to(cur.dtype),
            per_row_rho.view(rho.shape[0], rows_per_rho, -1).sum(dim=1).to(cur.dtype))
