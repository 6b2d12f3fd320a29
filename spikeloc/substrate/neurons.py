"""Leaky integrate-and-fire (LIF) dynamics.

Conventions for the whole package: tensors are batch-major, time on axis -2: ``(..., time steps, units)``,
e.g. ``(batch, T, units)`` or ``(members, batch, T, units)`` for an ensemble. Membranes are in units of
the firing threshold's scale (dimensionless); time constants in seconds.

The hidden LIF neuron is snnTorch's ``snn.Leaky`` with reset to zero (its default one-step reset delay):

    r_t   = H(u_{t-1} - threshold)                (reset signal, no gradient)
    u_t   = beta * (1 - r_t) * u_{t-1} + I_t,      beta = exp(-dt_s / tau_s),  u_{-1} = 0
    s_t   = H(u_t - threshold)                    (spike; H(x) = 1 if x > 0)

with the sigmoid surrogate ds/du = k exp(-k x) / (1 + exp(-k x))^2, x = u - threshold, slope k
(5 in the seed). The readout is non-spiking: v_t = beta * v_{t-1} + I_t, v_{-1} = 0.

Two backends compute the same thing: ``"snntorch"`` steps ``snn.Leaky`` in a Python loop (the reference;
its spike function is :func:`sigmoid_surrogate`, snnTorch's sigmoid surrogate without its overflow),
``"fused"`` runs the whole time loop forward and backward in compiled code (:mod:`spikeloc.substrate.fused`).
State is explicit: every forward call starts from u = 0 (no reliance on ``snntorch.utils.reset``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import snntorch as snn
import torch
from torch import nn

from spikeloc.substrate import fused
from spikeloc.validation import require, require_choice

BACKENDS = ("fused", "snntorch")


@dataclass(frozen=True)
class LIFParameters:
    """LIF constants: membrane time constant and step (seconds), threshold, surrogate slope."""

    tau_s: float = 5e-3
    dt_s: float = 1e-3
    threshold: float = 1.0
    surrogate_slope: float = 5.0

    def __post_init__(self) -> None:
        require(self.tau_s > 0, "tau_s", self.tau_s, "> 0 s")
        require(self.dt_s > 0, "dt_s", self.dt_s, "> 0 s")
        require(self.threshold > 0, "threshold", self.threshold, "> 0")
        require(self.surrogate_slope > 0, "surrogate_slope", self.surrogate_slope, "> 0")

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
    (:func:`spikeloc.substrate.fused.surrogate_grad`, shared with the fused kernels), equal wherever snnTorch's is finite.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_spike: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return fused.surrogate_grad(grad_spike, x, 0.0, ctx.slope, 1.0), None


def sigmoid_surrogate(slope: float):
    """Spike function for ``snn.Leaky(spike_grad=...)``: snnTorch's sigmoid surrogate without its overflow."""
    return lambda x: _SigmoidSurrogateSpike.apply(x, slope)


def lif_step(current: torch.Tensor, membrane: torch.Tensor,
             params: LIFParameters) -> tuple[torch.Tensor, torch.Tensor]:
    """One LIF step, state in, state out: ``(spike_t, u_t)`` from ``I_t`` and ``u_{t-1}``.

    Exactly ``snn.Leaky(reset_mechanism="zero")``'s arithmetic, with the sigmoid surrogate gradient
    (:func:`sigmoid_surrogate`: snnTorch's, without its overflow to NaN far below threshold).
    """
    reset = (membrane > params.threshold).to(membrane.dtype)
    membrane = params.beta * ((1 - reset) * membrane) + current
    spike = sigmoid_surrogate(params.surrogate_slope)(membrane - params.threshold)
    return spike, membrane


def step_snntorch_neuron(neuron: snn.Leaky, currents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Step an snnTorch neuron over axis -2 from a zero membrane; returns (spikes, membranes)."""
    membrane = torch.zeros_like(currents[..., 0, :])
    spikes, membranes = [], []
    for t in range(currents.shape[-2]):
        spike, membrane = neuron(currents[..., t, :], membrane)
        spikes.append(spike)
        membranes.append(membrane)
    return torch.stack(spikes, dim=-2), torch.stack(membranes, dim=-2)


class LIFLayer(nn.Module):
    """A layer of LIF neurons driven by input currents ``(..., T, units)``; returns spikes of that shape."""

    def __init__(self, params: LIFParameters, backend: str = "fused"):
        super().__init__()
        require_choice(backend, "backend", BACKENDS)
        self.params = params
        self.backend = backend
        if backend == "snntorch":
            self.neuron = snn.Leaky(beta=params.beta, threshold=params.threshold, reset_mechanism="zero",
                                    spike_grad=sigmoid_surrogate(params.surrogate_slope))

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
        if self.backend == "fused":
            return fused.lif_spikes(currents, self.params.beta, self.params.threshold,
                                    self.params.surrogate_slope)
        spikes, _ = step_snntorch_neuron(self.neuron, currents)
        return spikes


class LeakyReadout(nn.Module):
    """Non-spiking leaky integrator ``v_t = beta v_{t-1} + I_t`` over axis -2; returns the membrane.

    ``"fused"`` computes it in parallel over time (a causal exponential filter); ``"snntorch"`` steps
    ``snn.Leaky(reset_mechanism="none")`` and keeps its membrane.
    """

    def __init__(self, params: LIFParameters, backend: str = "fused"):
        super().__init__()
        require_choice(backend, "backend", BACKENDS)
        self.params = params
        self.backend = backend
        if backend == "snntorch":
            self.neuron = snn.Leaky(beta=params.beta, reset_mechanism="none")

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
        if self.backend == "fused":
            return fused.leaky_integrate(currents, self.params.beta)
        _, membranes = step_snntorch_neuron(self.neuron, currents)
        return membranes
