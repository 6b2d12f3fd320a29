"""Weight averaging over training (stochastic weight averaging without batch norm, Izmailov et al. 2018).

The averaged weights are the uniform mean of the weights at the end of every epoch from ``start_epoch`` on,

    W_avg = (1 / n) * sum_{e = start_epoch}^{start_epoch + n - 1} W_e,

kept per parameter tensor (so per ensemble member, whose weights sit on the tensors' leading axis: members
stay independent). An average of points along the trajectory lies in a flatter region of the loss than the
points themselves, which is what makes a network tolerate perturbed weights. Use it as a
:class:`spikeloc.learning.surrogate.TrainingHook` of ``fit`` and call :meth:`WeightAverage.apply` after ``fit``:
the averaged weights then replace the best-validation weights ``fit`` left (early stopping does not choose
among averages; a member that stopped early keeps averaging the weights it stopped with, which ``fit`` does not
change further).
"""

from __future__ import annotations

import torch
from torch import nn

from spikeloc.validation import require


class WeightAverage:
    """Running uniform mean of ``model``'s parameters at the end of every epoch from ``start_epoch`` (1-based).
    The parameters are those ``model`` has when this is made (the same tensor objects later, also while weight
    noise is attached by parametrisation)."""

    def __init__(self, model: nn.Module, start_epoch: int):
        require(start_epoch >= 1, "start_epoch", start_epoch, "an integer >= 1")
        self.parameters = list(model.parameters())
        self.start_epoch = start_epoch
        self.epoch = 0
        self.n_averaged = 0
        self.mean = [torch.zeros_like(p, requires_grad=False) for p in self.parameters]

    def before_batch(self) -> None:
        pass

    def penalty(self) -> torch.Tensor:
        return torch.zeros(())

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        pass

    def end_epoch(self) -> None:
        self.epoch += 1
        if self.epoch < self.start_epoch:
            return
        self.n_averaged += 1
        with torch.no_grad():
            for p, mean in zip(self.parameters, self.mean):
                mean += (p - mean) / self.n_averaged

    def apply(self) -> None:
        """Load the averaged weights into the model (no-op before any epoch was averaged)."""
        if self.n_averaged == 0:
            return
        with torch.no_grad():
            for p, mean in zip(self.parameters, self.mean):
                p.copy_(mean)
