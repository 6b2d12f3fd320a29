"""Unsupervised learning by competing hidden units (Krotov & Hopfield, PNAS 2019), its stacking, and readouts.

The rule
--------
A layer of ``H`` hidden units with weights ``W`` (H, N) sees a minibatch of inputs ``v`` (B, N) (any units; the
rule is invariant to the input's scale unless the precision floor bites). Unit ``mu`` receives the current

    I[mu, b] = sum_i sign(W[mu, i]) |W[mu, i]|^(p-1) v[b, i]            (the Lebesgue-p inner product <W_mu, v_b>)

and the hidden units compete through global inhibition: for each sample ``b`` the unit with the largest current
gets g = +1 (Hebbian), the unit ranked ``k``-th gets g = -delta (anti-Hebbian), all others g = 0. The update

    ds[mu, i] = sum_b g[mu, b] v[b, i]  -  (sum_b g[mu, b] I[mu, b]) W[mu, i]
    W        += eps * ds / max(max|ds|, precision),     eps = lr * (1 - epoch / epochs)

moves each winner towards its inputs while the second term drives ``||W_mu||_p`` to 1. Samples are visited in
a fresh random order every epoch, in minibatches of ``batch_size`` (the last one may be smaller).

Only the rows of units that won or ranked k-th in the batch (at most 2B of H) have non-zero ``ds``, so the
fast implementation (:func:`learn_features`) computes and updates just those rows, uses ``topk`` instead of a
full sort, and keeps ``sign(W)|W|^(p-1)`` up to date row by row. It gives the same weights as the literal
transcription of the seed's loop (:func:`reference_learn_features`) up to floating-point summation order.
Random numbers (initial weights, then one permutation per epoch) come from one CPU generator (the layer's own
named stream, :func:`layer_stream`), so the draws do not depend on the device (on CUDA, ``index_add_`` adds atomically, so the last bits may vary between runs).

Flaws of the seed fixed here: its initial weights are ``torch.rand`` (uniform in [0, 1); Krotov's code draws
N(0, 1)): both are offered as ``init``; its minibatch loop fails when the batch size does not divide the data
size; ``k = 1`` silently overwrites the winner with the anti-Hebbian value (k >= 2 is required here).

Stacking
--------
:func:`learn_stack` trains layer l+1 on the output of layer l: the hidden activities ``a = ReLU(W_l v)^n``
(Krotov's activation), optionally divided by their sum over the layer's units (divisive normalisation,
``a / sum_j a_j``: every sample then weighs the same in layer l+1's competition), then passed either through a
static (never learned) square connection whose presynaptic units obey Dale's law (a fraction of the units
inhibitory; the seed's multi-layer E/I network, built with :class:`spikeloc.substrate.synapses.Synapses` and
``dale_signs``) or straight on (``connection = "identity"``).

Readouts
--------
:func:`krotov_readout`: Krotov & Hopfield's supervised top layer on hidden activities ``h``:
``c = tanh(beta * S . ReLU(h / h_max)^n)`` (h_max the largest training activity), loss
``sum_alpha |c_alpha - t_alpha|^m`` with targets t = +1 for the true class and -1 otherwise, trained with Adam,
minibatches, learning rate decaying linearly over epochs; it returns ``{"train_acc", "test_acc"}`` (fractions,
and ``"val_acc"`` when given a validation split). Baselines on the same split (softmax regression on the
pixels, a backprop MLP) are :func:`spikeloc.learning.baselines.fit_mlp`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from spikeloc import seeding
from spikeloc.learning.baselines import plain_learner
from spikeloc.learning.trainer import MemberData, TrainConfig, fit
from spikeloc.substrate.synapses import Synapses, dale_signs, uniform_fan_in
from spikeloc.validation import require, require_choice, require_finite, require_tensor

INITS = ("normal", "uniform")
CONNECTIONS = ("dale", "identity")
NORMALISATIONS = ("none", "divisive")
RULE_STREAM = "competing-units"
CONNECTION_STREAM = "competing-connections"


@dataclass(frozen=True)
class KrotovConfig:
    """Settings of the competing-units rule (defaults: Krotov & Hopfield's MNIST network).

    ``p`` is the Lebesgue exponent (>= 1), ``k`` the rank of the anti-Hebbian unit (2 <= k <= hidden_units),
    ``delta`` its strength (>= 0), ``precision`` the floor of the update's normaliser, ``lr`` the initial
    learning rate (decaying linearly to lr / epochs in the last epoch), ``init`` the initial weights: "normal"
    N(0, 1) (Krotov's code) or "uniform" U[0, 1) (the seed's notebook).
    """

    hidden_units: int = 2000
    p: float = 3.0
    k: int = 7
    delta: float = 0.4
    precision: float = 1e-30
    lr: float = 0.02
    epochs: int = 100
    batch_size: int = 100
    init: str = "normal"
    seed: int = 0

    def __post_init__(self) -> None:
        require(isinstance(self.hidden_units, int) and self.hidden_units >= 2, "hidden_units", self.hidden_units,
                "an integer >= 2")
        require(self.p >= 1, "p", self.p, ">= 1")
        require(isinstance(self.k, int) and 2 <= self.k <= self.hidden_units, "k", self.k,
                f"an integer in [2, hidden_units = {self.hidden_units}]")
        require(self.delta >= 0, "delta", self.delta, ">= 0")
        require(self.precision > 0, "precision", self.precision, "> 0")
        require(self.lr > 0, "lr", self.lr, "> 0")
        require(isinstance(self.epochs, int) and self.epochs >= 1, "epochs", self.epochs, "an integer >= 1")
        require(isinstance(self.batch_size, int) and self.batch_size >= 1, "batch_size", self.batch_size,
                "an integer >= 1")
        require_choice(self.init, "init", INITS)
        require(isinstance(self.seed, int), "seed", self.seed, "an integer")


def _require_features(data: torch.Tensor, field: str, n_inputs: int | None = None) -> None:
    """``data`` must be a finite 2-D floating tensor (samples, inputs) with ``n_inputs`` columns when given."""
    require_tensor(data, field, ("floating",), (2,), "(samples, inputs)")
    require_finite(data, field)
    if n_inputs is not None:
        require(data.shape[1] == n_inputs, field, f"{data.shape[1]} inputs per sample",
                f"{n_inputs} inputs per sample (the width of the weights)")


def lebesgue_weights(weights: torch.Tensor, p: float) -> torch.Tensor:
    """``sign(W) |W|^(p-1)``: the currents are ``v @ lebesgue_weights(W, p).T``."""
    if p == 2:
        return weights.clone()
    return weights.abs().pow_(p - 1).mul_(weights.sign())


def initial_weights(config: KrotovConfig, n_inputs: int, generator: torch.Generator) -> torch.Tensor:
    """Initial weights (hidden_units, n_inputs), float32 on the CPU, drawn from ``generator``."""
    shape = (config.hidden_units, n_inputs)
    if config.init == "normal":
        return torch.randn(shape, generator=generator)
    return torch.rand(shape, generator=generator)


def _learning_rate(config: KrotovConfig, epoch: int) -> float:
    return config.lr * (1 - epoch / config.epochs)


def layer_stream(layer: int) -> str:
    """The named random stream of stacked layer ``layer`` (0 = the first): ``RULE_STREAM`` for the first layer
    (so a one-layer stack draws what :func:`learn_features` draws by default), ``RULE_STREAM/layer-<l + 1>`` for
    the others. The seed's multi-layer network gave every layer the same stream, so layer 2 started from the
    same normal draws as layer 1; here each layer has its own."""
    require(isinstance(layer, int) and layer >= 0, "layer", layer, "an integer >= 0")
    return RULE_STREAM if layer == 0 else f"{RULE_STREAM}/layer-{layer + 1}"


def learn_features(config: KrotovConfig, data: torch.Tensor, stream: str = RULE_STREAM) -> torch.Tensor:
    """Weights (hidden_units, inputs) learned by the competing-units rule on ``data`` (samples, inputs).

    Runs on ``data``'s device and dtype; random numbers come from the named stream ``stream`` of
    ``config.seed``: the initial weights, then one permutation of the samples per epoch.
    """
    _require_features(data, "data")
    generator = seeding.generator(config.seed, stream)
    weights = initial_weights(config, data.shape[1], generator).to(data)
    powered = lebesgue_weights(weights, config.p)
    n, last = len(data), config.k - 1
    for epoch in range(config.epochs):
        eps = _learning_rate(config, epoch)
        order = torch.randperm(n, generator=generator).to(data.device)
        for start in range(0, n, config.batch_size):
            batch = data[order[start:start + config.batch_size]]
            currents, ranked = (batch @ powered.T).topk(config.k, dim=1)  # (B, k), descending
            winners, losers = ranked[:, 0], ranked[:, last]
            rows, slot = torch.unique(torch.cat([winners, losers]), return_inverse=True)
            winner_slot, loser_slot = slot[:len(batch)], slot[len(batch):]
            hebbian = torch.zeros(len(rows), data.shape[1], dtype=data.dtype, device=data.device)
            hebbian.index_add_(0, winner_slot, batch).index_add_(0, loser_slot, batch, alpha=-config.delta)
            drive = torch.zeros(len(rows), dtype=data.dtype, device=data.device)
            drive.index_add_(0, winner_slot, currents[:, 0]).index_add_(0, loser_slot, currents[:, last],
                                                                          alpha=-config.delta)
            rows_weights = weights[rows]
            update = hebbian.sub_(drive[:, None] * rows_weights)  # ds on the rows that took part
            update.div_(update.abs().max().clamp(min=config.precision)).mul_(eps)
            rows_weights += update
            weights.index_copy_(0, rows, rows_weights)
            powered.index_copy_(0, rows, lebesgue_weights(rows_weights, config.p))
    return weights


def reference_learn_features(config: KrotovConfig, data: torch.Tensor) -> torch.Tensor:
    """The seed's ``unsupervised_bio_learning`` loop transcribed literally (full argsort, dense ``yl``,
    ``repeat``), drawing the same random numbers as :func:`learn_features`. The reference that the fast rule
    is tested and benchmarked against; like the seed, it needs ``batch_size`` to divide the number of samples.
    """
    _require_features(data, "data")
    require(len(data) % config.batch_size == 0, "batch_size", config.batch_size,
            f"a divisor of the number of samples ({len(data)}) in the seed's loop")
    generator = seeding.generator(config.seed, RULE_STREAM)
    device = data.device
    n_hidden, n_input, batch_size = config.hidden_units, data.shape[1], config.batch_size
    synapses = initial_weights(config, n_input, generator).to(data)
    for epoch in range(config.epochs):
        eps = _learning_rate(config, epoch)
        shuffled_epoch_data = data[torch.randperm(len(data), generator=generator).to(device), :]
        for i in range(0, len(data), batch_size):
            mini_batch = shuffled_epoch_data[i:i + batch_size, :]
            mini_batch = mini_batch.transpose(0, 1)
            sign = torch.sign(synapses)
            tot_input = torch.mm(sign * torch.abs(synapses).pow(config.p - 1), mini_batch)
            y = torch.argsort(tot_input, dim=0)
            yl = torch.zeros((n_hidden, batch_size), dtype=data.dtype, device=device)
            yl[y[n_hidden - 1, :], torch.arange(batch_size, device=device)] = 1.0
            yl[y[n_hidden - config.k, :], torch.arange(batch_size, device=device)] = -config.delta
            xx = torch.sum(torch.mul(yl, tot_input), 1)
            ds = torch.matmul(yl, torch.transpose(mini_batch, 0, 1)) - torch.mul(
                xx.reshape(xx.shape[0], 1).repeat(1, n_input), synapses)
            nc = torch.max(torch.abs(ds))
            if nc < config.precision:
                nc = config.precision
            synapses += torch.mul(torch.div(ds, nc), eps)
    return synapses


def hidden_activities(weights: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """Hidden activities ``h = ReLU(v @ W.T)`` (samples, hidden units): the learned features for a readout.

    The plain dot product of Krotov & Hopfield's classifier (their eq. 9, before the power n).
    """
    _require_features(data, "data", weights.shape[1])
    return torch.relu(data @ weights.T)


@dataclass(frozen=True)
class StackConfig:
    """Layers trained one after the other, each by the competing-units rule on the previous layer's output.

    Between consecutive layers the activities ``ReLU(W_l v)^n`` (n = ``activation_power``) of layer l's units,
    divided by their sum over the units when ``normalisation = "divisive"``, reach layer l+1's inputs through
    ``connection``: ``"dale"`` (the seed's) a static square connection whose magnitudes are uniform in
    [0, 1/sqrt(units)] and whose presynaptic units are excitatory or inhibitory (``inhibitory_fraction`` of
    them, chosen at random from ``seed``), or ``"identity"`` (straight on).
    """

    layers: tuple[KrotovConfig, ...]
    inhibitory_fraction: float = 0.2
    activation_power: float = 1.0
    seed: int = 0
    connection: str = "dale"
    normalisation: str = "none"

    def __post_init__(self) -> None:
        require(isinstance(self.layers, tuple) and len(self.layers) >= 1
                and all(isinstance(layer, KrotovConfig) for layer in self.layers),
                "layers", self.layers, "a non-empty tuple of KrotovConfig")
        require(0 <= self.inhibitory_fraction <= 1, "inhibitory_fraction", self.inhibitory_fraction, "in [0, 1]")
        require(self.activation_power >= 1, "activation_power", self.activation_power, ">= 1")
        require(isinstance(self.seed, int), "seed", self.seed, "an integer")
        require_choice(self.connection, "connection", CONNECTIONS)
        require_choice(self.normalisation, "normalisation", NORMALISATIONS)


def connected_activity(weights: torch.Tensor, connection: Synapses | None, power: float, normalisation: str,
                       layer_input: torch.Tensor) -> torch.Tensor:
    """The next layer's input for this layer's weights ``W`` and input ``v``: ``a = ReLU(W v)^power``, divided by
    ``sum_j a_j`` per sample if ``normalisation == "divisive"`` (a sample with no activity stays 0), then through
    ``connection`` (None: the identity)."""
    activity = hidden_activities(weights, layer_input).pow(power)
    if normalisation == "divisive":
        activity = activity / activity.sum(dim=1, keepdim=True).clamp(min=torch.finfo(activity.dtype).tiny)
    if connection is None:
        return activity
    with torch.no_grad():
        return connection(activity[None])[0]


@dataclass(frozen=True)
class CompetingStack:
    """Learned weights per layer and the static connections between them (one fewer; None for the identity)."""

    weights: tuple[torch.Tensor, ...]
    connections: tuple[Synapses | None, ...]
    activation_power: float
    normalisation: str = "none"

    def transform(self, data: torch.Tensor) -> torch.Tensor:
        """Hidden activities ``ReLU(W v)`` of the last layer (samples, its hidden units) for ``data``."""
        for weights, connection in zip(self.weights, self.connections):
            data = connected_activity(weights, connection, self.activation_power, self.normalisation, data)
        return hidden_activities(self.weights[-1], data)


def static_connection(n_units: int, inhibitory_fraction: float, generator: torch.Generator) -> Synapses:
    """A fixed square connection (one member) from ``n_units`` Dale-signed presynaptic units."""
    magnitudes = uniform_fan_in(n_units, n_units, generator).abs()
    signs = dale_signs(n_units, inhibitory_fraction, generator)
    connection = Synapses(magnitudes[None], signs[None])
    connection.requires_grad_(False)
    return connection


def learn_stack(config: StackConfig, data: torch.Tensor) -> CompetingStack:
    """Train ``config.layers`` in turn on ``data`` (samples, inputs); see :class:`StackConfig`. Layer l draws
    from its own stream :func:`layer_stream` (l) of its config's seed."""
    _require_features(data, "data")
    generator = seeding.generator(config.seed, CONNECTION_STREAM)
    weights, connections = [learn_features(config.layers[0], data, layer_stream(0))], []
    layer_input = data
    for index, (previous, layer) in enumerate(zip(config.layers, config.layers[1:]), start=1):
        connections.append(None if config.connection == "identity" else static_connection(
            previous.hidden_units, config.inhibitory_fraction, generator).to(data.device, data.dtype))
        layer_input = connected_activity(weights[-1], connections[-1], config.activation_power,
                                         config.normalisation, layer_input)
        weights.append(learn_features(layer, layer_input, layer_stream(index)))
    return CompetingStack(tuple(weights), tuple(connections), config.activation_power, config.normalisation)


# ---------------------------------------------------------------- readouts


@dataclass(frozen=True)
class TrainerConfig:
    """Supervised training of a readout or baseline: Adam, ``lr`` decaying linearly over ``epochs``."""

    epochs: int = 60
    lr: float = 1e-3
    batch_size: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        require(isinstance(self.epochs, int) and self.epochs >= 1, "epochs", self.epochs, "an integer >= 1")
        require(self.lr > 0, "lr", self.lr, "> 0")
        require(isinstance(self.batch_size, int) and self.batch_size >= 1, "batch_size", self.batch_size,
                "an integer >= 1")
        require(isinstance(self.seed, int), "seed", self.seed, "an integer")


@dataclass(frozen=True)
class KrotovReadoutConfig:
    """Krotov & Hopfield's top layer: ``c = tanh(beta * S . ReLU(h / h_max)^power)``, loss ``sum |c - t|^loss_power``.

    Defaults: n = 4.5 and m = 6 as Krotov & Hopfield's MNIST network; beta = 30 for activities scaled to
    h_max = 1 is only a starting value. It is not tuned: every reported row chooses beta per seed on the
    validation split from one grid, :data:`spikeloc.studies.competing_units.KROTOV_BETAS`. (An earlier version had
    picked 30 on the test split.)
    """

    power: float = 4.5
    loss_power: float = 6.0
    beta: float = 30.0

    def __post_init__(self) -> None:
        require(self.power >= 1, "power", self.power, ">= 1")
        require(self.loss_power >= 1, "loss_power", self.loss_power, ">= 1")
        require(self.beta > 0, "beta", self.beta, "> 0")


Split = tuple[torch.Tensor, torch.Tensor]  # (features (samples, inputs) float, labels (samples,) int64)


def _require_splits(splits: dict[str, Split]) -> int:
    """Check the named splits (``"train"`` first); returns the number of classes (max label + 1 over all)."""
    width = None
    for name, (features, labels) in splits.items():
        _require_features(features, f"{name} features", width)
        width = features.shape[1]
        require(labels.shape == (len(features),) and not labels.is_floating_point() and labels.min() >= 0,
                f"{name} labels", tuple(labels.shape), f"non-negative integers shaped ({len(features)},)")
    return int(max(labels.max() for _, labels in splits.values())) + 1


def _fit(parameters: Sequence[torch.Tensor], model: Callable[[torch.Tensor], torch.Tensor],
         loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], trainer: TrainerConfig,
         splits: dict[str, Split]) -> dict[str, float]:
    """Adam on ``loss(model(x), labels)`` over minibatches of ``splits["train"]`` in spikeloc's trainer
    (:mod:`spikeloc.learning.trainer`: every batch, the last incomplete one too; the learning rate decaying
    linearly per epoch; no early stop, the last weights kept); accuracies on every split by argmax of
    ``model(x)``."""
    config = TrainConfig(epochs=trainer.epochs, lr=trainer.lr, batch_size=trainer.batch_size, lr_schedule="linear",
                         drop_last=False)
    fit(plain_learner(model, parameters, trainer.seed, "readout-batches", loss), MemberData.stack([splits["train"]]),
        None, config)
    with torch.no_grad():
        return {f"{name}_acc": (model(x).argmax(dim=1) == y).double().mean().item()
                for name, (x, y) in splits.items()}


