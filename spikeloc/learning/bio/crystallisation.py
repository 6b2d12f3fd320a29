"""Crystallisation: synapses that have settled become less plastic.

Biology: spines that persist stabilise: large, old spines change little and their synapses resist further
potentiation (synaptic consolidation).

Equation, at every optimiser step, before the step, on the raw gradient ``g`` of the loss:

    stable_ij = 0 < |g_ij| < threshold * |w_ij|      (used, with a relative gradient below threshold)
    f_ij <- dampening * f_ij   where stable_ij

``f`` is the synapse's learning-rate factor (:mod:`.fuzzy`, or 1 without fuzzy rates). A synapse stable for n
steps learns ``dampening^n`` as fast: 0.6^10 = 0.006, so crystallised synapses freeze within tens of steps.

Differences from the seed (``BioModule.crystallize``): (0) a gradient of exactly 0 means the synapse was not
used in this batch (a silent presynaptic unit, common in spiking networks), not that it settled: the seed
crystallises such synapses (``0 / |w| < threshold``), freezing whatever was silent early on; here they are left
alone; (1) the seed also damps every synapse whose gradient
exceeds the *mean weight*, ``|g_ij| > mean|w|``: large gradients are the opposite of stable, so that clause
is a gradient clip under another name, and it is left out; (2) the seed's ``|g| / |w|`` is NaN at 0/0 and
compares a gradient with a weight in other units; the form here is the same test without the division;
(3) the seed runs after ``fuzzy_learning_rates()`` and ``volume_dependent_lr()`` have already scaled the
gradient, so its threshold depends on those factors; here it reads the gradient of the loss itself.
"""

from __future__ import annotations

import torch

from spikeloc.learning.bio.config import Crystallisation


def stable_synapses(weight: torch.Tensor, grad: torch.Tensor, config: Crystallisation) -> torch.Tensor:
    """Where ``0 < |grad| < threshold * |weight|`` (bool, the shape of ``weight``)."""
    magnitude = grad.abs()
    return (magnitude > 0) & (magnitude < config.threshold * weight.abs())


def crystallise(factors: torch.Tensor, weight: torch.Tensor, grad: torch.Tensor, config: Crystallisation) -> int:
    """Damp ``factors`` in place where the synapse is stable; the number of synapses damped."""
    stable = stable_synapses(weight, grad, config)
    factors[stable] *= config.dampening
    return int(stable.sum())
