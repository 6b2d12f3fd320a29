"""Parametrised families of local rules for meta-learning by evolution: a polynomial (Volterra) rule and a
recurrent (stateful) rule, each evaluated for every synapse of every network in one tensor operation.

Both see, for synapse ``j -> i`` of layer ``l``, the presynaptic activity ``x = x_j`` (the constant 1 for the
bias fibre), the postsynaptic activity ``y = y_i`` (the signed output at the output layer), the current weight
``w = w_ij`` and a third factor ``r`` (:func:`spikeloc.learning.local.evolution.global_signal`): the reward,
``+1`` if the network's sign is right on this example, else ``-1``, or the output error ``t - y`` (a signed
reward; the default in meta-training: a +-1 reward says whether the output was right but not which way to
move it, and a polynomial cannot recover the target's sign ``r sign(y)`` where the output is near 0), both
broadcast to every synapse; or, with feedback, the error delivered to each hidden unit ``i`` of layer ``l``
through a fixed random matrix, ``r_i = (B_l (t - y))_i``, as in feedback alignment
(:class:`spikeloc.learning.local.rules.FeedbackAlignment`).

* :class:`Polynomial` -- a truncated Volterra expansion (Confavreux et al., NeurIPS 2020; Jordan et al.,
  eLife 2021 search a similar space), with separate coefficients onto hidden and onto output neurons::

      dw = sum_{a <= A, b <= B, c <= C, d <= 1} theta^{(o)}_{abcd} x^a y^b w^c r^d,   o = [l == L]

  ``r^2 = 1``, so ``r`` enters at most linearly. The coefficients read directly as an equation
  (:meth:`Polynomial.equation`).
* :class:`Recurrent` -- a GRU cell shared by all synapses, each synapse with its own hidden state ``h_ij``
  (``H`` units, zero at the start of training), carried from update to update: a synapse with memory::

      h_ij <- GRU(u_ij, h_ij),   u_ij = (x_j, y_i, w_ij, r, o),   dw = v^T h_ij + c

  (PyTorch's ``GRUCell`` equations, with per-network parameters so a whole population is one batch).

A rule's parameters may be one vector ``(D,)`` (every network the same rule) or one per network ``(N, D)``
(a population of rules, each on its own networks), so meta-training and testing run the same code.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from spikeloc.validation import require

VARIABLES = ("x", "y", "w", "r")


def per_network(theta: torch.Tensor, n_networks: int) -> torch.Tensor:
    """``(N, D)`` parameters: a shared ``(D,)`` vector broadcast, or ``(N, D)`` checked."""
    if theta.ndim == 1:
        return theta.expand(n_networks, -1)
    require(theta.ndim == 2 and theta.shape[0] == n_networks, "theta", tuple(theta.shape),
            f"(D,) or ({n_networks}, D): one parameter vector per network")
    return theta


def powers(x: torch.Tensor, degree: int) -> torch.Tensor:
    """``(..., degree + 1)``: ``x^0 .. x^degree``."""
    return torch.stack([torch.ones_like(x), *itertools.accumulate([x] * degree, torch.mul)], dim=-1)


@dataclass(frozen=True)
class Polynomial:
    """``dw = sum theta_{abcd} x^a y^b w^c r^d`` (module doc); per-variable maximal degrees."""

    pre_degree: int = 2
    post_degree: int = 2
    weight_degree: int = 1

    stateful = False

    def __post_init__(self) -> None:
        for name in ("pre_degree", "post_degree", "weight_degree"):
            value = getattr(self, name)
            require(isinstance(value, int) and 0 <= value <= 3, name, value, "an integer in [0, 3]")

    @property
    def shape(self) -> tuple[int, ...]:
        """Coefficient array: (hidden / output, pre power, post power, weight power, reward power)."""
        return 2, self.pre_degree + 1, self.post_degree + 1, self.weight_degree + 1, 2

    @property
    def n_parameters(self) -> int:
        return int(torch.tensor(self.shape).prod())

    def initial_state(self, weights) -> list[None]:
        return [None] * len(weights)

    def delta(self, theta: torch.Tensor, pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor,
              reward: torch.Tensor, is_output: bool, state: None) -> tuple[torch.Tensor, None]:
        """``sum_b dw`` for pre ``(N, B, m)``, post ``(N, B, n)``, weight ``(N, n, m)``, reward ``(N, B, 1)`` (one
        signal for every synapse) or ``(N, B, n)`` (one per postsynaptic unit, as a feedback-alignment signal)."""
        coefficients = per_network(theta, weight.shape[0]).reshape(-1, *self.shape)[:, int(is_output)]
        if reward.shape[-1] == 1:  # one signal per example: contract it first (the cheaper order)
            by_reward = torch.einsum("nabcd,nkd->nkabc", coefficients, powers(reward[..., 0], 1))
            by_pre = torch.einsum("nkabc,nkja->nkjbc", by_reward, powers(pre, self.pre_degree))
            by_post = torch.einsum("nkjbc,nkib->nijc", by_pre, powers(post, self.post_degree))
        else:
            by_unit = powers(post, self.post_degree).unsqueeze(-1) * powers(reward, 1).unsqueeze(-2)  # (N, B, n, b, d)
            by_pre = torch.einsum("nabcd,nkja->nkjbcd", coefficients, powers(pre, self.pre_degree))
            by_post = torch.einsum("nkjbcd,nkibd->nijc", by_pre, by_unit)
        return (by_post * powers(weight, self.weight_degree)).sum(-1), None

    def terms(self) -> list[tuple[str, str]]:
        """(layer, monomial) of every coefficient, in parameter order."""
        names = []
        for layer, a, b, c, d in itertools.product(("hidden", "output"), *(range(n) for n in self.shape[1:])):
            factors = [f"{v}^{p}" if p > 1 else v for v, p in zip(VARIABLES, (a, b, c, d)) if p > 0]
            names.append((layer, "*".join(factors) or "1"))
        return names

    def equation(self, theta, threshold: float = 0.05) -> str:
        """The rule as two equations (onto hidden, onto output neurons), terms with ``|coefficient| >=
        threshold * max |coefficient|`` of that layer, largest first."""
        values = torch.as_tensor(theta, dtype=torch.float64).reshape(2, -1)
        lines = []
        for layer, row, names in zip(("hidden", "output"), values, (self.terms()[:values.shape[1]],
                                                                    self.terms()[values.shape[1]:])):
            largest = float(row.abs().max())
            kept = [(float(v), name) for v, (_, name) in zip(row, names) if largest > 0 and abs(v) >= threshold * largest]
            kept.sort(key=lambda term: -abs(term[0]))
            body = " ".join(f"{'-' if v < 0 else '+'} {abs(v):.3g} {name}" for v, name in kept) or "0"
            lines.append(f"dw/eta (onto {layer}) = {body.removeprefix('+ ')}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Recurrent:
    """A GRU rule with ``hidden`` units per synapse (module doc)."""

    hidden: int = 2

    stateful = True
    n_inputs = 5  # x, y, w, r, o

    def __post_init__(self) -> None:
        require(isinstance(self.hidden, int) and 1 <= self.hidden <= 16, "hidden", self.hidden,
                "an integer in [1, 16] (GRU units per synapse)")

    @property
    def n_parameters(self) -> int:
        h = self.hidden
        return 3 * h * self.n_inputs + 3 * h * h + 6 * h + h + 1

    def initial_state(self, weights) -> list[torch.Tensor]:
        return [torch.zeros(*w.shape, self.hidden, dtype=w.dtype, device=w.device) for w in weights]

    def unpack(self, theta: torch.Tensor) -> list[torch.Tensor]:
        """``(N, D)`` -> W_ih ``(N, 3H, 5)``, W_hh ``(N, 3H, H)``, b_ih, b_hh ``(N, 3H)``, v ``(N, H)``, c ``(N, 1)``."""
        h, n = self.hidden, theta.shape[0]
        w_ih, w_hh, b_ih, b_hh, v, c = theta.split([3 * h * self.n_inputs, 3 * h * h, 3 * h, 3 * h, h, 1], dim=1)
        return [w_ih.reshape(n, 3 * h, self.n_inputs), w_hh.reshape(n, 3 * h, h), b_ih, b_hh, v, c]

    def delta(self, theta: torch.Tensor, pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor,
              reward: torch.Tensor, is_output: bool, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One GRU step of every synapse (single-example updates: ``B = 1``); returns (dw, new hidden state)."""
        require(pre.shape[1] == 1, "batch", pre.shape[1], "1 (the recurrent rule steps once per example)")
        w_ih, w_hh, b_ih, b_hh, v, c = self.unpack(per_network(theta, weight.shape[0]))
        x, y, r = pre[:, 0, None, :, None], post[:, 0, :, None, None], reward[:, 0, :, None, None]  # (N, n|1, m|1, 1)
        w_ih, b_ih, b_hh = w_ih[:, None, None], b_ih[:, None, None], b_hh[:, None, None]  # over (n, m) synapses
        gates_in = (x * w_ih[..., 0] + y * w_ih[..., 1] + weight[..., None] * w_ih[..., 2] + r * w_ih[..., 3]
                    + float(is_output) * w_ih[..., 4] + b_ih)
        gates_hidden = torch.einsum("nijh,ngh->nijg", state, w_hh) + b_hh
        reset_in, update_in, new_in = gates_in.chunk(3, dim=-1)
        reset_h, update_h, new_h = gates_hidden.chunk(3, dim=-1)
        reset, update = torch.sigmoid(reset_in + reset_h), torch.sigmoid(update_in + update_h)
        candidate = torch.tanh(new_in + reset * new_h)
        state = (1 - update) * candidate + update * state
        return torch.einsum("nijh,nh->nij", state, v) + c[:, :, None], state
