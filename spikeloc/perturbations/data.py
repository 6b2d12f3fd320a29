"""The test data a network's perturbation curves are scored on, and how to get them for a model file.

:class:`EvaluationData` holds the clean test data of each member (a :class:`~spikeloc.learning.trainer.MemberData`)
and, for IPD networks, the runs that generated them (phase noise draws fresh stimuli of the same run).
:func:`model_data` finds a model's task: a model saved by ``train-ipd`` / ``train-digits`` (or an ensemble
study) records it; a model without training records (one read from NIR) needs ``dataset`` (``"ipd"`` or an
image dataset name), and is then scored on the default run's test data of that task.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from spikeloc import datasets
from spikeloc.experiments.digits import DigitsRun
from spikeloc.experiments.ipd import IPDRun, stacked, test_dataset
from spikeloc.learning.trainer import MemberData
from spikeloc.validation import require

#: Values of ``dataset`` for a model without training records: the IPD task or an image dataset.
TASK_DATASETS = ("ipd", *datasets.NAMES)


@dataclass(frozen=True)
class EvaluationData:
    """Clean test data of a network's members; ``ipd_runs``: per member, the IPD run and seed of its test set
    (None for other tasks)."""

    member_data: MemberData
    ipd_runs: tuple[tuple[IPDRun, int], ...] | None = None

    def replicated(self, indices: Sequence[int]) -> EvaluationData:
        """The data of a network whose member r is member ``indices[r]`` of this one."""
        clean = self.member_data
        index = torch.as_tensor(list(indices), dtype=torch.long, device=clean.source.device)
        runs = None if self.ipd_runs is None else tuple(self.ipd_runs[i] for i in indices)
        return EvaluationData(MemberData(clean.inputs, clean.labels, clean.source[index], clean.encoder), runs)


def ipd_data(runs: Sequence[tuple[IPDRun, int]]) -> EvaluationData:
    """Each member's test set of run ``runs[k] = (run, seed)`` (:func:`spikeloc.experiments.ipd.test_dataset`)."""
    return EvaluationData(stacked([test_dataset(run, seed) for run, seed in runs]), tuple(runs))


def image_data(run: DigitsRun, n_members: int, root: str | None = None) -> EvaluationData:
    """The test images of ``run``'s dataset for ``n_members`` members, encoded as ``run`` encodes them."""
    images = datasets.load(run.dataset, root)
    return EvaluationData(MemberData.stack([(images.test.features(), images.test.labels)] * n_members,
                                           run.encoder()))


def model_data(network, metadata: dict[str, Any], dataset: str | None = None, root: str | None = None
               ) -> EvaluationData:
    """The test data of a loaded model (see the module docstring); ``ValueError`` naming ``dataset`` when the
    task cannot be inferred or the data do not fit the network."""
    task = metadata.get("task")
    n_members = network.n_members
    if task == "ipd" and dataset in (None, "ipd"):
        runs = [(dataclasses.replace(IPDRun(**entry["config"]), device="cpu"), entry["seed"])
                for entry in metadata["runs"]]
        return _fitting(network, ipd_data(runs), "ipd")
    require(dataset is not None, "dataset", dataset,
            f"the model's task, which {'its records do not say' if task is None else 'cannot be ' + repr(task)}: "
            f"one of {', '.join(TASK_DATASETS)}")
    require(dataset in TASK_DATASETS, "dataset", dataset, f"one of {', '.join(TASK_DATASETS)}")
    if dataset == "ipd":
        return _fitting(network, ipd_data([(IPDRun(device="cpu"), 0)] * n_members), dataset)
    run = (DigitsRun(**{**metadata["runs"][0]["config"], "dataset": dataset, "device": "cpu"}) if task == "digits"
           else DigitsRun(dataset=dataset, device="cpu"))
    return _fitting(network, image_data(run, n_members, root), dataset)


def _fitting(network, data: EvaluationData, dataset: str) -> EvaluationData:
    clean = data.member_data
    features = clean.inputs.shape[-1]
    classes = int(clean.labels.max()) + 1
    config = network.config
    require(features == config.n_inputs and classes <= config.n_classes, "dataset", dataset,
            f"data of the network's shape ({config.n_inputs} inputs, {config.n_classes} classes; "
            f"{dataset} has {features} inputs and {classes} classes)")
    return data
