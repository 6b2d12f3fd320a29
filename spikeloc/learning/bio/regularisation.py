"""L1 regularisation: a metabolic cost per unit of synaptic strength.

Biology: synapses cost energy in proportion to their strength (transmitter release, receptor upkeep), which
favours sparse connectivity.

Equation: the penalty ``lambda * sum_ij |w_ij|`` over the connection weights of a network is added to its loss,
so every step adds ``lambda * sign(w_ij)`` to the gradient (0 at w = 0).

The seed's ``BioModule.l1_reg`` returns the norm computed under ``torch.no_grad()``: the value has no gradient,
so adding it to the loss changes nothing. (It also sums the BioModule's *own* parameters, the fuzzy factors and
Dale signs, not the layer's weights.) Here the penalty is differentiable and sums the weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def l1_penalty(weights: Sequence[torch.Tensor], strength: float, members: int | None) -> torch.Tensor:
    """``strength * sum |w|`` per network: shape (members,) when the tensors' axis 0 indexes members, else (1,)."""
    if members is None:
        return strength * sum(w.abs().sum() for w in weights).reshape(1)
    return strength * sum(w.abs().flatten(1).sum(dim=1) for w in weights)
