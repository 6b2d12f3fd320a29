"""Chip mismatch: every parameter of a chip instance off by its own factor, ``theta (1 + sigma eps)``.

``chip_mismatch`` (level sigma) draws, per member (chip instance), every synapse ``W (1 + sigma eps)``
(:func:`~spikeloc.perturbations.weights.mismatched`), every LIF threshold ``theta max(1 + sigma eps_n, 0.01)``
and every membrane time constant ``tau max(1 + sigma eps_n, 0.01)`` (:mod:`.neurons`; time constants on the
fused backend only), in that order from the member's generator: Rockpool's DYNAP-SE mismatch model (30 %
deviation at 3 sigma is sigma = 0.1). Mismatch-aware training (:mod:`.training`) draws it afresh per batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from spikeloc.perturbations.base import Perturbation, non_negative
from spikeloc.perturbations.neurons import taus_scaled, threshold_factors, thresholds_scaled
from spikeloc.perturbations.weights import mismatched


@contextlib.contextmanager
def chip_mismatched(network: nn.Module, sigma: float, generators: Sequence[torch.Generator],
                    at_eval: bool = True) -> Iterator[None]:
    """Within the context, ``network`` computes with one mismatch draw per member (see the module docstring);
    with ``at_eval=False`` only in training mode."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mismatched(network, sigma, generators, at_eval))
        factors = threshold_factors(network, sigma, generators, per_neuron=True)
        stack.enter_context(thresholds_scaled(network, factors, at_eval))
        if network.config.backend == "fused":
            stack.enter_context(taus_scaled(network, sigma, generators, at_eval))
        yield


class ChipMismatch(Perturbation):
    name = "chip_mismatch"
    kind = "weights"
    unit = "relative std of every weight, threshold and time constant"

    def check(self, level: float) -> None:
        non_negative(self, level)

    def applied(self, network, level, generators):
        return chip_mismatched(network, level, generators)
