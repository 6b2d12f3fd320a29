"""Weight splitting: one connection made of several synapses.

Biology: an axon often contacts its target dendrite at several sites; the connection's strength is the sum of
these synapses, each with its own plasticity (multi-synaptic connectivity).

Equation: a connection's weight is the mean of its ``G`` sub-synapses (``G`` = Gamma, the seed's
``weight_splitting_Gamma``),

    w_ij = (1 / G) * sum_g s_gij,   started at  s_gij = w_ij * (1 + jitter * (e_gij - mean_g e_gij)),  e ~ N(0, 1)

so the network computes the same function at the start, and each ``s`` gets the gradient ``dL/dw_ij / G``.
The *mean*, not the sum: Adam moves every parameter by about its learning rate, so with a sum the connection
would move G times faster and the ablation would measure a larger learning rate. The sub-synapses are the
stored parameters, so fuzzy factors, crystallisation, volume factors and rejuvenation act on each of them
separately; without those, sub-synapses started equal get equal gradients and the split changes nothing.

The seed's splitting is another thing: it sums groups of G *output units* (after an activation function) and
copies the sum to all G of them, i.e. it merges every G neurons into one and shrinks the layer's width G-fold
(and it checks that G divides the layer's inputs while splitting its outputs). Here the width is unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


class SubSynapses(nn.Module):
    """The parametrisation ``w = mean over axis of s`` (``torch.nn.utils.parametrize``); ``offsets``
    (``jitter * (e - mean e)``, the stored tensor's shape) give the starting sub-synapses."""

    def __init__(self, axis: int, offsets: torch.Tensor):
        super().__init__()
        self.axis = axis
        self.register_buffer("offsets", offsets)

    def forward(self, sub_synapses: torch.Tensor) -> torch.Tensor:
        return sub_synapses.mean(dim=self.axis)

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        return weight.unsqueeze(self.axis) * (1 + self.offsets)


def split_offsets(shape: torch.Size, axis: int, jitter: float, generator: torch.Generator) -> torch.Tensor:
    """``jitter * (e - mean_axis e)``, ``e ~ N(0, 1)`` of ``shape`` (the sub-synapses' shape): zero mean along
    ``axis``, so the sub-synapses start with the connection's weight as their mean. Drawn on the generator's
    device."""
    e = torch.randn(shape, generator=generator, device=generator.device)
    return jitter * (e - e.mean(dim=axis, keepdim=True))
