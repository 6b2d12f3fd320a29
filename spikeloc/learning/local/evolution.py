"""Meta-learning a local rule by evolution strategies (CMA-ES), the inner loop one tensor batch.

The rule is one of the parametrised families of :mod:`spikeloc.learning.local.families` (a polynomial, or a
GRU per synapse) applied to every layer, the first included: ``W_l <- clip(W_l + eta f_theta(x, y, w, r))``.
Gradient descent through the unrolled plasticity stalled in degenerate rules (:mod:`.learned`); here, as in
Confavreux et al. (NeurIPS 2020), CMA-ES (Hansen's ``cma`` package) searches ``theta`` directly.

Meta-objective of a candidate ``theta`` (minimised): train ``R`` fresh networks on each task of the family
for ``n_updates`` single-example updates (the study's protocol) and score the final networks::

    loss(theta) = (1 - fraction of networks solved) + mean_{networks, patterns} relu(margin - t y)

(the hinge breaks ties between candidates with the same success count). Each generation draws new initial
weights and example orders (and, with the ``"feedback"`` signal, feedback matrices) from its own stream of the
meta seed; every candidate of a generation sees the same networks, orders and feedback (common random
numbers, so candidates are ranked on the same draws). Tasks may mix two- and three-input functions
(:data:`spikeloc.tasks.logic.THREE_INPUT_TASKS`); each input count is one batch and every network counts the
same in the loss. The whole
generation -- population x tasks x replications networks -- is trained as one batch: one rule update is one
tensor operation per layer. CMA-ES samples through a numpy ``Generator`` seeded from the meta seed (never
numpy's global one), so the same seed gives the same rule. The result is the distribution mean after the
last generation (CMA-ES's recommended point, less noisy than the best single sample).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import cma
import numpy as np
import torch

from spikeloc import seeding
from spikeloc.learning.local.families import Polynomial, Recurrent
from spikeloc.learning.local.networks import RateNetwork, forward, initial_weights
from spikeloc.learning.local.rules import LocalRule, fed_back, feedback_matrices, sign_correct
from spikeloc.learning.local.training import evaluate, train
from spikeloc.tasks.logic import ALL_TASKS, n_inputs, patterns, targets
from spikeloc.validation import require, require_choice

FAMILIES = ("polynomial", "recurrent")
SIGNALS = ("reward", "error", "feedback")


def global_signal(signal: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The third factor ``r`` broadcast to every synapse, ``(R, B, 1)``: ``"reward"``, +1 if the output's sign
    is right on this example, else -1; ``"error"`` and ``"feedback"``, the output error ``t - y`` (one output
    neuron; with ``"feedback"`` hidden layers receive it through fixed random matrices, :class:`EvolvedRule`)."""
    if signal == "reward":
        return sign_correct(output, target)
    return (target - output).sum(dim=-1, keepdim=True)


def build_family(name: str, degree: int = 1, hidden: int = 2) -> Polynomial | Recurrent:
    """The family ``name``: the polynomial with pre and post degree ``degree``, or a GRU of ``hidden`` units."""
    require_choice(name, "family", FAMILIES)
    return Polynomial(pre_degree=degree, post_degree=degree) if name == "polynomial" else Recurrent(hidden=hidden)


@dataclass(frozen=True)
class EvolvedRule(LocalRule):
    """``W_l <- clip(W_l + eta f_theta(x, y, w, r))`` on every layer; ``theta`` ``(D,)`` or one per network."""

    family: Polynomial | Recurrent = field(default_factory=Polynomial)
    theta: torch.Tensor = field(default=None, compare=False, repr=False)
    signal: str = "error"

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choice(self.signal, "signal", SIGNALS)
        require(isinstance(self.theta, torch.Tensor) and self.theta.ndim in (1, 2)
                and self.theta.shape[-1] == self.family.n_parameters, "theta", getattr(self.theta, "shape", None),
                f"a tensor of {self.family.n_parameters} parameters per rule ({type(self.family).__name__})")

    def initial_state(self, weights, generator=None):
        """(the family's per-layer state, the feedback matrices with ``signal == "feedback"``, else None)."""
        feedback = feedback_matrices(weights, generator) if self.signal == "feedback" else None
        return self.family.initial_state(weights), feedback

    def step(self, network, weights, inputs, target, generator, state):
        family_state, feedback = state
        free = forward(network, weights, inputs, generator)
        reward = global_signal(self.signal, free.output, target)
        signals = [*fed_back(reward, feedback), reward] if feedback is not None else [reward] * len(weights)
        new_weights, new_state = [], []
        for l, (w, s, r) in enumerate(zip(weights, family_state, signals), start=1):
            delta, s = self.family.delta(self.theta, free.pre(l), free.activities[l], w, r, l == len(weights), s)
            new_weights.append(self.clip(w + self.lr * delta))
            new_state.append(s)
        return new_weights, (new_state, feedback)

    def apply(self, network, weights, free, target):
        raise TypeError("EvolvedRule updates through step() (it may carry a state)")


