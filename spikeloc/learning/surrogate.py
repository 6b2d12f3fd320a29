"""Surrogate-gradient training of an ensemble of K spiking classifiers on any labelled data; evaluation.

Training follows the IPD seed: Adam, a classification loss on the time-summed readout (:mod:`.losses`; the
seed's is the cross-entropy of 0.01 x the summed membrane), mini-batches drawn by a fresh permutation every
epoch (the last incomplete batch dropped), a validation pass without dropout after every epoch, and early
stopping that keeps the weights of the epoch with the lowest validation loss. A member stops after
``patience`` epochs without improvement (the seed stops when the best of the last 10 epochs is the oldest,
i.e. after 9).

Learning-rate schedule (``TrainConfig.lr_schedule``): ``"constant"`` (the seed's) or ``"cosine"``, the
learning rate after optimiser step ``s`` of ``S = epochs * batches per epoch`` being
``lr * (1 + cos(pi s / S)) / 2`` (``CosineAnnealingLR`` to 0, stepped every batch). There is no
reduce-on-plateau: one learning rate serves all K members (Adam's step size is invariant to scaling a
member's gradient, so it cannot be set per member), and letting the members' shared validation loss drive it
would couple members that are meant to be independent; cosine depends only on the step count.

Training data may change from epoch to epoch (:class:`TrainingData`): :class:`MemberData` is the same every
epoch (fixed data); a source of fresh samples (e.g. :class:`spikeloc.experiments.ipd.FreshStimuli`) gives
new ones each epoch. Validation data are always fixed.

Data (:class:`MemberData`) are spikes (IPD) or static values (pixels) that an encoder
(:mod:`spikeloc.substrate.encoders`) turns into spikes or currents batch by batch, each member with its own
generator: fresh draws in every training batch (stream ``"encode/train"``), the same draws in every validation
pass (``"encode/validation"``, restarted each epoch), and a named stream for evaluation.

Members are independent: the loss is the SUM of the members' mean losses, so a member's gradient is its
own loss's gradient, Adam acts elementwise, and each member draws its batch order and dropout masks from
its own seed. A member whose loss or gradient becomes non-finite gets no update from that batch and is
marked diverged (its run is reported failed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from spikeloc import seeding
from spikeloc.learning.losses import LossConfig, member_losses
from spikeloc.networks.classifier import SpikingClassifier, predict
from spikeloc.validation import require, require_choice

LR_SCHEDULES = ("constant", "cosine")


class Encoder(Protocol):
    """Turns values (..., features) into inputs over time (..., T, features); see spikeloc.substrate.encoders."""

    def encode(self, values: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor: ...


class TrainingHook(Protocol):
    """What the trainer drives around every optimiser step, in this order per batch:

    1. ``before_batch()``, before the forward pass (e.g. draw fresh weight noise);
    2. ``penalty()``: a term per member (K,) added to the objective that is differentiated (not to the
       reported loss);
    3. ``before_step()``, after ``backward()`` and after non-finite gradients are zeroed: the gradients are
       final (e.g. transform them);
    4. ``after_step()``, after the optimiser step (e.g. transform the update, replace weights, step the hook's
       own optimiser);
    5. ``end_epoch()``, after the last batch of an epoch, before validation.

    Hooks run in the order given. Implementations: :class:`spikeloc.learning.neuromodulation.NoiseTraining`
    (weight noise) and :class:`spikeloc.learning.bio.BioPlasticity` (plasticity transforms).
    """

    def before_batch(self) -> None: ...

    def penalty(self) -> torch.Tensor: ...

    def before_step(self) -> None: ...

    def after_step(self) -> None: ...

    def end_epoch(self) -> None: ...


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by all members (``lr_schedule``: see the module docstring)."""

    epochs: int = 10
    lr: float = 0.005
    batch_size: int = 64
    patience: int = 10
    loss: LossConfig = LossConfig()
    eval_batch_size: int = 512
    lr_schedule: str = "constant"

    def __post_init__(self) -> None:
        require(self.epochs >= 1, "epochs", self.epochs, "an integer >= 1")
        require(self.lr > 0, "lr", self.lr, "> 0")
        require(self.batch_size >= 1, "batch_size", self.batch_size, "an integer >= 1")
        require(self.patience >= 1, "patience", self.patience, "an integer >= 1")
        require(self.eval_batch_size >= 1, "eval_batch_size", self.eval_batch_size, "an integer >= 1")
        require_choice(self.lr_schedule, "lr_schedule", LR_SCHEDULES)


