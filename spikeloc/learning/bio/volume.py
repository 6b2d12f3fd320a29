"""Volume-dependent learning rate: large synapses are stable, small ones plastic, with variability.

Biology: spine volume tracks synaptic strength; large spines are long-lived and change little, small spines
are dynamic, and spines of similar size still vary widely in how much they change (Kasai and colleagues).

Equation, fresh every optimiser step, per synapse (``|w|`` in weight units; ``v`` in [0, 1) stands for the
spine volume):

    v_ij  = |w_ij| / (|w_ij| + 1)
    m_ij  = base * exp(-stability * v_ij)
    f_ij  = | N(m_ij, (variability * m_ij)^2) |

``f_ij`` multiplies the synapse's learning rate for this step only. A weight of 1 (v = 1/2) learns at
``base * e^-1`` = 0.37 x base on average at the default stability 2. The seed's defaults (base 0.1) and
where its factor acts are discussed in :class:`~spikeloc.learning.bio.config.VolumeRates`.
"""

from __future__ import annotations

import torch

from spikeloc.learning.bio.config import VolumeRates


def mean_factor(weight: torch.Tensor, config: VolumeRates) -> torch.Tensor:
    """``m = base * exp(-stability * |w| / (|w| + 1))``."""
    magnitude = weight.abs()
    return config.base * torch.exp(-config.stability * magnitude / (magnitude + 1))


def volume_factors(weight: torch.Tensor, config: VolumeRates, generator: torch.Generator) -> torch.Tensor:
    """One draw of ``|N(m, (variability m)^2)|`` per synapse."""
    mean = mean_factor(weight, config)
    z = torch.randn(weight.shape, generator=generator, dtype=weight.dtype, device=weight.device)
    return (mean * (1 + config.variability * z)).abs()
