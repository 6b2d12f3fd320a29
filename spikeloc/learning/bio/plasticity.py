"""Attach the plasticity transforms to a model and drive them around the optimiser step.

:func:`attach` finds the model's synapse layers (spikeloc :class:`~spikeloc.substrate.synapses.Synapses` of K
members, ``nn.Linear``, ``nn.Conv2d``), makes the structural changes (Dale signs, sub-synapses) and returns a
:class:`BioPlasticity`, which is a :class:`~spikeloc.learning.surrogate.TrainingHook`: give it to
:func:`~spikeloc.learning.surrogate.fit` (``hooks=``) or wrap any optimiser in :class:`PlasticOptimizer`.
See :mod:`spikeloc.learning.bio` for the order of the transforms within a step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from spikeloc.learning.bio.config import BioConfig
from spikeloc.learning.bio.crystallisation import crystallise
from spikeloc.learning.bio.fuzzy import fuzzy_factors
from spikeloc.learning.bio.regularisation import l1_penalty
from spikeloc.learning.bio.rejuvenation import rejuvenate
from spikeloc.learning.bio.splitting import SubSynapses, split_offsets
from spikeloc.learning.bio.volume import volume_factors
from spikeloc.learning.trainer import TrainingHook
from spikeloc.substrate.layers import WeightLayer, plain_layers, spiking_layers
from spikeloc.substrate.synapses import DaleSigns, Synapses, dale_signs
from spikeloc.validation import require


@dataclass
class _LayerState:
    """One layer's transform state; tensors shaped like the stored weight (sub-synapses included)."""

    layer: WeightLayer
    first_factors: torch.Tensor | None = None  # the fuzzy draw (ones without fuzzy rates)
    factors: torch.Tensor | None = None  # the learning-rate factors now (crystallisation damps them)
    step_factors: torch.Tensor | None = None  # this step's factors (volume included)
    before_step: torch.Tensor | None = None  # the weight before the optimiser step (scale = "update")


