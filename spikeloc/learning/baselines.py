"""Non-spiking baselines trained on the same split as a spiking network: a ReLU MLP by backprop.

The MLP maps features (N, F) through ``hidden`` ReLU layers to class logits, trained with Adam on the
cross-entropy, mini-batches from a seeded permutation each epoch, and keeps the weights of the epoch with the
lowest validation loss (as the spiking trainer). Initialisation is ``nn.Linear``'s, drawn from a seeded
generator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spikeloc import seeding
from spikeloc.validation import require


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


def fit_mlp(config: MLPConfig, train: tuple[torch.Tensor, torch.Tensor], validation: tuple[torch.Tensor, torch.Tensor],
            n_classes: int, seed: int) -> nn.Sequential:
    """Train an MLP on ``train = (features, labels)``; returns it with its best-validation weights."""
    features, labels = train
    require(len(labels) >= config.batch_size, "batch_size", config.batch_size, f"<= training set size {len(labels)}")
    model = mlp(features.shape[1], config.hidden, n_classes, seeding.generator(seed, "init/mlp"))
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    shuffle = seeding.generator(seed, "shuffle/mlp")
    best_loss, best_state = math.inf, None
    for _ in range(config.epochs):
        model.train()
        order = torch.randperm(len(labels), generator=shuffle)
        for start in range(0, len(labels) - config.batch_size + 1, config.batch_size):
            batch = order[start:start + config.batch_size]
            optimiser.zero_grad(set_to_none=True)
            F.cross_entropy(model(features[batch]), labels[batch]).backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            loss = float(F.cross_entropy(model(validation[0]), validation[1]))
        if loss < best_loss:
            best_loss, best_state = loss, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model


def accuracy(model: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``features`` whose argmax logit is the label."""
    model.eval()
    with torch.no_grad():
        return float((model(features).argmax(dim=1) == labels).double().mean())
