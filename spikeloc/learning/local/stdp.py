"""Pair-based spike-timing-dependent plasticity (STDP) with pre- and postsynaptic traces.

The spiking form of Hebb's rule. With spike trains ``s_j(t)`` (pre) and ``s_i(t)`` (post) on steps of
``dt`` seconds, traces

    x_j(t) = sum_{u <= t} exp(-(t - u) dt / tau_plus)  s_j(u)      (presynaptic, includes step t)
    y_i(t) = sum_{u <  t} exp(-(t - u) dt / tau_minus) s_i(u)      (postsynaptic, earlier steps only)

and the update summed over the trial's steps (and patterns)

    dw_ij = A_plus sum_t s_i(t) x_j(t) - A_minus sum_t s_j(t) y_i(t).

For one pre spike at ``t_pre`` and one post spike at ``t_post``, ``delta_t = t_post - t_pre``, this is the
classic window ``A_plus exp(-delta_t / tau_plus)`` for ``delta_t >= 0`` (pre before or with post:
potentiation) and ``-A_minus exp(delta_t / tau_minus)`` for ``delta_t < 0`` (depression). The traces are
causal exponential filters (:func:`spikeloc.substrate.fused.leaky_integrate`), so the whole trial's update
is one batched matrix product per layer. Input spikes may be signed (rate-coded -1 inputs); the rule is
bilinear in them.

In the networks, STDP shapes the hidden layers; the output layer learns with the target-clamped
Hebbian readout (see :mod:`spikeloc.learning.local.rules`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from spikeloc.learning.local.rules import HiddenRule
from spikeloc.substrate.fused import leaky_integrate
from spikeloc.validation import require


def stdp_delta(pre: torch.Tensor, post: torch.Tensor, a_plus: float, a_minus: float, tau_plus_s: float,
               tau_minus_s: float, dt_s: float) -> torch.Tensor:
    """Pair-based STDP weight change ``(R, n_post, n_pre)`` from spike trains ``(R, B, T, n)`` (module doc)."""
    require(tau_plus_s > 0, "tau_plus_s", tau_plus_s, "> 0 s")
    require(tau_minus_s > 0, "tau_minus_s", tau_minus_s, "> 0 s")
    require(dt_s > 0, "dt_s", dt_s, "> 0 s")
    decay_plus, decay_minus = math.exp(-dt_s / tau_plus_s), math.exp(-dt_s / tau_minus_s)
    pre_trace = leaky_integrate(pre, decay_plus)
    post_trace = decay_minus * leaky_integrate(post, decay_minus)  # at t: sum_{u <= t}; shifted to t + 1 below
    post_trace = torch.cat([torch.zeros_like(post_trace[..., :1, :]), post_trace[..., :-1, :]], dim=-2)
    potentiation = torch.einsum("rbti,rbtj->rij", post, pre_trace)
    depression = torch.einsum("rbti,rbtj->rij", post_trace, pre)
    return a_plus * potentiation - a_minus * depression


@dataclass(frozen=True)
class PairSTDP(HiddenRule):
    """Pair STDP on hidden layers (``A_plus``, ``A_minus`` per pair; time constants in seconds) + clamped readout.

    ``lr`` scales the readout only; the hidden layers change by :func:`stdp_delta` (``dt`` is the network's
    LIF step), clipped to ``weight_bound``.
    """

    a_plus: float = 0.005
    a_minus: float = 0.00525
    tau_plus_s: float = 20e-3
    tau_minus_s: float = 20e-3

    needs_spikes = True

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.a_plus >= 0, "a_plus", self.a_plus, ">= 0")
        require(self.a_minus >= 0, "a_minus", self.a_minus, ">= 0")
        require(self.tau_plus_s > 0, "tau_plus_s", self.tau_plus_s, "> 0 s")
        require(self.tau_minus_s > 0, "tau_minus_s", self.tau_minus_s, "> 0 s")

    def hidden_delta(self, network, weight, post, pre, layer, free):
        require(network.spiking, "network", type(network).__name__, "a SpikingNetwork (STDP needs spike times)")
        return stdp_delta(free.pre_state(layer), free.states[layer], self.a_plus, self.a_minus,
                          self.tau_plus_s, self.tau_minus_s, network.lif.dt_s)
