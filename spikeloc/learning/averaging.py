"""Weight averaging over training (stochastic weight averaging without batch norm, Izmailov et al. 2018).

The averaged weights of a member are the uniform mean of its weights at the end of every epoch it trained from
``start_epoch`` on,

    W_avg = (1 / n) * sum_{e = start_epoch}^{start_epoch + n - 1} W_e,

kept per member (whose weights sit on the tensors' leading axis: members stay independent). An average of
points along the trajectory lies in a flatter region of the loss than the points themselves, which is what
makes a network tolerate perturbed weights. Use it as a :class:`spikeloc.learning.trainer.TrainingHook` of
``fit`` and call :meth:`WeightAverage.apply` after ``fit``: the averaged weights then replace the
best-validation weights ``fit`` left (early stopping does not choose among averages). A member that stops
early averages the epochs up to its stop (``fit`` freezes it; the frozen epochs are not averaged), so
``n`` (:attr:`WeightAverage.epochs_averaged`) is 0 for a member that stopped before ``start_epoch``: it keeps
its best-validation weights, and a result table should say so (record ``epochs_averaged``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from spikeloc.learning.trainer import TrainingHook
from spikeloc.validation import require


class WeightAverage(TrainingHook):
    """Running uniform mean of ``parameters`` (members on each tensor's leading axis; any shape for one member)
    at the end of every epoch from ``start_epoch`` (1-based), per member until it stops. The tensors are
    those given (the same objects later, also while weight noise is attached by parametrisation)."""

    def __init__(self, parameters: Iterable[torch.Tensor], n_members: int, start_epoch: int):
        require(start_epoch >= 1, "start_epoch", start_epoch, "an integer >= 1")
        require(n_members >= 1, "n_members", n_members, "an integer >= 1")
        self.parameters = list(parameters)
        self.n_members = n_members
        self.start_epoch = start_epoch
        self.epoch = 0
        self.averaged = torch.zeros(n_members, dtype=torch.long)
        self.stopped = torch.zeros(n_members, dtype=torch.bool)
        self.mean = [torch.zeros_like(p, requires_grad=False) for p in self.parameters]

    @property
    def epochs_averaged(self) -> list[int]:
        """Per member: how many epochs its average holds (0: none, :meth:`apply` leaves it as it is)."""
        return self.averaged.tolist()

    def end_epoch(self) -> None:
        self.epoch += 1
        if self.epoch < self.start_epoch or bool(self.stopped.all()):
            return
        averaging = ~self.stopped
        self.averaged += averaging
        with torch.no_grad():
            for p, mean in zip(self.parameters, self.mean):
                rows, mean_rows = self._rows(p.detach()), self._rows(mean)
                mask = averaging.to(p.device)
                n = self.averaged.to(p.device, mean.dtype)[mask].unsqueeze(1)
                mean_rows[mask] = mean_rows[mask] + (rows[mask] - mean_rows[mask]) / n

    def members_stopped(self, stopped: torch.Tensor) -> None:
        """The ``stopped`` members (K,) bool trained no further: their averages are complete."""
        self.stopped |= stopped.cpu()

    def apply(self) -> None:
        """Load the averaged weights into the members that averaged any epoch (the others keep theirs)."""
        done = self.averaged > 0
        with torch.no_grad():
            for p, mean in zip(self.parameters, self.mean):
                mask = done.to(p.device)
                self._rows(p.detach())[mask] = self._rows(mean)[mask]

    def _rows(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.view(self.n_members, -1)
