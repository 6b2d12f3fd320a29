"""The one training loop of spikeloc: minibatch gradient descent on K independent members, with hooks, for
spiking classifiers (:mod:`spikeloc.learning.surrogate`) and plain networks (:mod:`spikeloc.learning.baselines`,
the readouts of :mod:`spikeloc.learning.competing`) alike.

What is trained is a :class:`Learner`: K members' parameters, their forward pass (training or evaluation),
their loss and their class decisions. A spiking classifier is K members batched in one model; a plain
``nn.Module`` (or a closure over tensors) is K = 1.

Per epoch: a fresh permutation of the training samples per member (its seed's ``shuffle_stream``), mini-batches
in that order (the last incomplete batch dropped unless ``drop_last=False``), and per batch:

1. every hook's ``before_batch()``; the forward pass in training mode; the loss per member plus every hook's
   ``penalty()`` (the objective; the reported loss is the loss alone);
2. ``backward()`` of the objective summed over the members that are still training and whose objective is
   finite;
3. a member that has stopped (see below), or whose objective or gradient is non-finite, is **skipped**: its
   gradients are zeroed (so hooks see zeros), and after the optimiser's step and the hooks' ``after_step()``
   its weights and its slice of the optimiser's per-weight state (Adam's moments) are exactly what they were
   before the step: it gets no update from that batch, not even from momentum or from a hook. (Adam counts
   steps once per tensor, shared by the members: a skipped member's bias correction still counts the batch.)
   A member skipped for a non-finite number gets a NaN epoch loss, which marks it diverged;
4. every hook's ``before_step()``; the optimiser's step; every hook's ``after_step()``; the learning-rate
   schedule's step (per batch for ``"cosine"``).

What is optimised: the learner's parameters and the tensors of every hook's ``parameter_groups()`` (e.g. a
learned noise model, at its own learning rate), all with the members on their leading axis. Skipping, early
stopping and the best-epoch weights cover them alike.

After the epoch: every hook's ``end_epoch()``, then (with validation data) a validation pass without dropout.
Early stopping keeps, per member, the weights of the epoch with the lowest validation loss; a member stops
after ``patience`` epochs without improvement or when it diverges (a non-finite training or validation loss),
and training ends when every member has stopped. Without validation data every epoch runs (for members that do
not diverge) and the last weights are kept.

A stopped member is **frozen** while its companions train on: every batch skips it (above), its losses and
validation scores of later epochs are recorded as NaN and nothing in them (a NaN included) changes its
divergence, best epoch or stop; hooks hear of its stop (``members_stopped``) so they can freeze their own
state of it. Its row (epochs run, best epoch, divergence, histories up to its stop, final weights) is what it
would be trained alone. Frozen members are masked, not dropped from the batch: their forward and validation
passes still run (a member's compute is a slice of one batched model).

Members are independent: the objective is the SUM of the members' mean losses, so a member's gradient is its
own loss's gradient, Adam acts elementwise, and each member draws its batch order (and, in a spiking
learner, dropout masks and encodings) from its own seed.

**Devices.** The loop is device-agnostic under these assumptions, which a learner on another device must
keep: every parameter lives on one device and has the members on its leading axis (any shape when K = 1), and
is contiguous (per-member slices are views ``p.view(K, -1)``); the data (:class:`MemberData`) live on the
device the learner computes on; batch orders are drawn on the CPU (so the same seed gives the same order on
every device) and moved to the data's device; encoding and dropout generators are made on the data's device;
losses, masks and histories are kept on the CPU (one small transfer per batch); the best-validation weights
are kept on the parameters' device. Nothing here picks a device.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn
from tqdm.auto import tqdm

from spikeloc import seeding
from spikeloc.learning.losses import LossConfig
from spikeloc.validation import (
    describe,
    require,
    require_choice,
    require_finite,
    require_flag,
    require_instance,
    require_integer,
    require_labels,
    require_number,
    require_tensor,
    require_type,
)

LR_SCHEDULES = ("constant", "cosine", "linear")


class Encoder(Protocol):
    """Turns values (..., features) into inputs over time (..., T, features); see spikeloc.substrate.encoders."""

    def encode(self, values: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor: ...

    def check_values(self, values: torch.Tensor, field: str) -> None:
        """Raise ``ValueError`` naming ``field`` unless ``encode`` accepts every one of ``values``."""


class TrainingHook:
    """What the trainer drives around every optimiser step, in this order per batch:

    1. ``before_batch()``, before the forward pass (e.g. draw fresh weight noise);
    2. ``penalty()``: a term per member (K,) added to the objective that is differentiated (not to the
       reported loss);
    3. ``before_step()``, after ``backward()`` and after the gradients of skipped members (non-finite
       objective or gradient) are zeroed: the gradients are final (e.g. transform them);
    4. ``after_step()``, after the optimiser step (e.g. transform the update, replace weights); whatever it
       does to a skipped member's weights is undone after it;
    5. ``end_epoch()``, after the last batch of an epoch, before validation;
    6. ``members_stopped(stopped)`` after an epoch's validation in which members stopped: ``stopped`` (K,) bool
       marks the members that stopped at this epoch. They get no update from here on (the trainer holds their
       weights and optimiser state); a hook leaves its own state of them as it is.

    ``parameter_groups()``: the hook's own trained tensors as optimiser parameter groups (``{"params": [...],
    "lr": ...}``, members on each tensor's leading axis; empty for none): the trainer's Adam optimises them
    with the learner's parameters, so they are skipped, frozen and restored to the best epoch with them.

    Hooks run in the order given. A hook subclasses this class and overrides what it acts on: every method
    here does nothing (no penalty, no tensors of its own). Implementations:
    :class:`spikeloc.learning.neuromodulation.NoiseTraining` (weight noise),
    :class:`spikeloc.learning.bio.BioPlasticity` (plasticity transforms),
    :class:`spikeloc.learning.averaging.WeightAverage` and the robust-training hooks of
    :mod:`spikeloc.perturbations.training`.
    """

    def before_batch(self) -> None:
        pass

    def penalty(self) -> torch.Tensor:
        return torch.zeros(())

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        pass

    def end_epoch(self) -> None:
        pass

    def members_stopped(self, stopped: torch.Tensor) -> None:
        pass

    def parameter_groups(self) -> list[dict[str, Any]]:
        return []


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by all members.

    ``lr_schedule``: ``"constant"`` (the IPD seed's); ``"cosine"``, the learning rate after optimiser step ``s``
    of ``S = epochs * batches per epoch`` being ``lr * (1 + cos(pi s / S)) / 2`` (``CosineAnnealingLR`` to 0,
    stepped every batch); ``"linear"``, ``lr * (1 - e / epochs)`` throughout epoch ``e = 0, 1, ...`` (Krotov &
    Hopfield's readout). There is no reduce-on-plateau: one learning rate serves all K members (Adam's step
    size is invariant to scaling a member's gradient, so it cannot be set per member), and letting the
    members' shared validation loss drive it would couple members that are meant to be independent.
    ``drop_last``: drop the last incomplete batch of an epoch (the IPD seed does). ``loss``: the loss of a
    spiking classifier (:func:`spikeloc.learning.surrogate.fit`); a plain learner brings its own.
    """

    epochs: int = 10
    lr: float = 0.005
    batch_size: int = 64
    patience: int = 10
    loss: LossConfig = LossConfig()
    eval_batch_size: int = 512
    lr_schedule: str = "constant"
    drop_last: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience", "eval_batch_size"):
            require_integer(getattr(self, name), name, minimum=1)
        require_number(self.lr, "lr", above=0)
        require_instance(self.loss, "loss", LossConfig)
        require_choice(self.lr_schedule, "lr_schedule", LR_SCHEDULES)
        require_flag(self.drop_last, "drop_last")

    def batches_per_epoch(self, n_samples: int) -> int:
        return n_samples // self.batch_size if self.drop_last else math.ceil(n_samples / self.batch_size)


