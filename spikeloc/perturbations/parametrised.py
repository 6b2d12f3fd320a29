"""The one way a perturbation changes weights: a ``torch.nn.utils.parametrize`` parametrisation inserted into a
synapse layer's chain just before Dale's signs and taken out again on exit (the same insertion and removal as
weight noise, :mod:`spikeloc.substrate.noise`; nothing stored is mutated, other parametrisations stay)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

import torch
from torch import nn

from spikeloc.substrate.layers import WeightLayer
from spikeloc.substrate.noise import _insert, _remove


class WeightTransform(nn.Module):
    """The parametrisation ``W -> transform(W)``; with ``at_eval=False`` it acts in training mode only (a
    training hook's perturbation, off when the network is validated)."""

    def __init__(self, transform: Callable[[torch.Tensor], torch.Tensor], at_eval: bool = True):
        super().__init__()
        self.transform = transform
        self.at_eval = at_eval

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if not (self.training or self.at_eval):
            return weight
        return self.transform(weight)


@contextlib.contextmanager
def transformed(layers: Mapping[str, WeightLayer], transforms: Mapping[str, Callable[[torch.Tensor], torch.Tensor]],
                at_eval: bool = True) -> Iterator[None]:
    """Within the context, layer ``name`` computes with ``transforms[name](W)`` in place of its connection
    weight ``W`` (before Dale's signs); on exit exactly these parametrisations are taken out."""
    inserted = []
    try:
        for name, transform in transforms.items():
            layer = layers[name]
            module = WeightTransform(transform, at_eval).train(layer.module.training)
            _insert(layer, module)
            inserted.append((layer, module))
        yield
    finally:
        for layer, module in reversed(inserted):
            _remove(layer, module)


def connection_weights(layers: Mapping[str, WeightLayer]) -> dict[str, torch.Tensor]:
    """Each layer's connection weight as it is now (no gradient): the shapes and scales draws are made for."""
    with torch.no_grad():
        return {name: layer.connection_weight() for name, layer in layers.items()}
