"""Surrogate-gradient training of an ensemble of K spiking classifiers on any labelled data; evaluation.

Training follows the IPD seed: Adam, a classification loss on the time-summed readout (:mod:`.losses`; the
seed's is the cross-entropy of 0.01 x the summed membrane), mini-batches drawn by a fresh permutation every
epoch (the last incomplete batch dropped), a validation pass without dropout after every epoch, and early
stopping that keeps the weights of the epoch with the lowest validation loss. A member stops after
``patience`` epochs without improvement (the seed stops when the best of the last 10 epochs is the oldest,
i.e. after 9). The loop is spikeloc's one trainer (:mod:`spikeloc.learning.trainer`, which plain networks
share); this module makes a spiking classifier its :class:`~spikeloc.learning.trainer.Learner`: K members,
dropout masks from each member's ``"dropout"`` stream, the loss of ``TrainConfig.loss``.

Learning-rate schedules (``TrainConfig.lr_schedule``): ``"constant"`` (the seed's) or ``"cosine"`` (see
:class:`~spikeloc.learning.trainer.TrainConfig`).

Training data may change from epoch to epoch (:class:`~spikeloc.learning.trainer.TrainingData`):
:class:`MemberData` is the same every epoch (fixed data); a source of fresh samples (e.g.
:class:`spikeloc.experiments.ipd.FreshStimuli`) gives new ones each epoch. Validation data are always fixed.

Data (:class:`MemberData`) are spikes (IPD) or static values (pixels) that an encoder
(:mod:`spikeloc.substrate.encoders`) turns into spikes or currents batch by batch, each member with its own
generator: fresh draws in every training batch (stream ``"encode/train"``), the same draws in every validation
pass (``"encode/validation"``, restarted each epoch), and a stream per evaluated split (:func:`evaluate`).

Members are independent (see :mod:`spikeloc.learning.trainer`). A member whose loss or gradient becomes
non-finite gets no update from that batch (its weights and Adam moments stay as they were) and is marked
diverged (its run is reported failed); a member that stopped early is frozen while the others train on, so
its result is the one it gets trained alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import torch

from spikeloc import seeding
from spikeloc.learning import trainer
from spikeloc.learning.losses import LossConfig, member_losses
from spikeloc.learning.trainer import (
    FitResult,
    Learner,
    MemberData,
    TrainConfig,
    TrainingData,
    TrainingHook,
    require_member_data,
)
from spikeloc.networks.classifier import ReadoutTrace, SpikingClassifier
from spikeloc.validation import describe, require, require_instance, require_integer, require_labels

__all__ = ["FitResult", "MemberData", "TaskMetrics", "TrainConfig", "TrainingData", "TrainingHook", "evaluate",
           "evaluation_stream", "fit", "require_network_data", "spiking_learner", "train_epoch"]


def spiking_learner(network: SpikingClassifier, loss: LossConfig,
                    dropout: Sequence[torch.Generator]) -> Learner:
    """``network``'s K members as the trainer's learner: dropout masks of member k from ``dropout[k]``; its
    outputs are :class:`~spikeloc.networks.classifier.ReadoutTrace` (the loss reads the output, the decisions
    may read the final membrane too)."""

    def forward(inputs: torch.Tensor, training: bool) -> ReadoutTrace:
        return network.trace(inputs, dropout) if training else network.trace(inputs)

    return Learner(parameters=tuple(network.parameters()), seeds=tuple(m.seed for m in network.members),
                   forward=forward, losses=lambda trace, labels: member_losses(trace.output, labels, loss),
                   predict=network.predict, module=network,
                   check_data=partial(require_network_data, network))


def require_network_data(network: SpikingClassifier, data: MemberData, field: str) -> None:
    """``ValueError`` naming ``field`` unless ``data`` (valid :class:`MemberData`) suits ``network``: inputs
    over time (spikes or currents (D, N, T, F), or values with an encoder) with the network's ``n_inputs``
    features, on its device, and labels below its ``n_classes``."""
    config = network.config
    require(data.encoder is not None or data.inputs.dim() == 4, f"{field} inputs", describe(data.inputs),
            "shaped (datasets, samples, T, features) (spikes or currents over time), or values with an encoder")
    require(data.inputs.shape[-1] == config.n_inputs, f"{field} inputs", describe(data.inputs),
            f"{config.n_inputs} features per sample (the network's n_inputs)")
    device = next(network.parameters()).device
    require(data.inputs.device == device, f"{field} inputs", f"on {data.inputs.device}",
            f"on the network's device ({device})")
    require_labels(data.labels, f"{field} labels", config.n_classes)


def _dropout_generators(network: SpikingClassifier, device: torch.device) -> list[torch.Generator]:
    return [seeding.generator(m.seed, "dropout", device) for m in network.members]


def train_epoch(network: SpikingClassifier, optimiser: torch.optim.Optimizer, train: MemberData,
                config: TrainConfig, shuffle: Sequence[torch.Generator], dropout: Sequence[torch.Generator],
                encode: Sequence[torch.Generator] | None = None, hooks: Sequence[TrainingHook] = (),
                scheduler: torch.optim.lr_scheduler.LRScheduler | None = None) -> torch.Tensor:
    """One epoch of :func:`spikeloc.learning.trainer.train_epoch` for a spiking classifier, dropout masks of
    member k from ``dropout[k]`` (for benchmarks that time an epoch); each member's mean batch loss (K,)."""
    return trainer.train_epoch(spiking_learner(network, config.loss, dropout), optimiser, train, config, shuffle,
                               encode, hooks, scheduler)


