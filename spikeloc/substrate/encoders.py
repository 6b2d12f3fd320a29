"""Spike encoders: static (non-spike) values to spike trains or input currents over T time steps.

Every encoder maps values of shape ``(..., F)`` (e.g. ``(batch, pixels)``) to a float32 tensor of shape
``(..., T, F)``: time on axis -2, as everywhere in spikeloc. Encoders are pure functions of their arguments;
the only random one (:func:`rate`) draws from an explicit ``torch.Generator``, never from the global RNG.

- :func:`rate`: Bernoulli (Poisson-like) spikes with probability ``gain * x`` per step (snnTorch's
  ``spikegen.rate``; the same generator state gives the same spikes).
- :func:`latency`: one spike per value, earlier for larger values (snnTorch's ``spikegen.latency``).
- :func:`current`: the value itself, scaled by ``gain``, injected as a constant current at every step.

:class:`EncoderConfig` bundles the choice and its parameters into a validated, frozen config.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from spikeloc.validation import (
    require,
    require_choice,
    require_finite,
    require_flag,
    require_integer,
    require_number,
    require_tensor,
)

KINDS = ("rate", "latency", "current")
LATENCY_EPSILON = 1e-7  # floor above the threshold in the log code (snnTorch's ``epsilon``): t stays finite


@dataclass(frozen=True)
class EncoderConfig:
    """How values become network input over ``steps`` time steps.

    Which fields each kind reads:

    - ``"rate"``: ``steps``, ``gain`` (0 < gain <= 1, so ``gain * x`` is a probability for x in [0, 1]);
    - ``"latency"``: ``steps``, ``threshold``, ``tau``, ``linear``, ``normalize``, ``clip``
      (see :func:`latency`; with ``normalize`` the code spans the whole window and ``tau`` has no effect;
      ``gain`` is not read);
    - ``"current"``: ``steps``, ``gain`` (> 0, a current scale in threshold units per unit value).

    Every field is validated whatever the kind, so a config is never half-valid.
    """

    kind: str = "rate"
    steps: int = 25
    gain: float = 1.0
    threshold: float = 0.01
    tau: float = 1.0
    linear: bool = True
    normalize: bool = True
    clip: bool = True

    def __post_init__(self) -> None:
        require_choice(self.kind, "kind", KINDS)
        _require_steps(self.steps)
        if self.kind == "rate":
            _require_rate_gain(self.gain)
        else:
            _require_current_gain(self.gain)
        _require_latency_parameters(self.threshold, self.tau)
        for field in ("linear", "normalize", "clip"):
            require_flag(getattr(self, field), field)

    def check_values(self, values: torch.Tensor, field: str = "values") -> None:
        """``ValueError`` naming ``field`` unless :meth:`encode` accepts ``values`` (one pass over them): in [0, 1]
        for ``"rate"`` and ``"latency"``, finite for ``"current"``; for data checked once where they enter."""
        if self.kind == "current":
            _finite_values(values, field)
        else:
            _unit_interval_values(values, self.kind, field)

    def encode(self, values: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Encode ``values`` ``(..., F)`` to ``(..., steps, F)`` float32; ``generator`` is needed by ``"rate"``."""
        if self.kind == "rate":
            return rate(values, self.steps, generator, gain=self.gain)
        if self.kind == "latency":
            return latency(
                values, self.steps, threshold=self.threshold, tau=self.tau, linear=self.linear,
                normalize=self.normalize, clip=self.clip,
            )
        return current(values, self.steps, gain=self.gain)


def rate(
    values: torch.Tensor, steps: int, generator: torch.Generator | None, gain: float = 1.0
) -> torch.Tensor:
    """Rate code: independent Bernoulli spikes at every step,

        s[..., t, f] ~ Bernoulli(p[..., f]),   p = gain * x,   t = 0 .. T-1,

    so the expected spike count of feature f over the window is T * gain * x_f. Requires x in [0, 1]
    (values outside are refused, not clamped) and 0 < gain <= 1. Draws ``torch.bernoulli`` on the
    time-major tensor ``(T, ..., F)`` from ``generator`` in the order ``snntorch.spikegen.rate`` draws from the
    global RNG, then moves time to axis -2: seeding both alike gives identical spikes.
    """
    _require_steps(steps)
    _require_rate_gain(gain)
    require(isinstance(generator, torch.Generator), "generator", generator,
            "a torch.Generator (rate coding is random; spikeloc never uses the global RNG)")
    x = _unit_interval_values(values, "rate")
    require(generator.device.type == x.device.type, "generator", f"on {generator.device}",
            f"on the values' device ({x.device})")
    probabilities = (x * gain).repeat(steps, *([1] * x.dim()))
    spikes = torch.bernoulli(probabilities, generator=generator)
    return spikes.movedim(0, -2).contiguous()


