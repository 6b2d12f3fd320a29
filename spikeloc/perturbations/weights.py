"""Weight perturbations: additive noise, multiplicative mismatch, synapse failure and quantisation.

Each acts on every synapse layer of the network (input, hidden, readout) through :mod:`.parametrised`, so a
Dale-constrained synapse keeps its sign (Dale's ``|.| * sign`` comes after). Member k (one draw) of each layer:

* ``additive_noise`` (level sigma, in units of the layer's effective-weight std): ``W + sigma * std(W_eff) *
  eps``, ``eps ~ N(0, 1)``: today's weight noise (:class:`~spikeloc.substrate.noise.WeightNoise`, reused), with
  the neuromodulation study's random streams, so its curve is that study's robustness curve;
* ``weight_mismatch`` (level sigma, relative): ``W * (1 + sigma * eps)``, a frozen draw per chip instance
  (device mismatch; Rockpool's DYNAP-SE generator: 30 % deviation at 3 sigma is sigma = 0.1);
* ``synapse_failure`` (level p, a fraction): each synapse removed (weight 0) with probability p;
* ``quantisation`` (level b, bits, an integer >= 2): per layer and member, symmetric, ``2^(b-1) - 1`` levels
  each side of 0: ``W_q = round(W / s) * s``, ``s = max |W| / (2^(b-1) - 1)``. Rounding is symmetric about 0
  and Dale's sign comes after it, so no constrained synapse changes sign (one rounded to 0 is silent). No
  draw: every member gets the same quantisation. Clean level: infinitely many bits; severity ``1 / b``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from spikeloc.perturbations.base import Perturbation, fraction, non_negative, normal, uniform
from spikeloc.perturbations.parametrised import connection_weights, transformed
from spikeloc.substrate.layers import spiking_layers
from spikeloc.substrate.noise import fixed_noise


class AdditiveNoise(Perturbation):
    name = "additive_noise"
    kind = "weights"
    unit = "std of each layer's effective weight"

    def check(self, level: float) -> None:
        non_negative(self, level)

    def stream(self, level: float) -> str:
        return f"noise/curve/relative/{level:g}"  # the neuromodulation study's robustness-curve streams

    @contextlib.contextmanager
    def applied(self, network: nn.Module, level: float, generators: Sequence[torch.Generator]) -> Iterator[None]:
        noise = fixed_noise(spiking_layers(network), level, "relative")
        with noise.attached():
            noise.resample(generators)
            yield


def _drawn(network: nn.Module, draw, at_eval: bool = True):
    """The network's layers transformed by ``draw(weight) -> transform`` (drawn now, frozen in the context)."""
    layers = spiking_layers(network)
    return transformed(layers, {name: draw(weight) for name, weight in connection_weights(layers).items()},
                       at_eval)


def mismatched(network: nn.Module, sigma: float, generators: Sequence[torch.Generator], at_eval: bool = True):
    """Every synapse layer computes with ``W * (1 + sigma * eps)`` (member k's eps from ``generators[k]``)."""

    def draw(weight: torch.Tensor):
        factor = 1 + sigma * normal(weight.shape[1:], generators, weight.device)
        return lambda w: w * factor

    return _drawn(network, draw, at_eval)


class WeightMismatch(Perturbation):
    name = "weight_mismatch"
    kind = "weights"
    unit = "relative std of the factor 1 + eps"

    def check(self, level: float) -> None:
        non_negative(self, level)

    def applied(self, network, level, generators):
        return mismatched(network, level, generators)


class SynapseFailure(Perturbation):
    name = "synapse_failure"
    kind = "weights"
    unit = "fraction of synapses removed"

    def check(self, level: float) -> None:
        fraction(self, level)

    def applied(self, network, level, generators):
        def draw(weight: torch.Tensor):
            kept = (uniform(weight.shape[1:], generators, weight.device) >= level).to(weight.dtype)
            return lambda w: w * kept

        return _drawn(network, draw)


def quantise(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric per-member quantisation of ``weight`` (members, ...) to ``bits`` bits (see the module
    docstring); a member whose weights are all 0 stays 0."""
    steps = 2 ** (bits - 1) - 1
    peak = weight.detach().abs().flatten(1).amax(dim=1).reshape(-1, *[1] * (weight.dim() - 1))
    scale = torch.where(peak > 0, peak / steps, torch.ones_like(peak))
    return torch.round(weight / scale) * scale


def quantised(network: nn.Module, bits: int, straight_through: bool = False, at_eval: bool = True):
    """Every synapse layer computes with its weights quantised to ``bits`` bits; ``straight_through``: the
    gradient passes as if unrounded (quantisation-aware training)."""

    def transform(w: torch.Tensor) -> torch.Tensor:
        q = quantise(w, bits)
        return w + (q - w).detach() if straight_through else q

    return _drawn(network, lambda weight: transform, at_eval)


class Quantisation(Perturbation):
    name = "quantisation"
    kind = "weights"
    unit = "bits per weight (an integer >= 2)"
    clean_level = math.inf

    def check(self, level: float) -> None:
        self._require(isinstance(level, (int, float)) and not isinstance(level, bool) and level >= 2
                      and float(level).is_integer() and math.isfinite(level), level, "an integer >= 2 (bits)")

    def severity(self, level: float) -> float:
        return 1 / level

    def level_at(self, severity: float) -> float:
        return 1 / severity if severity > 0 else math.inf

    def applied(self, network, level, generators):
        return quantised(network, int(level))