@dataclass(frozen=True)
class MemberData:
    """The datasets of K members. ``inputs`` (D, N, ...) and ``labels`` (D, N) hold D distinct datasets;
    member k reads dataset ``source[k]`` (members with equal data share it). Inputs are spikes
    (D, N, T, features), bool or float, when ``encoder`` is None, else values (D, N, features) that
    ``encoder`` turns into (T, features) per sample, batch by batch."""

    inputs: torch.Tensor
    labels: torch.Tensor
    source: torch.Tensor
    encoder: Encoder | None = None

    @classmethod
    def stack(cls, datasets: Sequence[tuple[torch.Tensor, torch.Tensor]], encoder: Encoder | None = None) -> MemberData:
        """Member k uses ``datasets[k] = (inputs, labels)``; the same inputs tensor given twice is stored once."""
        require(len({len(labels) for _, labels in datasets}) == 1, "datasets",
                [len(labels) for _, labels in datasets], "of equal sizes across members")
        distinct = list({id(inputs): (inputs, labels) for inputs, labels in datasets}.values())
        position = {id(inputs): i for i, (inputs, _) in enumerate(distinct)}
        source = torch.tensor([position[id(inputs)] for inputs, _ in datasets], device=datasets[0][1].device)
        return cls(torch.stack([inputs for inputs, _ in distinct]), torch.stack([labels for _, labels in distinct]),
                   source, encoder)

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
        """Inputs (K, b, T, features) and labels (K, b) at per-member sample ``indices`` (K, b); values are
        encoded with member k's ``generators[k]``."""
        datasets = self.source[:, None]
        return self._encoded(self.inputs[datasets, indices], generators), self.labels[datasets, indices]

    def chunks(self, size: int, generators: Sequence[torch.Generator] | None = None,
               ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Consecutive (inputs, labels) chunks of ``size`` samples per member, in order."""
        for start in range(0, self.n_samples, size):
            window = slice(start, start + size)
            yield self._encoded(self.inputs[self.source, window], generators), self.labels[self.source, window]

    def encode_generators(self, members: Sequence, stream: str) -> list[torch.Generator] | None:
        """One generator per member for encoding (None when inputs are already spikes)."""
        if self.encoder is None:
            return None
        return [seeding.generator(m.seed, stream, self.inputs.device) for m in members]

    def _encoded(self, inputs: torch.Tensor, generators: Sequence[torch.Generator] | None) -> torch.Tensor:
        if self.encoder is None:
            return inputs
        require(generators is not None and len(generators) == inputs.shape[0], "generators",
                None if generators is None else len(generators), f"one per member ({inputs.shape[0]})")
        return torch.stack([self.encoder.encode(x, g) for x, g in zip(inputs, generators)])


class TrainingData(Protocol):
    """What :func:`fit` trains on: ``for_epoch(epoch)`` is the :class:`MemberData` of epoch ``epoch`` (1, 2, ...),
    of the same size every epoch; ``fit`` asks for each epoch once, in order."""

    def for_epoch(self, epoch: int) -> MemberData: ...


@dataclass
class FitResult:
    """Per-member outcome of :func:`fit`; histories (losses, validation accuracy) are (epochs run, K)."""

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
        accuracy at the kept (best-validation-loss) epoch: a learning-speed measure."""
        history = [epoch[k] for epoch in self.val_acc]
        target = fraction * history[self.best_epoch[k] - 1]
        return next(epoch for epoch, acc in enumerate(history, start=1) if acc >= target)


def validation_scores(network: SpikingClassifier, data: MemberData,
                      config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss and accuracy (fraction correct) of each member over all of ``data``, without dropout, each
    shaped (K,); encoded with the ``"encode/validation"`` stream from its start, so every epoch sees the same
    validation inputs."""
    network.eval()
    generators = data.encode_generators(network.members, "encode/validation")
    total_loss, correct = torch.zeros(()), torch.zeros(())
    with torch.no_grad():
        for x, y in data.chunks(config.eval_batch_size, generators):
            output = network(x)
            total_loss = total_loss + member_losses(output, y, config.loss) * y.shape[1]
            correct = correct + (predict(output) == y).sum(dim=1)
    return total_loss / data.n_samples, correct.double() / data.n_samples


def train_epoch(network: SpikingClassifier, optimiser: torch.optim.Optimizer, train: MemberData,
                config: TrainConfig, shuffle: Sequence[torch.Generator], dropout: Sequence[torch.Generator],
                encode: Sequence[torch.Generator] | None = None, hooks: Sequence[TrainingHook] = (),
                scheduler: torch.optim.lr_scheduler.LRScheduler | None = None) -> torch.Tensor:
    """One pass over ``train`` in mini-batches (order from ``shuffle[k]``, dropout masks from ``dropout[k]``,
    encoding draws from ``encode[k]``), each batch driving the ``hooks`` (:class:`TrainingHook`: their
    penalties are added to the objective but not to the reported loss); ``scheduler`` (if any) steps after every
    batch.

    Returns each member's mean batch loss (K,); a member with a non-finite loss or gradient gets no update
    from that batch and a NaN epoch loss.
    """
    network.train()
    order = torch.stack([torch.randperm(train.n_samples, generator=g) for g in shuffle])
    order = order.to(train.inputs.device)
    n_batches = train.n_samples // config.batch_size
    epoch_loss = torch.zeros(network.n_members)
    for b in range(n_batches):
        inputs, labels = train.batch(order[:, b * config.batch_size:(b + 1) * config.batch_size], encode)
        for hook in hooks:
            hook.before_batch()
        losses = member_losses(network(inputs, dropout), labels, config.loss)
        objective = sum((hook.penalty().to(losses.device) for hook in hooks), losses)
        optimiser.zero_grad(set_to_none=True)
        torch.where(torch.isfinite(objective), objective, 0.0).sum().backward()
        finite_gradients = _zero_non_finite_gradients(network)
        for hook in hooks:
            hook.before_step()
        optimiser.step()
        for hook in hooks:
            hook.after_step()
        if scheduler is not None:
            scheduler.step()
        epoch_loss += torch.where(finite_gradients, losses.detach().cpu(), float("nan")) / n_batches
    return epoch_loss


def _zero_non_finite_gradients(network: SpikingClassifier) -> torch.Tensor:
    """Per member (K,): whether all its gradients are finite; a member's non-finite gradients are zeroed so
    the step leaves its weights finite (its epoch loss is then reported NaN, which marks it diverged)."""
    finite = torch.ones(network.n_members, dtype=torch.bool)
    for p in network.parameters():
        if p.grad is not None:
            finite &= torch.isfinite(p.grad).flatten(1).all(dim=1).cpu()
    if not bool(finite.all()):
        for p in network.parameters():
            if p.grad is not None:
                p.grad[~finite.to(p.device)] = 0.0
    return finite


def fit(network: SpikingClassifier, training_data: TrainingData, validation: MemberData, config: TrainConfig,
        progress: bool = False, hooks: Sequence[TrainingHook] = ()) -> FitResult:
    """Train every member of ``network`` in place on ``training_data`` (fixed :class:`MemberData` or a
    :class:`TrainingData` source of fresh samples per epoch); on return each holds its best-validation weights.
    ``hooks`` (:class:`TrainingHook`) act around every optimiser step, e.g. weight noise in training
    (validation runs without it unless it is on at evaluation); a hook's own state is not rolled back to the
    best epoch."""
    members = network.n_members
    train = training_data.for_epoch(1)
    require(train.n_samples >= config.batch_size, "batch_size", config.batch_size,
            f"<= training set size {train.n_samples}")
    shuffle = [seeding.generator(m.seed, "shuffle") for m in network.members]
    dropout = [seeding.generator(m.seed, "dropout", train.inputs.device) for m in network.members]
    encode = train.encode_generators(network.members, "encode/train")
    optimiser = torch.optim.Adam(network.parameters(), lr=config.lr)
    scheduler = None if config.lr_schedule == "constant" else torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=config.epochs * (train.n_samples // config.batch_size))
    best_state = {name: p.detach().clone() for name, p in network.named_parameters()}
    best_loss = torch.full((members,), float("inf"))
    best_epoch = torch.zeros(members, dtype=torch.long)
    stopped_at = torch.zeros(members, dtype=torch.long)  # 0 = still training
    diverged = torch.zeros(members, dtype=torch.bool)
    result = FitResult([], [], [], [], 0.0)
    start = time.perf_counter()
    for epoch in tqdm(range(1, config.epochs + 1), desc="epochs", leave=False, disable=not progress):
        if epoch > 1:
            train = training_data.for_epoch(epoch)
        epoch_loss = train_epoch(network, optimiser, train, config, shuffle, dropout, encode, hooks, scheduler)
        for hook in hooks:
            hook.end_epoch()
        diverged |= ~torch.isfinite(epoch_loss)
        val_loss, val_acc = (score.cpu() for score in validation_scores(network, validation, config))
        diverged |= ~torch.isfinite(val_loss)
        active = (stopped_at == 0) & ~diverged
        improved = active & (val_loss < best_loss)
        _keep_improved(network, best_state, improved)
        best_loss = torch.where(improved, val_loss, best_loss)
        best_epoch = torch.where(improved, epoch, best_epoch)
        stopped_at = torch.where(active & (epoch - best_epoch >= config.patience), epoch, stopped_at)
        stopped_at = torch.where((stopped_at == 0) & diverged, epoch, stopped_at)
        result.train_loss.append(epoch_loss.tolist())
        result.val_loss.append(val_loss.tolist())
        result.val_acc.append(val_acc.tolist())
        if bool((stopped_at > 0).all()):
            break
    with torch.no_grad():
        for name, p in network.named_parameters():
            p.copy_(best_state[name])
    result.epochs_run = torch.where(stopped_at > 0, stopped_at, epoch).tolist()
    result.best_epoch = best_epoch.tolist()
    result.best_val_loss = best_loss.tolist()
    result.diverged = diverged.tolist()
    result.seconds = time.perf_counter() - start
    return result


def _keep_improved(network: SpikingClassifier, best_state: dict[str, torch.Tensor], improved: torch.Tensor) -> None:
    """Copy the current weights of the improved members (leading axis) into ``best_state``."""
    if not bool(improved.any()):
        return
    with torch.no_grad():
        for name, p in network.named_parameters():
            mask = improved.to(p.device).view(-1, *([1] * (p.dim() - 1)))
            best_state[name] = torch.where(mask, p, best_state[name])


#: Task metrics: ``metrics(k, predicted)`` -> extra entries of member k's evaluation, ``predicted`` its (N,)
#: class decisions on the evaluated data (e.g. IPD's errors in degrees).
TaskMetrics = Callable[[int, torch.Tensor], dict]


def evaluate(network: SpikingClassifier, data: MemberData, batch_size: int = 512,
             task_metrics: TaskMetrics | None = None, stream: str = "encode/evaluate") -> list[dict]:
    """Per member: ``acc`` (fraction correct), ``confusion`` (classes x classes counts, rows = predicted,
    columns = true, as the IPD seed) and whatever ``task_metrics`` adds. Encoded inputs are drawn from the
    named ``stream`` of each member's seed."""
    network.eval()
    generators = data.encode_generators(network.members, stream)
    with torch.no_grad():
        predicted = torch.cat([predict(network(x)) for x, _ in data.chunks(batch_size, generators)], dim=1).cpu()
    n_classes = network.config.n_classes
    results = []
    for k in range(network.n_members):
        labels, guess = data.member_labels(k).cpu(), predicted[k]
        confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
        np.add.at(confusion, (guess.numpy(), labels.numpy()), 1)
        results.append({"acc": float((guess == labels).double().mean()), "confusion": confusion,
                        **(task_metrics(k, guess) if task_metrics else {})})
    return results
