"""Fuzzy learning rates: every synapse learns at its own fixed rate.

Biology: the same plasticity protocol changes different spines of one dendrite by very different amounts;
plasticity is heterogeneous across synapses even within one neuron (the seed's reference: Hofmann et al.,
Nat. Commun. 2025, "synaptic diversity").

Equation: a factor ``f_ij``, drawn once per synapse when the transforms are attached, multiplies synapse ij's
learning rate:

    uniform:    f_ij ~ U[1 - nu, 1 + nu]                      (the seed's, nu = 0.16)
    log-normal: f_ij = exp(nu * z_ij - nu^2 / 2), z_ij ~ N(0, 1)   (mean 1, median exp(-nu^2/2); heavy-tailed
                                                                   like measured spine-growth ratios)

then, with ``clamp = (low, high)``, ``f_ij <- min(max(f_ij, low), high)`` (pytorch-bio-transformations
0.0.5 clamps to (0.5, 2)).

Where the factor acts is :class:`~spikeloc.learning.bio.config.BioConfig`'s ``scale`` (see
:mod:`spikeloc.learning.bio`).
"""

from __future__ import annotations

import torch

from spikeloc.learning.bio.config import FuzzyRates


def fuzzy_factors(shape: torch.Size, config: FuzzyRates, generator: torch.Generator,
                  dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> torch.Tensor:
    """Per-synapse learning-rate factors of ``shape`` (see the module docstring)."""
    if config.distribution == "uniform":
        u = torch.rand(shape, generator=generator, dtype=dtype, device=device)
        factors = 1 + config.spread * (2 * u - 1)
    else:
        z = torch.randn(shape, generator=generator, dtype=dtype, device=device)
        factors = torch.exp(config.spread * z - config.spread ** 2 / 2)
    return factors if config.clamp is None else factors.clamp(*config.clamp)
