"""Neuromodulatory weight noise ("leaky tensors"): Gaussian noise on synaptic weights, drawn fresh per step.

A noisy layer computes with ``W + sigma * eps``, ``eps ~ N(0, 1)`` elementwise, instead of ``W``:

* **fixed noise**: ``sigma = scale`` (``reference="absolute"``, weight units) or ``sigma = scale * std(W_eff)``
  (``reference="relative"``: in units of the standard deviation of the layer's *effective* weight, the one the
  network computes with, Dale's ``|.| * sign`` applied; one std per member, taken without gradient so the noise
  level never pushes the weights around);
* **learned noise**: ``sigma = s * std(W_eff)`` (relative) or ``sigma = s`` (absolute), where ``s`` comes from a
  learnable log-variance ``theta``, one per layer (and member), or one per postsynaptic unit
  (``per_unit=True``). Two boundings of ``s`` in ``[min_std, max_std]``:

  - ``"sigmoid"``: ``log s^2 = lo + (hi - lo) * sigmoid(theta)`` with ``lo = log min_std^2``,
    ``hi = log max_std^2``: bounded and differentiable everywhere, so ``s`` always feels its gradient;
  - ``"clamp"`` (the seed's ``NoiseModel``): ``s = clamp(exp(theta / 2), min_std, max_std)``. Outside the
    bounds the clamp's derivative is 0: the seed starts at ``theta = 0`` (``s = 1 > 0.5``), where ``s`` gets
    no gradient at all and never moves.

  The reparameterised draw ``sigma * eps`` passes the task loss's gradient to ``theta``.

**Where in the chain.** The noise is added to the *connection* weight ``W``
(:meth:`~spikeloc.substrate.layers.WeightLayer.connection_weight`): after the parametrisations that build it
(with weight splitting, the sub-synapses' mean: one noise term per connection, not per sub-synapse) and *before*
Dale's law, which takes ``|.|`` and applies the fixed presynaptic sign (``W_eff = sign * |W + sigma * eps|``).
A ``Synapses`` layer applies its own signs after the whole chain; on a plain layer the noise goes into the chain
just before bio's ``DaleSigns``, even when the signs were attached first. So a constrained synapse can never
change sign, whatever the noise; near zero the noise is rectified (it can only grow the magnitude), a small
bias documented here rather than hidden. Unconstrained synapses get plain additive noise. Sub-synapses must be
attached before the noise (splitting refuses a weight that is already parametrised).

**Why the effective weight's std.** ``W`` and ``W_eff`` have the same magnitudes, and the noise moves a
synapse's magnitude by about ``sigma`` either way, so ``sigma`` is measured against the spread of the synaptic
strengths the network uses. The raw weight's spread is not that: a Dale layer whose raw weights are symmetric
around 0 (uniform in ``+-b``, std ``b / sqrt(3)``) computes, when all-excitatory, with ``|W|`` (std
``b / sqrt(12)``, half as much), so "0.3 x std(W)" would be 0.6 x the spread it perturbs, and a Dale layer would
get up to twice the relative noise of an unconstrained one at the same ``scale``. Without Dale the two stds are
equal.

**No weight is mutated.** The noise is part of the forward computation: :meth:`WeightNoise.attached`
inserts a ``torch.nn.utils.parametrize`` parametrisation into each layer's weight tensor (``raw_weight`` of a
:class:`~spikeloc.substrate.synapses.Synapses`, ``weight`` of ``nn.Linear`` / ``nn.Conv2d``), so reading the
weight returns the noisy weight while the stored parameter stays unchanged; on leaving the context (normally or
by an exception) exactly that parametrisation is taken out again and any others on the tensor (bio's Dale
signs or sub-synapses, :mod:`spikeloc.learning.bio`) stay as they were, whichever was attached first; the
layer holds its original ``nn.Parameter`` object (optimisers keep working). The seed's ``inject_noise`` /
``clear_noise`` pair instead leaves noisy weights behind if anything raises in between.

**When.** Noise is on in training mode and off in evaluation mode, unless ``at_eval`` is set (the
parametrisation follows the owning module's ``train()`` / ``eval()``). Draws come only from the generators
given to :meth:`WeightNoise.resample` (one per ensemble member), so the same seeds give the same noise.

The substrate module is pure: it knows layers and tensors, not training loops (see
:mod:`spikeloc.learning.neuromodulation`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from spikeloc.substrate.layers import WeightLayer
from spikeloc.validation import require, require_choice

REFERENCES = ("absolute", "relative")
BOUNDINGS = ("sigmoid", "clamp")
#: The seed's robustness-curve noise scales.
SEED_SCALES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


def _finite_non_negative(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value >= 0


@dataclass(frozen=True)
class NoiseConfig:
    """How a set of layers is perturbed (see the module docstring for the equations).

    ``scale``: the fixed noise std (weight units, or multiples of the weight std); ignored when ``learned``.
    ``min_std``, ``max_std``, ``init_std``: bounds and starting value of the learned std ``s``.
    ``layers``: names of the layers to perturb (None: every layer given to :class:`WeightNoise`).
    """

    scale: float = 0.0
    reference: str = "relative"
    learned: bool = False
    per_unit: bool = False
    min_std: float = 1e-3
    max_std: float = 0.5
    init_std: float = 0.3
    bounding: str = "sigmoid"
    at_eval: bool = False
    layers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(self.layers))
            require(len(self.layers) >= 1, "layers", self.layers, "one or more layer names, or None (every layer)")
        require(_finite_non_negative(self.scale), "scale", self.scale, "a finite number >= 0")
        require_choice(self.reference, "reference", REFERENCES)
        require_choice(self.bounding, "bounding", BOUNDINGS)
        require(_finite_non_negative(self.min_std) and self.min_std > 0, "min_std", self.min_std, "a finite number > 0")
        require(_finite_non_negative(self.max_std) and self.max_std > self.min_std, "max_std", self.max_std,
                f"finite and > min_std = {self.min_std}")
        require(_finite_non_negative(self.init_std) and self.init_std > 0, "init_std", self.init_std,
                "a finite number > 0")
        if self.bounding == "sigmoid":  # sigmoid(theta) reaches its bounds only at infinity
            require(self.min_std < self.init_std < self.max_std, "init_std", self.init_std,
                    f"strictly between min_std = {self.min_std} and max_std = {self.max_std}")

    def initial_theta(self) -> float:
        """The learnable parameter ``theta`` that gives ``s = init_std``."""
        log_variance = 2 * math.log(self.init_std)
        if self.bounding == "clamp":
            return log_variance
        lo, hi = 2 * math.log(self.min_std), 2 * math.log(self.max_std)
        fraction = (log_variance - lo) / (hi - lo)
        return math.log(fraction / (1 - fraction))

    def bounded_std(self, theta: torch.Tensor) -> torch.Tensor:
        """``s`` from ``theta`` under this config's bounding."""
        if self.bounding == "clamp":
            return torch.clamp(torch.exp(0.5 * theta), self.min_std, self.max_std)
        lo, hi = 2 * math.log(self.min_std), 2 * math.log(self.max_std)
        return torch.exp(0.5 * (lo + (hi - lo) * torch.sigmoid(theta)))


