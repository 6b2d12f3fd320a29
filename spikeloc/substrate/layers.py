"""Where the weights of a model live: one record per synapse layer, for code that acts on weights from outside
(weight noise, :mod:`spikeloc.substrate.noise`; plasticity transforms, :mod:`spikeloc.learning.bio`).

A spikeloc :class:`~spikeloc.substrate.synapses.Synapses` layer keeps K members' weights in ``raw_weight``
(members, inputs, outputs); ``nn.Linear`` (outputs, inputs) and ``nn.Conv2d`` (out channels, in channels, kh,
kw) keep one network's weights in ``weight``. When the tensor is parametrised (``torch.nn.utils.parametrize``),
:attr:`WeightLayer.weight` is the stored parameter, not the computed tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from spikeloc.substrate.synapses import Synapses


@dataclass(frozen=True)
class WeightLayer:
    """Where one layer's weight lives and how it is laid out (for weight noise and plasticity transforms).

    ``members``: the ensemble size K when the tensor's axis 0 indexes members (``Synapses``), else None (one
    network). ``unit_axis``: the axis of postsynaptic units (per-unit noise varies along it).
    """

    module: nn.Module
    tensor_name: str
    members: int | None
    unit_axis: int

    @property
    def weight(self) -> torch.Tensor:
        if parametrize.is_parametrized(self.module, self.tensor_name):
            return getattr(self.module.parametrizations, self.tensor_name).original
        return getattr(self.module, self.tensor_name)

    def theta_shape(self, per_unit: bool) -> tuple[int, ...]:
        shape = [1] * self.weight.dim()
        if self.members is not None:
            shape[0] = self.members
        if per_unit:
            shape[self.unit_axis] = self.weight.shape[self.unit_axis]
        return tuple(shape)

    def weight_std(self) -> torch.Tensor:
        """Std of the weight (per member when there are members), broadcastable to it; no gradient."""
        w = self.weight.detach()
        if self.members is None:
            return w.std().reshape([1] * w.dim())
        return w.flatten(1).std(dim=1).reshape(-1, *[1] * (w.dim() - 1))


def spiking_layers(network: nn.Module) -> dict[str, WeightLayer]:
    """The synapse layers of a spiking network with ``network.config.synapse_names`` and ``network.synapses``
    (:class:`~spikeloc.networks.classifier.SpikingClassifier`): {"input": ..., ..., "readout": ...}."""
    return {name: WeightLayer(synapses, "raw_weight", synapses.raw_weight.shape[0], unit_axis=2)
            for name, synapses in zip(network.config.synapse_names, network.synapses)}


def plain_layers(model: nn.Module) -> dict[str, WeightLayer]:
    """Every ``nn.Linear`` and ``nn.Conv2d`` of ``model``, named ``layer_0``, ``layer_1``, ... in module order
    (the seed's names), plus every spikeloc ``Synapses`` under its module path."""
    layers, index = {}, 0
    for path, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            layers[f"layer_{index}"] = WeightLayer(module, "weight", None, unit_axis=0)
            index += 1
        elif isinstance(module, Synapses):
            layers[path] = WeightLayer(module, "raw_weight", module.raw_weight.shape[0], unit_axis=2)
    return layers
