"""The test data a network's perturbation curves are scored on, and how to get them for a model file.

:class:`EvaluationData` holds the clean test data of each member (a :class:`~spikeloc.learning.trainer.MemberData`)
and, for IPD networks, the runs that generated them (phase noise draws fresh stimuli of the same run).
:func:`model_data` finds a model's task: a model saved by ``train-ipd`` / ``train-digits`` (or an ensemble
study) records it; a model without training records (one read from NIR) needs ``dataset`` (``"ipd"`` or an
image dataset name), and is then scored on the default run's test data of that task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from spikeloc import datasets
from spikeloc.experiments import ensembles
from spikeloc.experiments.digits import DigitsRun, saved_test_data
from spikeloc.experiments.ipd import IPDRun, saved_test_runs, stacked, test_dataset
from spikeloc.learning.trainer import MemberData
from spikeloc.networks.saved import SavedModel
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


def model_data(saved: SavedModel, dataset: str | None = None, root: str | None = None) -> EvaluationData:
    """The test data of a loaded model (see the module docstring), read as ``spikeloc eval`` reads them
    (:func:`spikeloc.experiments.ipd.saved_test_runs`, :func:`spikeloc.experiments.digits.saved_test_data`):
    damaged training records are a :class:`~spikeloc.networks.saved.ModelFileError` naming the file and field;
    ``ValueError`` naming ``dataset`` when the task cannot be inferred or the data do not fit the network."""
    task = saved.metadata.get("task") if ensembles.has_training_records(saved.metadata) else None
    if task is None:
        require(dataset in TASK_DATASETS, "dataset", dataset,
                f"the task of a model without training records: one of {', '.join(TASK_DATASETS)}")
    elif task == "ipd":
        require(dataset in (None, "ipd"), "dataset", dataset, "'ipd' (or none) for an IPD model")
    if task == "ipd" or dataset == "ipd":
        return ipd_data(saved_test_runs(saved))
    _, images = saved_test_data(saved, root, dataset)
    return EvaluationData(images)
