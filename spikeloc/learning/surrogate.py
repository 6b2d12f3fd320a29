"""Surrogate-gradient training of an ensemble of K networks, early stopping, evaluation.

Training follows the seed: Adam, loss = NLL of log-softmax of ``logit_scale`` (0.01) times the
time-summed readout membrane, mini-batches drawn by a fresh permutation every epoch (the last
incomplete batch dropped), a validation pass without dropout after every epoch, and early stopping that
keeps the weights of the epoch with the lowest validation loss. A member stops after ``patience`` epochs
without improvement (the seed stops when the best of the last 10 epochs is the oldest, i.e. after 9).

Members are independent: the loss is the SUM of the members' mean losses, so a member's gradient is its
own loss's gradient, Adam acts elementwise, and each member draws its batch order and dropout masks from
its own seed. A member whose loss or gradient becomes non-finite gets no update from that batch and is
marked diverged (its run is reported failed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from spikeloc import seeding
from spikeloc.networks.ipd import IPDNetwork, predict
from spikeloc.tasks.ipd import IPDData, midpoint_error_deg, seed_error_deg
from spikeloc.validation import require


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by all members."""

    epochs: int = 10
    lr: float = 0.005
    batch_size: int = 64
    patience: int = 10
    logit_scale: float = 0.01
    eval_batch_size: int = 512

    def __post_init__(self) -> None:
        require(self.epochs >= 1, "epochs", self.epochs, "an integer >= 1")
        require(self.lr > 0, "lr", self.lr, "> 0")
        require(self.batch_size >= 1, "batch_size", self.batch_size, "an integer >= 1")
        require(self.patience >= 1, "patience", self.patience, "an integer >= 1")
        require(self.logit_scale > 0, "logit_scale", self.logit_scale, "> 0")
        require(self.eval_batch_size >= 1, "eval_batch_size", self.eval_batch_size, "an integer >= 1")


@dataclass(frozen=True)
class MemberData:
    """The datasets of K members. ``spikes`` bool (D, N, T, inputs), ``ipd_rad`` and ``labels`` (D, N)
    hold D distinct datasets; member k reads dataset ``source[k]`` (members with equal data share it)."""

    spikes: torch.Tensor
    ipd_rad: torch.Tensor
    labels: torch.Tensor
    source: torch.Tensor

    @classmethod
    def stack(cls, datasets: Sequence[IPDData]) -> MemberData:
        """Member k uses ``datasets[k]``; the same object given twice is stored once."""
        require(len({len(d) for d in datasets}) == 1, "datasets", [len(d) for d in datasets],
                "of equal sizes across members")
        distinct = list({id(d): d for d in datasets}.values())
        position = {id(d): i for i, d in enumerate(distinct)}
        source = torch.tensor([position[id(d)] for d in datasets], device=datasets[0].labels.device)
        return cls(torch.stack([d.spikes for d in distinct]), torch.stack([d.ipd_rad for d in distinct]),
                   torch.stack([d.labels for d in distinct]), source)

    @property
    def n_samples(self) -> int:
        return self.labels.shape[1]

    def member_ipd_rad(self, k: int) -> torch.Tensor:
        return self.ipd_rad[self.source[k]]

    def member_labels(self, k: int) -> torch.Tensor:
        return self.labels[self.source[k]]

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Spikes (K, b, T, inputs) and labels (K, b) at per-member sample ``indices`` (K, b)."""
        datasets = self.source[:, None]
        return self.spikes[datasets, indices], self.labels[datasets, indices]

    def chunks(self, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Consecutive (spikes, labels) chunks of ``size`` samples per member, in order."""
        for start in range(0, self.n_samples, size):
            window = slice(start, start + size)
            yield self.spikes[self.source, window], self.labels[self.source, window]


@dataclass
class FitResult:
    """Per-member outcome of :func:`fit`; histories are (epochs run, K)."""

    epochs_run: list[int]
    best_epoch: list[int]
    best_val_loss: list[float]
    diverged: list[bool]
    seconds: float
    train_loss: list[list[float]] = field(default_factory=list)
    val_loss: list[list[float]] = field(default_factory=list)


def member_losses(network: IPDNetwork, spikes: torch.Tensor, labels: torch.Tensor, logit_scale: float,
                  dropout_generators: Sequence[torch.Generator] | None = None) -> torch.Tensor:
    """Mean cross-entropy of each member on its batch, shape (K,)."""
    logits = network(spikes, dropout_generators).sum(dim=-2) * logit_scale  # (K, b, classes)
    losses = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
    return losses.view(labels.shape).mean(dim=1)