@dataclass(frozen=True)
class MemberData:
    """The datasets of K members. ``inputs`` (D, N, ...) and ``labels`` (D, N) hold D distinct datasets;
    member k reads dataset ``source[k]`` (members with equal data share it). Inputs are spikes
    (D, N, T, features), bool or float, or plain features (D, N, features), when ``encoder`` is None, else
    values (D, N, features) that ``encoder`` turns into (T, features) per sample, batch by batch.

    Checked once, on construction (``ValueError`` naming ``inputs``, ``labels``, ``source`` or ``encoder``;
    ``TypeError`` too for a wrong type or dtype): every size >= 1; float inputs finite, or values the encoder
    accepts (its :meth:`~Encoder.check_values`); labels int64 class indices >= 0 (whether they are below a
    network's class count is checked where the network is known: :func:`fit`, and
    :func:`spikeloc.learning.surrogate.evaluate`); ``source`` an int64 index (K,) into the D datasets; all on
    one device."""

    inputs: torch.Tensor
    labels: torch.Tensor
    source: torch.Tensor
    encoder: Encoder | None = None

    def __post_init__(self) -> None:
        require_type(self.encoder is None or callable(getattr(self.encoder, "encode", None)), "encoder",
                     self.encoder, "None or an encoder (e.g. spikeloc.substrate.encoders.EncoderConfig)")
        require_tensor(self.inputs, "inputs", *_input_layout(self.encoder, stacked=True))
        require_tensor(self.labels, "labels", ("int64",), (2,), "(datasets, samples)")
        require(self.labels.shape == self.inputs.shape[:2], "labels", describe(self.labels),
                f"shaped (datasets, samples) = {tuple(self.inputs.shape[:2])} like the inputs")
        require_tensor(self.source, "source", ("int64",), (1,), "(members,)")
        for name in ("labels", "source"):
            require(getattr(self, name).device == self.inputs.device, name, f"on {getattr(self, name).device}",
                    f"on the inputs' device ({self.inputs.device})")
        low, high = torch.aminmax(self.source)
        require(low >= 0 and high < len(self.inputs), "source", self.source.tolist(),
                f"dataset indices in [0, {len(self.inputs) - 1}]")
        if self.encoder is None:
            require_finite(self.inputs, "inputs")
        else:
            self.encoder.check_values(self.inputs, "inputs")
        require_labels(self.labels, "labels")

    @classmethod
    def stack(cls, datasets: Sequence[tuple[torch.Tensor, torch.Tensor]], encoder: Encoder | None = None) -> MemberData:
        """Member k uses ``datasets[k] = (inputs, labels)``: inputs (N, ...) as one dataset of
        :class:`MemberData`'s, int64 labels (N,), of one shape, dtype and device for every member. The same inputs
        tensor given twice is stored once, so it must come with the same labels each time (else ``ValueError``)."""
        require_type(isinstance(datasets, Sequence) and len(datasets) >= 1
                     and all(isinstance(pair, Sequence) and len(pair) == 2 for pair in datasets), "datasets",
                     describe(datasets), "a non-empty sequence of (inputs, labels) pairs, one per member")
        layout = _input_layout(encoder, stacked=False)
        first = datasets[0][0]
        for k, (inputs, labels) in enumerate(datasets):
            require_tensor(inputs, f"datasets[{k}] inputs", *layout)
            require_tensor(labels, f"datasets[{k}] labels", ("int64",), (1,), "(samples,)")
            require(labels.shape == inputs.shape[:1] and labels.device == inputs.device, f"datasets[{k}] labels",
                    f"{describe(labels)} on {labels.device}", f"one per input sample ({len(inputs)}), on the "
                    f"inputs' device ({inputs.device})")
            require(inputs.shape == first.shape and inputs.dtype == first.dtype and inputs.device == first.device,
                    f"datasets[{k}] inputs", f"{describe(inputs)} on {inputs.device}",
                    f"of datasets[0]'s shape, dtype and device ({describe(first)} on {first.device})")
        distinct: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for k, (inputs, labels) in enumerate(datasets):
            kept = distinct.setdefault(id(inputs), (inputs, labels))[1]
            require(labels is kept or torch.equal(labels, kept), "datasets",
                    f"member {k} with an earlier member's inputs tensor but other labels",
                    "one labels tensor per inputs tensor (give a copy of the inputs for other labels)")
        position = {key: i for i, key in enumerate(distinct)}
        source = torch.tensor([position[id(inputs)] for inputs, _ in datasets], device=first.device)
        return cls(torch.stack([inputs for inputs, _ in distinct.values()]),
                   torch.stack([labels for _, labels in distinct.values()]), source, encoder)

    @property
    def n_samples(self) -> int:
        return self.labels.shape[1]

    def for_epoch(self, epoch: int) -> MemberData:
        """Fixed training data (:class:`TrainingData`): the same samples every epoch."""
        return self

    def member_labels(self, k: int) -> torch.Tensor:
        return self.labels[self.source[k]]

    def batch(self, indices: torch.Tensor, generators: Sequence[torch.Generator] | None = None,
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (K, b, ...) and labels (K, b) at per-member sample ``indices`` (K, b); values are encoded with
        member k's ``generators[k]``."""
        datasets = self.source[:, None]
        return self._encoded(self.inputs[datasets, indices], generators), self.labels[datasets, indices]

    def chunks(self, size: int, generators: Sequence[torch.Generator] | None = None,
               ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Consecutive (inputs, labels) chunks of ``size`` samples per member, in order."""
        for start in range(0, self.n_samples, size):
            window = slice(start, start + size)
            yield self._encoded(self.inputs[self.source, window], generators), self.labels[self.source, window]

    def encode_generators(self, seeds: Sequence[int], stream: str) -> list[torch.Generator] | None:
        """One generator per member (from its seed) for encoding; None when inputs need no encoding."""
        if self.encoder is None:
            return None
        return [seeding.generator(seed, stream, self.inputs.device) for seed in seeds]

    def _encoded(self, inputs: torch.Tensor, generators: Sequence[torch.Generator] | None) -> torch.Tensor:
        if self.encoder is None:
            return inputs
        require(generators is not None and len(generators) == inputs.shape[0], "generators",
                None if generators is None else len(generators), f"one per member ({inputs.shape[0]})")
        return torch.stack([self.encoder.encode(x, g) for x, g in zip(inputs, generators)])


def _input_layout(encoder: Encoder | None, stacked: bool) -> tuple[tuple[str, ...], tuple[int, ...], str]:
    """The dtypes, numbers of axes and shape (in words) of :class:`MemberData`'s inputs, ``stacked`` with the
    datasets' axis first or one dataset's."""
    leading = "datasets, samples" if stacked else "samples"
    extra = int(stacked)
    if encoder is not None:
        return ("bool", "integer", "floating"), (2 + extra,), f"({leading}, features) of values to encode"
    return ("bool", "floating"), (3 + extra, 2 + extra), f"({leading}, T, features) or ({leading}, features)"


class TrainingData(Protocol):
    """What :func:`fit` trains on: ``for_epoch(epoch)`` is the :class:`MemberData` of epoch ``epoch`` (1, 2, ...),
    of the same size every epoch; ``fit`` asks for each epoch once, in order."""

    def for_epoch(self, epoch: int) -> MemberData: ...


@dataclass(frozen=True)
class Learner:
    """What the trainer trains (see the module docstring).

    ``parameters``: the trained tensors, members on the leading axis (any shape when K = 1);
    ``seeds``: one per member, for its batch order (stream ``shuffle_stream``) and encodings;
    ``forward(inputs, training)``: outputs from inputs (K, b, ...) in training mode (with its own randomness,
    e.g. dropout) or evaluation mode (a tensor, or whatever ``losses`` and ``predict`` read, e.g. a spiking
    classifier's :class:`~spikeloc.networks.classifier.ReadoutTrace`); ``losses(outputs, labels)``: each
    member's mean loss (K,);
    ``predict(outputs)``: class decisions (K, b); ``module`` (if any) is switched to ``train()`` / ``eval()``;
    ``check_data(data, field)`` (if any) raises ``ValueError`` naming ``field`` unless ``data``
    (:class:`MemberData`, already valid on its own) suits the learner, e.g. its input width and class count.
    """

    parameters: tuple[torch.Tensor, ...]
    seeds: tuple[int, ...]
    forward: Callable[[torch.Tensor, bool], Any]
    losses: Callable[[Any, torch.Tensor], torch.Tensor]
    predict: Callable[[Any], torch.Tensor]
    module: nn.Module | None = None
    shuffle_stream: str = "shuffle"
    check_data: Callable[[MemberData, str], None] | None = None

    @property
    def n_members(self) -> int:
        return len(self.seeds)

    def outputs(self, inputs: torch.Tensor, training: bool) -> Any:
        if self.module is not None:
            self.module.train(training)
        return self.forward(inputs, training)


@dataclass
class FitResult:
    """Per-member outcome of :func:`fit`; histories (losses, validation accuracy) are (epochs run, K), NaN for a
    member in the epochs after its stop (it was frozen: see the module docstring)."""

    epochs_run: list[int]
    best_epoch: list[int]
    best_val_loss: list[float]
    diverged: list[bool]
    seconds: float
    train_loss: list[list[float]] = field(default_factory=list)
    val_loss: list[list[float]] = field(default_factory=list)
    val_acc: list[list[float]] = field(default_factory=list)

    def epochs_to_fraction(self, k: int, fraction: float) -> int:
        """The first epoch (1-based) at which member ``k``'s validation accuracy reached ``fraction`` of its
        accuracy at the kept (best-validation-loss) epoch: a learning-speed measure; ``fraction`` in (0, 1], so
        the kept epoch itself always qualifies."""
        require(0 < fraction <= 1, "fraction", fraction, "in (0, 1]")
        history = [epoch[k] for epoch in self.val_acc]
        target = fraction * history[self.best_epoch[k] - 1]
        return next(epoch for epoch, acc in enumerate(history, start=1) if acc >= target)


def require_member_data(data: object, field: str, n_members: int,
                        check: Callable[[MemberData, str], None] | None = None) -> None:
    """``ValueError`` (``TypeError`` for a wrong type) naming ``field`` unless ``data`` is :class:`MemberData`
    for ``n_members`` members that ``check`` (e.g. a learner's ``check_data``) accepts: checked once, before
    training or evaluation."""
    require_instance(data, field, MemberData)
    require(len(data.source) == n_members, field, f"data for {len(data.source)} members",
            f"data for the {n_members} members trained or evaluated (one (inputs, labels) pair each)")
    if check is not None:
        check(data, field)


def validation_scores(learner: Learner, data: MemberData, config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and accuracy (fraction correct) of each member over all of ``data`` in evaluation mode, each
    shaped (K,); encoded with the ``"encode/validation"`` stream from its start, so every epoch sees the same
    validation inputs."""
    generators = data.encode_generators(learner.seeds, "encode/validation")
    total_loss, correct = torch.zeros(()), torch.zeros(())
    with torch.no_grad():
        for x, y in data.chunks(config.eval_batch_size, generators):
            output = learner.outputs(x, training=False)
            total_loss = total_loss + learner.losses(output, y) * y.shape[1]
            correct = correct + (learner.predict(output) == y).sum(dim=1)
    return total_loss / data.n_samples, correct.double() / data.n_samples


def train_epoch(learner: Learner, optimiser: torch.optim.Optimizer, train: MemberData, config: TrainConfig,
                shuffle: Sequence[torch.Generator], encode: Sequence[torch.Generator] | None = None,
                hooks: Sequence[TrainingHook] = (),
                scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
                frozen: torch.Tensor | None = None) -> torch.Tensor:
    """One pass over ``train`` in mini-batches (order from ``shuffle[k]``, encoding draws from ``encode[k]``),
    each batch driving the ``hooks``; ``scheduler`` (if any) steps after every batch. ``optimiser`` optimises
    the learner's parameters (and any hook's tensors), members on every tensor's leading axis; the ``frozen``
    members (K,) bool (stopped ones) are skipped in every batch.

    Returns each member's mean batch loss (K,); a member skipped in any batch (frozen, or a non-finite
    objective or gradient: no update, see the module docstring) gets a NaN epoch loss.
    """
    members = learner.n_members
    frozen = torch.zeros(members, dtype=torch.bool) if frozen is None else frozen.cpu()
    tensors = _optimised(optimiser)
    order = torch.stack([torch.randperm(train.n_samples, generator=g) for g in shuffle])
    order = order.to(train.inputs.device)
    n_batches = config.batches_per_epoch(train.n_samples)
    epoch_loss = torch.zeros(members)
    for b in range(n_batches):
        inputs, labels = train.batch(order[:, b * config.batch_size:(b + 1) * config.batch_size], encode)
        for hook in hooks:
            hook.before_batch()
        losses = learner.losses(learner.outputs(inputs, training=True), labels)
        objective = sum((hook.penalty().to(losses.device) for hook in hooks), losses)
        optimiser.zero_grad(set_to_none=True)
        counted = torch.isfinite(objective) & ~frozen.to(objective.device)
        torch.where(counted, objective, 0.0).sum().backward()
        skipped = ~counted.detach().cpu() | ~_finite_gradients(tensors, members)
        _zero_gradients(tensors, members, skipped)
        for hook in hooks:
            hook.before_step()
        with _held(optimiser, tensors, members, skipped):
            optimiser.step()
            for hook in hooks:
                hook.after_step()
        if scheduler is not None:
            scheduler.step()
        epoch_loss += torch.where(skipped, float("nan"), losses.detach().cpu()) / n_batches
    return epoch_loss


def _optimised(optimiser: torch.optim.Optimizer) -> list[torch.Tensor]:
    """Every tensor ``optimiser`` optimises (the learner's parameters, then the hooks' tensors)."""
    return [p for group in optimiser.param_groups for p in group["params"]]


def _rows(tensor: torch.Tensor, members: int) -> torch.Tensor:
    """``tensor`` (a parameter, its gradient or state) as a (members, rest) view: row k is member k's part."""
    return tensor.view(members, -1)


def _finite_gradients(tensors: Sequence[torch.Tensor], members: int) -> torch.Tensor:
    """Per member (K,): whether all its gradients are finite."""
    finite = torch.ones(members, dtype=torch.bool)
    for p in tensors:
        if p.grad is not None:
            finite &= torch.isfinite(_rows(p.grad, members)).all(dim=1).cpu()
    return finite


def _zero_gradients(tensors: Sequence[torch.Tensor], members: int, skipped: torch.Tensor) -> None:
    """Zero the gradients of the ``skipped`` members (K,), so the step and the hooks see finite numbers."""
    if not bool(skipped.any()):
        return
    for p in tensors:
        if p.grad is not None:
            _rows(p.grad, members)[skipped.to(p.device)] = 0.0


def _per_weight_state(optimiser: torch.optim.Optimizer, p: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """The optimiser's state of ``p`` that has one entry per weight (Adam's moments; not its step count)."""
    return [(name, value) for name, value in optimiser.state.get(p, {}).items()
            if torch.is_tensor(value) and value.shape == p.shape]


@contextlib.contextmanager
def _held(optimiser: torch.optim.Optimizer, tensors: Sequence[torch.Tensor], members: int,
          skipped: torch.Tensor) -> Iterator[None]:
    """Within the context: the optimiser's step (and whatever follows it); on leaving, the ``skipped`` members'
    weights and their slices of the optimiser's per-weight state are what they were on entering (state the
    step created starts at zero for them, as Adam's moments do)."""
    if not bool(skipped.any()):
        yield
        return
    held = []
    for p in tensors:
        mask = skipped.to(p.device)
        state = {name: _rows(value, members)[mask].clone() for name, value in _per_weight_state(optimiser, p)}
        held.append((p, mask, _rows(p.detach(), members)[mask].clone(), state))
    yield
    with torch.no_grad():
        for p, mask, weights, state in held:
            _rows(p.detach(), members)[mask] = weights
            for name, value in _per_weight_state(optimiser, p):
                _rows(value, members)[mask] = state.get(name, 0.0)


def _scheduler(optimiser: torch.optim.Optimizer, config: TrainConfig, n_samples: int,
               ) -> tuple[torch.optim.lr_scheduler.LRScheduler | None, torch.optim.lr_scheduler.LRScheduler | None]:
    """The learning-rate schedule as (stepped per batch, stepped per epoch); None where there is none."""
    if config.lr_schedule == "cosine":
        steps = config.epochs * config.batches_per_epoch(n_samples)
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps), None
    if config.lr_schedule == "linear":
        return None, torch.optim.lr_scheduler.LambdaLR(optimiser, lambda epoch: 1 - epoch / config.epochs)
    return None, None


def fit(learner: Learner, training_data: TrainingData, validation: MemberData | None, config: TrainConfig,
        hooks: Sequence[TrainingHook] = (), progress: bool = False) -> FitResult:
    """Train every member of ``learner`` in place by Adam (see the module docstring) on ``training_data``
    (fixed :class:`MemberData`, or a :class:`TrainingData` source of fresh samples per epoch); on return each
    holds its best-validation weights (its last weights when ``validation`` is None), and so do the hooks'
    ``parameter_groups()`` tensors. ``hooks`` (:class:`TrainingHook`) act around every optimiser step; a
    hook's other state is not rolled back to the best epoch."""
    members = learner.n_members
    require_instance(config, "config", TrainConfig)
    require_type(callable(getattr(training_data, "for_epoch", None)), "training_data", describe(training_data),
                 "MemberData or a TrainingData source (with for_epoch)")
    train = training_data.for_epoch(1)
    require_member_data(train, "training_data", members, learner.check_data)
    if validation is not None:
        require_member_data(validation, "validation", members, learner.check_data)
    if config.drop_last:
        require(train.n_samples >= config.batch_size, "batch_size", config.batch_size,
                f"<= training set size {train.n_samples}")
    shuffle = [seeding.generator(seed, learner.shuffle_stream) for seed in learner.seeds]
    encode = train.encode_generators(learner.seeds, "encode/train")
    optimiser = torch.optim.Adam([{"params": list(learner.parameters)},
                                  *(group for hook in hooks for group in hook.parameter_groups())], lr=config.lr)
    tensors = _optimised(optimiser)
    per_batch, per_epoch = _scheduler(optimiser, config, train.n_samples)
    best_state = [p.detach().clone() for p in tensors] if validation is not None else None
    best_loss = torch.full((members,), float("inf") if validation is not None else float("nan"))
    best_epoch = torch.zeros(members, dtype=torch.long)
    stopped_at = torch.zeros(members, dtype=torch.long)  # 0 = still training
    diverged = torch.zeros(members, dtype=torch.bool)
    result = FitResult([], [], [], [], 0.0)
    start = time.perf_counter()
    for epoch in tqdm(range(1, config.epochs + 1), desc="epochs", leave=False, disable=not progress):
        if epoch > 1:
            del train  # freed before the next epoch's data are made (fresh stimuli: a new set each epoch)
            train = training_data.for_epoch(epoch)
        training = stopped_at == 0  # the members this epoch trains; the others are frozen
        epoch_loss = train_epoch(learner, optimiser, train, config, shuffle, encode, hooks, per_batch, ~training)
        if per_epoch is not None:
            per_epoch.step()
        for hook in hooks:
            hook.end_epoch()
        diverged |= training & ~torch.isfinite(epoch_loss)
        result.train_loss.append(epoch_loss.tolist())
        if validation is None:
            best_epoch = torch.where(training & ~diverged, epoch, best_epoch)
        else:
            val_loss, val_acc = (torch.where(training, score.cpu(), float("nan"))
                                 for score in validation_scores(learner, validation, config))
            diverged |= training & ~torch.isfinite(val_loss)
            active = training & ~diverged
            improved = active & (val_loss < best_loss)
            _keep_improved(tensors, members, best_state, improved)
            best_loss = torch.where(improved, val_loss, best_loss)
            best_epoch = torch.where(improved, epoch, best_epoch)
            stopped_at = torch.where(active & (epoch - best_epoch >= config.patience), epoch, stopped_at)
            result.val_loss.append(val_loss.tolist())
            result.val_acc.append(val_acc.tolist())
        stopped_at = torch.where(training & diverged, epoch, stopped_at)
        if bool((stopped_at > 0).all()):
            break
        if bool((stopped_at == epoch).any()):
            for hook in hooks:
                hook.members_stopped(stopped_at == epoch)
    if best_state is not None:
        with torch.no_grad():
            for p, best in zip(tensors, best_state):
                p.copy_(best)
    result.epochs_run = torch.where(stopped_at > 0, stopped_at, epoch).tolist()
    result.best_epoch = best_epoch.tolist()
    result.best_val_loss = best_loss.tolist()
    result.diverged = diverged.tolist()
    result.seconds = time.perf_counter() - start
    return result


def _keep_improved(tensors: Sequence[torch.Tensor], members: int, best_state: list[torch.Tensor],
                   improved: torch.Tensor) -> None:
    """Copy the current weights of the ``improved`` members into ``best_state``."""
    if not bool(improved.any()):
        return
    with torch.no_grad():
        for p, best in zip(tensors, best_state):
            mask = improved.to(p.device)
            _rows(best, members)[mask] = _rows(p.detach(), members)[mask]
