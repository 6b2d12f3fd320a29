"""Designed local learning rules, each one tensor operation per layer for all ``R`` replications at once.

Notation (per replication; the ``R`` replications are a batch dimension): layer ``l = 1..L`` has weights
``W_l`` (``n_l x n_{l-1}``), presynaptic activity ``x = a_{l-1}`` and postsynaptic activity ``y = a_l``
from the free pass (:func:`spikeloc.learning.local.networks.forward`), summed over the ``B`` patterns of
an update (``B = 1``: single-example updates, as the seed). ``t`` is the +-1 target, ``eta`` the learning
rate, ``clip(w) = min(max(w, -w_max), w_max)`` (``w_max = 1`` in the seed). Every rule is a frozen dataclass;
``rule.update(network, weights, inputs, target, generator)`` returns the new weights.

* :class:`SeedSupervised` -- the seed's supervised Hebbian rule: the output clamped to the target, then
  layer by layer backwards, each layer's "target" being the free activity of the layer below::

      W_L <- clip(W_L + eta t a_{L-1}^T),   W_l <- clip(W_l + eta a_l a_{l-1}^T)  for l = L-1 .. 2

  As in the seed, ``W_1`` is never changed (the seed's loop ``range(len(layers) - 1, 0, -1)`` stops
  before layer 0): the first layer keeps its random weights. With ReLU activities ``a_l >= 0`` the hidden
  updates are purely positive, so hidden weights of a deeper net grow to the clip and every unit of the
  layer ends up computing the same function (why the seed's [10, 10] nets all fail).

The next three rules shape the hidden layers without the target; the output layer learns with the
target-clamped Hebbian readout ``W_L <- clip(W_L + eta t a_{L-1}^T)`` (without it no task information
would enter the network):

* :class:`ForwardBounded` -- the seed's ``hebbian_forward`` with its soft bound ``max_weight``::

      W_l <- W_l + eta (a_l a_{l-1}^T) * (max_weight - |W_l|)     (elementwise product)

* :class:`Oja` -- Hebbian with Oja's stabiliser, row by row: ``dw_ij = eta y_i (x_j - y_i w_ij)``; the
  decay term keeps each unit's weight vector bounded (norm -> 1 for a linear unit). As a discrete map it is
  stable while ``eta y^2 < 1`` (with the seed's lr 0.01 and weights in [-1, 1], ``eta y^2 <= 0.04``); far
  beyond that the decay overshoots and diverges, as for any explicit Euler step.
* :class:`~spikeloc.learning.local.stdp.PairSTDP` (spiking networks only), in :mod:`.stdp`.

Rules with a task signal in every layer:

* :class:`RewardModulated` -- the seed's semi-supervised sketch, fixed. A global signal ``r = +1`` if the
  network's sign is right on this example, ``-1`` otherwise, gates a Hebbian update of every layer::

      W_l <- clip(W_l + eta r a_l a_{l-1}^T),   l = 1..L   (a_L the signed output)

  What was wrong in the seed: (1) the sign: it set ``context = -(2 p - 1)(1 - 2 loss)`` with ``p`` the
  binarised prediction, which is -1 for a *correct* positive prediction (anti-Hebbian on success) -- the
  opposite of its own comment; (2) it used the linear pre-activations ``W_l x`` as the postsynaptic
  activity instead of the network's ReLU/tanh activities, so the rule saw a different network from the
  one that is evaluated; (3) its "loss" is an MSE over the batch, so the signal is +-1 only for a batch
  of one; (4) it had no weight bound on the linear activities it chained. At the output ``r sign(y) = t``,
  so the readout update is the supervised one weighted by ``|y|``.
* :class:`Contrastive` -- contrastive Hebbian learning (Movellan 1991), a two-phase local rule: a free
  phase with the output free and a clamped phase with the output clamped to the target, each swept once
  layer by layer backwards with top-down feedback ``gamma W_{l+1}^T`` (the seed's "backwards, layer by
  layer" idea)::

      clamped:  c_L = t,   c_l = phi_l(W_l a_{l-1} + gamma W_{l+1}^T c_{l+1}),   c_0 = a_0
      free:     f_L = y,   f_l = phi_l(W_l a_{l-1} + gamma W_{l+1}^T f_{l+1}),   f_0 = a_0
      W_l <- clip(W_l + eta gamma^{-(L-l)} (c_l c_{l-1}^T - f_l f_{l-1}^T))

  ``clamp = beta < 1`` clamps weakly, as equilibrium propagation (Scellier & Bengio 2017) does: the clamped
  phase holds the output at ``y + beta (t - y)`` instead of ``t`` and the update is divided by ``beta``,
  so it tends to the gradient of the squared error as ``beta -> 0`` while each phase stays near the free one.

  Hebbian in the clamped phase, anti-Hebbian in the free phase; each synapse sees only its own pre and
  post activity in the two phases. ``phi_l`` is the layer's own response (ReLU, or the LIF rate from the
  same input spikes). For small ``gamma`` the update approaches the backpropagated gradient of the
  squared error (Xie & Seung 2003); the ``gamma^{-(L-l)}`` factor undoes the feedback's attenuation.
* :class:`FeedbackAlignment` -- direct feedback alignment (Lillicrap et al., Nat. Commun. 2016; Nøkland,
  NeurIPS 2016): the output error ``e = t - y`` is broadcast to every hidden layer through a fixed random
  matrix ``B_l`` (``n_l x n_L``, drawn once per network and never learned), so no synapse needs the
  forward weights of the layers above (no weight transport)::

      W_L <- clip(W_L + eta e a_{L-1}^T),   W_l <- clip(W_l + eta ((B_l e) * g_l) a_{l-1}^T),  l = 1..L-1

  ``g_l = 1[a_l > 0]`` is the unit's own gate: exactly ``relu'(h_l)`` in the rate network, and "the unit
  fired" in the spiking one (the slope of a LIF unit's rate is zero while it is silent). Each synapse
  uses its pre activity, its post unit's gate and the signal ``(B_l e)_i`` delivered to that unit. With
  ``B_l = W_{l+1}^T`` (one hidden layer) the update is exactly gradient descent on the tanh output's
  matching loss ``log cosh(h_L) - t h_L`` (its gradient in ``h_L`` is ``-e``): backpropagation; with
  random ``B_l`` the forward weights come to align with the feedback (Lillicrap et al.).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from spikeloc.learning.local.networks import Network, Pass, forward, with_bias
from spikeloc.validation import require


def hebbian_term(post: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
    """``sum_b post_b pre_b^T``: ``(R, B, n)`` x ``(R, B, m)`` -> ``(R, n, m)``."""
    return torch.matmul(post.transpose(-1, -2), pre)


def sign_correct(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``+1`` where ``sign(output)`` (0 counts as -1) equals the target on every output, else ``-1``: ``(R, B, 1)``."""
    right = (torch.where(output > 0, 1.0, -1.0).to(target.dtype) == target).all(dim=-1, keepdim=True)
    return torch.where(right, 1.0, -1.0).to(target.dtype)