class _Perturbation(nn.Module):
    """The parametrisation ``W -> W + sigma * eps`` of one layer; active in training mode or when asked."""

    def __init__(self, owner: WeightNoise, name: str):
        super().__init__()
        self.perturbation = owner.perturbation  # a bound method, not a submodule: owner's parameters stay its own
        self.name = name
        self.at_eval = owner.config.at_eval

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if not (self.training or self.at_eval):
            return weight
        return weight + self.perturbation(self.name)


class WeightNoise(nn.Module):
    """Gaussian weight noise on named layers: fixed, or learned (``theta`` in :attr:`log_variances`).

    Use::

        noise = WeightNoise(spiking_layers(network), NoiseConfig(scale=0.3))
        with noise.attached():
            noise.resample(generators)       # one generator per member; fresh eps for every layer
            output = network(inputs)          # computes with W + sigma * eps (in training mode)
    """

    def __init__(self, layers: Mapping[str, WeightLayer], config: NoiseConfig):
        super().__init__()
        require(len(layers) >= 1, "layers", len(layers), "at least one layer")
        if config.layers is not None:
            unknown = sorted(set(config.layers) - set(layers))
            require(not unknown, "layers", config.layers, f"names among the network's layers {list(layers)}")
            layers = {name: layers[name] for name in config.layers}
        members = {layer.members for layer in layers.values()}
        require(len(members) == 1, "layers", sorted(map(str, members)), "of one ensemble size")
        self.layers = dict(layers)
        self.config = config
        self.n_members = members.pop() or 1
        self.log_variances = nn.ParameterDict({
            name: nn.Parameter(torch.full(_theta_shape(layer, config.per_unit), config.initial_theta(),
                                          dtype=layer.weight.dtype, device=layer.weight.device))
            for name, layer in self.layers.items()} if config.learned else {})
        self._eps: dict[str, torch.Tensor] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.layers)

    def check_names(self, names: Sequence[str]) -> None:
        """Raise ``ValueError`` unless ``names`` are exactly this noise model's layer names."""
        require(sorted(names) == sorted(self.names), "noise layers", sorted(names),
                f"the network's noisy layers {sorted(self.names)}")

    def relative_std(self, name: str) -> torch.Tensor:
        """``s``: the std before the weight-std reference (learned, or the fixed scale)."""
        if self.config.learned:
            return self.config.bounded_std(self.log_variances[name])
        layer = self.layers[name]
        return torch.full(_theta_shape(layer, False), float(self.config.scale), dtype=layer.weight.dtype,
                          device=layer.weight.device)

    def std(self, name: str) -> torch.Tensor:
        """``sigma`` of layer ``name`` in weight units, broadcastable to its connection weight (differentiable in
        theta)."""
        s = self.relative_std(name)
        return s * self.effective_std(name) if self.config.reference == "relative" else s

    def effective_std(self, name: str) -> torch.Tensor:
        """The std of layer ``name``'s effective weight without this noise (per member when there are members),
        broadcastable to its connection weight; no gradient. The reference of relative noise."""
        layer = self.layers[name]
        w = layer.effective_weight(skip=(_Perturbation,)).detach()
        if layer.members is None:
            return w.std().reshape([1] * w.dim())
        return w.flatten(1).std(dim=1).reshape(-1, *[1] * (w.dim() - 1))

    def resample(self, generators: Sequence[torch.Generator]) -> None:
        """Draw fresh ``eps`` (shaped like the connection weight) for every layer; member k's from
        ``generators[k]`` (layers in order)."""
        require(len(generators) == self.n_members, "generators", len(generators),
                f"one per member ({self.n_members})")
        for name, layer in self.layers.items():
            with torch.no_grad():
                w = layer.connection_weight(skip=(_Perturbation,))
            if layer.members is None:
                self._eps[name] = torch.randn(w.shape, generator=generators[0], device=w.device, dtype=w.dtype)
            else:
                self._eps[name] = torch.stack([torch.randn(w.shape[1:], generator=g, device=w.device, dtype=w.dtype)
                                               for g in generators])

    def perturbation(self, name: str) -> torch.Tensor:
        """``sigma * eps`` of layer ``name`` for the current draw."""
        require(name in self._eps, "noise draw", name, "drawn by resample() before the forward pass")
        return self.std(name) * self._eps[name]

    @contextlib.contextmanager
    def attached(self) -> Iterator[WeightNoise]:
        """Within the context, the layers compute with noisy weights (see the module docstring); on exit,
        even by an exception, this noise's parametrisations are taken out and nothing else: every layer's own
        parameter is back in place, with the other parametrisations it had (or gained meanwhile)."""
        inserted = []
        try:
            for name, layer in self.layers.items():
                perturbation = _Perturbation(self, name).train(layer.module.training)
                _insert(layer, perturbation)
                inserted.append((layer, perturbation))
            yield self
        finally:
            for layer, perturbation in inserted:
                _remove(layer, perturbation)

    def mean_stds(self) -> dict[str, list[float]]:
        """Per layer, per member: the mean ``s`` (relative or absolute, as configured), for history tables."""
        with torch.no_grad():
            return {name: self.relative_std(name).flatten(1).mean(dim=1).tolist() if self.layers[name].members
                    else [float(self.relative_std(name).mean())] for name in self.names}


