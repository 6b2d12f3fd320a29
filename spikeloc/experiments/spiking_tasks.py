"""What experiments on the spiking tasks share: the sizes of a run on IPD or MNIST-5k, and its setup.

A run config that extends :class:`SpikingTaskSizes` and has a ``task`` (``"ipd"`` or ``"digits"``) gets its
untrained network, data and training settings from :func:`spiking_setup` (the neuromodulation and
bio-plasticity experiments), on its ``device`` (:mod:`spikeloc.devices`; the MLP baseline stays on the CPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from spikeloc import datasets
from spikeloc.devices import check_device, device_field, resolve_device
from spikeloc.experiments.digits import DigitsRun, split
from spikeloc.experiments.ipd import FreshStimuli, IPDRun, member_datasets, stacked
from spikeloc.learning.surrogate import MemberData, TrainConfig, TrainingData, evaluation_stream
from spikeloc.networks.classifier import SpikingClassifier


@dataclass(frozen=True)
class SpikingTaskSizes:
    """Sizes of a run: for IPD the seed's network with ``n_train_batches`` x 64 training samples, for digits a
    classifier of ``hidden`` widths on MNIST-5k (``n_train``: training images used, 0 = all not held out)."""

    epochs: int = 10
    n_train_batches: int = 64
    n_val_samples: int = 4096
    n_test_samples: int = 2048
    hidden: tuple[int, ...] = (200,)
    n_train: int = 0
    device: str = device_field()

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        check_device(self.device)

    def ipd_run(self, **settings) -> IPDRun:
        """The IPD run of these sizes, with other IPDRun ``settings``."""
        return IPDRun(epochs=self.epochs, n_train_batches=self.n_train_batches, n_val_samples=self.n_val_samples,
                      n_test_samples=self.n_test_samples, device=self.device, **settings)

    def digits_run(self) -> DigitsRun:
        return DigitsRun(hidden=self.hidden, epochs=self.epochs, n_train=self.n_train, device=self.device)


def spiking_setup(run: SpikingTaskSizes, seed: int,
                  ) -> tuple[SpikingClassifier, list[TrainingData | MemberData], TrainConfig]:
    """The untrained network, (train, validation, test) data and training settings of a run with a ``task``
    (``"ipd"`` or ``"digits"``); the test inputs are encoded once. IPD training data are fresh every epoch
    (:class:`~spikeloc.experiments.ipd.FreshStimuli`) when the IPD run says so."""
    if run.task == "ipd":
        ipd = run.ipd_run()
        splits = [stacked(part) for part in member_datasets([(ipd, seed)])]
        if ipd.training_data != "fixed":
            splits[0] = FreshStimuli(((ipd, seed),), splits[0])
        network = SpikingClassifier(ipd.network_config(), [ipd.member(seed)])
        config = ipd.train_config()
    else:
        digits = run.digits_run()
        dataset = datasets.load(digits.dataset)
        parts = split(dataset, digits.n_validation, seed, digits.n_train)
        device = resolve_device(digits.device)
        splits = [MemberData.stack([(p.features().to(device), p.labels.to(device))], digits.encoder()) for p in parts]
        splits[2] = _encoded_once(splits[2], [digits.member(seed)])
        network = SpikingClassifier(digits.network_config(dataset.n_features, len(dataset.classes)),
                                    [digits.member(seed)])
        config = digits.train_config()
    return network.to(splits[1].inputs.device), splits, config  # validation data: always fixed MemberData


def _encoded_once(data: MemberData, members) -> MemberData:
    """``data`` with its inputs encoded once, from the stream ``evaluate`` uses for the test split: the
    same inputs for every score of the robustness curve, without encoding them again each time."""
    generators = data.encode_generators([m.seed for m in members], evaluation_stream("test"))
    spikes = torch.cat([x for x, _ in data.chunks(512, generators)], dim=1)
    if torch.equal(spikes, spikes.bool().to(spikes.dtype)):
        spikes = spikes.bool()  # 0/1 spikes (rate, latency): 4x less memory
    return MemberData.stack([(spikes[k], data.member_labels(k)) for k in range(len(members))])
