"""torch backend of the fused LIF loop: a loop over time of torch ops (any device, any floating dtype).

Arrays are (R, T, N) contiguous; R = product of the leading dimensions. Works everywhere, launch-bound on a
GPU (one small kernel per op per step); the reference the compiled backends are checked against. ``reset`` is
the integer code of :data:`.step.RESETS`.
"""

from __future__ import annotations

import torch

from spikeloc.substrate.kernels.step import _beta_grad_term, _carry_grad, _lif_step, surrogate_grad


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
    if not want_grad_beta:
        return grad, None
    per_row = _beta_grad_term(grad[:, 1:], mem[:, :-1], threshold, reset).sum(dim=1, dtype=torch.float64)  # (R, N)
    return grad, per_row.view(beta.shape[0], rows_per_beta, -1).sum(dim=1).to(mem.dtype)


def _expand_rows(beta, rows_per_beta: int):
    """A float stays a float; (M, N) betas become (M * rows_per_beta, N), one row per row of currents."""
    if not isinstance(beta, torch.Tensor):
        return beta
    return beta[:, None, :].expand(-1, rows_per_beta, -1).reshape(-1, beta.shape[-1])
