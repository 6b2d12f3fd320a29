"""Rejuvenation: weak synapses are pruned and replaced by new ones.

Biology: spines appear and disappear all the time, in the adult cortex too; small spines are the most likely
to vanish, and new ones form with random strength (structural plasticity, spine turnover).

Two rules, chosen by :attr:`~spikeloc.learning.bio.config.Rejuvenation.rule`; each acts on one network's stored
weight ``w`` of one layer, every ``interval_steps`` optimiser steps, after the step.

``"legacy"`` (default; the seed notebook's ``rejuvenate_weights``, from an earlier bio_transformations release;
bio_transformations 0.0.5 no longer has it: its ``rejuvenate_weights_old`` draws a log-normal threshold and
log-normal replacements instead):

    M_ij   = max |w|                                  (over the network's layer)
    t_ij   = | N(0, (M / dre)^2) |                     (a random threshold per synapse)
    w_ij  <- u_ij ~ U(-M, M)   where |w_ij| < t_ij     (a new synapse, of either sign)

A synapse of magnitude ``a`` is replaced with probability ``P(|N(0, (M/dre)^2)| > a) = 2 (1 - Phi(a dre / M))``:
certainly when ``a = 0``, about 32 % at ``a = M / dre``, 5 % at ``2 M / dre``. New synapses are as strong as
the layer's strongest at most: turnover that rewires.

``"package"`` (bio_transformations 0.0.5's current ``BioModule.rejuvenate_weights``, the same arithmetic and
draw order, tested against the package):

    w     <- clamp(w, -1, 1)                           (every synapse, replaced or not; NaN -> 0)
    mu, s  = mean(w), std(w)                          (each set to 1e-8 if <= 0)
    P_ij   = exp(-dre |w_ij| / s)                      (replaced with this probability, a Bernoulli draw)
    w_ij  <- min(1, exp(N(m, (sd / 2)^2)))            (log-normal with mean mu and std s, its log-std halved:
                                                       sd^2 = log(1 + s^2 / mu^2), m = log(mu) - sd^2 / 2)

A trained layer's mean is near 0 (or below, then mu = 1e-8), so sd is large, m very negative, and the new
synapses are tiny and positive (about 1e-15 when mu = 1e-8): in effect this rule **prunes** weak synapses (they
restart near 0 and must regrow by learning) instead of rewiring them. With weights uniform in [-M, M] it
replaces about ``1 / (dre sqrt 3)`` of them per event (7 % at dre = 8).

Dale's law: where the layer's presynaptic unit has a sign, the rule rewrites the *stored* weight, and the
layer applies ``|w| * sign`` (:func:`spikeloc.substrate.synapses.signed_weight`), so a new synapse always
carries its unit's sign; an unconstrained layer gets new weights of both signs (legacy) or positive ones
(package).

The replaced synapse also starts afresh elsewhere: its learning-rate factor returns to its first draw (a new
spine is not crystallised; :class:`~spikeloc.learning.bio.plasticity.BioPlasticity`). The optimiser's moment
estimates are not reset (neither does the seed's), so an Adam step right after replacement still carries the
old synapse's momentum.
"""

from __future__ import annotations

import torch

from spikeloc.learning.bio.config import Rejuvenation


def rejuvenate(weight: torch.Tensor, config: Rejuvenation, generator: torch.Generator) -> torch.Tensor:
    """Replace weak synapses of one network's ``weight`` in place by ``config.rule``; the mask of the replaced
    ones."""
    if config.rule == "package":
        return _rejuvenate_package(weight, config.dre, generator)
    largest = weight.abs().max()
    if not bool(torch.isfinite(largest)):
        raise ValueError(f"weight has a non-finite entry (max |w| = {float(largest)}): cannot rejuvenate it")
    threshold = (torch.randn(weight.shape, generator=generator, dtype=weight.dtype, device=weight.device)
                 * largest / config.dre).abs()
    fresh = (2 * torch.rand(weight.shape, generator=generator, dtype=weight.dtype, device=weight.device) - 1) * largest
    replaced = weight.abs() < threshold
    weight[replaced] = fresh[replaced]
    return replaced


def _rejuvenate_package(weight: torch.Tensor, dre: float, generator: torch.Generator) -> torch.Tensor:
    """bio_transformations 0.0.5's ``rejuvenate_weights`` on ``weight`` (in place), drawing from ``generator``
    in the package's order (Bernoulli mask, then the log-normal draw of every position)."""
    nan = torch.isnan(weight)
    clamped = torch.nan_to_num(weight, nan=0.0).clamp(-1, 1)
    mean, std = clamped.mean().item(), clamped.std().item()
    mean = 1e-8 if not mean > 0 else mean  # also catches NaN, as the package
    std = 1e-8 if not std > 0 else std
    mean_t = torch.tensor(mean, device=weight.device)
    std_t = torch.tensor(std, device=weight.device)
    log_variance = torch.log(1 + std_t**2 / mean_t**2)
    log_mean = torch.log(mean_t) - 0.5 * log_variance
    probability = torch.exp(-(dre * clamped.abs() / std))
    probability = torch.nan_to_num(probability, nan=0.0, posinf=0.0, neginf=0.0).clamp(0.0, 1.0)
    replaced = torch.bernoulli(probability, generator=generator).bool() | nan
    fresh = torch.exp(torch.normal(log_mean.item(), (torch.sqrt(log_variance) * 0.5).item(), size=weight.shape,
                                   generator=generator, device=weight.device, dtype=weight.dtype)).clamp(-1, 1)
    clamped[replaced] = fresh[replaced]
    weight.copy_(clamped)
    return replaced
