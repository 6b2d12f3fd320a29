"""Robust training as trainer hooks (:class:`~spikeloc.learning.trainer.TrainingHook`): the evaluation
perturbations, on during training.

* **Mismatch-aware training** (``mismatch_sigma`` > 0): before every batch a fresh chip-mismatch draw
  (:mod:`.mismatch`: every weight, threshold and time constant), member k's from its own stream
  ``"perturb/train"``, as Rockpool's mismatch-aware training draws every parameter. The gradient flows through the perturbed weights to the stored ones. Validation (evaluation mode)
  sees the clean network.
* **Quantisation-aware training** (``qat_bits`` >= 2): the forward pass uses every synapse layer's weights
  quantised to ``qat_bits`` bits (:func:`~spikeloc.perturbations.weights.quantise`); the gradient passes the
  rounding unchanged (straight-through estimator) to the float weights, which stay stored. Validation sees the
  quantised network too, so the kept epoch is the best quantised one.

Use ``with robust_training(network, sigma, bits) as hooks: fit(..., hooks=hooks)``: on leaving the context the
network is the plain (float, unperturbed) network with its trained weights.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

from torch import nn

from spikeloc import seeding
from spikeloc.learning.trainer import TrainingHook
from spikeloc.perturbations.mismatch import chip_mismatched
from spikeloc.perturbations.weights import quantised
from spikeloc.validation import require


def check_robust_training(mismatch_sigma: float, qat_bits: int) -> None:
    """``ValueError`` naming the field unless the settings are allowed (0 switches each off)."""
    require(isinstance(mismatch_sigma, (int, float)) and math.isfinite(mismatch_sigma) and mismatch_sigma >= 0,
            "mismatch_training", mismatch_sigma, "a finite relative std >= 0 (0: off)")
    require(isinstance(qat_bits, int) and not isinstance(qat_bits, bool) and (qat_bits == 0 or qat_bits >= 2),
            "qat_bits", qat_bits, "0 (off) or an integer >= 2 (bits)")


class MismatchTraining(TrainingHook):
    """A fresh mismatch draw before every batch (see the module docstring); a trainer hook."""

    def __init__(self, network: nn.Module, sigma: float):
        self.network = network
        self.sigma = sigma
        device = network.dropout.device
        self.generators = [seeding.generator(m.seed, "perturb/train", device) for m in network.members]
        self._draw = contextlib.ExitStack()

    def before_batch(self) -> None:
        self._draw.close()
        self._draw.enter_context(chip_mismatched(self.network, self.sigma, self.generators, at_eval=False))

    def close(self) -> None:
        """Take the last draw out."""
        self._draw.close()


@contextlib.contextmanager
def robust_training(network: nn.Module, mismatch_sigma: float = 0.0, qat_bits: int = 0
                    ) -> Iterator[tuple[MismatchTraining, ...]]:
    """The hooks (and, for quantisation-aware training, the straight-through quantisation) of the settings;
    no hook and no change when both are 0."""
    check_robust_training(mismatch_sigma, qat_bits)
    with contextlib.ExitStack() as stack:
        if qat_bits:
            stack.enter_context(quantised(network, qat_bits, straight_through=True))
        hooks = ()
        if mismatch_sigma > 0:
            hook = MismatchTraining(network, mismatch_sigma)
            stack.callback(hook.close)
            hooks = (hook,)
        yield hooks
