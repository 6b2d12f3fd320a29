"""What every perturbation is: a named, validated dose (its *level*) applied to a network for a while.

A perturbation acts on a :class:`~spikeloc.networks.classifier.SpikingClassifier` of M members, each member one
independent *draw* (a "chip instance"): member k's random numbers come from ``generators[k]`` only, drawn when
the perturbation is applied and frozen while it is. :meth:`Perturbation.applied` is a context manager; inside
it the network computes perturbed, and leaving it (normally or by an exception) restores the network exactly:

* weight-side perturbations (weights, thresholds, deleted neurons) are ``torch.nn.utils.parametrize``
  parametrisations inserted into a synapse layer's chain just before Dale's signs, as weight noise is
  (:mod:`spikeloc.substrate.noise`), and taken out again on exit: nothing stored is mutated;
* spike-side perturbations are forward pre-hooks on the synapse layers, removed on exit;
* time constants: the LIF layers' per-step decay ``beta()`` is overridden on the layer instance for the context
  (the decay is computed, not stored, when every neuron shares one tau).

Task perturbations (IPD phase noise, image pixel noise) change the test data instead
(:meth:`Perturbation.perturbed_data`). Every perturbation has a ``clean_level`` at which it does nothing and a
``severity`` that grows with the damage (the level itself, or e.g. ``1 / bits``), which robustness scores use.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

import torch
from torch import nn

from spikeloc.validation import require

KINDS = ("weights", "neurons", "spikes", "task")


class Perturbation:
    """One kind of perturbation (stateless: the level and the generators are given when it is applied).

    Subclasses set ``name``, ``kind``, ``unit`` (what a level means) and implement :meth:`check` and
    :meth:`applied` (or :meth:`perturbed_data` for the task kind).
    """

    name: ClassVar[str]
    kind: ClassVar[str]
    unit: ClassVar[str]
    clean_level: ClassVar[float] = 0.0

    def check(self, level: float) -> None:
        """Raise ``ValueError`` naming this perturbation unless ``level`` is allowed."""
        raise NotImplementedError

    def severity(self, level: float) -> float:
        """How severe ``level`` is, 0 at :attr:`clean_level`, growing with the damage."""
        return float(level)

    def level_at(self, severity: float) -> float:
        """The level of ``severity`` (the inverse of :meth:`severity`)."""
        return float(severity)

    def stream(self, level: float) -> str:
        """The name of the random stream of one level's draws (draw d of member m reads
        ``f"{stream}/{d}/member{m}"`` of the curve's seed)."""
        return f"perturb/{self.name}/{level:g}"

    def applied(self, network: nn.Module, level: float,
                generators: Sequence[torch.Generator]) -> contextlib.AbstractContextManager:
        """Within the context, ``network`` (one member per draw, ``generators[k]`` for member k) computes
        perturbed at ``level``."""
        return contextlib.nullcontext()

    def check_network(self, network: nn.Module, level: float) -> None:
        """Raise ``ValueError`` unless ``level`` suits ``network`` (e.g. a rate within one spike per step)."""

    def applies_to(self, data) -> bool:
        """Whether this perturbation can act on a network scored on ``data`` (task perturbations need their
        task)."""
        return True

    def perturbed_data(self, data, level: float, generators: Sequence[torch.Generator]):
        """The test data the replicated network is scored on (task perturbations change them; the others
        return ``data``'s clean data for the replicas)."""
        return data.member_data

    def _require(self, condition: bool, level: float, allowed: str) -> None:
        require(condition, f"level of {self.name}", level, allowed)


def finite(level: float) -> bool:
    return isinstance(level, (int, float)) and not isinstance(level, bool) and math.isfinite(level)


def fraction(perturbation: Perturbation, level: float) -> None:
    """A level that is a fraction or probability in [0, 1]."""
    perturbation._require(finite(level) and 0 <= level <= 1, level, "in [0, 1] (a fraction)")


def non_negative(perturbation: Perturbation, level: float) -> None:
    perturbation._require(finite(level) and level >= 0, level, f"a finite number >= 0 ({perturbation.unit})")


def per_member(generators: Sequence[torch.Generator], draw: Callable[[torch.Generator], torch.Tensor]) -> torch.Tensor:
    """Member k's tensor from ``draw(generators[k])``, stacked on a leading member axis."""
    return torch.stack([draw(g) for g in generators])


def uniform(shape: Sequence[int], generators: Sequence[torch.Generator], device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) numbers ``(members, *shape)``, member k's from ``generators[k]``, on ``device``."""
    return per_member(generators, lambda g: torch.rand(tuple(shape), generator=g, device=g.device)).to(device)


def normal(shape: Sequence[int], generators: Sequence[torch.Generator], device: torch.device) -> torch.Tensor:
    """Standard normal numbers ``(members, *shape)``, member k's from ``generators[k]``, on ``device``."""
    return per_member(generators, lambda g: torch.randn(tuple(shape), generator=g, device=g.device)).to(device)


@contextlib.contextmanager
def all_applied(network: nn.Module, conditions: Sequence[tuple[Perturbation, float]],
                generators: Sequence[Sequence[torch.Generator]]) -> Iterator[nn.Module]:
    """Several perturbations at once (composed in the order given), ``generators[i]`` for condition i; all
    taken out on exit, the last applied first."""
    require(len(generators) == len(conditions), "generators", len(generators), f"one list per condition "
            f"({len(conditions)})")
    with contextlib.ExitStack() as stack:
        for (perturbation, level), draws in zip(conditions, generators):
            perturbation.check(level)
            stack.enter_context(perturbation.applied(network, level, draws))
        yield network
