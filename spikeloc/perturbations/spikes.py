"""Spike perturbations: input spike deletion, jitter, background spikes and stochastic transmission.

Each is a forward pre-hook on synapse layers (removed on exit) that changes the spikes ``(members, batch, T,
units)`` entering them, member k's with ``generators[k]`` (fresh numbers for every batch the layer sees):

* ``input_deletion`` (level p): each input spike deleted with probability p;
* ``jitter`` (level k, an integer number of time steps): each input spike moved by a step drawn uniformly from
  ``-k ... k``, clamped to the window (so no spike is lost: a step holding two spikes then carries 2);
* ``background`` (level r, Hz): a Poisson spike train of rate r added to every input fibre, each time step
  spiking with probability ``r * dt_s`` (a step that already spikes keeps one spike);
* ``transmission`` (level q, a probability): every spike, input or hidden, reaches its targets with
  probability q (all of a spike's synapses together; the readout's inputs too). Clean at q = 1, severity
  ``1 - q``.

The input spikes are those after the network's input delays, if it has any (a delay shifts every spike of a
fibre alike, so the perturbed trains have the same statistics).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from spikeloc.perturbations.base import Perturbation, finite, fraction, uniform

SpikeChange = Callable[[torch.Tensor, Sequence[torch.Generator]], torch.Tensor]


@contextlib.contextmanager
def hooked(modules: Sequence[nn.Module], change: SpikeChange, generators: Sequence[torch.Generator]
           ) -> Iterator[None]:
    """Within the context each of ``modules`` receives ``change(x, generators)`` in place of its input ``x``."""
    handles = []
    try:
        for module in modules:
            handles.append(module.register_forward_pre_hook(lambda _, args: (change(args[0], generators),)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _draw(x: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    return uniform(x.shape[1:], generators, x.device)


def jittered(x: torch.Tensor, steps: int, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """Every spike of ``x`` (members, ..., T, units) moved by a uniform integer in ``[-steps, steps]`` time
    steps, clamped to ``[0, T - 1]``; the total of every unit's train is kept exactly. Member k draws one shift
    per non-zero entry of ``x[k]``, in storage order, from ``generators[k]``."""
    n_steps = x.shape[-2]
    out = torch.zeros_like(x)
    for k, g in enumerate(generators):
        where = x[k].nonzero(as_tuple=True)
        shifts = torch.randint(-steps, steps + 1, where[0].shape, generator=g, device=g.device).to(x.device)
        moved = (*where[:-2], (where[-2] + shifts).clamp(0, n_steps - 1), where[-1])
        out[k].index_put_(moved, x[k][where], accumulate=True)
    return out


class InputDeletion(Perturbation):
    name = "input_deletion"
    kind = "spikes"
    unit = "fraction of input spikes deleted"

    def check(self, level: float) -> None:
        fraction(self, level)

    def applied(self, network, level, generators):
        return hooked(network.synapses[:1], lambda x, g: x * (_draw(x, g) >= level).to(x.dtype), generators)


class Jitter(Perturbation):
    name = "jitter"
    kind = "spikes"
    unit = "time steps (an integer >= 0)"

    def check(self, level: float) -> None:
        self._require(finite(level) and level >= 0 and float(level).is_integer(), level,
                      "an integer >= 0 (time steps)")

    def applied(self, network, level, generators):
        return hooked(network.synapses[:1], lambda x, g: jittered(x, int(level), g), generators)


class Background(Perturbation):
    name = "background"
    kind = "spikes"
    unit = "Hz of Poisson spikes added to every input fibre"

    def check(self, level: float) -> None:
        self._require(finite(level) and level >= 0, level, "a rate >= 0 Hz")

    def check_network(self, network, level):
        self._require(level * network.config.dt_s <= 1, level, f"at most 1 / dt_s = {1 / network.config.dt_s:g} Hz")

    def applied(self, network, level, generators):
        self.check_network(network, level)
        probability = level * network.config.dt_s
        return hooked(network.synapses[:1],
                      lambda x, g: torch.maximum(x, (_draw(x, g) < probability).to(x.dtype)), generators)


class Transmission(Perturbation):
    name = "transmission"
    kind = "spikes"
    unit = "probability that a spike reaches its targets"
    clean_level = 1.0

    def check(self, level: float) -> None:
        fraction(self, level)

    def severity(self, level: float) -> float:
        return 1 - level

    def level_at(self, severity: float) -> float:
        return 1 - severity

    def applied(self, network, level, generators):
        return hooked(network.synapses, lambda x, g: x * (_draw(x, g) < level).to(x.dtype), generators)