class BioPlasticity(TrainingHook):
    """The plasticity transforms of one model (made by :func:`attach`); member k draws from ``generators[k]``.

    Counters for result tables: ``steps``, ``rejuvenation_events`` (steps on which rejuvenation ran),
    ``rejuvenated`` (synapses replaced, per member, summed over events; :meth:`rejuvenated_per_event` divides),
    ``crystallised`` (synapse-steps damped, per member).
    """

    def __init__(self, layers: Mapping[str, WeightLayer], config: BioConfig, generators: Sequence[torch.Generator]):
        require(len(layers) >= 1, "layers", len(layers), "at least one synapse layer")
        sizes = {layer.members for layer in layers.values()}
        require(len(sizes) == 1, "layers", sorted(map(str, sizes)), "of one ensemble size")
        self.members = sizes.pop()
        require(len(generators) == (self.members or 1), "generators", len(generators),
                f"one per member ({self.members or 1})")
        self.config = config
        self.generators = list(generators)
        self.steps = 0
        self.rejuvenation_events = 0
        self.rejuvenated = [0] * len(self.generators)
        self.crystallised = [0] * len(self.generators)
        self.layers = {name: _LayerState(layer) for name, layer in layers.items()}
        for state in self.layers.values():
            self._restructure(state.layer)
        if config.scales_rates:
            for state in self.layers.values():
                state.first_factors = self._fuzzy_draw(state.layer.weight)
                state.factors = state.first_factors.clone()

    # ----------------------------------------------------------------- per member
    def _networks(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Views of each member's part of ``tensor`` (the whole tensor for a single network)."""
        return [tensor] if self.members is None else list(tensor.unbind(0))

    def _per_member(self, draw, like: torch.Tensor) -> torch.Tensor:
        """``draw(part, generator)`` for each member's part of ``like``, stacked back into its shape."""
        parts = [draw(part, g) for part, g in zip(self._networks(like), self.generators)]
        return parts[0] if self.members is None else torch.stack(parts)

    # ----------------------------------------------------------------- attaching
    def _restructure(self, layer: WeightLayer) -> None:
        """Sub-synapses first, then Dale's signs on the connection weight (their mean)."""
        if self.config.splitting is not None:
            self._split(layer)
        if self.config.dale is not None:
            self._sign(layer)

    def _split(self, layer: WeightLayer) -> None:
        require(not parametrize.is_parametrized(layer.module, layer.tensor_name), "splitting",
                layer.tensor_name, "on a weight that is not parametrised yet (attach before adding weight noise)")
        weight = layer.weight
        splitting = self.config.splitting
        offsets = self._per_member(  # (K, G, ...): members stay first
            lambda part, g: split_offsets((splitting.sub_synapses, *part.shape), 0, splitting.jitter, g), weight)
        axis = 0 if self.members is None else 1
        parametrize.register_parametrization(layer.module, layer.tensor_name,
                                             SubSynapses(axis, offsets.to(weight.dtype).to(weight.device)))

    def _sign(self, layer: WeightLayer) -> None:
        fraction = self.config.dale.inhibitory_fraction
        if isinstance(layer.module, Synapses):  # the layer's own signs; members already constrained keep theirs
            signs = layer.module.signs
            with torch.no_grad():
                for k, g in enumerate(self.generators):
                    if not bool(signs[k].any()):
                        signs[k] = dale_signs(signs.shape[1], fraction, g)
            return
        connection = getattr(layer.module, layer.tensor_name)  # (outputs, inputs, ...): presynaptic on axis 1
        signs = dale_signs(connection.shape[1], fraction, self.generators[0])
        shape = [1] * connection.dim()
        shape[1] = connection.shape[1]
        parametrize.register_parametrization(layer.module, layer.tensor_name,
                                             DaleSigns(signs.reshape(shape).to(connection.device, connection.dtype)))

    def _fuzzy_draw(self, weight: torch.Tensor) -> torch.Tensor:
        if self.config.fuzzy is None:
            return torch.ones(weight.shape, dtype=weight.dtype, device=weight.device)
        return self._per_member(lambda part, g: fuzzy_factors(part.shape, self.config.fuzzy, g, part.dtype,
                                                              part.device), weight.detach())

    # ----------------------------------------------------------------- the hook
    def penalty(self) -> torch.Tensor:
        """The L1 term per member (zeros without it), differentiable in the weights."""
        if self.config.l1 is None:
            return torch.zeros(self.members or 1)
        weights = [getattr(s.layer.module, s.layer.tensor_name) for s in self.layers.values()]
        return l1_penalty(weights, self.config.l1.strength, self.members)

    def before_step(self) -> None:
        """After ``backward()``: crystallise on the loss's gradient, draw this step's volume factors, and
        scale the gradient (``scale="gradient"``) or remember the weights to scale the update after the step."""
        if not self.config.scales_rates:
            return
        with torch.no_grad():
            for state in self.layers.values():
                weight = state.layer.weight
                if weight.grad is None:
                    state.step_factors = None
                    continue
                if self.config.crystallisation is not None:
                    for k, (f, w, g) in enumerate(zip(self._networks(state.factors), self._networks(weight),
                                                      self._networks(weight.grad))):
                        self.crystallised[k] += crystallise(f, w, g, self.config.crystallisation)
                factors = state.factors
                if self.config.volume is not None:
                    factors = factors * self._per_member(
                        lambda part, g: volume_factors(part, self.config.volume, g), weight)
                if self.config.scale == "gradient":
                    weight.grad.mul_(factors)
                else:
                    state.step_factors = factors
                    state.before_step = weight.detach().clone()

    def after_step(self) -> None:
        """After the optimiser step: scale the update (``scale="update"``), then rejuvenate on schedule."""
        self.steps += 1
        rejuvenation = self.config.rejuvenation
        rejuvenating = rejuvenation is not None and self.steps % rejuvenation.interval_steps == 0
        self.rejuvenation_events += rejuvenating
        with torch.no_grad():
            for state in self.layers.values():
                weight = state.layer.weight
                if self.config.scale == "update" and state.step_factors is not None:
                    weight.copy_(state.before_step + state.step_factors * (weight - state.before_step))
                    state.step_factors = state.before_step = None
                if rejuvenating:
                    for k, (w, g) in enumerate(zip(self._networks(weight), self.generators)):
                        replaced = rejuvenate(w, rejuvenation, g)
                        self.rejuvenated[k] += int(replaced.sum())
                        if state.factors is not None:
                            self._networks(state.factors)[k][replaced] = self._networks(state.first_factors)[k][replaced]

    # ----------------------------------------------------------------- afterwards
    def synapse_count(self) -> int:
        """Stored synapses per member (sub-synapses counted one by one; before :meth:`detach`)."""
        return sum(self._networks(s.layer.weight)[0].numel() for s in self.layers.values())

    def rejuvenated_per_event(self) -> list[float]:
        """Per member: the fraction of stored synapses replaced by one rejuvenation event, the mean over the
        events so far (0 before the first; before :meth:`detach`)."""
        events = max(self.rejuvenation_events, 1)
        return [n / (events * self.synapse_count()) for n in self.rejuvenated]

    def slowed_fraction(self, below: float) -> list[float]:
        """Per member: the fraction of stored synapses whose learning-rate factor is now under ``below`` x
        their first draw (crystallised); zeros when no factor acts."""
        if self.config.crystallisation is None:
            return [0.0] * len(self.generators)
        slowed, total = [0] * len(self.generators), 0
        for state in self.layers.values():
            parts = list(zip(self._networks(state.factors), self._networks(state.first_factors)))
            total += parts[0][0].numel()
            for k, (f, first) in enumerate(parts):
                slowed[k] += int((f < below * first).sum())
        return [n / total for n in slowed]

    def detach(self) -> None:
        """Remove the parametrisations :func:`attach` added, leaving each layer's weight as it computes now
        (sub-synapses merged into their mean; on plain layers the Dale-signed weight, no longer constrained).
        ``Synapses`` keep their own Dale signs. For evaluation under weight noise, or saving. Refused (before
        anything is removed) while another parametrisation, e.g. weight noise, is on a weight: it would be baked
        into the weight."""
        foreign = sorted({type(p).__name__ for state in self.layers.values() for p in state.layer.parametrisations()
                          if not isinstance(p, (SubSynapses, DaleSigns))})
        require(not foreign, "detach", f"with {foreign} on the weights",
                "called with only the plasticity's parametrisations in place (leave the weight-noise context first)")
        for state in self.layers.values():
            layer = state.layer
            if parametrize.is_parametrized(layer.module, layer.tensor_name):
                parametrize.remove_parametrizations(layer.module, layer.tensor_name, leave_parametrized=True)


def attach(model: nn.Module, config: BioConfig, generators: Sequence[torch.Generator],
           layers: Mapping[str, WeightLayer] | None = None) -> BioPlasticity:
    """Attach the transforms of ``config`` to ``model``'s synapse layers (``layers``, default: a spiking
    classifier's synapse layers, else every ``nn.Linear`` / ``nn.Conv2d`` / ``Synapses`` of the model); one
    generator per ensemble member (one for a plain model). Build the optimiser *after* attaching: splitting
    reshapes the stored weights (``parametrize`` keeps the parameter objects, so an optimiser built before
    still holds them, but its state from steps before attaching no longer fits; :class:`PlasticOptimizer`
    refuses such an optimiser)."""
    if layers is None:
        layers = spiking_layers(model) if hasattr(model, "synapses") else plain_layers(model)
    return BioPlasticity(layers, config, generators)


class PlasticOptimizer:
    """An optimiser with the plasticity transforms around its step, for a training loop of one's own::

        plasticity = attach(model, config, [generator])
        optimiser = PlasticOptimizer(torch.optim.Adam(model.parameters(), lr), plasticity)
        for x, y in batches:
            loss = criterion(model(x), y) + plasticity.penalty().sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()        # before_step(), the inner step, after_step()
    """

    def __init__(self, optimizer: torch.optim.Optimizer, plasticity: BioPlasticity):
        optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
        missing = [name for name, s in plasticity.layers.items() if id(s.layer.weight) not in optimised]
        require(not missing, "optimizer", f"without the weights of {missing}", "built from the model's parameters")
        stale = [name for name, s in plasticity.layers.items()
                 if any(torch.is_tensor(v) and v.dim() > 0 and v.shape != s.layer.weight.shape
                        for v in optimizer.state.get(s.layer.weight, {}).values())]
        require(not stale, "optimizer", f"with state of another shape for the weights of {stale}",
                "built after attach() (splitting reshapes the stored weights; state from before no longer fits)")
        self.optimizer = optimizer
        self.plasticity = plasticity

    @property
    def param_groups(self) -> list[dict]:
        return self.optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure=None):
        self.plasticity.before_step()
        loss = self.optimizer.step(closure)
        self.plasticity.after_step()
        return loss

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)
