"""Image classification by a spiking network: one flat run config -> one flat row of metrics.

Protocol per run: load the dataset by name (:func:`spikeloc.datasets.load`, local files only), hold out
``n_validation`` training images as a stratified validation split drawn from the run's seed, scale pixels to
[0, 1], encode them batch by batch (:mod:`spikeloc.substrate.encoders`: rate, latency or direct current over
``steps`` steps of ``dt_s``), train a :class:`~spikeloc.networks.classifier.SpikingClassifier` with early
stopping on the validation loss, and test on the dataset's test split. :func:`run_mlp_baseline` trains a
non-spiking ReLU MLP of the same widths on the same split (on the CPU).

``device`` (:mod:`spikeloc.devices`): images are loaded and split on the CPU, then moved to the run's device,
where they are encoded (by generators on that device) and the network (its weights drawn on the CPU) trains.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import prod

import torch

from spikeloc import datasets, memory, seeding
from spikeloc.devices import check_device, device_field, resolve_device
from spikeloc.experiments import ensembles
from spikeloc.learning.baselines import MLPConfig, accuracy, fit_mlp
from spikeloc.learning.losses import LossConfig
from spikeloc.learning.surrogate import MemberData, TrainConfig, evaluate, fit
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
from spikeloc.networks.saved import ModelFileError, SavedModel, read_record
from spikeloc.perturbations.training import check_robust_training, robust_training
from spikeloc.substrate.encoders import EncoderConfig
from spikeloc.validation import added_field, require

LabelledValues = tuple[torch.Tensor, torch.Tensor]  # (values (N, features), labels (N,) int64)


@dataclass(frozen=True)
class DigitsRun(memory.MemoryChecked):
    """Every setting of one image-classification run (seconds; pixels scaled to [0, 1]).

    ``population`` (spiking readout only) is the number of LIF output neurons per class and ``tie_break`` the
    decision among tied top counts (:mod:`spikeloc.networks.classifier`)."""

    dataset: str = "mnist-5k"
    hidden: tuple[int, ...] = (200,)
    readout: str = "spikes"
    encoding: str = "rate"
    steps: int = 25
    gain: float = 1.0
    tau_s: float = 10e-3
    dropout: float = 0.0
    dale_layers: str = "none"
    ie_ratio: float = 0.5
    backend: str = "fused"
    loss: str = "mse_count"
    logit_scale: float = 1.0
    correct_rate: float = 1.0
    incorrect_rate: float = 0.0
    epochs: int = 30
    lr: float = 2e-3
    batch_size: int = 128
    n_validation: int = 400
    n_train: int = 0
    patience: int = 8
    population: int = 1
    tie_break: str = "first"
    device: str = device_field()
    tau_distribution: str = added_field("fixed")  # added after digits results were recorded: while they hold
    tau_spread: float = added_field(0.0)  # their defaults, those results keep their run ids
    learn_tau: bool = added_field(False)
    lr_schedule: str = added_field("constant")
    neuron: str | tuple[str, ...] = added_field("leaky")  # hidden neurons' kind(s) and reset (ClassifierConfig's)
    reset: str = added_field("zero")
    tau_adapt_s: float = added_field(200e-3)  # adaptive neurons' threshold time constant and rise per spike
    adaptation: float = added_field(0.1)
    mismatch_training: float = added_field(0.0)  # robust training, as IPDRun's
    qat_bits: int = added_field(0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        check_device(self.device)
        require(self.dataset in datasets.NAMES, "dataset", self.dataset, "one of " + ", ".join(datasets.NAMES))
        require(self.n_validation >= 1, "n_validation", self.n_validation, "an integer >= 1")
        require(self.loss != "mse_count" or self.readout == "spikes", "loss", self.loss,
                "'cross_entropy' with the membrane readout ('mse_count' compares spike counts with target counts)")
        require(self.n_train >= 0, "n_train", self.n_train, "an integer >= 0 (0: every image not held out)")
        self.encoder()
        object.__setattr__(self, "neuron", self.network_config(n_inputs=1, n_classes=2).neuron)  # one spelling
        self.member(0)
        self.train_config()
        check_robust_training(self.mismatch_training, self.qat_bits)

    def memory_needs(self) -> list[memory.Need]:
        """The run's largest allocations (:mod:`spikeloc.memory`): the dataset's images (uint8, and their float32
        features), the weights with their gradients and Adam moments, and one training batch of encoded inputs
        and hidden activations (current, membrane, spikes) in float32."""
        source = datasets.loaders.SOURCES[self.dataset]
        n_inputs, outputs = prod(source.image_shape), len(source.classes) * self.population
        widths = (n_inputs, *self.hidden, outputs)
        weights = sum(a * b for a, b in zip(widths, widths[1:]))
        activations = self.batch_size * self.steps * (n_inputs + 3 * sum(self.hidden) + outputs)
        return [memory.need(self, (1 + memory.FLOAT32_BYTES) * sum(source.sizes.values()) * n_inputs, "dataset"),
                memory.need(self, memory.TRAINED_WEIGHT_COPIES * memory.FLOAT32_BYTES * weights, "hidden"),
                memory.need(self, memory.FLOAT32_BYTES * activations, "batch_size", "steps", "hidden")]

    def encoder(self) -> EncoderConfig:
        return EncoderConfig(kind=self.encoding, steps=self.steps, gain=self.gain)

    def network_config(self, n_inputs: int, n_classes: int) -> ClassifierConfig:
        return ClassifierConfig(n_inputs=n_inputs, hidden=self.hidden, n_classes=n_classes, readout=self.readout,
                                tau_s=self.tau_s, backend=self.backend, population=self.population,
                                tie_break=self.tie_break, tau_distribution=self.tau_distribution,
                                tau_spread=self.tau_spread, learn_tau=self.learn_tau, neuron=self.neuron,
                                reset=self.reset, tau_adapt_s=self.tau_adapt_s, adaptation=self.adaptation)

    def member(self, seed: int) -> Member:
        return Member(seed=seed, dropout=self.dropout, dale_layers=self.dale_layers, ie_ratio=self.ie_ratio)

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, patience=self.patience,
                           lr_schedule=self.lr_schedule,
                           loss=LossConfig(self.loss, self.logit_scale, self.correct_rate, self.incorrect_rate))


#: Fields that may differ between members of one ensemble; all others must be equal.
PER_MEMBER_FIELDS = frozenset({"dropout", "dale_layers", "ie_ratio"})


def ensemble_key(run: DigitsRun) -> tuple:
    """Runs with equal keys can be trained together in one ensemble."""
    return ensembles.ensemble_key(run, PER_MEMBER_FIELDS)


def split(dataset: datasets.ImageDataset, n_validation: int, seed: int,
          n_train: int = 0) -> tuple[datasets.ImageSplit, ...]:
    """(train, validation, test) of a run: ``n_validation`` images held out from the training part, stratified
    and drawn from the seed; of the rest, a stratified ``n_train`` (0: all); the dataset's test images."""
    train, validation = datasets.validation_split(dataset.train, n_validation,
                                                  seeding.generator(seed, "data/validation-split"))
    require(n_train <= len(train), "n_train", n_train, f"<= {len(train)} images left after validation")
    if 0 < n_train < len(train):
        _, train = datasets.validation_split(train, n_train, seeding.generator(seed, "data/train-subset"))
    return train, validation, dataset.test


