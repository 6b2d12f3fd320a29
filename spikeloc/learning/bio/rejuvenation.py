"""Rejuvenation: weak synapses are pruned and replaced by new ones.

Biology: spines appear and disappear all the time, in the adult cortex too; small spines are the most likely
to vanish, and new ones form with random strength (structural plasticity, spine turnover).

Equation, on one network's weight ``w`` (every ``interval_steps`` optimiser steps, after the step):

    M_ij   = max |w|                                  (over the network's layer)
    t_ij   = | N(0, (M / dre)^2) |                     (a random threshold per synapse)
    w_ij  <- u_ij ~ U(-M, M)   where |w_ij| < t_ij     (a new synapse, of either sign)

A synapse of magnitude ``a`` is replaced with probability ``P(|N(0, (M/dre)^2)| > a) = 2 (1 - Phi(a dre / M))``:
certainly when ``a = 0``, about 32 % at ``a = M / dre``, 5 % at ``2 M / dre``.

Dale's law: where the layer's presynaptic unit has a sign, the rule rewrites the *stored* weight, and the
layer applies ``|w| * sign`` (:func:`spikeloc.substrate.synapses.signed_weight`), so a new synapse always
carries its unit's sign; an unconstrained layer gets new weights of both signs.

The replaced synapse also starts afresh elsewhere: its learning-rate factor returns to its first draw (a new
spine is not crystallised; :class:`~spikeloc.learning.bio.plasticity.BioPlasticity`). The optimiser's moment
estimates are not reset (neither does the seed's), so an Adam step right after replacement still carries the
old synapse's momentum.
"""

from __future__ import annotations

import torch

from spikeloc.learning.bio.config import Rejuvenation


def rejuvenate(weight: torch.Tensor, config: Rejuvenation, generator: torch.Generator) -> torch.Tensor:
    """Replace weak synapses of one network's ``weight`` in place; the mask of the replaced ones."""
    largest = weight.abs().max()
    if not bool(torch.isfinite(largest)):
        raise ValueError(f"weight has a non-finite entry (max |w| = {float(largest)}): cannot rejuvenate it")
    threshold = (torch.randn(weight.shape, generator=generator, dtype=weight.dtype, device=weight.device)
                 * largest / config.dre).abs()
    fresh = (2 * torch.rand(weight.shape, generator=generator, dtype=weight.dtype, device=weight.device) - 1) * largest
    replaced = weight.abs() < threshold
    weight[replaced] = fresh[replaced]
    return replaced
