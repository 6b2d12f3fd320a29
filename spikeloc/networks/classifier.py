"""A spiking classifier of any depth: input -> [synapses -> LIF layer -> dropout] x L -> synapses -> readout.

One module holds an ensemble of K independent networks (K = 1 for a single network) that share their shapes
and neuron constants (:class:`ClassifierConfig`) and differ in what :class:`Member` lists: seed, dropout per
hidden layer, which synapse layers obey Dale's law and with what inhibitory fraction. Members never interact:
each has its own weights, signs, dropout masks and random streams, so a member computes the same function
inside an ensemble as alone.

Synapse layers are named by where they start: ``"input"`` (inputs -> first hidden layer), ``"hidden_1"``,
``"hidden_2"``, ... (hidden layer i -> i + 1) and ``"readout"`` (last hidden layer -> output). Two readouts:

* ``"membrane"`` (the IPD seed's): a non-spiking leaky integrator ``v_t = beta v_{t-1} + I_t``; its class
  scores are the time-summed membrane.
* ``"spikes"``: a layer of LIF neurons (the hidden layers' dynamics); its class scores are the spike counts
  over the T steps (rate decoding, as ``snntorch.functional.accuracy_rate``). With ``population`` n > 1 each
  class has n LIF output neurons (a population code); the output at each step is the fraction of the class's
  n neurons that spiked, so a class's score is its summed count / n (same ranking as the summed count, and the
  same target counts per neuron as n = 1).

Either way the network's output is ``(K, batch, T, classes)`` (or ``(batch, T, classes)`` for a single
member's input without the member axis), :func:`class_scores` sums it over time, and :func:`predict` takes
the argmax. Ties of the top score (frequent with one spiking neuron per class: counts are integers <= T) are
broken by ``tie_break``: ``"first"`` takes the first tied class (as ``torch.argmax`` and snnTorch; the seed),
``"first_spike"`` the tied class that spiked first (then the first of those), ``"membrane"`` the tied class
with the highest final membrane (then the first of those). The final membrane needs more than the output:
:meth:`SpikingClassifier.trace` returns it beside the output (:class:`ReadoutTrace`), and
:meth:`SpikingClassifier.predict` takes either.

The final membrane of a spiking output neuron is its membrane after the last step T, *after* the reset of a
spike at T: ``u_T (1 - s_T)`` (reset zero; ``u_T - s_T threshold`` for subtract, ``u_T`` for none;
:mod:`spikeloc.substrate.neurons`: a spike at T resets at T + 1), in units
of the threshold; a class's is the mean over its ``population`` neurons; a membrane readout's is ``v_T``. It is
the charge accumulated towards the next spike, the part of the drive below one spike that the count drops: an
integrate-and-fire neuron without leak, reset to zero and driven by currents ``I_t`` that never overshoot the
threshold by much, has ``threshold * count + u_T (1 - s_T) ~= sum_t I_t``, so among equal counts the higher
final membrane marks the larger total drive (with leak, the drive of the last few ``tau_s``). The peak
membrane over the window was not chosen: a spiking neuron's peak is the threshold plus one step's overshoot,
which says how one step's input exceeded the threshold, not how much input the class received.

Options beyond the seed (off by default): per-neuron membrane time constants in every LIF layer and the
readout, drawn per member from ``tau_distribution`` (see :func:`spikeloc.substrate.neurons.draw_time_constants`)
and optionally learned (``learn_tau``); and per-input-fibre delays, fixed at random or learned
(``input_delays``, at most ``max_delay_steps`` steps, :mod:`spikeloc.substrate.delays`).

Input is ``(K, batch, T, inputs)`` floats (spikes or currents, see :mod:`spikeloc.substrate.encoders`) or bool
spikes, or ``(batch, T, inputs)`` for K = 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from spikeloc import seeding
from spikeloc.substrate.delays import DELAY_MODES, FibreDelays
from spikeloc.substrate.neurons import (
    BACKENDS,
    AdaptiveLayer,
    NEURONS,
    LeakyReadout,
    LIFLayer,
    LIFParameters,
    RecurrentLayer,
    SynapticLayer,
    TimeConstants,
    check_tau_distribution,
    draw_time_constants,
)
from spikeloc.substrate.synapses import ZERO_GRADIENTS, Synapses, dale_signs, uniform_fan_in
from spikeloc.validation import added_field, require, require_choice, require_integer, require_number

READOUTS = ("membrane", "spikes")
TIE_BREAKS = ("first", "first_spike", "membrane")
#: Shorthands for ``Member.dale_layers``; a tuple of synapse-layer names is accepted too.
DALE_SHORTHANDS = {"none": (), "input": ("input",), "readout": ("readout",), "both": ("input", "readout")}


def neuron_kinds(neuron: object, n_hidden_layers: int) -> str | tuple[str, ...]:
    """``neuron`` (one kind of :data:`~spikeloc.substrate.neurons.NEURONS` for every hidden layer, or a tuple or
    list with one per layer) checked and in its one spelling: a kind, or a tuple of kinds that are not all the
    same (``("leaky", "leaky")`` is ``"leaky"``). :class:`~spikeloc.validation.InvalidValue` naming ``neuron``
    otherwise."""
    if isinstance(neuron, (list, tuple)):
        neuron = tuple(neuron)
        require(len(neuron) == n_hidden_layers, "neuron", neuron,
                f"one kind, or one per hidden layer ({n_hidden_layers})")
        for kind in neuron:
            require_choice(kind, "neuron", NEURONS)
        return neuron[0] if len(set(neuron)) == 1 else neuron
    require_choice(neuron, "neuron", NEURONS)
    return neuron


def synapse_names(n_hidden_layers: int) -> tuple[str, ...]:
    """Names of the synapse layers of a network with ``n_hidden_layers`` hidden layers, input first (with no
    hidden layer, the inputs connect straight to the readout through the one layer ``"readout"``)."""
    if n_hidden_layers == 0:
        return ("readout",)
    return ("input", *(f"hidden_{i}" for i in range(1, n_hidden_layers)), "readout")


@dataclass(frozen=True)
class ClassifierConfig:
    """Shapes and constants shared by every member of an ensemble (units in the names).

    ``hidden`` lists the hidden layer sizes, e.g. ``(100,)``, ``(256, 128)`` or ``()`` (inputs straight to the
    readout). One membrane time constant ``tau_s`` serves every LIF layer and the readout, as in the IPD seed,
    unless ``tau_distribution`` is not
    ``"fixed"`` or ``learn_tau`` is set: then every neuron of the LIF layers and the readout has its own tau,
    drawn with mean ``tau_s`` and spread ``tau_spread`` (gamma: coefficient of variation; uniform: relative
    half-width), fixed or learned (fused backend only). ``input_delays`` (``"none"``, ``"fixed"``,
    ``"learned"``) delays each input fibre by 0 to ``max_delay_steps`` steps of ``dt_s``. ``reset`` is the
    spiking neurons' reset mechanism (hidden layers and a spiking readout): ``"zero"`` (the seed's),
    ``"subtract"`` (snnTorch's default) or ``"none"``. ``neuron`` is the hidden layers' kind, one of
    :data:`~spikeloc.substrate.neurons.NEURONS` for every hidden layer, or a tuple with one per hidden layer (e.g.
    ``("synaptic", "leaky")``; a tuple of one kind is stored as that kind, so it names the same network and run):
    ``"leaky"`` (snnTorch's ``Leaky``, the seed's), ``"synaptic"`` (snnTorch's ``Synaptic``: a synaptic current
    with time constant ``tau_syn_s`` drives the membrane; per neuron and learned like the membrane's tau when
    ``tau_distribution`` / ``learn_tau`` say so), ``"recurrent"`` (snnTorch's ``RLeaky`` with all-to-all
    recurrent weights within the layer, fused backend only; see :func:`_recurrent_synapses`) or ``"adaptive"``
    (fused backend only: the adaptive-threshold LIF neuron, Bellec et al. 2018's ALIF,
    :class:`spikeloc.substrate.neurons.AdaptiveLayer`: each spike raises the threshold by ``adaptation``
    (threshold units), which decays with time constant ``tau_adapt_s``; per neuron and learned like the
    membrane's tau when ``tau_distribution`` / ``learn_tau`` say so). The readout keeps its own kind
    (``readout``).
    """

    n_inputs: int = 200
    hidden: tuple[int, ...] = (30,)
    n_classes: int = 12
    readout: str = "membrane"
    tau_s: float = 5e-3
    dt_s: float = 1e-3
    threshold: float = 1.0
    surrogate_slope: float = 5.0
    backend: str = "fused"
    zero_gradient: str = "cull"
    tau_distribution: str = "fixed"
    tau_spread: float = 0.0
    learn_tau: bool = False
    input_delays: str = "none"
    max_delay_steps: int = 10
    population: int = 1
    tie_break: str = "first"
    reset: str = added_field("zero")
    neuron: str | tuple[str, ...] = added_field("leaky")
    tau_syn_s: float = added_field(5e-3)
    tau_adapt_s: float = added_field(200e-3)
    adaptation: float = added_field(0.1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        for size in self.hidden:
            require_integer(size, "hidden", minimum=1, note="(each layer size)")
        for name in ("n_inputs", "n_classes"):
            require_integer(getattr(self, name), name, minimum=1)
        require_choice(self.readout, "readout", READOUTS)
        require_choice(self.backend, "backend", BACKENDS)
        require_choice(self.zero_gradient, "zero_gradient", ZERO_GRADIENTS)
        _ = self.lif  # building LIFParameters validates tau_s, dt_s, threshold, surrogate_slope and reset
        check_tau_distribution(self.tau_distribution, self.tau_spread)
        require(not self.per_neuron_tau or self.backend == "fused", "backend", self.backend,
                "'fused' for per-neuron time constants (tau_distribution / learn_tau)")
        require_choice(self.input_delays, "input_delays", DELAY_MODES)
        require(isinstance(self.max_delay_steps, int) and self.max_delay_steps >= 1, "max_delay_steps",
                self.max_delay_steps, "an integer >= 1 (time steps)")
        require(isinstance(self.population, int) and self.population >= 1, "population", self.population,
                "an integer >= 1 (output neurons per class)")
        require(self.population == 1 or self.readout == "spikes", "population", self.population,
                "1 with the membrane readout (a population needs the spiking readout)")
        require_choice(self.tie_break, "tie_break", TIE_BREAKS)
        object.__setattr__(self, "neuron", neuron_kinds(self.neuron, len(self.hidden)))
        require(self.tau_syn_s > 0, "tau_syn_s", self.tau_syn_s, "> 0 s")
        require(not ("synaptic" in self.neurons and self.backend == "snntorch" and self.reset == "zero"), "reset",
                self.reset, "'subtract' or 'none' for synaptic neurons on the snntorch backend (snn.Synaptic's "
                "'zero' reset differs from Leaky's; the fused backend resets as Leaky)")
        require(not ("recurrent" in self.neurons and self.backend == "snntorch"), "backend", self.backend,
                "'fused' for recurrent neurons (snn.RLeaky holds one recurrent weight, not one per ensemble member)")
        require_number(self.tau_adapt_s, "tau_adapt_s", above=0, note="s")
        require_number(self.adaptation, "adaptation", 0, note="(threshold units per spike)")
        require(not ("adaptive" in self.neurons and self.backend == "snntorch"), "backend", self.backend,
                "'fused' for adaptive neurons (snnTorch has no adaptive-threshold neuron to step)")

    @property
    def per_neuron_tau(self) -> bool:
        """Whether neurons have their own (drawn or learned) time constants."""
        return self.tau_distribution != "fixed" or self.learn_tau

    @property
    def neurons(self) -> tuple[str, ...]:
        """The kind of each hidden layer, first to last."""
        return (self.neuron,) * len(self.hidden) if isinstance(self.neuron, str) else self.neuron

    @property
    def lif(self) -> LIFParameters:
        """Neuron constants of the hidden layers and the readout."""
        return LIFParameters(self.tau_s, self.dt_s, self.threshold, self.surrogate_slope, self.reset)

    @property
    def synapse_names(self) -> tuple[str, ...]:
        return synapse_names(len(self.hidden))

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Units from input to output neurons: (n_inputs, *hidden, n_classes * population)."""
        return (self.n_inputs, *self.hidden, self.n_classes * self.population)


class ReadoutTrace(NamedTuple):
    """A forward pass's ``output`` (as :meth:`SpikingClassifier.forward`) and each class's final membrane
    ``(K, batch, classes)`` (see the module docstring), or None when the tie-break does not read it."""

    output: torch.Tensor
    final_membrane: torch.Tensor | None = None


@dataclass(frozen=True)
class Member:
    """What one ensemble member chooses: its seed, hidden-spike dropout and Dale's-law constraint.

    ``dropout`` is one probability for every hidden layer or a tuple with one per hidden layer (dropped
    spikes of hidden layer i feed synapse layer i + 1). ``dale_layers`` names the synapse layers whose
    presynaptic units get fixed signs: ``"none"``, ``"input"``, ``"readout"``, ``"both"`` (input and readout)
    or a tuple of synapse-layer names (:func:`synapse_names`); ``ie_ratio`` is the inhibitory fraction of
    those units (0 = all excitatory, 1 = all inhibitory).
    """

    seed: int = 0
    dropout: float | tuple[float, ...] = 0.0
    dale_layers: str | tuple[str, ...] = "none"
    ie_ratio: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.dropout, (list, tuple)):
            object.__setattr__(self, "dropout", tuple(self.dropout))
        if isinstance(self.dale_layers, list):
            object.__setattr__(self, "dale_layers", tuple(self.dale_layers))
        require_integer(self.seed, "seed", minimum=0)
        for rate in self.dropout if isinstance(self.dropout, tuple) else (self.dropout,):
            require_number(rate, "dropout", 0, below=1, note="(one value, or one per layer)")
        if isinstance(self.dale_layers, str):
            require_choice(self.dale_layers, "dale_layers", DALE_SHORTHANDS)
        require_number(self.ie_ratio, "ie_ratio", 0, 1)

    def constrained_layers(self) -> tuple[str, ...]:
        """Names of the synapse layers under Dale's law."""
        if isinstance(self.dale_layers, str):
            return DALE_SHORTHANDS[self.dale_layers]
        return self.dale_layers

    def dropout_rates(self, n_hidden_layers: int) -> tuple[float, ...]:
        """Dropout probability of each hidden layer's spikes."""
        if isinstance(self.dropout, tuple):
            return self.dropout
        return (self.dropout,) * n_hidden_layers

    def check_against(self, config: ClassifierConfig) -> None:
        """Raise ``ValueError`` if this member does not fit networks of ``config``."""
        if isinstance(self.dropout, tuple):
            require(len(self.dropout) == len(config.hidden), "dropout", self.dropout,
                    f"one value, or one per hidden layer ({len(config.hidden)})")
        unknown = set(self.constrained_layers()) - set(config.synapse_names)
        require(not unknown, "dale_layers", self.dale_layers,
                f"a shorthand of {sorted(DALE_SHORTHANDS)} or names among {config.synapse_names}")


def _member_synapses(config: ClassifierConfig, members: Sequence[Member], layer: str, n_in: int,
                     n_out: int) -> Synapses:
    weights, signs = [], []
    for member in members:
        g = seeding.generator(member.seed, f"init/{layer}")
        weights.append(uniform_fan_in(n_in, n_out, g))
        constrained = layer in member.constrained_layers()
        signs.append(dale_signs(n_in, member.ie_ratio, g) if constrained else torch.zeros(n_in))
    return Synapses(torch.stack(weights), torch.stack(signs), config.zero_gradient)


class SpikingClassifier(nn.Module):
    """K independent spiking classifiers evaluated as one batched model."""

    def __init__(self, config: ClassifierConfig, members: Sequence[Member]):
        super().__init__()
        require(len(members) >= 1, "members", len(members), "at least one member")
        for member in members:
            member.check_against(config)
        self.config = config
        self.members = tuple(members)
        sizes = config.layer_sizes
        self.synapses = nn.ModuleList(_member_synapses(config, members, name, n_in, n_out)
                                      for name, n_in, n_out in zip(config.synapse_names, sizes, sizes[1:]))
        self.hidden_layers = nn.ModuleList(_hidden_layer(config, members, f"layer_{i}", units, kind,
                                                         self.synapses[i].signs)
                                           for i, (units, kind) in enumerate(zip(config.hidden, config.neurons),
                                                                             start=1))
        readout_taus = _time_constants(config, members, "readout", config.n_classes * config.population)
        self.readout = (LeakyReadout(config.lif, config.backend, readout_taus) if config.readout == "membrane"
                        else LIFLayer(config.lif, config.backend, readout_taus))
        self.input_delays = None if config.input_delays == "none" else FibreDelays.draw(
            config.input_delays, config.n_inputs, config.max_delay_steps,
            [seeding.generator(m.seed, "delays/input") for m in members])
        rates = [m.dropout_rates(len(config.hidden)) for m in members]
        self.register_buffer("dropout", torch.tensor(rates, dtype=torch.float32).T.contiguous())  # (layers, K)

    @property
    def n_members(self) -> int:
        return len(self.members)

    def forward(self, inputs: torch.Tensor,
                dropout_generators: Sequence[torch.Generator] | None = None) -> torch.Tensor:
        """Readout over time: membrane or spikes ``(K, batch, T, classes)``. In training mode, hidden spikes
        are dropped out per member with ``dropout_generators[k]`` (inverted dropout, kept spikes scaled by
        1 / (1 - p), as ``nn.Dropout``); layer after layer, from the same generator."""
        return self._run(inputs, dropout_generators, final_membrane=False).output

    def trace(self, inputs: torch.Tensor,
              dropout_generators: Sequence[torch.Generator] | None = None) -> ReadoutTrace:
        """:meth:`forward`'s output and, when the tie-break is ``"membrane"``, each class's final membrane:
        what :meth:`predict` needs."""
        return self._run(inputs, dropout_generators, final_membrane=self.config.tie_break == "membrane")

    def _run(self, inputs: torch.Tensor, dropout_generators: Sequence[torch.Generator] | None,
             final_membrane: bool) -> ReadoutTrace:
        single = inputs.dim() == 3
        x = inputs[None] if single else inputs
        expected = f"(members={self.n_members}, batch, T, inputs={self.config.n_inputs})"
        require(x.dim() == 4 and x.shape[0] == self.n_members and x.shape[-1] == self.config.n_inputs,
                "inputs", tuple(inputs.shape), f"shaped {expected} or (batch, T, inputs) for one member")
        x = x.to(self.dropout.dtype)
        if self.input_delays is not None:
            x = self.input_delays(x)
        for synapses, layer, rates in zip(self.synapses, self.hidden_layers, self.dropout):
            x = layer(synapses(x))
            if self.training:
                x = _drop(x, rates, dropout_generators)
        currents = self.synapses[-1](x)
        membrane = None
        if not final_membrane:
            output = self.readout(currents)
        elif self.config.readout == "membrane":
            output = self.readout(currents)
            membrane = output[..., -1, :]
        else:
            output, membranes = self.readout(currents, return_membrane=True)
            membrane = pool_population(_after_reset(membranes[..., -1, :], output[..., -1, :], self.config),
                                       self.config.population)
        output = pool_population(output, self.config.population)
        if single:
            return ReadoutTrace(output[0], None if membrane is None else membrane[0])
        return ReadoutTrace(output, membrane)

    def predict(self, output: torch.Tensor | ReadoutTrace) -> torch.Tensor:
        """Class decisions from this network's ``output`` (or :meth:`trace`, which the ``"membrane"`` tie-break
        needs) with its ``tie_break`` and ``population`` (:func:`predict`)."""
        output, membrane = output if isinstance(output, ReadoutTrace) else (output, None)
        return predict(output, self.config.tie_break, self.config.population, membrane)

    def synapse_layer(self, name: str) -> Synapses:
        """The synapse layer called ``name`` (see :func:`synapse_names`)."""
        require_choice(name, "name", self.config.synapse_names)
        return self.synapses[self.config.synapse_names.index(name)]

    def restrict(self, indices: Sequence[int]) -> SpikingClassifier:
        """A new network of the members at ``indices`` (copies of their weights and signs)."""
        return self._copy(self.config, indices)

    def with_tie_break(self, tie_break: str) -> SpikingClassifier:
        """A copy of this network (every member, same weights) that decides ties with ``tie_break``: the
        tie-break changes decisions only, not the output or the loss, so one trained network serves every
        tie-break."""
        return self._copy(dataclasses.replace(self.config, tie_break=tie_break), range(self.n_members))

    def _copy(self, config: ClassifierConfig, indices: Sequence[int]) -> SpikingClassifier:
        chosen = [self.members[i] for i in indices]
        network = SpikingClassifier(config, chosen).to(self.dropout.device)
        index = torch.as_tensor(list(indices), dtype=torch.long)
        with torch.no_grad():
            for mine, theirs in zip(network.synapses, self.synapses):
                mine.raw_weight.copy_(theirs.raw_weight[index])
                mine.signs.copy_(theirs.signs[index])
            for mine, theirs in zip([*network.hidden_layers, network.readout], [*self.hidden_layers, self.readout]):
                for name in ("time_constants", "synaptic_time_constants", "adaptation_time_constants"):
                    if getattr(theirs, name, None) is not None:
                        getattr(mine, name).log_tau.copy_(getattr(theirs, name).log_tau[index])
                if isinstance(theirs, RecurrentLayer):
                    mine.recurrent.raw_weight.copy_(theirs.recurrent.raw_weight[index])
                    mine.recurrent.signs.copy_(theirs.recurrent.signs[index])
            if self.input_delays is not None:
                network.input_delays.delays_steps.copy_(self.input_delays.delays_steps[index])
        return network


def _hidden_layer(config: ClassifierConfig, members: Sequence[Member], layer: str, units: int,
                  kind: str, outgoing_signs: torch.Tensor) -> nn.Module:
    """Hidden layer ``layer`` of neurons of ``kind`` (one of ``config.neurons``), its per-neuron time constants
    drawn per member; ``outgoing_signs`` (members, units) are its units' Dale signs on the synapses they feed (a
    recurrent layer's own signs)."""
    taus = _time_constants(config, members, layer, units)
    if kind == "recurrent":
        return RecurrentLayer(config.lif, _recurrent_synapses(config, members, layer, outgoing_signs),
                              config.backend, taus)
    if kind == "synaptic":
        synaptic_taus = _time_constants(config, members, layer, units, "tau_syn", config.tau_syn_s)
        return SynapticLayer(config.lif, config.tau_syn_s, config.backend, taus, synaptic_taus)
    if kind == "adaptive":
        adaptation_taus = _time_constants(config, members, layer, units, "tau_adapt", config.tau_adapt_s)
        return AdaptiveLayer(config.lif, config.tau_adapt_s, config.adaptation, config.backend, taus, adaptation_taus)
    return LIFLayer(config.lif, config.backend, taus)


def _recurrent_synapses(config: ClassifierConfig, members: Sequence[Member], layer: str,
                        signs: torch.Tensor) -> Synapses:
    """The recurrent weights V (members, units, units) of hidden layer ``layer``: drawn uniform in
    +-1/sqrt(units) (fan-in, as every synapse layer here and snn.RLeaky's own ``nn.Linear``) from each member's
    stream ``"init/<layer>/recurrent"``, with the units' own Dale signs ``signs`` as presynaptic units (those of
    the synapses they feed: +-1 where the member constrains those, else 0, unconstrained)."""
    units = signs.shape[1]
    weights = [uniform_fan_in(units, units, seeding.generator(m.seed, f"init/{layer}/recurrent")) for m in members]
    return Synapses(torch.stack(weights), signs, config.zero_gradient)


def _time_constants(config: ClassifierConfig, members: Sequence[Member], layer: str, units: int,
                    stream: str = "tau", mean_s: float | None = None) -> TimeConstants | None:
    """Per-neuron time constants (mean ``mean_s``, default ``config.tau_s``) of one layer, each member's from
    its stream ``"<stream>/<layer>"``; None when every neuron uses the one mean."""
    if not config.per_neuron_tau:
        return None
    mean_s = config.tau_s if mean_s is None else mean_s
    taus = [draw_time_constants(config.tau_distribution, mean_s, config.tau_spread, (units,),
                                seeding.generator(m.seed, f"{stream}/{layer}")) for m in members]
    return TimeConstants(torch.stack(taus), config.dt_s, learn=config.learn_tau)


def _after_reset(membrane: torch.Tensor, spikes: torch.Tensor, config: ClassifierConfig) -> torch.Tensor:
    """The membrane after the reset that ``spikes`` cause: ``u (1 - s)`` (reset zero), ``u - s threshold``
    (subtract) or ``u`` (none)."""
    if config.reset == "zero":
        return membrane * (1 - spikes)
    return membrane - spikes * config.threshold if config.reset == "subtract" else membrane


def _drop(spikes: torch.Tensor, rates: torch.Tensor, generators: Sequence[torch.Generator] | None) -> torch.Tensor:
    """Inverted dropout of ``spikes`` (K, ...) with member k's rate ``rates[k]``, masks from ``generators[k]``."""
    if not bool((rates > 0).any()):
        return spikes
    members = spikes.shape[0]
    require(generators is not None and len(generators) == members, "dropout_generators",
            None if generators is None else len(generators), f"one generator per member ({members})")
    keep = torch.ones_like(spikes)
    for k, (p, g) in enumerate(zip(rates.tolist(), generators)):
        if p > 0:
            draw = torch.rand(spikes.shape[1:], generator=g, device=g.device)
            keep[k] = (draw >= p).to(keep.dtype) / (1 - p)
    return spikes * keep


def pool_population(spikes: torch.Tensor, population: int) -> torch.Tensor:
    """``(..., classes * population)`` output neurons (class c owns neurons c * population ... (c + 1) *
    population - 1) -> ``(..., classes)``: the fraction of each class's neurons active at each step."""
    if population == 1:
        return spikes
    return spikes.unflatten(-1, (-1, population)).mean(dim=-1)


def class_scores(output: torch.Tensor) -> torch.Tensor:
    """Per-class scores from a readout over time ``(..., T, classes)``: the time-summed membrane, or the spike
    counts of a spiking readout."""
    return output.sum(dim=-2)


def predict(output: torch.Tensor, tie_break: str = "first", population: int = 1,
            final_membrane: torch.Tensor | None = None) -> torch.Tensor:
    """Class decision from a readout over time ``(..., T, classes)``: argmax of :func:`class_scores`; among
    tied top scores, the first class (``tie_break = "first"``), the class whose output was first non-zero
    (``"first_spike"``; classes that never spiked come last, then the first class) or the class with the highest
    ``final_membrane`` ``(..., classes)`` (``"membrane"``, see the module docstring; equal membranes: the first
    class). For a population readout
    (``population`` > 1, output = fractions of each class's neurons, :func:`pool_population`) the scores are
    the summed counts ``round(population * score)``: the sums of fractions k / n differ in their last bits for
    equal counts, which would hide ties."""
    require_choice(tie_break, "tie_break", TIE_BREAKS)
    require((final_membrane is not None) == (tie_break == "membrane"), "final_membrane",
            None if final_membrane is None else tuple(final_membrane.shape),
            "given (..., classes) exactly when tie_break is 'membrane' (SpikingClassifier.trace gives it)")
    scores = class_scores(output)
    if population > 1:
        scores = (scores * population).round()
    if tie_break == "first":
        return scores.argmax(dim=-1)
    if tie_break == "membrane":
        require(final_membrane.shape == scores.shape, "final_membrane", tuple(final_membrane.shape),
                f"shaped like the class scores {tuple(scores.shape)}")
        secondary = final_membrane.to(scores.dtype)
    else:
        steps = output.shape[-2]
        active = output > 0
        first_step = torch.where(active.any(dim=-2), active.to(torch.uint8).argmax(dim=-2), steps)
        secondary = (steps - first_step).to(scores.dtype)  # (..., classes): earlier first spike = larger
    tied = scores == scores.max(dim=-1, keepdim=True).values
    return torch.where(tied, secondary, -torch.inf).argmax(dim=-1)

