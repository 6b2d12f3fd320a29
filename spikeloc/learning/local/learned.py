"""A learned local rule: one small network, shared by every synapse, maps local quantities to a weight change.

The seed's unfinished ``arbitrary_forward`` / synapse-updater idea, finished. For synapse ``j -> i`` of
any layer, with presynaptic activity ``x_j``, postsynaptic activity ``y_i`` (free pass; the output's is the
signed output), current weight ``w_ij`` and the global signal ``r = +1`` if the network's sign is right on
this example, ``-1`` otherwise, and ``o = 1`` if neuron ``i`` is an output neuron (its cell type), else 0::

    dw_ij = eta * g_theta(x_j, y_i, w_ij, r, o),   g_theta(u) = v^T tanh(A u + b) + c,   W <- clip(W + dW)

(``A``: ``hidden x 5``; summed over the update's patterns). Without ``o`` one rule must serve the readout
and the hidden layers alike; it then cannot even express the seed's rule (target-clamped at the output,
plain Hebbian below), and meta-training found no rule better than chance (measured). ``g_theta`` is evaluated for all synapses of
all replications in one batched tensor operation per layer (no loop over synapses, unlike the seed's).

Meta-training (:func:`meta_train`): gradient descent on ``theta`` through the unrolled plasticity. Each
meta step draws fresh networks (random initial weights) and a fresh example order, runs ``n_updates``
updates of the rule on the rate network, and minimises the hinge loss ``mean relu(margin - t y)`` of the
final outputs on the four patterns, balanced between the classes (a squared error led to rules that park
the outputs near 0, and an unbalanced hinge on AND to "always -1", 3 of 4 right; both measured; the
balanced hinge has not got AND out of a similar optimum either, see the study's meta-loss); Adam on ``theta``. Everything is drawn from named streams of the
meta seed, so the same seed gives the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from spikeloc import seeding
from spikeloc.learning.local.networks import Network, RateNetwork, forward, initial_weights
from spikeloc.learning.local.rules import LocalRule, sign_correct
from spikeloc.tasks.logic import patterns, targets
from spikeloc.validation import require

N_FEATURES = 5  # pre, post, weight, reward, output-layer flag


def n_parameters(hidden: int) -> int:
    """Size of the flat parameter vector of ``g_theta`` with ``hidden`` units: A, b, v, c."""
    return N_FEATURES * hidden + hidden + hidden + 1


def hidden_units(n: int) -> int:
    """The ``hidden`` width that a flat parameter vector of length ``n`` belongs to (ValueError if none)."""
    hidden, remainder = divmod(n - 1, N_FEATURES + 2)
    require(remainder == 0 and hidden >= 1, "learned_parameters", f"{n} values",
            f"a vector of length {N_FEATURES + 2} * hidden + 1")
    return hidden


def synapse_delta(theta: torch.Tensor, pre: torch.Tensor, post: torch.Tensor, weight: torch.Tensor,
                  reward: torch.Tensor, is_output: bool = False) -> torch.Tensor:
    """``sum_b g_theta(x_j, y_i, w_ij, r, o)`` for pre ``(R, B, m)``, post ``(R, B, n)``, weight ``(R, n, m)``,
    reward ``(R, B, 1)``, ``o = 1`` for synapses onto output neurons; returns ``(R, n, m)``."""
    hidden = hidden_units(theta.numel())
    a = theta[:N_FEATURES * hidden].view(hidden, N_FEATURES)
    b, v, c = theta[N_FEATURES * hidden:].split([hidden, hidden, 1])
    # the affine map A u + b, split by feature so no (R, B, n, m, 4) tensor is built
    z = (pre[:, :, None, :, None] * a[:, 0] + post[:, :, :, None, None] * a[:, 1]
         + weight[:, None, :, :, None] * a[:, 2] + reward[:, :, :, None, None] * a[:, 3]
         + float(is_output) * a[:, 4] + b)
    return (torch.tanh(z) @ v + c).sum(dim=1)


def learned_update(theta: torch.Tensor, weights: Sequence[torch.Tensor], activities: Sequence[torch.Tensor],
                   reward: torch.Tensor, lr: float, weight_bound: float) -> list[torch.Tensor]:
    """``W_l <- clip(W_l + eta sum_b g_theta(a_{l-1}, a_l, W_l, r, [l == L]))`` for every layer
    (differentiable in theta)."""
    return [(w + lr * synapse_delta(theta, activities[l - 1], activities[l], w, reward, l == len(weights)))
            .clamp(-weight_bound, weight_bound) for l, w in enumerate(weights, start=1)]


@dataclass(frozen=True)
class LearnedRule(LocalRule):
    """The meta-learned rule ``dw = eta g_theta(pre, post, w, r)`` with a fixed parameter vector ``theta``."""

    theta: torch.Tensor = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(isinstance(self.theta, torch.Tensor) and self.theta.ndim == 1, "theta", type(self.theta).__name__,
                "a 1-d tensor of rule parameters")
        hidden_units(self.theta.numel())

    @classmethod
    def from_parameters(cls, parameters: Sequence[float], device: str = "cpu", **kwargs) -> LearnedRule:
        return cls(theta=torch.tensor(list(parameters), dtype=torch.float32, device=device), **kwargs)

    def apply(self, network, weights, free, target):
        reward = sign_correct(free.output, target)
        return learned_update(self.theta, weights, free.activities, reward, self.lr, self.weight_bound)


@dataclass(frozen=True)
class MetaTraining:
    """Settings of :func:`meta_train` (rate network; ``n_updates`` single-example updates per inner run)."""

    task: str = "xor"
    hidden_sizes: tuple[int, ...] = (10,)
    hidden: int = 8
    n_replications: int = 32
    n_updates: int = 200
    meta_steps: int = 200
    meta_lr: float = 0.01
    lr: float = 0.01
    weight_bound: float = 1.0
    margin: float = 0.5

    def __post_init__(self) -> None:
        targets(self.task)
        require(self.margin > 0, "margin", self.margin, "> 0")
        require(self.hidden >= 1, "hidden", self.hidden, "an integer >= 1")
        for name in ("n_replications", "n_updates", "meta_steps"):
            require(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        require(self.meta_lr > 0, "meta_lr", self.meta_lr, "> 0")
        require(self.lr > 0, "lr", self.lr, "> 0")


def unrolled_loss(theta: torch.Tensor, settings: MetaTraining, network: Network, generator: torch.Generator
                  ) -> torch.Tensor:
    """Class-balanced hinge loss of fresh networks on the four patterns after ``n_updates`` updates of the
    rule: ``relu(margin - t y)`` averaged within the +1 and the -1 patterns, then over the two classes and
    the replications (zero once every output has the right sign by ``margin``)."""
    inputs, target = patterns(), targets(settings.task)
    r = settings.n_replications
    weights = initial_weights((2, *settings.hidden_sizes, 1), r, generator)
    order = torch.randint(0, len(inputs), (settings.n_updates, r), generator=generator)
    for indices in order:
        free = forward(network, weights, inputs[indices].unsqueeze(1), generator)
        reward = sign_correct(free.output, target[indices].unsqueeze(1))
        weights = learned_update(theta, weights, free.activities, reward, settings.lr, settings.weight_bound)
    outputs = forward(network, weights, inputs.expand(r, *inputs.shape), generator).output
    hinge = torch.relu(settings.margin - target * outputs)  # (R, 4, 1)
    positive = (target > 0).to(hinge.dtype)
    return 0.5 * ((hinge * positive).sum(-2) / positive.sum() + (hinge * (1 - positive)).sum(-2)
                  / (1 - positive).sum()).mean()


def initial_theta(hidden: int, generator: torch.Generator) -> torch.Tensor:
    """Random first layer (A, b ~ N(0, 1)) and a small readout (v, c ~ N(0, 0.01^2)): the rule starts
    near ``dw = 0``, so the inner networks are not driven to the weight bound (where the clip has no
    gradient) before meta-training has begun."""
    first = torch.randn(N_FEATURES * hidden + hidden, generator=generator)
    readout = 0.01 * torch.randn(hidden + 1, generator=generator)
    return torch.cat([first, readout])


def meta_train(settings: MetaTraining, seed: int) -> tuple[tuple[float, ...], list[float]]:
    """Meta-train ``theta`` on ``settings.task``; returns (flat parameters, meta-loss per step)."""
    theta = initial_theta(settings.hidden, seeding.generator(seed, "meta/init")).requires_grad_()
    optimiser = torch.optim.Adam([theta], lr=settings.meta_lr)
    network = RateNetwork()
    losses = []
    for step in range(settings.meta_steps):
        optimiser.zero_grad()
        loss = unrolled_loss(theta, settings, network, seeding.generator(seed, f"meta/step/{step}"))
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return tuple(float(v) for v in theta.detach()), losses


def rule_surface(parameters: Sequence[float], pre, post, weight: float, reward: float, is_output: bool = False):
    """``g_theta(x, y, w, r, o)`` on the grid ``post x pre`` (numpy arrays in, ``(len(post), len(pre))`` out)."""
    theta = torch.tensor(list(parameters), dtype=torch.float32)
    pre_t = torch.as_tensor(pre, dtype=torch.float32).view(1, 1, -1)
    post_t = torch.as_tensor(post, dtype=torch.float32).view(1, 1, -1)
    weight_t = torch.full((1, post_t.shape[-1], pre_t.shape[-1]), float(weight))
    with torch.no_grad():
        return synapse_delta(theta, pre_t, post_t, weight_t, torch.full((1, 1, 1), float(reward)),
                             is_output)[0].numpy()
