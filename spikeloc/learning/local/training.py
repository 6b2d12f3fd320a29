"""Train ``R`` independent replications with a local rule, single-example updates, and count successes.

Protocol (the seed's): every replication starts from its own random weights; at each of ``n_updates``
updates it draws one of the four patterns uniformly at random and applies one rule update on it; at the
end it succeeds if its output sign is right on all four patterns. All replications advance together:
one rule update is one tensor operation per layer on ``(R, ...)`` tensors.

Random streams (one generator per stream of the cell's seed, each drawing all ``R`` replications at once,
so replication ``r``'s numbers are fixed by the seed and ``R``): ``"weights"`` the initial weights,
``"order"`` the example indices ``(n_updates, R)``, ``"spikes"`` the input spikes during training,
``"evaluation"`` the input spikes of the final test, ``"feedback"`` the rule's own fixed random numbers (the
feedback matrices of feedback alignment). On a ``device`` other than the CPU the weights and the feedback matrices
are still drawn on the CPU (then moved); the other streams draw on that device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from spikeloc import seeding
from spikeloc.learning.local.networks import Network, forward, initial_weights
from spikeloc.tasks.logic import check_inputs, check_targets, patterns, solved, targets
from spikeloc.validation import require


@dataclass
class Outcome:
    """Per replication: ``solved`` (bool ``(R,)``), final ``outputs`` ``(R, 4, 1)``, final ``weights``."""

    solved: torch.Tensor
    outputs: torch.Tensor
    weights: list[torch.Tensor]


def train(network: Network, rule, weights: Sequence[torch.Tensor], inputs: torch.Tensor, target: torch.Tensor,
          order: torch.Tensor, generator: torch.Generator | None = None,
          rule_generator: torch.Generator | None = None, state=None) -> list[torch.Tensor]:
    """Apply ``rule`` once per row of ``order`` ``(n_updates, R)`` (pattern index of each replication).

    ``inputs`` ``(P, n_0)`` +-1 patterns, ``target`` ``(P, n_L)`` +-1 targets shared by all replications, or
    ``(R, P, n_L)``, one task per replication. A stateful rule's state (:meth:`LocalRule.initial_state`)
    starts afresh here (drawing any fixed random numbers from ``rule_generator``), or from ``state`` when
    given, and is carried from update to update; ``generator`` draws the input spikes.
    """
    n_replications = weights[0].shape[0]
    check_inputs(inputs, weights[0].shape[-1] - int(network.bias))
    per_replication = target.ndim == 3
    require(not per_replication or target.shape[0] == n_replications, "target", tuple(target.shape),
            f"(P, n_L) or ({n_replications}, P, n_L): one task per replication")
    check_targets(target, inputs.expand(n_replications, *inputs.shape) if per_replication else inputs,
                  weights[-1].shape[-2])
    require(rule.needs_spikes <= network.spiking, "rule", type(rule).__name__, "used with a spiking network")
    weights = list(weights)
    state = rule.initial_state(weights, rule_generator) if state is None else state
    replications = torch.arange(n_replications, device=weights[0].device)
    for indices in order:
        example_target = target[replications, indices] if per_replication else target[indices]
        weights, state = rule.step(network, weights, inputs[indices].unsqueeze(1), example_target.unsqueeze(1),
                                   generator, state)
    return weights


def evaluate(network: Network, weights: Sequence[torch.Tensor], inputs: torch.Tensor, target: torch.Tensor,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(solved ``(R,)``, outputs ``(R, P, n_L)``): every replication on every pattern (targets as :func:`train`)."""
    n_replications = weights[0].shape[0]
    batch = inputs.expand(n_replications, *inputs.shape)
    outputs = forward(network, weights, batch, generator).output
    return solved(outputs, target), outputs


def run_replications(network: Network, rule, task: str, hidden_sizes: Sequence[int], n_replications: int,
                     n_updates: int, seed: int, device: str = "cpu") -> Outcome:
    """Train and test ``n_replications`` networks ``2 -> hidden_sizes -> 1`` on ``task`` on ``device`` (module
    doc); ``rule``'s own tensors (a meta-learned rule's parameters) must be on ``device`` already."""
    require(n_replications >= 1, "n_replications", n_replications, "an integer >= 1")
    require(n_updates >= 0, "n_updates", n_updates, "an integer >= 0")
    inputs, target = patterns().to(device), targets(task).to(device)
    weights = [w.to(device) for w in initial_weights((2, *hidden_sizes, 1), n_replications,
                                                     seeding.generator(seed, "weights"), bias=network.bias)]
    order = torch.randint(0, len(inputs), (n_updates, n_replications), device=device,
                          generator=seeding.generator(seed, "order", device))
    with torch.no_grad():
        weights = train(network, rule, weights, inputs, target, order, seeding.generator(seed, "spikes", device),
                        seeding.generator(seed, "feedback"))
        success, outputs = evaluate(network, weights, inputs, target,
                                    seeding.generator(seed, "evaluation", device))
    return Outcome(success, outputs, weights)
