"""Neuron perturbations: deletion, threshold mismatch and drift, time-constant mismatch.

Thresholds act through the incoming weights: a LIF neuron that resets to zero (:mod:`spikeloc.substrate.neurons`)
with threshold ``f * theta`` spikes exactly when the same neuron with threshold ``theta`` driven by ``I / f``
does (its membrane is scaled by ``1 / f`` at every step, the reset to 0 included). So a threshold factor ``f``
of neuron n is the parametrisation "column n of its incoming weight divided by f" (:mod:`.parametrised`), and
a deleted neuron's incoming weights are 0 (it never reaches a positive threshold, so it never spikes).
Layers: every hidden LIF layer, and the readout when it spikes (a membrane readout has no threshold).

* ``neuron_deletion`` (level p): ``round(p * n)`` hidden units of each hidden layer silenced, chosen per member;
* ``threshold_mismatch`` (level sigma): each neuron's threshold ``theta * max(1 + sigma * eps_n, 0.01)``, a
  frozen draw per chip instance;
* ``threshold_drift`` (level sigma): every threshold of a layer moves together, ``theta * max(1 + sigma * eps,
  0.01)`` with one eps per layer and member (a drift of the chip's operating point);
* ``tau_mismatch`` (level sigma): each neuron's membrane time constant ``tau_n * max(1 + sigma * eps_n, 0.01)``
  (``beta_n = exp(-dt_s / tau_n)``), hidden layers and readout; the fused backend only (it takes a decay per
  neuron). The decay is overridden on the layer instances for the context (it is computed from the time
  constants, not stored, when they are shared).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from spikeloc.perturbations.base import Perturbation, fraction, non_negative, normal
from spikeloc.perturbations.parametrised import transformed
from spikeloc.substrate.layers import spiking_layers
from spikeloc.validation import require

#: The smallest factor a drawn threshold or time constant is multiplied by (keeps it > 0).
MIN_FACTOR = 0.01


def lif_inputs(network: nn.Module, hidden_only: bool = False) -> list[str]:
    """Names of the synapse layers that drive LIF neurons: each hidden layer's, and the readout's when it
    spikes (unless ``hidden_only``)."""
    names = list(network.config.synapse_names[:len(network.config.hidden)])
    if network.config.readout == "spikes" and not hidden_only:
        names.append("readout")
    return names


def scaled_inputs(network: nn.Module, factors: dict[str, torch.Tensor], at_eval: bool = True):
    """The synapse layers named in ``factors`` compute with their columns (postsynaptic units) multiplied by
    ``factors[name]`` (members, units)."""
    layers = spiking_layers(network)
    return transformed(layers, {name: (lambda f: lambda w: w * f[:, None, :])(factor)
                                for name, factor in factors.items()}, at_eval)


def _units(network: nn.Module, name: str) -> int:
    return network.synapse_layer(name).raw_weight.shape[2]


def threshold_factors(network: nn.Module, sigma: float, generators: Sequence[torch.Generator],
                      per_neuron: bool) -> dict[str, torch.Tensor]:
    """Per LIF layer, each member's threshold factors ``max(1 + sigma * eps, MIN_FACTOR)`` (members, units), one
    eps per neuron or one per layer."""
    factors = {}
    device = network.dropout.device
    for name in lif_inputs(network):
        units = _units(network, name)
        eps = normal((units,) if per_neuron else (1,), generators, device).expand(-1, units)
        factors[name] = (1 + sigma * eps).clamp(min=MIN_FACTOR)
    return factors


def thresholds_scaled(network: nn.Module, factors: dict[str, torch.Tensor], at_eval: bool = True):
    """Thresholds multiplied by ``factors`` (see the module docstring: the incoming weights divided)."""
    return scaled_inputs(network, {name: 1 / factor for name, factor in factors.items()}, at_eval)


class NeuronDeletion(Perturbation):
    name = "neuron_deletion"
    kind = "neurons"
    unit = "fraction of hidden units silenced"

    def check(self, level: float) -> None:
        fraction(self, level)

    def applied(self, network, level, generators):
        masks = {}
        for name in lif_inputs(network, hidden_only=True):
            units = _units(network, name)
            silenced = round(level * units)
            keep = torch.ones(len(generators), units, device=network.dropout.device)
            for k, g in enumerate(generators):
                keep[k, torch.randperm(units, generator=g, device=g.device)[:silenced].to(keep.device)] = 0
            masks[name] = keep
        return scaled_inputs(network, masks)


class ThresholdMismatch(Perturbation):
    name = "threshold_mismatch"
    kind = "neurons"
    unit = "relative std of each neuron's threshold"

    def check(self, level: float) -> None:
        non_negative(self, level)

    def applied(self, network, level, generators):
        return thresholds_scaled(network, threshold_factors(network, level, generators, per_neuron=True))


class ThresholdDrift(Perturbation):
    name = "threshold_drift"
    kind = "neurons"
    unit = "relative std of a layer's common threshold shift"

    def check(self, level: float) -> None:
        non_negative(self, level)

    def applied(self, network, level, generators):
        return thresholds_scaled(network, threshold_factors(network, level, generators, per_neuron=False))


@contextlib.contextmanager
def taus_scaled(network: nn.Module, sigma: float, generators: Sequence[torch.Generator],
                at_eval: bool = True) -> Iterator[None]:
    """Every LIF layer and the readout decay with ``beta_n = exp(-dt_s / (tau_n * max(1 + sigma * eps_n,
    MIN_FACTOR)))``, member k's eps from ``generators[k]``; with ``at_eval=False`` only in training mode."""
    require(network.config.backend == "fused", "backend", network.config.backend,
            "'fused' for time-constant mismatch (a decay per neuron)")
    layers = [*network.hidden_layers, network.readout]
    sizes = [*network.config.hidden, network.config.n_classes * network.config.population]
    members, device, dt_s = len(generators), network.dropout.device, network.config.dt_s
    overridden = []
    try:
        for layer, units in zip(layers, sizes):
            tau_s = (layer.time_constants.tau_s.detach() if layer.time_constants is not None
                     else torch.full((members, units), network.config.tau_s, device=device))
            factor = (1 + sigma * normal((units,), generators, device)).clamp(min=MIN_FACTOR)
            beta = torch.exp(-dt_s / (tau_s * factor))
            clean = type(layer).beta.__get__(layer)
            layer.beta = (lambda b, c, m: lambda: b if (m.training or at_eval) else c())(beta, clean, layer)
            overridden.append(layer)
        yield
    finally:
        for layer in overridden:
            del layer.beta


class TauMismatch(Perturbation):
    name = "tau_mismatch"
    kind = "neurons"
    unit = "relative std of each neuron's membrane time constant"

    def check(self, level: float) -> None:
        non_negative(self, level)

    def applied(self, network, level, generators):
        return taus_scaled(network, level, generators)
