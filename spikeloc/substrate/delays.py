"""Axonal delays per input fibre, fixed or learned, for ensembles of K networks.

Input ``i`` of member ``k`` reaches every postsynaptic neuron ``d[k, i]`` time steps late (dimensionless steps
of ``dt``; ``d * dt_s`` seconds), ``0 <= d <= max_delay_steps``::

    y[k, b, t, i] = (1 - f) x[k, b, t - n, i] + f x[k, b, t - n - 1, i],   n = floor(d[k, i]),  f = d[k, i] - n

with ``x`` = 0 before the first step (a delayed fibre is silent for its first ``d`` steps). Integer delays copy
spikes unchanged; a fractional delay spreads a spike over the two neighbouring steps: the linear
interpolation over integer delays that makes ``d`` differentiable (dy/dd = x[t - n - 1] - x[t - n]), in the
spirit of dilated convolutions with learnable spacings (Hammouamri et al. 2023) with a triangle kernel.

* ``"fixed"``: integer delays drawn uniformly from {0, ..., max_delay_steps}, a buffer.
* ``"learned"``: delays start uniform in [0, max_delay_steps] and are a parameter; the forward pass clamps
  them into [0, max_delay_steps] (a clamped delay gets no gradient until the optimiser brings it back).
"""

from __future__ import annotations

import torch
from torch import nn

from spikeloc.validation import require, require_choice

#: Delay options of a classifier's input fibres: none, fixed at random, learned.
DELAY_MODES = ("none", "fixed", "learned")


class FibreDelays(nn.Module):
    """Per-member, per-input-fibre delays; ``forward`` maps inputs (K, batch, T, inputs) to delayed inputs."""

    def __init__(self, delays_steps: torch.Tensor, max_delay_steps: int, learn: bool = False):
        super().__init__()
        require(isinstance(max_delay_steps, int) and max_delay_steps >= 1, "max_delay_steps", max_delay_steps,
                "an integer >= 1 (time steps)")
        require(delays_steps.dim() == 2, "delays_steps", tuple(delays_steps.shape), "shaped (members, inputs)")
        require(bool(((delays_steps >= 0) & (delays_steps <= max_delay_steps)).all()), "delays_steps",
                (float(delays_steps.min()), float(delays_steps.max())), f"in [0, max_delay_steps = {max_delay_steps}]")
        self.max_delay_steps = max_delay_steps
        if learn:
            self.delays_steps = nn.Parameter(delays_steps.float().clone())
        else:
            self.register_buffer("delays_steps", delays_steps.float().clone())

    @classmethod
    def draw(cls, mode: str, n_inputs: int, max_delay_steps: int, generators: list[torch.Generator]) -> FibreDelays:
        """Delays for ``len(generators)`` members (one generator each) as described in the module docstring."""
        require_choice(mode, "input_delays", DELAY_MODES[1:])
        if mode == "fixed":
            drawn = [torch.randint(0, max_delay_steps + 1, (n_inputs,), generator=g).float() for g in generators]
        else:
            drawn = [max_delay_steps * torch.rand(n_inputs, generator=g) for g in generators]
        return cls(torch.stack(drawn), max_delay_steps, learn=mode == "learned")

    @property
    def steps(self) -> torch.Tensor:
        """The delays in use (members, inputs), steps: the stored ones clamped into [0, max_delay_steps]."""
        return self.delays_steps.detach().clamp(0, self.max_delay_steps)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        members, batch, n_steps, n_inputs = inputs.shape
        require(self.max_delay_steps < n_steps, "max_delay_steps", self.max_delay_steps,
                f"< the number of time steps ({n_steps})")
        delays = self.delays_steps.clamp(0, self.max_delay_steps).to(inputs.dtype)
        whole = delays.detach().floor()
        fraction = delays - whole  # carries the gradient
        source = torch.arange(n_steps, device=inputs.device)[None, :, None] - whole.long()[:, None, :]  # (K, T, in)

        def shifted(steps_back: torch.Tensor) -> torch.Tensor:
            index = steps_back.clamp(min=0)[:, None].expand(members, batch, n_steps, n_inputs)
            return inputs.gather(-2, index) * (steps_back >= 0)[:, None].to(inputs.dtype)

        if not (isinstance(self.delays_steps, nn.Parameter) or bool((fraction != 0).any())):
            return shifted(source)
        fraction = fraction[:, None, None, :]
        return (1 - fraction) * shifted(source) + fraction * shifted(source - 1)