def train_digits_ensemble(runs: Sequence[tuple[DigitsRun, int]], root: str | None = None,
                          progress: bool = False) -> tuple[SpikingClassifier, list[dict]]:
    """Train the runs ``(config, seed)`` as one ensemble on local image files (``root`` or SPIKELOC_DATA for
    the datasets that are not shipped); the trained network and one flat row per run."""
    for run in dict.fromkeys(run for run, _ in runs):
        run.check_memory()
    first = ensembles.one_ensemble(runs, PER_MEMBER_FIELDS)
    dataset = datasets.load(first.dataset, root)
    splits = {seed: [(s.features(), s.labels) for s in split(dataset, first.n_validation, seed, first.n_train)]
              for seed in dict.fromkeys(seed for _, seed in runs)}
    return train_ensemble_on(runs, splits, len(dataset.classes), progress)


def train_ensemble_on(runs: Sequence[tuple[DigitsRun, int]], splits: Mapping[int, Sequence[LabelledValues]],
                      n_classes: int, progress: bool = False) -> tuple[SpikingClassifier, list[dict]]:
    """Train the runs ``(config, seed)`` as one ensemble on given data: ``splits[seed]`` is the seed's
    (train, validation, test), each ``(values (N, features), labels (N,))`` with values as the run's encoder takes
    them (in [0, 1] for rate and latency codes); the run's ``dataset``, ``n_validation`` and ``n_train`` are not
    read. The trained network and one flat row per run (with ``val_acc``, the accuracy on the validation split)."""
    first = ensembles.one_ensemble(runs, PER_MEMBER_FIELDS)
    encoder = first.encoder()
    device = resolve_device(first.device)
    on_device = {seed: [(x.to(device), y.to(device)) for x, y in splits[seed]]  # once per seed: shared, not copied
                 for seed in dict.fromkeys(seed for _, seed in runs)}
    train, validation, test = (MemberData.stack([on_device[seed][i] for _, seed in runs], encoder) for i in range(3))
    network = SpikingClassifier(first.network_config(train.inputs.shape[-1], n_classes),
                                [run.member(seed) for run, seed in runs]).to(device)
    with robust_training(network, first.mismatch_training, first.qat_bits) as hooks:
        fitted = fit(network, train, validation, first.train_config(), progress=progress, hooks=hooks)
    train_metrics, val_metrics, test_metrics = (evaluate(network, data, split=name) for data, name in
                                                 ((train, "train"), (validation, "validation"), (test, "test")))
    rows = [ensembles.diverged_row(fitted, k) if fitted.diverged[k] else {
        "status": "ok", "error": "", "train_acc": train_metrics[k]["acc"], "val_acc": val_metrics[k]["acc"],
        "test_acc": test_metrics[k]["acc"], **ensembles.fit_columns(fitted, k),
        "test_confusion": json.dumps(test_metrics[k]["confusion"].tolist()), **ensembles.trained_constants(network, k),
    } for k in range(len(runs))]
    return network, rows


