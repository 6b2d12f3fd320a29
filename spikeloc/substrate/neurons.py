"""Leaky integrate-and-fire (LIF) dynamics.

Conventions for the whole package: tensors are batch-major, time on axis -2: ``(..., time steps, units)``,
e.g. ``(batch, T, units)`` or ``(members, batch, T, units)`` for an ensemble. Membranes are in units of
the firing threshold's scale (dimensionless); time constants in seconds.

The hidden LIF neuron is snnTorch's ``snn.Leaky`` (its default one-step reset delay), reset to zero unless
:attr:`LIFParameters.reset` says ``"subtract"`` (snnTorch's default) or ``"none"``:

    r_t   = H(u_{t-1} - threshold)                (reset signal, no gradient)
    u_t   = beta * (1 - r_t) * u_{t-1} + I_t,      beta = exp(-dt_s / tau_s),  u_{-1} = 0     (reset "zero")
    u_t   = beta * u_{t-1} + I_t - r_t * threshold                                      (reset "subtract")
    u_t   = beta * u_{t-1} + I_t                                                        (reset "none")
    s_t   = H(u_t - threshold)                    (spike; H(x) = 1 if x > 0)

with the sigmoid surrogate ds/du = k exp(-k x) / (1 + exp(-k x))^2, x = u - threshold, slope k
(5 in the seed). The readout is non-spiking: v_t = beta * v_{t-1} + I_t, v_{-1} = 0.

The current-based neuron (snnTorch's ``snn.Synaptic``, :class:`SynapticLayer`) filters its input into a synaptic
current first, i_t = alpha * i_{t-1} + I_t with alpha = exp(-dt_s / tau_syn_s) (never reset), and i_t drives the
membrane above in place of I_t.

The adaptive neuron (ALIF, Bellec et al. 2018; :class:`AdaptiveLayer`, fused backend only: snnTorch has none) has
the membrane above but a threshold that each spike raises and that decays back with tau_adapt_s:
a_t = rho * a_{t-1} + s_{t-1}, rho = exp(-dt_s / tau_adapt_s), theta_t = threshold + b * a_t (b = ``adaptation``,
in threshold units per spike), s_t = H(u_t - theta_t); the reset signal is s_{t-1} and "subtract" subtracts the
threshold crossed, theta_{t-1} (:func:`spikeloc.substrate.fused.adaptive_spikes`).

Two backends compute the same thing: ``"snntorch"`` steps ``snn.Leaky`` in a Python loop (the reference;
its spike function is :func:`sigmoid_surrogate`, snnTorch's sigmoid surrogate without its overflow),
``"fused"`` runs the whole time loop forward and backward in compiled code (:mod:`spikeloc.substrate.fused`).
State is explicit: every forward call starts from u = 0 (no reliance on ``snntorch.utils.reset``).

Heterogeneous time constants (optional, fused backend): :class:`TimeConstants` holds one tau per neuron of
each ensemble member, drawn by :func:`draw_time_constants` from a documented distribution, fixed or learned
(as log tau, so tau stays > 0; beta_n = exp(-dt_s / tau_n) per neuron).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import snntorch as snn
import torch
from torch import nn

from spikeloc.substrate import fused
from spikeloc.substrate.kernels import step
from spikeloc.substrate.kernels.step import RESETS
from spikeloc.substrate.synapses import Synapses
from spikeloc.validation import require, require_choice, require_number

BACKENDS = ("fused", "snntorch")
#: Kinds of hidden neurons: snnTorch's ``Leaky`` (:class:`LIFLayer`), ``Synaptic`` (:class:`SynapticLayer`) and
#: ``RLeaky`` (:class:`RecurrentLayer`), and the adaptive-threshold LIF neuron (:class:`AdaptiveLayer`; not in
#: snnTorch).
NEURONS = ("leaky", "synaptic", "recurrent", "adaptive")
#: Distributions of per-neuron time constants (see :func:`draw_time_constants`).
TAU_DISTRIBUTIONS = ("fixed", "gamma", "uniform")


def check_tau_distribution(distribution: str, spread: float) -> None:
    """Raise ``ValueError`` naming the field unless (distribution, spread) describe taus with positive support."""
    require_choice(distribution, "tau_distribution", TAU_DISTRIBUTIONS)
    if distribution == "gamma":
        require(0 < spread < math.inf, "tau_spread", spread, "> 0 and finite for 'gamma' (its coefficient of variation)")
    elif distribution == "uniform":
        require(0 <= spread < 1, "tau_spread", spread,
                "in [0, 1) for 'uniform' (the lower end tau_s * (1 - tau_spread) must be > 0)")


def draw_time_constants(distribution: str, mean_s: float, spread: float, shape: tuple[int, ...],
                        generator: torch.Generator) -> torch.Tensor:
    """Per-neuron membrane time constants (seconds), float32, ``shape``, all > 0.

    * ``"fixed"``: every tau = ``mean_s`` (``spread`` unused).
    * ``"gamma"``: gamma with mean ``mean_s`` and coefficient of variation ``spread`` (shape k = 1 / spread**2,
      scale mean_s / k; Perez-Nieves et al. 2021 use k = 3, i.e. spread ~0.58). Drawn by numpy from a seed
      taken from ``generator`` (torch has no seeded gamma sampler).
    * ``"uniform"``: uniform in ``mean_s * [1 - spread, 1 + spread]``, ``spread`` in [0, 1).
    """
    check_tau_distribution(distribution, spread)
    require(mean_s > 0, "tau_s", mean_s, "> 0 s")
    if distribution == "fixed":
        return torch.full(shape, mean_s)
    if distribution == "uniform":
        return mean_s * (1 + spread * (2 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1)).float()
    k = 1 / spread**2
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))
    taus = torch.from_numpy(rng.gamma(k, mean_s / k, size=shape)).float()
    return taus.clamp(min=torch.finfo(torch.float32).tiny)  # a draw that underflows stays > 0


class TimeConstants(nn.Module):
    """One membrane time constant per neuron of each member, ``(members, units)`` seconds; fixed (a buffer) or
    learned (the parameter is ``log_tau``, log seconds, so tau = exp(log_tau) > 0 whatever the optimiser does).

    ``beta()`` gives the per-step decays ``exp(-dt_s / tau)`` for :mod:`spikeloc.substrate.fused`.
    """

    def __init__(self, tau_s: torch.Tensor, dt_s: float, learn: bool = False):
        super().__init__()
        require(tau_s.dim() == 2, "tau_s", tuple(tau_s.shape), "shaped (members, units)")
        require(bool((tau_s > 0).all()), "tau_s", float(tau_s.min()), "> 0 s for every neuron")
        log_tau = tau_s.double().log().to(tau_s.dtype)
        if learn:
            self.log_tau = nn.Parameter(log_tau)
        else:
            self.register_buffer("log_tau", log_tau)
        self.dt_s = dt_s

    @property
    def tau_s(self) -> torch.Tensor:
        return self.log_tau.exp()

    def beta(self) -> torch.Tensor:
        return torch.exp(-self.dt_s / self.log_tau.exp())


@dataclass(frozen=True)
class LIFParameters:
    """LIF constants: membrane time constant and step (seconds), threshold, surrogate slope, reset mechanism
    (one of :data:`RESETS`: ``"zero"``, ``"subtract"``, ``"none"``; see the module docstring)."""

    tau_s: float = 5e-3
    dt_s: float = 1e-3
    threshold: float = 1.0
    surrogate_slope: float = 5.0
    reset: str = "zero"

    def __post_init__(self) -> None:
        require_number(self.tau_s, "tau_s", above=0, note="s")
        require_number(self.dt_s, "dt_s", above=0, note="s")
        require_number(self.threshold, "threshold", above=0)
        require_number(self.surrogate_slope, "surrogate_slope", above=0)
        require_choice(self.reset, "reset", RESETS)

    @property
    def beta(self) -> float:
        """Membrane decay per step, exp(-dt_s / tau_s)."""
        return math.exp(-self.dt_s / self.tau_s)


class _SigmoidSurrogateSpike(torch.autograd.Function):
    """Heaviside forward; sigmoid-derivative backward k e / (1 + e)^2 with e = exp(-k |x|).

    snnTorch's ``surrogate.sigmoid`` computes k exp(-k x) / (exp(-k x) + 1)^2, which is inf / inf = NaN
    once k x < -88 (float32): with slope 5, any membrane more than 17.6 below threshold. Strongly
    inhibited neurons reach that during training, and the NaN gradient silently destroys the weights
    (observed on every one of 5 full-size seeds). This is the same derivative evaluated without overflow
    (:func:`spikeloc.substrate.kernels.step.surrogate_grad`, shared with the fused kernels), equal wherever
    snnTorch's is finite.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_spike: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return step.surrogate_grad(grad_spike, x, 0.0, ctx.slope, 1.0), None