@dataclass(frozen=True)
class LocalRule:
    """Learning rate ``lr`` (per update) and the hard weight bound ``weight_bound`` (``w_max``)."""

    lr: float = 0.01
    weight_bound: float = 1.0

    needs_spikes = False

    def __post_init__(self) -> None:
        require(self.lr > 0, "lr", self.lr, "> 0 (learning rate per update)")
        require(self.weight_bound > 0, "weight_bound", self.weight_bound, "> 0")

    def clip(self, weight: torch.Tensor) -> torch.Tensor:
        return weight.clamp(-self.weight_bound, self.weight_bound)

    def clamped_readout(self, weight: torch.Tensor, target: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        """``clip(W_L + eta t a_{L-1}^T)``: the target-clamped Hebbian readout."""
        return self.clip(weight + self.lr * hebbian_term(target, pre))

    def initial_state(self, weights: Sequence[torch.Tensor], generator: torch.Generator | None = None):
        """State the rule carries between updates (None: a memoryless rule); ``generator`` draws any fixed
        random numbers of the rule (the feedback matrices of :class:`FeedbackAlignment`)."""
        return None

    def step(self, network: Network, weights: Sequence[torch.Tensor], inputs: torch.Tensor, target: torch.Tensor,
             generator: torch.Generator | None, state):
        """(new weights, new state) after one update; a memoryless rule passes its state through."""
        return self.update(network, weights, inputs, target, generator), state

    def update(self, network: Network, weights: Sequence[torch.Tensor], inputs: torch.Tensor,
               target: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """New weights after one update on ``inputs`` ``(R, B, n_0)`` with targets ``(R, B, n_L)``."""
        return self.apply(network, weights, forward(network, weights, inputs, generator), target)

    def apply(self, network: Network, weights: Sequence[torch.Tensor], free: Pass,
              target: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError


@dataclass(frozen=True)
class SeedSupervised(LocalRule):
    """The seed's target-clamped, backwards, layer-by-layer Hebbian rule (module doc). The seed never changes
    the first layer; ``learn_first_layer=True`` lets it learn by the same rule, ``W_1 <- clip(W_1 + eta a_1 a_0^T)``."""

    learn_first_layer: bool = False

    def apply(self, network, weights, free, target):
        a = free.activities
        posts = [None, *a[1:-1], target]  # the "target" of layer l: clamped output, else the free activity
        first = 1 if self.learn_first_layer else 2
        return weights[:first - 1] + [self.clip(w + self.lr * hebbian_term(posts[l], free.pre(l)))
                                      for l, w in enumerate(weights[first - 1:], start=first)]


@dataclass(frozen=True)
class HiddenRule(LocalRule):
    """A rule for hidden layers without the target, plus the target-clamped Hebbian readout."""

    def hidden_delta(self, network: Network, weight: torch.Tensor, post: torch.Tensor, pre: torch.Tensor,
                     layer: int, free: Pass) -> torch.Tensor:
        raise NotImplementedError

    def hidden_weight(self, weight: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        return self.clip(weight + delta)

    def apply(self, network, weights, free, target):
        a = free.activities
        hidden = [self.hidden_weight(w, self.hidden_delta(network, w, a[l], free.pre(l), l, free))
                  for l, w in enumerate(weights[:-1], start=1)]
        return hidden + [self.clamped_readout(weights[-1], target, free.pre(len(weights)))]


@dataclass(frozen=True)
class ForwardBounded(HiddenRule):
    """The seed's ``hebbian_forward``: ``dW = eta (y x^T) * (max_weight - |W|)`` (soft bound)."""

    max_weight: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.max_weight > 0, "max_weight", self.max_weight, "> 0")

    def hidden_delta(self, network, weight, post, pre, layer, free):
        return self.lr * hebbian_term(post, pre) * (self.max_weight - weight.abs())

    def hidden_weight(self, weight, delta):
        return weight + delta  # bounded by the soft bound itself


@dataclass(frozen=True)
class Oja(HiddenRule):
    """Oja's rule ``dw_ij = eta sum_b y_i (x_j - y_i w_ij)``: Hebbian growth with a decay that bounds it."""

    def hidden_delta(self, network, weight, post, pre, layer, free):
        return self.lr * (hebbian_term(post, pre) - (post * post).sum(dim=-2).unsqueeze(-1) * weight)

    def hidden_weight(self, weight, delta):
        return weight + delta  # no clip: the stabiliser is the point


@dataclass(frozen=True)
class RewardModulated(LocalRule):
    """``W_l <- clip(W_l + eta r a_l a_{l-1}^T)`` with the global ``r = +1`` (right) / ``-1`` (wrong)."""

    def apply(self, network, weights, free, target):
        a = free.activities
        reward = sign_correct(free.output, target)  # (R, B, 1): one signal per replication and example
        return [self.clip(w + self.lr * hebbian_term(reward * a[l], free.pre(l)))
                for l, w in enumerate(weights, start=1)]


@dataclass(frozen=True)
class Contrastive(LocalRule):
    """Contrastive Hebbian learning with one backward sweep per phase (module doc); ``feedback`` = gamma."""

    feedback: float = 0.5
    clamp: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 < self.feedback <= 1, "feedback", self.feedback, "in (0, 1] (top-down gain gamma)")
        require(0 < self.clamp <= 1, "clamp", self.clamp, "in (0, 1] (clamping strength beta)")

    def sweep(self, network: Network, weights, free: Pass, top: torch.Tensor) -> list[torch.Tensor]:
        """Activities ``[a_0, phi_1(...), ..., top]`` of one backward sweep with the output held at ``top``
        (feedback through the unit columns of ``W_{l+1}``, not its bias column)."""
        n_layers = len(weights)
        activities = [top]
        for l in range(n_layers - 1, 0, -1):
            units = free.activities[l].shape[-1]
            feedback = self.feedback * torch.matmul(activities[0], weights[l][..., :units])
            state = network.respond(free.drives[l], is_output=False, extra=feedback)
            activities.insert(0, network.activity(state, is_output=False))
        return [free.activities[0], *activities]

    def apply(self, network, weights, free, target):
        output = free.output
        clamped = self.sweep(network, weights, free, output + self.clamp * (target - output))
        unclamped = self.sweep(network, weights, free, output)
        n_layers = len(weights)
        return [self.clip(w + self.lr / (self.clamp * self.feedback ** (n_layers - l))
                          * (hebbian_term(clamped[l], with_bias(clamped[l - 1], free.bias))
                             - hebbian_term(unclamped[l], with_bias(unclamped[l - 1], free.bias))))
                for l, w in enumerate(weights, start=1)]


def feedback_matrices(weights: Sequence[torch.Tensor], generator: torch.Generator | None,
                      scale: float = 1.0) -> list[torch.Tensor]:
    """Fixed random feedback ``[B_1, ..., B_{L-1}]``, ``B_l`` ``(R, n_l, n_L)``, entries ``U(-scale, scale)``,
    all drawn from ``generator`` (on its device, then moved to the weights')."""
    require(generator is not None, "generator", generator, "a torch.Generator (it draws the feedback matrices)")
    n_outputs = weights[-1].shape[-2]
    return [scale * (2 * torch.rand((*w.shape[:-1], n_outputs), generator=generator, dtype=w.dtype,
                                    device=generator.device) - 1).to(w.device)
            for w in weights[:-1]]


def fed_back(error: torch.Tensor, feedback: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The output error ``(R, B, n_L)`` as each hidden layer receives it: ``B_l e``, ``(R, B, n_l)`` per layer."""
    return [torch.matmul(error, b.transpose(-1, -2)) for b in feedback]


@dataclass(frozen=True)
class FeedbackAlignment(LocalRule):
    """Direct feedback alignment (module doc): the output error reaches hidden unit ``i`` of layer ``l`` as
    ``(B_l e)_i``, ``B_l`` fixed, ``U(-feedback_scale, feedback_scale)`` per entry, one per network; the
    matrices are the rule's state, drawn by :meth:`initial_state` and passed through unchanged."""

    feedback_scale: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.feedback_scale > 0, "feedback_scale", self.feedback_scale, "> 0 (bound of B's entries)")

    def initial_state(self, weights, generator=None) -> list[torch.Tensor]:
        return feedback_matrices(weights, generator, self.feedback_scale)

    def step(self, network, weights, inputs, target, generator, state):
        free = forward(network, weights, inputs, generator)
        error = target - free.output  # (R, B, n_L)
        signals = [signal * (free.activities[l] > 0).to(error.dtype)
                   for l, signal in enumerate(fed_back(error, state), start=1)]
        return [self.clip(w + self.lr * hebbian_term(post, free.pre(l)))
                for l, (w, post) in enumerate(zip(weights, [*signals, error]), start=1)], state

    def apply(self, network, weights, free, target):
        raise TypeError("FeedbackAlignment updates through step() (its state holds the feedback matrices)")