def evaluate_saved(saved: SavedModel, root: str | None = None, dataset: str | None = None) -> list[dict]:
    """Score a saved image model on a dataset's test images (local files: ``root`` or SPIKELOC_DATA for the
    datasets not shipped), one row per member. A model saved after :func:`train_digits_ensemble` is encoded
    as it was trained, on its own dataset unless ``dataset`` names another, and with the same encoding draws,
    so it scores the test accuracy printed after training; a model without image training records (one read
    from a NIR file) needs ``dataset`` and is encoded as :class:`DigitsRun`'s defaults (rate code, 25 steps)."""
    run, data = saved_test_data(saved, root, dataset)
    return [{"dataset": run.dataset, "n_test_samples": len(data.labels[0]), "test_acc": m["acc"]}
            for m in evaluate(saved.network, data, split="test")]


def saved_test_data(saved: SavedModel, root: str | None = None, dataset: str | None = None
                    ) -> tuple[DigitsRun, MemberData]:
    """The run (its dataset) and each member's encoded test images that :func:`evaluate_saved` scores; damaged
    records, a missing ``dataset`` or images of another shape than the model's refused by name."""
    if ensembles.has_training_records(saved.metadata):
        task = saved.metadata.get("task")
        if task != "digits":
            found = "missing" if task is None else repr(task)
            raise ModelFileError(f"{saved.path}: metadata field 'task' is {found}, not 'digits': not an image model")
        runs = [read_record(DigitsRun, entry.get("config") if isinstance(entry, dict) else entry,
                            f"metadata.runs[{k}].config", saved.path)
                for k, entry in enumerate(saved.metadata.get("runs") or [])]
        require(len(runs) == saved.network.n_members, "model", f"{len(runs)} recorded runs",
                f"one per member ({saved.network.n_members})")
    else:
        require(dataset is not None, "dataset", dataset, "a dataset name for a model without image training records")
        runs = [DigitsRun(dataset=dataset)] * saved.network.n_members
    first = dataclasses.replace(ensembles.one_ensemble([(run, 0) for run in runs], PER_MEMBER_FIELDS),
                                dataset=dataset or runs[0].dataset)
    images = datasets.load(first.dataset, root)
    test_x, test_y = images.test.features(), images.test.labels
    n_inputs, n_classes = saved.network.config.n_inputs, saved.network.config.n_classes
    require((test_x.shape[-1], len(images.classes)) == (n_inputs, n_classes), "dataset", first.dataset,
            f"images of {n_inputs} values in {n_classes} classes, as the model takes (got {test_x.shape[-1]} values "
            f"in {len(images.classes)} classes)")
    device = next(saved.network.parameters()).device
    return first, MemberData.stack([(test_x.to(device), test_y.to(device))] * len(runs), first.encoder())


def run_digits_ensemble(runs: Sequence[tuple[DigitsRun, int]], progress: bool = False) -> list[dict]:
    """Rows of :func:`train_digits_ensemble` (the study runner's batch function)."""
    return train_digits_ensemble(runs, progress=progress)[1]


def run_digits(run: DigitsRun, seed: int, progress: bool = False) -> dict:
    """Train and test one spiking network; a flat dict of metrics."""
    return run_digits_ensemble([(run, seed)], progress=progress)[0]


def run_mlp_baseline(run: DigitsRun, seed: int, root: str | None = None) -> dict:
    """A non-spiking ReLU MLP with the run's hidden widths, epochs, batch size and split, trained by backprop
    (Adam, lr 1e-3, best validation epoch kept); the row has ``train_acc``, ``test_acc`` and ``seconds``."""
    dataset = datasets.load(run.dataset, root)
    splits = split(dataset, run.n_validation, seed, run.n_train)
    (train_x, train_y), validation, (test_x, test_y) = [(s.features(), s.labels) for s in splits]
    start = time.perf_counter()
    model = fit_mlp(MLPConfig(hidden=run.hidden, epochs=run.epochs, batch_size=run.batch_size),
                    (train_x, train_y), validation, len(dataset.classes), seed)
    return {"status": "ok", "error": "", "train_acc": accuracy(model, train_x, train_y),
            "test_acc": accuracy(model, test_x, test_y), "seconds": time.perf_counter() - start}


def model_metadata(runs: Sequence[tuple[DigitsRun, int]]) -> dict:
    """What a saved image model records (the dataset, encoder and training settings of each member)."""
    return {"task": "digits", "runs": [{"config": dataclasses.asdict(run), "seed": seed} for run, seed in runs]}