def sigmoid_surrogate(slope: float):
    """Spike function for ``snn.Leaky(spike_grad=...)``: snnTorch's sigmoid surrogate without its overflow."""
    return lambda x: _SigmoidSurrogateSpike.apply(x, slope)


def lif_step(current: torch.Tensor, membrane: torch.Tensor,
             params: LIFParameters) -> tuple[torch.Tensor, torch.Tensor]:
    """One LIF step, state in, state out: ``(spike_t, u_t)`` from ``I_t`` and ``u_{t-1}``.

    Exactly ``snn.Leaky(reset_mechanism=params.reset)``'s arithmetic, with the sigmoid surrogate gradient
    (:func:`sigmoid_surrogate`: snnTorch's, without its overflow to NaN far below threshold).
    """
    reset = (membrane > params.threshold).to(membrane.dtype)
    if params.reset == "zero":
        membrane = params.beta * ((1 - reset) * membrane) + current
    else:
        membrane = params.beta * membrane + current - (reset * params.threshold if params.reset == "subtract" else 0)
    spike = sigmoid_surrogate(params.surrogate_slope)(membrane - params.threshold)
    return spike, membrane


def step_snntorch_neuron(neuron: snn.Leaky | snn.Synaptic,
                         currents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Step an snnTorch neuron (``Leaky``, or ``Synaptic`` with its synaptic current) over axis -2 from a zero
    state; returns (spikes, membranes)."""
    states = (torch.zeros_like(currents[..., 0, :]),) * (2 if isinstance(neuron, snn.Synaptic) else 1)
    spikes, membranes = [], []
    for t in range(currents.shape[-2]):
        spike, *states = neuron(currents[..., t, :], *states)
        spikes.append(spike)
        membranes.append(states[-1])
    return torch.stack(spikes, dim=-2), torch.stack(membranes, dim=-2)


class _Neurons(nn.Module):
    """What a layer of neurons holds whatever its dynamics: constants, backend and optional per-neuron time
    constants (fused backend only)."""

    def __init__(self, params: LIFParameters, backend: str, time_constants: TimeConstants | None):
        super().__init__()
        require_choice(backend, "backend", BACKENDS)
        require(time_constants is None or backend == "fused", "backend", backend,
                "'fused' for per-neuron time constants")
        self.params = params
        self.backend = backend
        self.time_constants = time_constants

    def beta(self) -> float | torch.Tensor:
        """The layer's decay: the float of its parameters, or its per-neuron (members, units) tensor."""
        return self.params.beta if self.time_constants is None else self.time_constants.beta()


class LIFLayer(_Neurons):
    """A layer of LIF neurons driven by input currents ``(..., T, units)``; returns spikes of that shape, or
    ``(spikes, membranes)`` with ``return_membrane`` (the membrane ``u_t`` of the module docstring, before the
    reset that a spike at t causes at t + 1).

    With ``time_constants`` (fused backend only) neuron n of member k decays with its own beta[k, n]; the
    currents must then be ``(members, ..., T, units)``."""

    def __init__(self, params: LIFParameters, backend: str = "fused", time_constants: TimeConstants | None = None):
        super().__init__(params, backend, time_constants)
        if backend == "snntorch":
            self.neuron = snn.Leaky(beta=params.beta, threshold=params.threshold, reset_mechanism=params.reset,
                                    spike_grad=sigmoid_surrogate(params.surrogate_slope))

    def forward(self, currents: torch.Tensor,
                return_membrane: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.backend == "fused":
            return fused.lif_spikes(currents, self.beta(), self.params.threshold, self.params.surrogate_slope,
                                    return_membrane=return_membrane, reset=self.params.reset)
        spikes, membranes = step_snntorch_neuron(self.neuron, currents)
        return (spikes, membranes) if return_membrane else spikes


class SynapticLayer(_Neurons):
    """A layer of current-based LIF neurons (snnTorch's ``snn.Synaptic``): the input currents are filtered into a
    synaptic current ``i_t = alpha i_{t-1} + I_t`` (``alpha = exp(-dt_s / tau_syn_s)``, never reset), which
    drives the membrane of :class:`LIFLayer` (:func:`spikeloc.substrate.fused.synaptic_spikes`).

    ``synaptic_time_constants`` (fused backend only): one synaptic tau per neuron of each member, as
    ``time_constants`` for the membrane. The ``"snntorch"`` backend steps ``snn.Synaptic``; it needs reset
    ``"subtract"`` or ``"none"`` (``snn.Synaptic``'s ``"zero"`` also drops the reset step's current, unlike the
    fused neuron, which resets as ``Leaky``)."""

    def __init__(self, params: LIFParameters, tau_syn_s: float, backend: str = "fused",
                 time_constants: TimeConstants | None = None, synaptic_time_constants: TimeConstants | None = None):
        super().__init__(params, backend, time_constants)
        require(tau_syn_s > 0, "tau_syn_s", tau_syn_s, "> 0 s")
        require(synaptic_time_constants is None or backend == "fused", "backend", backend,
                "'fused' for per-neuron synaptic time constants")
        self.tau_syn_s = tau_syn_s
        self.synaptic_time_constants = synaptic_time_constants
        if backend == "snntorch":
            require(params.reset != "zero", "reset", params.reset,
                    "'subtract' or 'none' for synaptic neurons on the snntorch backend (snn.Synaptic's 'zero' "
                    "reset differs from Leaky's; the fused backend resets as Leaky)")
            self.neuron = snn.Synaptic(alpha=self.alpha(), beta=params.beta, threshold=params.threshold,
                                       reset_mechanism=params.reset,
                                       spike_grad=sigmoid_surrogate(params.surrogate_slope))

    def alpha(self) -> float | torch.Tensor:
        """The synaptic current's decay per step: a float, or the per-neuron (members, units) tensor."""
        if self.synaptic_time_constants is None:
            return math.exp(-self.params.dt_s / self.tau_syn_s)
        return self.synaptic_time_constants.beta()

    def forward(self, currents: torch.Tensor,
                return_membrane: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.backend == "fused":
            return fused.synaptic_spikes(currents, self.alpha(), self.beta(), self.params.threshold,
                                         self.params.surrogate_slope, return_membrane=return_membrane,
                                         reset=self.params.reset)
        spikes, membranes = step_snntorch_neuron(self.neuron, currents)
        return (spikes, membranes) if return_membrane else spikes


class RecurrentLayer(_Neurons):
    """A layer of recurrent LIF neurons (snnTorch's ``snn.RLeaky(all_to_all=True, linear_features=units)``): the
    membrane of :class:`LIFLayer` plus the layer's own spikes of the previous step through all-to-all weights V,
    ``R_t = V^T s_{t-1}`` (:func:`spikeloc.substrate.fused.recurrent_spikes`; its reset ``"zero"`` is ``Leaky``'s).

    ``recurrent`` holds V per ensemble member as a :class:`~spikeloc.substrate.synapses.Synapses` layer (members,
    units, units) from presynaptic to postsynaptic unit, so Dale's law applies per presynaptic unit exactly as on
    the feed-forward synapses (its ``signs``: the units' own E/I split, or 0 for unconstrained) and the trainer
    learns its ``raw_weight`` with the other parameters. Inputs are ``(members, ..., T, units)``. Fused backend only
    (``snn.RLeaky`` has one recurrent ``nn.Linear``, not one per member)."""

    def __init__(self, params: LIFParameters, recurrent: Synapses, backend: str = "fused",
                 time_constants: TimeConstants | None = None):
        super().__init__(params, backend, time_constants)
        require(backend == "fused", "backend", backend, "'fused' for recurrent neurons (snn.RLeaky holds one "
                "recurrent weight, not one per ensemble member)")
        shape = tuple(recurrent.raw_weight.shape)
        require(shape[1] == shape[2], "recurrent", shape, "square: (members, units, units)")
        self.recurrent = recurrent

    def forward(self, currents: torch.Tensor,
                return_membrane: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        return fused.recurrent_spikes(currents, self.recurrent.effective_weight(), self.beta(), self.params.threshold,
                                      self.params.surrogate_slope, return_membrane=return_membrane,
                                      reset=self.params.reset)


class AdaptiveLayer(_Neurons):
    """A layer of adaptive-threshold LIF neurons (ALIF, :func:`spikeloc.substrate.fused.adaptive_spikes`): the
    membrane of :class:`LIFLayer`, and a threshold ``theta_t = threshold + adaptation * a_t`` raised by each spike,
    ``a_t = rho a_{t-1} + s_{t-1}`` with ``rho = exp(-dt_s / tau_adapt_s)``.

    ``adaptation`` (b) is in units of the threshold per spike, >= 0 (0: the LIF neuron). ``adaptation_time_constants``:
    one tau_adapt per neuron of each member (drawn, or learned: rho then gets its gradient), as ``time_constants``
    for the membrane. Fused backend only (snnTorch has no adaptive-threshold neuron)."""

    def __init__(self, params: LIFParameters, tau_adapt_s: float, adaptation: float, backend: str = "fused",
                 time_constants: TimeConstants | None = None,
                 adaptation_time_constants: TimeConstants | None = None):
        super().__init__(params, backend, time_constants)
        require(backend == "fused", "backend", backend,
                "'fused' for adaptive neurons (snnTorch has no adaptive-threshold neuron to step)")
        require_number(tau_adapt_s, "tau_adapt_s", above=0, note="s")
        require_number(adaptation, "adaptation", 0, note="(threshold units per spike)")
        self.tau_adapt_s = tau_adapt_s
        self.adaptation = adaptation
        self.adaptation_time_constants = adaptation_time_constants

    def rho(self) -> float | torch.Tensor:
        """The adaptation's decay per step: a float, or the per-neuron (members, units) tensor."""
        if self.adaptation_time_constants is None:
            return math.exp(-self.params.dt_s / self.tau_adapt_s)
        return self.adaptation_time_constants.beta()

    def forward(self, currents: torch.Tensor,
                return_membrane: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        return fused.adaptive_spikes(currents, self.beta(), self.rho(), self.adaptation, self.params.threshold,
                                     self.params.surrogate_slope, return_membrane=return_membrane,
                                     reset=self.params.reset)


class LeakyReadout(_Neurons):
    """Non-spiking leaky integrator ``v_t = beta v_{t-1} + I_t`` over axis -2; returns the membrane.

    ``"fused"`` computes it in parallel over time (a causal exponential filter); ``"snntorch"`` steps
    ``snn.Leaky(reset_mechanism="none")`` and keeps its membrane. ``time_constants`` as :class:`LIFLayer`.
    """

    def __init__(self, params: LIFParameters, backend: str = "fused", time_constants: TimeConstants | None = None):
        super().__init__(params, backend, time_constants)
        if backend == "snntorch":
            self.neuron = snn.Leaky(beta=params.beta, reset_mechanism="none")

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
        if self.backend == "fused":
            return fused.leaky_integrate(currents, self.beta())
        _, membranes = step_snntorch_neuron(self.neuron, currents)
        return membranes
