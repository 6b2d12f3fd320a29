"""Classification losses on a readout over time, per ensemble member.

The readout's output is ``(K, batch, T, classes)``; its class scores are the time sums
(:func:`spikeloc.networks.classifier.class_scores`): the summed membrane of a leaky readout, or the spike counts
``c`` of a spiking readout. Two losses, each returning the mean over a member's batch, shape ``(K,)``:

* ``"cross_entropy"``: ``-log softmax(scale * c)[label]``. With the membrane readout and scale 0.01 it is the IPD
  seed's loss; with a spiking readout and scale 1 it equals ``snntorch.functional.ce_count_loss()``.
* ``"mse_count"``: ``mean_classes (c - c*)^2 / T`` with target counts ``c* = int(T * correct_rate)`` for the
  label and ``int(T * incorrect_rate)`` for the other classes: exactly
  ``snntorch.functional.mse_count_loss(correct_rate, incorrect_rate)`` (which averages over batch and classes
  and divides by T).

Members are independent: a member's loss depends on its own outputs only, and training sums the members' losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from spikeloc.validation import require_choice, require_number

LOSSES = ("cross_entropy", "mse_count")


@dataclass(frozen=True)
class LossConfig:
    """Which loss, and its constants (see the module docstring)."""

    name: str = "cross_entropy"
    logit_scale: float = 0.01
    correct_rate: float = 1.0
    incorrect_rate: float = 0.0

    def __post_init__(self) -> None:
        require_choice(self.name, "loss", LOSSES)
        require_number(self.logit_scale, "logit_scale", above=0)
        require_number(self.correct_rate, "correct_rate", 0, 1)
        require_number(self.incorrect_rate, "incorrect_rate", 0, 1)


def member_losses(output: torch.Tensor, labels: torch.Tensor, config: LossConfig) -> torch.Tensor:
    """Mean loss of each member on its batch: ``output`` (K, b, T, classes), ``labels`` (K, b) -> (K,)."""
    scores = output.sum(dim=-2)  # (K, b, classes)
    if config.name == "cross_entropy":
        losses = F.cross_entropy((scores * config.logit_scale).flatten(0, 1), labels.flatten(), reduction="none")
        return losses.view(labels.shape).mean(dim=1)
    steps = output.shape[-2]
    target = torch.full_like(scores, float(int(steps * config.incorrect_rate)))
    target.scatter_(-1, labels[..., None], float(int(steps * config.correct_rate)))
    return (scores - target).square().mean(dim=(1, 2)) / steps