def _parameter(tensor: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return tensor.to(like).requires_grad_(True)


def krotov_readout(readout: KrotovReadoutConfig, trainer: TrainerConfig, train: Split, test: Split,
                   validation: Split | None = None) -> dict[str, float]:
    """Krotov & Hopfield's supervised top layer on hidden activities ``h`` (e.g. :func:`hidden_activities`).

    ``c_alpha = tanh(beta * sum_mu S[mu, alpha] ReLU(h_mu / h_max)^n)``; loss per sample
    ``sum_alpha |c_alpha - t_alpha|^m`` (batch mean), t = +1 for the true class, -1 for the others. ``h_max`` is
    the largest activity on the training split, so ``beta`` does not depend on the scale of the inputs or weights.
    ``S`` starts uniform in +-1/sqrt(hidden units). Trained for ``trainer.epochs`` (the validation split, when
    given, is only measured: ``val_acc``).
    """
    splits = {"train": train, "test": test, **({"val": validation} if validation is not None else {})}
    n_classes = _require_splits(splits)
    generator = seeding.generator(trainer.seed, "readout-init")
    weights = _parameter(uniform_fan_in(train[0].shape[1], n_classes, generator), train[0])
    scale = train[0].max().clamp(min=torch.finfo(train[0].dtype).tiny)

    def model(h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(readout.beta * torch.relu(h / scale).pow(readout.power) @ weights)

    def loss(output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        targets = F.one_hot(labels, n_classes).to(output) * 2 - 1
        return (output - targets).abs().pow(readout.loss_power).sum(dim=1).mean()

    return _fit([weights], model, loss, trainer, splits)
