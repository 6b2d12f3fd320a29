"""Weight parameterisations for ensembles of K networks.

A synapse layer holds one weight matrix per ensemble member, ``raw_weight`` shaped (K, inputs, outputs);
a single network is K = 1. Its effective weight follows Dale's law where asked: each **presynaptic**
unit ``i`` of member ``k`` has a sign ``sign[k, i]`` in {-1, 0, +1}:

    W_eff[k, i, j] = |W[k, i, j]| * sign[k, i]   if sign[k, i] != 0   (excitatory +1, inhibitory -1)
    W_eff[k, i, j] =  W[k, i, j]                 if sign[k, i] == 0   (unconstrained, an ordinary ANN weight)

so signs never flip, whatever the optimiser does to ``raw_weight``. Members may mix constrained and
unconstrained layers in one batch.

Zero synapses: autograd's derivative of |w| at w = 0 is 0, so a synapse that reaches exactly 0 gets no
gradient and stays at 0 for ever ("culled", as the seed notes). ``zero_gradient="cull"`` keeps that
behaviour (the seed's); ``zero_gradient="recover"`` takes the one-sided derivative +1 at 0, so a zero
synapse feels its gradient and can grow back with its fixed sign. (Under |w| an Adam step lands on exactly 0
rarely: a weight that crosses 0 reappears with the same effective sign. Culling bites when weights are
initialised, clipped or decayed to 0.)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from spikeloc.validation import require, require_choice

ZERO_GRADIENTS = ("cull", "recover")


def dale_signs(n_presynaptic: int, inhibitory_fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Signs (+1 excitatory, -1 inhibitory) of ``n_presynaptic`` units, round(fraction * n) inhibitory.

    Which units are inhibitory is drawn at random with ``generator`` (on its device; the signs are on the CPU).
    (The seed makes the FIRST
    IE * N inputs inhibitory, which at IE = 0.5 is the entire left ear; that is not done here.)
    """
    require(0 <= inhibitory_fraction <= 1, "ie_ratio", inhibitory_fraction, "in [0, 1]")
    n_inhibitory = int(round(inhibitory_fraction * n_presynaptic))
    signs = torch.ones(n_presynaptic)
    signs[torch.randperm(n_presynaptic, generator=generator, device=generator.device)[:n_inhibitory].cpu()] = -1.0
    return signs


def uniform_fan_in(n_inputs: int, n_outputs: int, generator: torch.Generator) -> torch.Tensor:
    """Weights uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)] (as the seed and ``nn.Linear``)."""
    bound = 1 / math.sqrt(n_inputs)
    return (torch.rand(n_inputs, n_outputs, generator=generator) * 2 - 1) * bound


def signed_weight(raw: torch.Tensor, signs: torch.Tensor, zero_gradient: str = "cull") -> torch.Tensor:
    """Dale's law on a raw weight: ``|raw| * sign`` where ``sign != 0``, ``raw`` where ``sign == 0``.

    ``signs`` broadcasts against ``raw`` along its presynaptic axis ((K, inputs, 1) for :class:`Synapses`,
    (1, inputs) for an ``nn.Linear`` weight, (1, in_channels, 1, 1) for ``nn.Conv2d``); ``zero_gradient`` as in
    the module docstring. The one implementation of Dale's law: :class:`Synapses` and
    :class:`DaleSigns` (plain layers) both call it.
    """
    if zero_gradient == "recover":
        magnitude = raw * torch.where(raw >= 0, 1.0, -1.0).detach()  # |w| with derivative +1 at 0
    else:
        magnitude = raw.abs()
    return torch.where(signs == 0, raw, magnitude * signs)


class DaleSigns(nn.Module):
    """Dale's law on a plain layer's weight, as a ``torch.nn.utils.parametrize`` parametrisation:
    ``weight = signed_weight(original, signs)``, one sign per presynaptic unit (the input feature of
    ``nn.Linear``, the input channel of ``nn.Conv2d``)."""

    def __init__(self, signs: torch.Tensor, zero_gradient: str = "cull"):
        super().__init__()
        require_choice(zero_gradient, "zero_gradient", ZERO_GRADIENTS)
        self.register_buffer("signs", signs.clone())
        self.zero_gradient = zero_gradient

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return signed_weight(raw, self.signs, self.zero_gradient)


class Synapses(nn.Module):
    """Dense synapses of K members: ``forward(x)`` maps (K, ..., inputs) to (K, ..., outputs)."""

    def __init__(self, raw_weight: torch.Tensor, signs: torch.Tensor, zero_gradient: str = "cull"):
        super().__init__()
        require(raw_weight.dim() == 3, "raw_weight", tuple(raw_weight.shape), "shaped (members, inputs, outputs)")
        require(signs.shape == raw_weight.shape[:2], "signs", tuple(signs.shape),
                f"shaped (members, inputs) = {tuple(raw_weight.shape[:2])}")
        require_choice(zero_gradient, "zero_gradient", ZERO_GRADIENTS)
        self.raw_weight = nn.Parameter(raw_weight.clone())
        self.register_buffer("signs", signs.to(raw_weight.dtype).clone())
        self.zero_gradient = zero_gradient

    def effective_weight(self) -> torch.Tensor:
        """The weight the network uses, Dale signs applied; shape (members, inputs, outputs)."""
        return signed_weight(self.raw_weight, self.signs[:, :, None], self.zero_gradient)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ W_eff`` per member, computed as ``(W_eff^T x^T)^T``: the same sums, but MKL runs this operand
        order 1.6x faster for the tall, thin products of a batch (6400 x 200 @ 200 x 30), and autograd then
        forms the weight gradient as ``(G^T x)^T``, 1.3x faster than ``x^T G`` (benchmarks/bench_epoch.py)."""
        members = x.shape[0]
        flat = x.reshape(members, -1, x.shape[-1])
        product = torch.bmm(self.effective_weight().transpose(1, 2), flat.transpose(1, 2)).transpose(1, 2)
        return product.reshape(*x.shape[:-1], -1)