def fit(network: SpikingClassifier, training_data: TrainingData, validation: MemberData, config: TrainConfig,
        progress: bool = False, hooks: Sequence[TrainingHook] = ()) -> FitResult:
    """Train every member of ``network`` in place on ``training_data`` (fixed :class:`MemberData` or a
    :class:`TrainingData` source of fresh samples per epoch); on return each holds its best-validation weights.
    ``hooks`` (:class:`TrainingHook`) act around every optimiser step, e.g. weight noise in training
    (validation runs without it unless it is on at evaluation); a hook's ``parameter_groups()`` (a learned
    noise model) are restored to the best epoch with the weights, its other state is not."""
    require_instance(network, "network", SpikingClassifier)
    require_instance(config, "config", TrainConfig)
    device = next(network.parameters()).device  # the data's too (see the trainer's assumptions on devices)
    learner = spiking_learner(network, config.loss, _dropout_generators(network, device))
    return trainer.fit(learner, training_data, validation, config, hooks, progress)


#: Task metrics: ``metrics(k, predicted)`` -> extra entries of member k's evaluation, ``predicted`` its (N,)
#: class decisions on the evaluated data (e.g. IPD's errors in degrees).
TaskMetrics = Callable[[int, torch.Tensor], dict]


def evaluation_stream(split: str) -> str:
    """The encoding stream :func:`evaluate` draws from for ``split``: ``"encode/evaluate"`` for ``"test"`` (the
    stream every split shared before they had their own: test scores stand), ``"encode/evaluate/<split>"`` for
    any other (``"train"``, ``"validation"``, ...)."""
    require(isinstance(split, str) and split.isidentifier(), "split", split, "a name such as 'train', 'validation', 'test'")
    return "encode/evaluate" if split == "test" else f"encode/evaluate/{split}"


def evaluate(network: SpikingClassifier, data: MemberData, batch_size: int = 512,
             task_metrics: TaskMetrics | None = None, *, split: str) -> list[dict]:
    """Per member: ``acc`` (fraction correct), ``confusion`` (classes x classes counts, rows = predicted,
    columns = true, as the IPD seed) and whatever ``task_metrics`` adds. Encoded inputs (values with an
    encoder) are drawn from the stream of ``split`` (:func:`evaluation_stream`) of each member's seed, from its
    start: each split has its own draws (sample i of the training and of the test set do not share their
    encoding noise), and a split's score does not depend on what was scored before it. ``ValueError`` naming
    the argument, before any work, unless ``data`` suits ``network`` (:func:`require_network_data`)."""
    require_instance(network, "network", SpikingClassifier)
    require_member_data(data, "data", network.n_members, partial(require_network_data, network))
    require_integer(batch_size, "batch_size", minimum=1)
    stream = evaluation_stream(split)
    network.eval()
    generators = data.encode_generators([m.seed for m in network.members], stream)
    with torch.no_grad():
        predicted = torch.cat([network.predict(network.trace(x)) for x, _ in data.chunks(batch_size, generators)], dim=1).cpu()
    n_classes = network.config.n_classes
    results = []
    for k in range(network.n_members):
        labels, guess = data.member_labels(k).cpu(), predicted[k]
        confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
        np.add.at(confusion, (guess.numpy(), labels.numpy()), 1)
        results.append({"acc": float((guess == labels).double().mean()), "confusion": confusion,
                        **(task_metrics(k, guess) if task_metrics else {})})
    return results