@dataclass(frozen=True)
class Evolution:
    """Settings of :func:`evolve`: the family, the tasks it is meta-trained on, the inner protocol (rate
    network, ``n_updates`` single-example updates at learning rate ``lr``) and CMA-ES's budget."""

    family: str = "polynomial"
    signal: str = "error"
    tasks: tuple[str, ...] = ("xor",)
    hidden_sizes: tuple[int, ...] = (10,)
    bias: bool = True
    degree: int = 1
    rule_hidden: int = 2
    population: int = 16
    generations: int = 60
    n_replications: int = 8
    n_updates: int = 200
    lr: float = 0.05
    weight_bound: float = 1.0
    sigma0: float = 0.2
    margin: float = 1.0
    initial: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        require(len(self.tasks) >= 1, "tasks", self.tasks, "at least one task")
        for task in self.tasks:
            require_choice(task, "tasks", ALL_TASKS)
        build_family(self.family, self.degree, self.rule_hidden)
        require_choice(self.signal, "signal", SIGNALS)
        for name in ("population", "generations", "n_replications", "n_updates"):
            value = getattr(self, name)
            require(isinstance(value, int) and value >= (2 if name == "population" else 1), name, value,
                    "an integer >= 2" if name == "population" else "an integer >= 1")
        object.__setattr__(self, "initial", tuple(float(v) for v in self.initial))
        n = self.build_family().n_parameters
        require(len(self.initial) in (0, n), "initial", f"{len(self.initial)} values",
                f"() (start from dw = 0) or {n} parameters of the family")
        for name in ("lr", "weight_bound", "sigma0", "margin"):
            require(getattr(self, name) > 0, name, getattr(self, name), "> 0")

    def build_family(self) -> Polynomial | Recurrent:
        return build_family(self.family, self.degree, self.rule_hidden)


def population_loss(settings: Evolution, thetas: torch.Tensor, generator: torch.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss ``(P,)``, success fraction ``(P,)``) of ``P`` candidate rules (module doc): every network counts
    the same, whatever its task; one batch per number of task inputs (two- and three-input tasks)."""
    n_candidates, losses, successes = thetas.shape[0], [], []
    for arity in sorted({n_inputs(task) for task in settings.tasks}):
        tasks = [task for task in settings.tasks if n_inputs(task) == arity]
        per_candidate, inputs = len(tasks) * settings.n_replications, patterns(arity)
        task_targets = torch.stack([targets(task) for task in tasks]).repeat_interleave(settings.n_replications, 0)
        weights = initial_weights((arity, *settings.hidden_sizes, 1), per_candidate, generator, bias=settings.bias)
        order = torch.randint(0, len(inputs), (settings.n_updates, per_candidate), generator=generator)
        rule = EvolvedRule(lr=settings.lr, weight_bound=settings.weight_bound, family=settings.build_family(),
                           theta=thetas.repeat_interleave(per_candidate, dim=0), signal=settings.signal)
        network, target = RateNetwork(bias=settings.bias), task_targets.repeat(n_candidates, 1, 1)
        weights = [w.repeat(n_candidates, 1, 1) for w in weights]
        # every candidate sees the same networks, orders and (with feedback) feedback matrices
        _, feedback = rule.initial_state([w[:per_candidate] for w in weights], generator)
        state = (rule.family.initial_state(weights), feedback and [b.repeat(n_candidates, 1, 1) for b in feedback])
        with torch.no_grad():
            trained = train(network, rule, weights, inputs, target, order.repeat(1, n_candidates), state=state)
            solved, outputs = evaluate(network, trained, inputs, target)
        hinge = torch.relu(settings.margin - target * outputs).mean(dim=(-1, -2))
        losses.append((1 - solved.float() + hinge).view(n_candidates, per_candidate))
        successes.append(solved.float().view(n_candidates, per_candidate))
    loss, success = torch.cat(losses, dim=1).mean(1), torch.cat(successes, dim=1).mean(1)
    return torch.nan_to_num(loss, nan=math.inf), success


@dataclass
class EvolutionResult:
    """The rule found (``parameters``, the final CMA-ES mean), per-generation records, wall-clock ``seconds``
    and ``cpu_seconds`` (this process's CPU time: the wall time it would take alone on one core, with torch
    on one thread, on a machine whose other processes take no CPU)."""

    parameters: tuple[float, ...]
    history: list[dict]
    seconds: float
    cpu_seconds: float


def evolve(settings: Evolution, seed: int, log=None) -> EvolutionResult:
    """Run CMA-ES on ``settings`` from ``settings.initial`` (default: the zero rule ``dw = 0``), step size ``sigma0``."""
    family = settings.build_family()
    rng = np.random.default_rng(seeding.stream_seed(seed, "evolution/cma"))
    start = np.array(settings.initial) if settings.initial else np.zeros(family.n_parameters)
    strategy = cma.CMAEvolutionStrategy(start, settings.sigma0, {
        "popsize": settings.population, "seed": np.nan, "randn": lambda *shape: rng.standard_normal(shape),
        "verbose": -9, "maxiter": settings.generations})
    history, started, cpu_started = [], time.perf_counter(), time.process_time()
    for generation in range(settings.generations):
        candidates = strategy.ask()
        loss, success = population_loss(settings, torch.tensor(np.array(candidates), dtype=torch.float32),
                                        seeding.generator(seed, f"evolution/generation/{generation}"))
        strategy.tell(candidates, loss.tolist())
        history.append({"generation": generation, "best_loss": float(loss.min()), "mean_loss": float(loss.mean()),
                        "best_success": float(success.max()), "mean_success": float(success.mean()),
                        "sigma": float(strategy.sigma)})
        if log is not None:
            log(history[-1])
    return EvolutionResult(tuple(float(v) for v in strategy.mean), history, time.perf_counter() - started,
                           time.process_time() - cpu_started)


def rule_from(settings: Evolution, parameters: Sequence[float], lr: float | None = None) -> EvolvedRule:
    """The evolved rule with the learning rate and bound it was meta-trained with."""
    return EvolvedRule(lr=settings.lr if lr is None else lr, weight_bound=settings.weight_bound,
                       family=settings.build_family(), theta=torch.tensor(list(parameters), dtype=torch.float32),
                       signal=settings.signal)
