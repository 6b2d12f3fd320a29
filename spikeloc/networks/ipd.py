"""The IPD network: input spikes -> Dale-optional synapses -> LIF hidden layer -> dropout -> leaky readout.

One module holds an ensemble of K independent networks (K = 1 for a single network) that share their
shapes and neuron constants (:class:`NetworkConfig`) and differ in what :class:`Member` lists: seed,
dropout probability, which layers obey Dale's law and with what inhibitory fraction. Members never
interact: each has its own weights, signs, dropout masks and random streams, so a member computes the
same function inside an ensemble as alone.

Input spikes ``(K, batch, T, inputs)`` (or ``(batch, T, inputs)`` when K = 1); output is the readout
membrane ``(K, batch, T, classes)`` (or ``(batch, T, classes)``). The class decision is the argmax of
the time-summed readout membrane (:func:`predict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from spikeloc import seeding
from spikeloc.substrate.neurons import BACKENDS, LeakyReadout, LIFLayer, LIFParameters
from spikeloc.substrate.synapses import ZERO_GRADIENTS, Synapses, dale_signs, uniform_fan_in
from spikeloc.validation import require, require_choice

DALE_LAYERS = ("none", "input", "readout", "both")


@dataclass(frozen=True)
class NetworkConfig:
    """Shapes and constants shared by every member of an ensemble (units in the names)."""

    n_inputs: int = 200
    n_hidden: int = 30
    n_classes: int = 12
    tau_s: float = 5e-3
    dt_s: float = 1e-3
    threshold: float = 1.0
    surrogate_slope: float = 5.0
    backend: str = "fused"
    zero_gradient: str = "cull"

    def __post_init__(self) -> None:
        for field in ("n_inputs", "n_hidden", "n_classes"):
            require(getattr(self, field) >= 1, field, getattr(self, field), "an integer >= 1")
        require_choice(self.backend, "backend", BACKENDS)
        require_choice(self.zero_gradient, "zero_gradient", ZERO_GRADIENTS)
        _ = self.lif  # building LIFParameters validates tau_s, dt_s, threshold and surrogate_slope

    @property
    def lif(self) -> LIFParameters:
        """Neuron constants of the hidden layer and the readout (the seed uses one tau for both)."""
        return LIFParameters(self.tau_s, self.dt_s, self.threshold, self.surrogate_slope)


@dataclass(frozen=True)
class Member:
    """What one ensemble member chooses: its seed, hidden-spike dropout and Dale's-law constraint.

    ``dale_layers`` names the synapses whose presynaptic units get fixed signs: ``"input"`` (input ->
    hidden), ``"readout"`` (hidden -> readout), ``"both"`` or ``"none"``; ``ie_ratio`` is the
    inhibitory fraction of those units (0 = all excitatory, 1 = all inhibitory).
    """

    seed: int = 0
    dropout: float = 0.0
    dale_layers: str = "none"
    ie_ratio: float = 0.5

    def __post_init__(self) -> None:
        require(0 <= self.dropout < 1, "dropout", self.dropout, "in [0, 1)")
        require_choice(self.dale_layers, "dale_layers", DALE_LAYERS)
        require(0 <= self.ie_ratio <= 1, "ie_ratio", self.ie_ratio, "in [0, 1]")

    def constrains(self, layer: str) -> bool:
        """Whether Dale's law applies to ``layer`` ("input" or "readout")."""
        return self.dale_layers in (layer, "both")


def _member_synapses(config: NetworkConfig, members: Sequence[Member], layer: str, n_in: int,
                     n_out: int) -> Synapses:
    weights, signs = [], []
    for member in members:
        g = seeding.generator(member.seed, f"init/{layer}")
        weights.append(uniform_fan_in(n_in, n_out, g))
        signs.append(dale_signs(n_in, member.ie_ratio, g) if member.constrains(layer) else torch.zeros(n_in))
    return Synapses(torch.stack(weights), torch.stack(signs), config.zero_gradient)


class IPDNetwork(nn.Module):
    """K independent LIF networks evaluated as one batched model."""

    def __init__(self, config: NetworkConfig, members: Sequence[Member]):
        super().__init__()
        require(len(members) >= 1, "members", len(members), "at least one member")
        self.config = config
        self.members = tuple(members)
        self.input_synapses = _member_synapses(config, members, "input", config.n_inputs, config.n_hidden)
        self.hidden = LIFLayer(config.lif, config.backend)
        self.readout_synapses = _member_synapses(config, members, "readout", config.n_hidden, config.n_classes)
        self.readout = LeakyReadout(config.lif, config.backend)
        self.register_buffer("dropout", torch.tensor([m.dropout for m in members]))

    @property
    def n_members(self) -> int:
        return len(self.members)

    def forward(self, spikes: torch.Tensor,
                dropout_generators: Sequence[torch.Generator] | None = None) -> torch.Tensor:
        """Readout membrane over time. In training mode, hidden spikes are dropped out per member with
        ``dropout_generators[k]`` (inverted dropout, kept spikes scaled by 1 / (1 - p), as ``nn.Dropout``)."""
        single = spikes.dim() == 3
        x = spikes[None] if single else spikes
        expected = f"(members={self.n_members}, batch, T, inputs={self.config.n_inputs})"
        require(x.dim() == 4 and x.shape[0] == self.n_members and x.shape[-1] == self.config.n_inputs,
                "spikes", tuple(spikes.shape), f"shaped {expected} or (batch, T, inputs) for one member")
        hidden_spikes = self.hidden(self.input_synapses(x.to(self.dropout.dtype)))
        if self.training:
            hidden_spikes = self._drop(hidden_spikes, dropout_generators)
        readout = self.readout(self.readout_synapses(hidden_spikes))
        return readout[0] if single else readout

    def _drop(self, hidden_spikes: torch.Tensor,
              generators: Sequence[torch.Generator] | None) -> torch.Tensor:
        if not bool((self.dropout > 0).any()):
            return hidden_spikes
        require(generators is not None and len(generators) == self.n_members, "dropout_generators",
                None if generators is None else len(generators), f"one generator per member ({self.n_members})")
        keep = torch.ones_like(hidden_spikes)
        for k, (p, g) in enumerate(zip(self.dropout.tolist(), generators)):
            if p > 0:
                draw = torch.rand(hidden_spikes.shape[1:], generator=g, device=g.device)
                keep[k] = (draw >= p).to(keep.dtype) / (1 - p)
        return hidden_spikes * keep


def predict(readout: torch.Tensor) -> torch.Tensor:
    """Class decision: argmax over classes of the time-summed readout membrane."""
    return readout.sum(dim=-2).argmax(dim=-1)