def _theta_shape(layer: WeightLayer, per_unit: bool) -> tuple[int, ...]:
    """Shape of a per-layer (``per_unit``: per postsynaptic unit) std, broadcast against the connection weight,
    one per member when there are members."""
    with torch.no_grad():
        connection = layer.connection_weight(skip=(_Perturbation,))
    shape = [1] * connection.dim()
    if layer.members is not None:
        shape[0] = layer.members
    if per_unit:
        shape[layer.unit_axis] = connection.shape[layer.unit_axis]
    return tuple(shape)


def _insert(layer: WeightLayer, perturbation: _Perturbation) -> None:
    """Put ``perturbation`` into the layer's parametrisation chain just before Dale's signs (at its end when
    there are none), registering a chain when the tensor has none."""
    if not parametrize.is_parametrized(layer.module, layer.tensor_name):
        # unsafe: skip the trial evaluation at registration (no eps is drawn yet)
        parametrize.register_parametrization(layer.module, layer.tensor_name, perturbation, unsafe=True)
    else:
        getattr(layer.module.parametrizations, layer.tensor_name).insert(layer.dale_position(), perturbation)


def _remove(layer: WeightLayer, perturbation: _Perturbation) -> None:
    """Take ``perturbation`` out of the layer's chain, leaving the other parametrisations and the stored
    parameter as they are (the tensor is unparametrised again when it was the only one)."""
    chain = layer.parametrisations()
    position = next(i for i, p in enumerate(chain) if p is perturbation)
    if len(chain) == 1:
        parametrize.remove_parametrizations(layer.module, layer.tensor_name, leave_parametrized=False)
    else:
        del getattr(layer.module.parametrizations, layer.tensor_name)[position]


def fixed_noise(layers: Mapping[str, WeightLayer], scale: float, reference: str) -> WeightNoise:
    """Fixed noise of ``scale`` that is on at evaluation too (for robustness curves)."""
    return WeightNoise(layers, NoiseConfig(scale=scale, reference=reference, at_eval=True))