def validation_losses(network: IPDNetwork, data: MemberData, config: TrainConfig) -> torch.Tensor:
    """Mean loss of each member over all of ``data``, without dropout, shape (K,)."""
    network.eval()
    with torch.no_grad():
        total = sum(member_losses(network, x, y, config.logit_scale) * y.shape[1]
                    for x, y in data.chunks(config.eval_batch_size))
    return total / data.n_samples


def train_epoch(network: IPDNetwork, optimiser: torch.optim.Optimizer, train: MemberData, config: TrainConfig,
                shuffle: Sequence[torch.Generator], dropout: Sequence[torch.Generator]) -> torch.Tensor:
    """One pass over ``train`` in mini-batches (order from ``shuffle[k]``, dropout masks from ``dropout[k]``).

    Returns each member's mean batch loss (K,); a member with a non-finite loss or gradient gets no update
    from that batch and a NaN epoch loss.
    """
    network.train()
    order = torch.stack([torch.randperm(train.n_samples, generator=g) for g in shuffle])
    order = order.to(train.spikes.device)
    n_batches = train.n_samples // config.batch_size
    epoch_loss = torch.zeros(network.n_members)
    for b in range(n_batches):
        spikes, labels = train.batch(order[:, b * config.batch_size:(b + 1) * config.batch_size])
        losses = member_losses(network, spikes, labels, config.logit_scale, dropout)
        optimiser.zero_grad(set_to_none=True)
        torch.where(torch.isfinite(losses), losses, 0.0).sum().backward()
        finite_gradients = _zero_non_finite_gradients(network)
        optimiser.step()
        epoch_loss += torch.where(finite_gradients, losses.detach().cpu(), float("nan")) / n_batches
    return epoch_loss


def _zero_non_finite_gradients(network: IPDNetwork) -> torch.Tensor:
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


def fit(network: IPDNetwork, train: MemberData, validation: MemberData, config: TrainConfig,
        progress: bool = False) -> FitResult:
    """Train every member of ``network`` in place; on return each holds its best-validation weights."""
    members = network.n_members
    require(train.n_samples >= config.batch_size, "batch_size", config.batch_size,
            f"<= training set size {train.n_samples}")
    shuffle = [seeding.generator(m.seed, "shuffle") for m in network.members]
    dropout = [seeding.generator(m.seed, "dropout", train.spikes.device) for m in network.members]
    optimiser = torch.optim.Adam(network.parameters(), lr=config.lr)
    best_state = {name: p.detach().clone() for name, p in network.named_parameters()}
    best_loss = torch.full((members,), float("inf"))
    best_epoch = torch.zeros(members, dtype=torch.long)
    stopped_at = torch.zeros(members, dtype=torch.long)  # 0 = still training
    diverged = torch.zeros(members, dtype=torch.bool)
    result = FitResult([], [], [], [], 0.0)
    start = time.perf_counter()
    for epoch in tqdm(range(1, config.epochs + 1), desc="epochs", leave=False, disable=not progress):
        epoch_loss = train_epoch(network, optimiser, train, config, shuffle, dropout)
        diverged |= ~torch.isfinite(epoch_loss)
        val_loss = validation_losses(network, validation, config).cpu()
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


def _keep_improved(network: IPDNetwork, best_state: dict[str, torch.Tensor], improved: torch.Tensor) -> None:
    """Copy the current weights of the improved members (leading axis) into ``best_state``."""
    if not bool(improved.any()):
        return
    with torch.no_grad():
        for name, p in network.named_parameters():
            mask = improved.to(p.device).view(-1, *([1] * (p.dim() - 1)))
            best_state[name] = torch.where(mask, p, best_state[name])


def evaluate(network: IPDNetwork, data: MemberData, batch_size: int = 512) -> list[dict]:
    """Per member: ``acc`` (fraction correct), ``error_deg`` (seed metric), ``midpoint_error_deg`` and
    ``confusion`` (classes x classes counts, rows = predicted, columns = true, as the seed)."""
    network.eval()
    with torch.no_grad():
        predicted = torch.cat([predict(network(x)) for x, _ in data.chunks(batch_size)], dim=1)
    n_classes = network.config.n_classes
    results = []
    for k in range(network.n_members):
        labels, guess, ipd = data.member_labels(k).cpu(), predicted[k].cpu(), data.member_ipd_rad(k).cpu()
        confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
        np.add.at(confusion, (guess.numpy(), labels.numpy()), 1)
        results.append({
            "acc": float((guess == labels).double().mean()),
            "error_deg": seed_error_deg(ipd, guess, n_classes),
            "midpoint_error_deg": midpoint_error_deg(labels, guess, n_classes),
            "confusion": confusion,
        })
    return results
