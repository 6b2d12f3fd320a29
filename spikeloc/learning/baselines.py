"""Non-spiking baselines trained on the same split as a spiking network: a ReLU MLP by backprop.

The MLP maps features (N, F) through ``hidden`` ReLU layers to class logits, trained with Adam on the
cross-entropy, mini-batches from a seeded permutation each epoch, and keeps the weights of the epoch with the
lowest validation loss: spikeloc's one trainer (:mod:`spikeloc.learning.trainer`), of which
:func:`plain_learner` makes any plain classifier a learner (one member). Initialisation is ``nn.Linear``'s,
drawn from a seeded generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spikeloc import seeding
from spikeloc.learning import trainer
from spikeloc.learning.trainer import Learner, MemberData, TrainConfig, TrainingHook
from spikeloc.validation import require, require_labels

Split = tuple[torch.Tensor, torch.Tensor]  # (features (samples, inputs) float, labels (samples,) int64)


@dataclass(frozen=True)
class MLPConfig:
    """Shape and optimisation of the baseline MLP."""

    hidden: tuple[int, ...] = (100,)
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 128

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        require(all(h >= 1 for h in self.hidden), "hidden", self.hidden, "layer sizes, each an integer >= 1")
        require(self.epochs >= 1, "epochs", self.epochs, "an integer >= 1")
        require(self.lr > 0, "lr", self.lr, "> 0")
        require(self.batch_size >= 1, "batch_size", self.batch_size, "an integer >= 1")


def mlp(n_inputs: int, hidden: Sequence[int], n_classes: int, generator: torch.Generator) -> nn.Sequential:
    """A ReLU MLP with ``nn.Linear``'s uniform(+-1/sqrt(fan_in)) initialisation drawn from ``generator``."""
    sizes = (n_inputs, *hidden, n_classes)
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        linear = nn.Linear(n_in, n_out)
        bound = 1 / math.sqrt(n_in)
        with torch.no_grad():
            linear.weight.copy_((torch.rand(n_out, n_in, generator=generator) * 2 - 1) * bound)
            linear.bias.copy_((torch.rand(n_out, generator=generator) * 2 - 1) * bound)
        layers += [linear, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def plain_learner(model: Callable[[torch.Tensor], torch.Tensor], parameters: Sequence[torch.Tensor], seed: int,
                  shuffle_stream: str, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
                  ) -> Learner:
    """A plain classifier ``model`` (features (b, F) -> class scores (b, C)) as the trainer's learner of one
    member: ``loss(scores, labels)`` its batch mean, decisions by argmax, batch order from stream
    ``shuffle_stream`` of ``seed``; an ``nn.Module`` model is switched to ``train()`` / ``eval()``. A label
    outside the model's classes is refused by name at the first batch that holds it (torch would raise an
    IndexError, or on a GPU a device-side assert)."""

    def losses(output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        require_labels(labels[0], "labels of a batch", output.shape[-1])
        return loss(output[0], labels[0]).reshape(1)

    return Learner(parameters=tuple(parameters), seeds=(seed,),
                   forward=lambda inputs, training: model(inputs[0])[None],
                   losses=losses,
                   predict=lambda output: output.argmax(dim=-1),
                   module=model if isinstance(model, nn.Module) else None, shuffle_stream=shuffle_stream)


def fit_plain(model: nn.Module, train: Split, validation: Split, epochs: int, lr: float, batch_size: int, seed: int,
              hooks: Sequence[TrainingHook] = ()) -> trainer.FitResult:
    """Train ``model`` (features -> logits) in place by Adam on the cross-entropy for ``epochs`` (no early
    stop), driving ``hooks`` around every step (e.g. weight noise drawn fresh per batch: the noise seed's
    loop, without its in-place injection); batches from stream ``"shuffle/mlp"``; the weights of the epoch with
    the lowest (noise-free) validation loss are kept; a diverged fit is marked in the result, as a spiking one."""
    config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, patience=epochs,
                         eval_batch_size=len(validation[1]))
    learner = plain_learner(model, list(model.parameters()), seed, "shuffle/mlp")
    return trainer.fit(learner, MemberData.stack([train]), MemberData.stack([validation]), config, hooks)


def fit_mlp(config: MLPConfig, train: Split, validation: Split, n_classes: int, seed: int) -> nn.Sequential:
    """Train an MLP on ``train = (features, labels)`` on their device (initial weights drawn on the CPU); returns
    it with its best-validation weights."""
    model = mlp(train[0].shape[1], config.hidden, n_classes, seeding.generator(seed, "init/mlp")).to(train[0].device)
    fit_plain(model, train, validation, config.epochs, config.lr, config.batch_size, seed)
    return model


def accuracy(model: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``features`` whose argmax logit is the label."""
    model.eval()
    with torch.no_grad():
        return float((model(features).argmax(dim=1) == labels).double().mean())
