"""Where the weights of a model live: one record per synapse layer, for code that acts on weights from outside
(weight noise, :mod:`spikeloc.substrate.noise`; plasticity transforms, :mod:`spikeloc.learning.bio`).

A spikeloc :class:`~spikeloc.substrate.synapses.Synapses` layer keeps K members' weights in ``raw_weight``
(members, inputs, outputs); ``nn.Linear`` (outputs, inputs) and ``nn.Conv2d`` (out channels, in channels, kh,
kw) keep one network's weights in ``weight``. When the tensor is parametrised (``torch.nn.utils.parametrize``),
:attr:`WeightLayer.weight` is the stored parameter, not the computed tensor.

Three views of one layer's weight, from storage to use:

* the **stored** weight (:attr:`WeightLayer.weight`): the parameter the optimiser moves (with weight splitting,
  the sub-synapses, one axis longer);
* the **connection** weight (:meth:`WeightLayer.connection_weight`): the stored weight through the
  parametrisations that come before Dale's signs (e.g. the sub-synapses' mean), one number per connection;
* the **effective** weight (:meth:`WeightLayer.effective_weight`): what the layer computes with, Dale's
  ``|.| * sign`` applied (a :class:`~spikeloc.substrate.synapses.DaleSigns` parametrisation on a plain layer, the
  layer's own signs on :class:`~spikeloc.substrate.synapses.Synapses`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from spikeloc.substrate.synapses import DaleSigns, Synapses, signed_weight


@dataclass(frozen=True)
class WeightLayer:
    """Where one layer's weight lives and how it is laid out (for weight noise and plasticity transforms).

    ``members``: the ensemble size K when the tensor's axis 0 indexes members (``Synapses``), else None (one
    network). ``unit_axis``: the axis of postsynaptic units in the connection weight (per-unit noise varies along
    it).
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

    def parametrisations(self) -> list[nn.Module]:
        """The tensor's parametrisation chain, first applied first (empty when it has none)."""
        if not parametrize.is_parametrized(self.module, self.tensor_name):
            return []
        return list(getattr(self.module.parametrizations, self.tensor_name))

    def dale_position(self) -> int:
        """Where in :meth:`parametrisations` Dale's signs act: the index of the first ``DaleSigns``, else the
        chain's length (a ``Synapses`` layer applies its own signs after the whole chain)."""
        chain = self.parametrisations()
        return next((i for i, p in enumerate(chain) if isinstance(p, DaleSigns)), len(chain))

    def connection_weight(self, skip: tuple[type, ...] = ()) -> torch.Tensor:
        """The stored weight through the parametrisations before Dale's signs, leaving out those of the types
        in ``skip`` (e.g. weight noise asking for the weight without itself)."""
        weight = self.weight
        for parametrisation in self.parametrisations()[:self.dale_position()]:
            if not isinstance(parametrisation, skip):
                weight = parametrisation(weight)
        return weight

    def effective_weight(self, skip: tuple[type, ...] = ()) -> torch.Tensor:
        """What the layer computes with: :meth:`connection_weight` through the rest of the chain (Dale's signs
        on a plain layer), or with the ``Synapses`` layer's own Dale signs; parametrisations of the types in
        ``skip`` are left out."""
        weight = self.connection_weight(skip)
        for parametrisation in self.parametrisations()[self.dale_position():]:
            if not isinstance(parametrisation, skip):
                weight = parametrisation(weight)
        if isinstance(self.module, Synapses):
            weight = signed_weight(weight, self.module.signs[:, :, None], self.module.zero_gradient)
        return weight


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
