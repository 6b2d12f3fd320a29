"""Small feed-forward networks for local learning rules, batched over independent replications.

Weights are a list with one tensor per layer, ``W_l`` of shape ``(R, n_l, n_{l-1})`` for ``R`` independent
replications (networks); activities are ``(R, B, n_l)`` for a batch of ``B`` input patterns per replication.
Layer sizes ``(n_0, n_1, ..., n_L)``: ``n_0`` inputs, hidden layers, ``n_L`` outputs. No biases by default
(as the seed); with ``bias=True`` every layer also receives a constant presynaptic fibre of activity 1 (a
tonic drive: in the spiking network it spikes on every step), so ``W_l`` is ``(R, n_l, n_{l-1} + 1)``, its
last column the unit's bias, learned by the same local rule as every other synapse (its presynaptic
activity is the constant 1). Without a bias a unit of a layer fed by +-1 inputs is active on at most one of
two opposite patterns, and a hidden unit silent on a pattern gets no Hebbian signal on it.

Two kinds of network compute the activities the rules see:

* :class:`RateNetwork` -- the seed's non-spiking ``ToyNetwork``: ``a_0 = x``,
  ``a_l = relu(W_l a_{l-1})`` for hidden layers, output ``a_L = tanh(W_L a_{L-1})``.
* :class:`SpikingNetwork` -- LIF neurons (the substrate's :func:`spikeloc.substrate.fused.lif_spikes`,
  reset to zero, threshold 1, ``beta = exp(-dt/tau)``) over ``T`` steps. Input ``j`` is rate coded: it
  emits signed spikes ``s_j(t) = x_j b_j(t)``, ``b_j(t) ~ Bernoulli(input_rate)`` independent over time,
  units and replications (``input_rate = 1`` gives a constant drive). Layer ``l`` receives the current
  ``I_l(t) = W_l s_{l-1}(t)`` (units of the threshold) and spikes ``s_l(t)``; its activity is its firing
  rate ``a_l = (1/T) sum_t s_l(t)`` in spikes per step, in [0, 1] (``a_0`` in [-1, 1]). Currents are
  ``gain * W s`` (``gain``: current per unit weight per spike, in threshold units), so that weights in
  the seed's range [-1, 1] drive the LIF neurons over their whole rate range. The output neuron
  is decoded by rate into a signed output ``a_L = 2 r_L - 1`` in [-1, 1] (above half the maximal rate
  means +1), the counterpart of the rate network's tanh.

Both share :func:`forward` (a free pass that keeps every layer's drive, state and activity) and
:meth:`respond` (a layer's response to its feed-forward drive plus an extra constant current, used by the
contrastive rule's clamped phase). Initial weights (biases included) are ``nn.Linear``'s default,
``U(-1/sqrt(n_{l-1}), 1/sqrt(n_{l-1}))``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from spikeloc.substrate.fused import lif_spikes
from spikeloc.substrate.neurons import LIFParameters
from spikeloc.validation import require


def initial_weights(sizes: Sequence[int], n_replications: int, generator: torch.Generator,
                    dtype: torch.dtype = torch.float32, bias: bool = False) -> list[torch.Tensor]:
    """``nn.Linear``'s default init for every layer of ``R`` networks: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

    All replications are drawn at once from ``generator``, layer by layer: ``(R, n_l, n_{l-1})`` each
    (``(R, n_l, n_{l-1} + 1)`` with ``bias``, the bias drawn with the same bound, as ``nn.Linear``).
    """
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        uniform = torch.rand((n_replications, fan_out, fan_in + int(bias)), generator=generator, dtype=dtype)
        weights.append((2 * uniform - 1) * bound)
    return weights


def layer_drive(weight: torch.Tensor, pre_state: torch.Tensor) -> torch.Tensor:
    """Feed-forward drive ``W_l s_{l-1}``: ``(R, n, m)`` with ``(R, B, m)`` or ``(R, B, T, m)`` states."""
    if pre_state.ndim == 4:
        return torch.einsum("rbtm,rnm->rbtn", pre_state, weight)
    return torch.matmul(pre_state, weight.transpose(-1, -2))


def with_bias(x: torch.Tensor, bias: bool) -> torch.Tensor:
    """``x`` with the constant fibre (value 1) appended on the last (unit) axis when ``bias``, else ``x``."""
    return torch.cat([x, torch.ones_like(x[..., :1])], dim=-1) if bias else x


@dataclass
class Pass:
    """One pass through the network: per layer ``l = 0..L`` its drive (None for the input), state (the
    activity itself, or the spike trains ``(R, B, T, n)``) and activity ``(R, B, n)`` as the rules see it;
    ``bias``: whether every layer also receives the constant fibre."""

    drives: list[torch.Tensor | None]
    states: list[torch.Tensor]
    activities: list[torch.Tensor]
    bias: bool = False

    @property
    def output(self) -> torch.Tensor:
        return self.activities[-1]

    def pre(self, layer: int) -> torch.Tensor:
        """Presynaptic activities of ``W_layer`` (``layer >= 1``): ``a_{layer-1}``, with the constant fibre."""
        return with_bias(self.activities[layer - 1], self.bias)

    def pre_state(self, layer: int) -> torch.Tensor:
        """Presynaptic states (spike trains) of ``W_layer``, with the constant fibre (a spike every step)."""
        return with_bias(self.states[layer - 1], self.bias)


@dataclass(frozen=True)
class RateNetwork:
    """The seed's non-spiking ``ToyNetwork`` (ReLU hidden units, tanh output), batched over replications."""

    bias: bool = False

    spiking = False

    def input_state(self, inputs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return inputs

    def respond(self, drive: torch.Tensor, is_output: bool, extra: torch.Tensor | None = None) -> torch.Tensor:
        """State of a layer from its drive plus an extra current ``(R, B, n)``: relu (hidden) or tanh (output)."""
        total = drive if extra is None else drive + extra
        return torch.tanh(total) if is_output else torch.relu(total)

    def activity(self, state: torch.Tensor, is_output: bool) -> torch.Tensor:
        return state


@dataclass(frozen=True)
class SpikingNetwork:
    """LIF layers over ``n_steps`` steps with rate-coded +-1 inputs; activities are firing rates (see module)."""

    n_steps: int = 20
    input_rate: float = 0.8
    gain: float = 3.0
    lif: LIFParameters = LIFParameters()
    bias: bool = False

    spiking = True

    def __post_init__(self) -> None:
        require(isinstance(self.n_steps, int) and self.n_steps >= 1, "n_steps", self.n_steps, "an integer >= 1")
        require(0 < self.input_rate <= 1, "input_rate", self.input_rate, "in (0, 1] (spikes per step)")
        require(self.gain > 0, "gain", self.gain, "> 0 (current per unit weight per spike)")

    def input_state(self, inputs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Signed input spike trains ``x_j b_j(t)``, ``(R, B, T, n_0)``."""
        shape = (*inputs.shape[:-1], self.n_steps, inputs.shape[-1])
        if self.input_rate == 1:
            return inputs.unsqueeze(-2).expand(shape).contiguous()
        fires = torch.rand(shape, generator=generator, dtype=inputs.dtype, device=inputs.device) < self.input_rate
        return inputs.unsqueeze(-2) * fires.to(inputs.dtype)

    def respond(self, drive: torch.Tensor, is_output: bool, extra: torch.Tensor | None = None) -> torch.Tensor:
        """Spike trains ``(R, B, T, n)`` of LIF neurons driven by ``drive(t) + extra`` (extra constant in t)."""
        total = self.gain * (drive if extra is None else drive + extra.unsqueeze(-2))
        return lif_spikes(total, self.lif.beta, self.lif.threshold, self.lif.surrogate_slope)

    def activity(self, state: torch.Tensor, is_output: bool) -> torch.Tensor:
        rate = state.mean(dim=-2)
        return 2 * rate - 1 if is_output else rate


Network = RateNetwork | SpikingNetwork


def forward(network: Network, weights: Sequence[torch.Tensor], inputs: torch.Tensor,
            generator: torch.Generator | None = None) -> Pass:
    """Free pass of ``R`` networks on inputs ``(R, B, n_0)``; ``generator`` draws the input spikes."""
    state = network.input_state(inputs, generator)
    drives, states = [None], [state]
    activities = [network.activity(state, is_output=False)]
    for index, weight in enumerate(weights):
        is_output = index == len(weights) - 1
        drive = layer_drive(weight, with_bias(state, network.bias))
        state = network.respond(drive, is_output)
        drives.append(drive)
        states.append(state)
        activities.append(network.activity(state, is_output))
    return Pass(drives, states, activities, network.bias)