def latency(
    values: torch.Tensor,
    steps: int,
    threshold: float = 0.01,
    tau: float = 1.0,
    linear: bool = True,
    normalize: bool = True,
    clip: bool = True,
) -> torch.Tensor:
    """Latency code: at most one spike per value, at step k = round(t(x)), earlier for larger x in [0, 1].

    Linear code (``linear=True``):   t = tau * (1 - max(x, threshold)),
        with ``normalize`` tau = T - 1, so x = 1 fires at step 0 and x = threshold at (T - 1)(1 - threshold).
    Log (RC) code (``linear=False``): t = tau * ln(x' / (x' - threshold)),  x' = max(x, threshold + 1e-7),
        the time an RC circuit (time constant tau, in steps) charged by the constant input x' takes to reach
        ``threshold``; with ``normalize`` t is rescaled by (T - 1) / t_max, where
        t_max = tau * ln((threshold + 1e-7) / 1e-7) is the code's largest time, so the latest spike falls at T - 1.

    Values below ``threshold`` do not fire with ``clip`` (else they fire at t(threshold)); spikes whose step
    k exceeds T - 1 are dropped (the neuron has not fired within the window). Deterministic, and equal to
    ``snntorch.spikegen.latency(x, T, threshold, tau, clip=clip, normalize=normalize, linear=linear,
    bypass=True)`` time-major, with one difference: snnTorch normalises the log code by the largest time in the
    batch, which makes each sample's code depend on its batch-mates; here t_max is fixed, and the two agree
    whenever the batch holds a value at or below the threshold (e.g. any zero pixel).
    """
    _require_steps(steps)
    _require_latency_parameters(threshold, tau)
    x = _unit_interval_values(values, "latency")
    if linear:
        # The expressions mirror snnTorch's operation by operation so the rounded steps agree exactly.
        scale = steps - 1 if normalize else tau
        times = torch.clamp_max(-scale * (x - 1), -scale * (threshold - 1))
    else:
        floor = threshold + LATENCY_EPSILON
        floored = torch.clamp(x, floor)
        times = tau * torch.log(floored / (floored - threshold))
        if normalize:
            lowest = torch.full((), floor, dtype=x.dtype, device=x.device)
            latest = tau * torch.log(lowest / (lowest - threshold))
            times = times * (steps - 1) / latest
    spike_steps = torch.round(times).long()
    fires = spike_steps <= steps - 1
    if clip:
        fires = fires & (x >= threshold)
    step_axis = torch.arange(steps, device=x.device).unsqueeze(-1)
    spikes = (spike_steps.unsqueeze(-2) == step_axis) & fires.unsqueeze(-2)
    return spikes.to(torch.float32)


def current(values: torch.Tensor, steps: int, gain: float = 1.0) -> torch.Tensor:
    """Direct current injection (not spikes): I[..., t, f] = gain * x[..., f] at every step t = 0 .. T-1.

    ``gain`` (> 0) converts a unit value into input current in membrane-threshold units per step. Values may be
    any finite numbers (e.g. standardised features).
    """
    _require_steps(steps)
    _require_current_gain(gain)
    x = _finite_values(values)
    injected = (x * gain).unsqueeze(-2)
    return injected.expand(*x.shape[:-1], steps, x.shape[-1]).contiguous()


def _require_steps(steps: int) -> None:
    require_integer(steps, "steps", minimum=1)


def _require_rate_gain(gain: float) -> None:
    require_number(gain, "gain", above=0, maximum=1,
                   note="for rate coding (spike probability per step = gain * x)")


def _require_current_gain(gain: float) -> None:
    require_number(gain, "gain", above=0)


def _require_latency_parameters(threshold: float, tau: float) -> None:
    require_number(threshold, "threshold", above=0, below=1)
    require_number(tau, "tau", above=0, note="(time steps)")


def _float_values(values: torch.Tensor, field: str = "values") -> torch.Tensor:
    require_tensor(values, field, ("bool", "integer", "floating"), None, "(..., features)")
    return values.to(torch.float32)


def _finite_values(values: torch.Tensor, field: str = "values") -> torch.Tensor:
    x = _float_values(values, field)
    require_finite(x, field)
    return x


def _unit_interval_values(values: torch.Tensor, kind: str, field: str = "values") -> torch.Tensor:
    x = _float_values(values, field)
    low, high = torch.aminmax(x)
    require(bool(low >= 0) and bool(high <= 1), field, f"range [{low.item():g}, {high.item():g}]",
            f"in [0, 1] for {kind} coding (scale the data first, e.g. pixels / 255)")
    return x
