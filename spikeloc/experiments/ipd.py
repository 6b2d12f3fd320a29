"""One IPD run as a flat config -> one flat row of metrics; several runs trained as one ensemble.

:class:`IPDRun` gathers every setting a study varies into one frozen, validated record; ``run_ipd``
trains and tests one network, ``run_ipd_ensemble`` trains several at once (same result per run: each
run's data, weights, batch order and dropout come from its own seed). Protocol per run (seed's):
train on ``n_train_batches * batch_size`` fresh samples at training phase noise ``phase_noise_rad``,
validate on ``n_val_samples`` more at the same noise, test on ``n_test_samples`` fresh samples at
``test_phase_noise_rad`` (0 in the seed). Each dataset gets its own phase offset under ``"per_dataset"``.

Training stimuli (``training_data``): ``"fixed"`` (the seed's: one training set, reused every epoch) or
``"per_epoch"`` (:class:`FreshStimuli`: epoch 1 trains on that same set, every later epoch on a fresh one of the
same size from the seed's stream ``"data/train/epoch<e>"``; the task's generator is cheap, see
benchmarks/bench_ipd_options.py). Fresh sets per batch would draw from the same distribution (every sample
new, seen once), so there is no separate per-batch option. Validation and test sets stay fixed. ``train_acc``
is the accuracy on the training data the kept (best-validation) weights were last trained on: the one set of
fixed stimuli; with fresh stimuli the set of the best epoch, whose number the row gives as ``train_acc_epoch``
(the set of epoch 1 would be data the kept network last saw many epochs before, nearer a second test set than
training data; the last epoch's set, when it came after the best, the kept weights never trained on).

Options beyond the seed, all off by default (see :class:`spikeloc.networks.classifier.ClassifierConfig` and
:class:`spikeloc.learning.surrogate.TrainConfig`): per-neuron time constants (``tau_distribution``,
``tau_spread``, ``learn_tau``), per-fibre input delays (``input_delays``, ``max_delay_steps`` < the stimulus'
time steps) and the learning-rate schedule (``lr_schedule``); more epochs (``epochs``, with early stopping
after ``patience``) and more training data per epoch (``n_train_batches``) were fields already. Rows of runs
with per-neuron taus or delays also hold the trained values (JSON lists: ``hidden_tau_ms``, ``readout_tau_ms``,
``input_delay_steps``).

Readouts (:mod:`spikeloc.networks.classifier`): ``readout="membrane"`` (the seed's leaky membrane, its class
scores the time-summed membrane) or ``"spikes"`` (LIF output neurons, ``population`` per class, scored by their
spike counts, ties of the top count broken by ``tie_break``). Both are trained with the seed's loss, the
cross-entropy of ``logit_scale`` x the class scores: the seed's 0.01 suits summed membranes; on spike counts
``logit_scale = 1`` is snnTorch's ``ce_count_loss``.

``device`` (:mod:`spikeloc.devices`) is where the run computes: its stimuli are drawn by generators on that
device and its network is moved there (weights are drawn on the CPU first, so they do not depend on it).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields

import pandas as pd

from spikeloc import memory, seeding
from spikeloc.devices import check_device, device_field, is_gpu, resolve_device
from spikeloc.experiments import ensembles
from spikeloc.experiments.ipd_protocols import PROTOCOLS, add_protocol_option, protocols  # noqa: F401 (shared names)
from spikeloc.learning.losses import LossConfig
from spikeloc.learning.surrogate import MemberData, TrainConfig, evaluate, fit
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
from spikeloc.networks.saved import ModelFileError, SavedModel, described, read_record
from spikeloc.perturbations.training import check_robust_training, robust_training
from spikeloc.study.runner import Study
from spikeloc.tasks.ipd import IPDData, IPDTask, generate, ipd_metrics
from spikeloc.validation import added_field, require, require_choice

TRAINING_DATA = ("fixed", "per_epoch")


@dataclass(frozen=True)
class IPDRun(memory.MemoryChecked):
    """Every setting of one IPD run (seconds, radians; defaults are the seed's). The network has a hidden layer of
    ``n_hidden`` units, then one per size in ``more_hidden`` (none by default, as the seed)."""

    phase_noise_rad: float = 0.0
    test_phase_noise_rad: float = 0.0
    phase_offset: str = "per_dataset"
    phase_noise_draw: str = "per_dataset"
    fibres_per_ear: int = 100
    n_hidden: int = 30
    tau_s: float = 5e-3
    dropout: float = 0.0
    dale_layers: str = "none"
    ie_ratio: float = 0.5
    zero_gradient: str = "cull"
    backend: str = "fused"
    epochs: int = 10
    lr: float = 0.005
    batch_size: int = 64
    n_train_batches: int = 64
    n_val_samples: int = 4096
    n_test_samples: int = 2048
    patience: int = 10
    tau_distribution: str = "fixed"
    tau_spread: float = 0.0
    learn_tau: bool = False
    input_delays: str = "none"
    max_delay_steps: int = 10
    lr_schedule: str = "constant"
    device: str = device_field()
    training_data: str = "fixed"
    readout: str = added_field("membrane")  # the readout fields came after IPD results were recorded: while
    population: int = added_field(1)  # they hold their defaults, those results keep their run ids
    tie_break: str = added_field("first")
    logit_scale: float = added_field(0.01)
    more_hidden: tuple[int, ...] = added_field(())  # sizes of further hidden layers after the first (n_hidden)
    test_stream: str = added_field("data/test")  # a retest after a choice draws its own (studies/ipd_beyond.py)
    neuron: str | tuple[str, ...] = added_field("leaky")  # hidden neurons' kind (one, or one per hidden layer),
    reset: str = added_field("zero")  # reset and synaptic tau (ClassifierConfig's)
    tau_syn_s: float = added_field(5e-3)
    tau_adapt_s: float = added_field(200e-3)  # adaptive neurons' threshold time constant and step per spike
    adaptation: float = added_field(0.1)
    mismatch_training: float = added_field(0.0)  # robust training (spikeloc.perturbations.training): mismatch
    qat_bits: int = added_field(0)  # sigma of a fresh draw per batch; quantisation-aware training's bits

    def __post_init__(self) -> None:
        object.__setattr__(self, "more_hidden", tuple(self.more_hidden))
        check_device(self.device)
        require(self.n_train_batches >= 1, "n_train_batches", self.n_train_batches, "an integer >= 1")
        require(self.n_val_samples >= 1, "n_val_samples", self.n_val_samples, "an integer >= 1")
        require(self.n_test_samples >= 1, "n_test_samples", self.n_test_samples, "an integer >= 1")
        require_choice(self.training_data, "training_data", TRAINING_DATA)
        require(self.test_stream.startswith("data/test"), "test_stream", self.test_stream,
                "a stream name starting with 'data/test' (never a training or validation stream)")
        self.task(self.phase_noise_rad)
        self.task(self.test_phase_noise_rad)
        object.__setattr__(self, "neuron", self.network_config().neuron)  # one spelling per network (run ids)
        n_steps = self.task(0.0).n_steps
        require(self.max_delay_steps < n_steps, "max_delay_steps", self.max_delay_steps,
                f"< the stimulus' {n_steps} time steps")
        self.member(0)
        self.train_config()
        check_robust_training(self.mismatch_training, self.qat_bits)

    def memory_needs(self) -> list[memory.Need]:
        """The run's largest allocations (:mod:`spikeloc.memory`): its stimuli (one byte per fibre and step), its
        weights with their gradients and Adam moments, and one training batch of inputs and hidden activations
        (current, membrane, spikes) in float32."""
        task = self.task(0.0)
        sample = task.n_steps * task.n_inputs
        outputs = task.n_classes * self.population
        activations = self.batch_size * task.n_steps * (task.n_inputs + 3 * self.n_hidden + outputs)
        weights = memory.TRAINED_WEIGHT_COPIES * memory.FLOAT32_BYTES * self.n_hidden * (task.n_inputs + outputs)
        return [memory.need(self, self.n_train_batches * self.batch_size * sample, "n_train_batches"),
                memory.need(self, self.n_val_samples * sample, "n_val_samples"),
                memory.need(self, self.n_test_samples * sample, "n_test_samples"),
                memory.need(self, weights, "n_hidden"),
                memory.need(self, memory.FLOAT32_BYTES * activations, "batch_size", "n_hidden")]

    def task(self, phase_noise_rad: float) -> IPDTask:
        return IPDTask(fibres_per_ear=self.fibres_per_ear, phase_noise_rad=phase_noise_rad,
                       phase_offset=self.phase_offset, phase_noise_draw=self.phase_noise_draw)

    def network_config(self) -> ClassifierConfig:
        return ClassifierConfig(n_inputs=2 * self.fibres_per_ear, hidden=(self.n_hidden, *self.more_hidden),
                                n_classes=self.task(0.0).n_classes, tau_s=self.tau_s, backend=self.backend,
                                zero_gradient=self.zero_gradient, tau_distribution=self.tau_distribution,
                                tau_spread=self.tau_spread, learn_tau=self.learn_tau, input_delays=self.input_delays,
                                max_delay_steps=self.max_delay_steps, readout=self.readout,
                                population=self.population, tie_break=self.tie_break, neuron=self.neuron,
                                reset=self.reset, tau_syn_s=self.tau_syn_s, tau_adapt_s=self.tau_adapt_s,
                                adaptation=self.adaptation)

    def member(self, seed: int) -> Member:
        return Member(seed=seed, dropout=self.dropout, dale_layers=self.dale_layers, ie_ratio=self.ie_ratio)

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, patience=self.patience,
                           lr_schedule=self.lr_schedule, loss=LossConfig(logit_scale=self.logit_scale))


#: Fields that may differ between members of one ensemble; all others must be equal.
PER_MEMBER_FIELDS = frozenset({"phase_noise_rad", "test_phase_noise_rad", "phase_offset", "phase_noise_draw",
                               "dropout", "dale_layers", "ie_ratio", "training_data", "test_stream"})


def ensemble_key(run: IPDRun) -> tuple:
    """Runs with equal keys can be trained together in one ensemble."""
    return ensembles.ensemble_key(run, PER_MEMBER_FIELDS)


DATA_FIELDS = ("phase_noise_rad", "test_phase_noise_rad", "phase_offset", "phase_noise_draw", "fibres_per_ear",
               "batch_size", "n_train_batches", "n_val_samples", "n_test_samples", "device", "test_stream")


def test_dataset(run: IPDRun, seed: int) -> IPDData:
    """The run's test set: ``n_test_samples`` fresh samples at ``test_phase_noise_rad`` from the seed's
    ``test_stream`` (``"data/test"``, or another for a retest after a choice), on the run's device."""
    return generate(run.task(run.test_phase_noise_rad), run.n_test_samples,
                    seeding.generator(seed, run.test_stream, resolve_device(run.device)))


def training_set(run: IPDRun, seed: int, epoch: int = 1) -> IPDData:
    """The run's training samples of ``epoch``, on the run's device: the seed's ``"data/train"`` stream for
    epoch 1 (and for every epoch of fixed data), ``"data/train/epoch<e>"`` for a later epoch ``e`` of fresh
    stimuli."""
    stream = "data/train" if epoch == 1 or run.training_data == "fixed" else f"data/train/epoch{epoch}"
    return generate(run.task(run.phase_noise_rad), run.n_train_batches * run.batch_size,
                    seeding.generator(seed, stream, resolve_device(run.device)))


def kept_training_sets(runs: Sequence[tuple[IPDRun, int]], epochs: Sequence[int]) -> list[IPDData]:
    """Each run's training samples of epoch ``epochs[k]`` (its best epoch: the set its kept weights were last
    trained on; fixed stimuli: the one set, whatever the epoch), each distinct set made once."""
    epochs = [1 if run.training_data == "fixed" else max(epoch, 1) for (run, _), epoch in zip(runs, epochs)]
    return _shared(runs, training_set, epochs=epochs)


def _shared(runs: Sequence[tuple[IPDRun, int]], make, fields: Sequence[str] = DATA_FIELDS,
            epochs: Sequence[int] | None = None) -> list:
    """``make(run, seed)`` per run (``make(run, seed, epochs[i])`` with ``epochs``), made once per distinct
    (seed, ``fields``, epoch): runs that differ only in, say, dropout share one copy of the same data (a paired
    design)."""
    cache: dict[tuple, object] = {}
    made = []
    for i, (run, seed) in enumerate(runs):
        extra = () if epochs is None else (epochs[i],)
        key = (seed, *(getattr(run, name) for name in fields), *extra)
        if key not in cache:
            cache[key] = make(run, seed, *extra)
        made.append(cache[key])
    return made


def member_datasets(runs: Sequence[tuple[IPDRun, int]]) -> tuple[list[IPDData], list[IPDData], list[IPDData]]:
    """Each run's (train, validation, test) datasets, each from its own named stream of the run's seed.

    Data depend only on the seed and the stimulus settings (:data:`DATA_FIELDS`), so runs that differ in,
    say, dropout see the same data (a paired design); such runs share one generated copy. The training set is
    the first epoch's (:func:`training_set`), the same for fixed and fresh stimuli, so ``training_data`` is
    not among those fields (:class:`FreshStimuli` adds it for the later epochs).
    """
    per_run = _shared(runs, lambda run, seed: (
        training_set(run, seed),
        generate(run.task(run.phase_noise_rad), run.n_val_samples,
                 seeding.generator(seed, "data/validation", resolve_device(run.device))),
        test_dataset(run, seed)))
    return [list(split) for split in zip(*per_run)]


@dataclass(frozen=True)
class FreshStimuli:
    """Training data of an ensemble (:class:`spikeloc.learning.surrogate.TrainingData`) with fresh stimuli per
    epoch for the members whose run says ``training_data="per_epoch"``: each member's samples come from its own
    seed's streams (:func:`training_set`), so a member's data do not depend on its ensemble. ``first_epoch`` is
    the ensemble's epoch-1 training data (every member's :func:`training_set` of epoch 1, as
    :func:`member_datasets` made it); members with fixed data keep theirs every epoch, and nothing is generated
    twice."""

    runs: tuple[tuple[IPDRun, int], ...]
    first_epoch: MemberData

    @classmethod
    def of(cls, runs: Sequence[tuple[IPDRun, int]]) -> FreshStimuli:
        """The runs' training data, epoch 1 made here."""
        return cls(tuple(runs), stacked(member_datasets(runs)[0]))

    def for_epoch(self, epoch: int) -> MemberData:
        if epoch == 1:
            return self.first_epoch
        first = self.first_epoch
        kept = [(first.inputs[i], first.labels[i]) for i in range(first.inputs.shape[0])]
        fresh = iter([(d.spikes, d.labels) for d in _shared(
            [(run, seed) for run, seed in self.runs if run.training_data != "fixed"],
            lambda run, seed: training_set(run, seed, epoch), (*DATA_FIELDS, "training_data"))])
        return MemberData.stack([kept[first.source[k]] if run.training_data == "fixed" else next(fresh)
                                 for k, (run, _) in enumerate(self.runs)])


def stacked(datasets: Sequence[IPDData]) -> MemberData:
    """Member k trains or is tested on ``datasets[k]`` (one stored copy of a dataset given twice)."""
    return MemberData.stack([(d.spikes, d.labels) for d in datasets])


def train_ipd_ensemble(runs: Sequence[tuple[IPDRun, int]],
                       progress: bool = False) -> tuple[SpikingClassifier, list[dict]]:
    """Train the runs ``(config, seed)`` as one ensemble; the trained network and one flat result dict per
    run, in order (see :func:`run_ipd_ensemble`)."""
    for run in dict.fromkeys(run for run, _ in runs):
        run.check_memory()
    first = ensembles.one_ensemble(runs, PER_MEMBER_FIELDS)
    datasets = member_datasets(runs)
    train, validation, test = (stacked(split) for split in datasets)
    targets = [[(d.ipd_rad, d.labels) for d in datasets[split]] for split in (0, 2)]  # what the metrics need
    del datasets  # the stacked copies hold the spikes from here on
    network = SpikingClassifier(first.network_config(), [run.member(seed) for run, seed in runs])
    network.to(train.inputs.device)
    fresh = any(run.training_data != "fixed" for run, _ in runs)
    with robust_training(network, first.mismatch_training, first.qat_bits) as hooks:
        fitted = fit(network, FreshStimuli(tuple(runs), train) if fresh else train, validation,
                     first.train_config(), progress=progress, hooks=hooks)
    if fresh:  # score training on the set each member's kept weights were last trained on (its best epoch's)
        kept = kept_training_sets(runs, fitted.best_epoch)
        train, targets[0] = stacked(kept), [(d.ipd_rad, d.labels) for d in kept]
        del kept
    n_classes = network.config.n_classes
    train_metrics, test_metrics = (
        evaluate(network, data, split=name,
                 task_metrics=lambda k, guess, split=split: ipd_metrics(*split[k], guess, n_classes))
        for data, split, name in zip((train, test), targets, ("train", "test")))
    rows = [ensembles.diverged_row(fitted, k) if fitted.diverged[k] else {
        "status": "ok",
        "error": "",
        "train_acc": train_metrics[k]["acc"],
        **({"train_acc_epoch": max(fitted.best_epoch[k], 1)} if runs[k][0].training_data != "fixed" else {}),
        "test_acc": test_metrics[k]["acc"],
        "train_error_deg": train_metrics[k]["error_deg"],
        "test_error_deg": test_metrics[k]["error_deg"],
        "train_midpoint_error_deg": train_metrics[k]["midpoint_error_deg"],
        "test_midpoint_error_deg": test_metrics[k]["midpoint_error_deg"],
        **ensembles.fit_columns(fitted, k),
        "test_confusion": json.dumps(test_metrics[k]["confusion"].tolist()),
        **ensembles.trained_constants(network, k),
    } for k in range(len(runs))]
    return network, rows


def run_ipd_ensemble(runs: Sequence[tuple[IPDRun, int]], progress: bool = False) -> list[dict]:
    """Train the runs ``(config, seed)`` as one ensemble; one flat result dict per run, in order.

    ``seconds_per_epoch`` of each row is the ensemble's training time per epoch (validation included)
    divided by its size: the time amortised per run.
    """
    return train_ipd_ensemble(runs, progress)[1]


def model_metadata(runs: Sequence[tuple[IPDRun, int]]) -> dict:
    """What a saved IPD model records to be scored again later (:func:`evaluate_saved`)."""
    return {"task": "ipd", "runs": [{"config": dataclasses.asdict(run), "seed": seed} for run, seed in runs]}


def saved_runs(saved: SavedModel) -> list[tuple[IPDRun, int]]:
    """The runs ``(config, seed)`` a saved IPD model's metadata records (:func:`model_metadata`), one per member,
    each consistent with its member; a :class:`~spikeloc.networks.saved.ModelFileError` naming the file and the
    metadata field otherwise (a ``task`` other than ``"ipd"``, ``runs`` missing or of another length, a field
    missing, unknown or invalid: the file's values are blamed on the file, not on a command-line option)."""
    where = f"{saved.path or 'the model file'}: metadata"
    if saved.metadata.get("task") != "ipd":
        task = repr(saved.metadata["task"]) if "task" in saved.metadata else "missing"
        raise ModelFileError(f"{where} field 'task' is {task}, not 'ipd': not an IPD model")
    entries = saved.metadata.get("runs")
    n_members = saved.network.n_members
    if not isinstance(entries, list) or len(entries) != n_members:
        found = f"a list of {len(entries)}" if isinstance(entries, list) else described(entries)
        raise ModelFileError(f"{where} field 'runs' is {found}, expected a list of {n_members} (one per member)")
    runs = []
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != {"config", "seed"}:
            raise ModelFileError(f"{where}.runs[{k}] must be a dict of 'config' and 'seed', got "
                                 f"{sorted(entry, key=str) if isinstance(entry, dict) else described(entry)}")
        run = read_record(IPDRun, entry["config"], f"metadata.runs[{k}].config", saved.path)
        run_seed = entry["seed"]
        if type(run_seed) is not int or run_seed < 0:
            raise ModelFileError(f"{where}.runs[{k}].seed = {run_seed!r} is invalid: must be an integer >= 0")
        if run.network_config() != saved.network.config or run.member(run_seed) != saved.network.members[k]:
            raise ModelFileError(f"{where}.runs[{k}] does not describe the network's member {k} (its config, "
                                 "seed, dropout or Dale settings differ)")
        runs.append((run, run_seed))
    return runs


def imported_runs(saved: SavedModel) -> list[tuple[IPDRun, int]]:
    """:class:`IPDRun`'s defaults and seed 0 for every member of a model without training records (one read from
    a NIR file), once checked that its inputs and classes are the IPD task's."""
    run = IPDRun()
    expected, found = run.network_config(), saved.network.config
    require((found.n_inputs, found.n_classes) == (expected.n_inputs, expected.n_classes), "model",
            f"{found.n_inputs} inputs and {found.n_classes} classes",
            f"the IPD task's {expected.n_inputs} input fibres and {expected.n_classes} classes")
    return [(run, 0)] * saved.network.n_members


def saved_test_runs(saved: SavedModel, seed: int | None = None, **test_settings) -> list[tuple[IPDRun, int]]:
    """The ``(run, seed)`` of each member's test set, as :func:`evaluate_saved` scores it: the recorded runs
    (:func:`saved_runs`, damaged records refused naming the file) or, without records, :func:`imported_runs`;
    ``test_settings`` replaced, on the network's device, the seed ``seed`` or the member's own; a test set too
    large for this machine's memory refused naming ``n_test_samples``."""
    unknown = set(test_settings) - {f.name for f in fields(IPDRun) if f.name != "device"}
    require(not unknown, "test settings", sorted(unknown), "IPDRun fields other than device")
    device = str(next(saved.network.parameters()).device)
    recorded = saved_runs(saved) if ensembles.has_training_records(saved.metadata) else imported_runs(saved)
    runs = [(dataclasses.replace(run, device=device, **test_settings), run_seed if seed is None else seed)
            for run, run_seed in recorded]
    for run in dict.fromkeys(run for run, _ in runs):  # only the test set is drawn
        memory.require_fits([need for need in run.memory_needs() if need.field == "n_test_samples"], "the test set")
    return runs


def evaluate_saved(saved: SavedModel, seed: int | None = None, **test_settings) -> list[dict]:
    """Score a saved IPD model on a fresh test set per member: the member's own run settings with
    ``test_settings`` (IPDRun fields such as ``test_phase_noise_rad``, ``phase_offset``, ``n_test_samples``)
    replaced, drawn from ``seed``'s test stream (default: the member's training seed, which reproduces the test
    set it was scored on after training, on the device it was trained on). The test data are drawn on the
    device the network was loaded onto (:func:`spikeloc.networks.saved.load`). One row per member: test
    accuracy and both errors.

    A model without training records (one read from a NIR file: no metadata ``task`` or ``runs``) is scored with
    :class:`IPDRun`'s default stimulus settings (and ``test_settings``) and seed 0 (:func:`imported_runs`)."""
    runs = saved_test_runs(saved, seed, **test_settings)
    datasets = [test_dataset(run, data_seed) for run, data_seed in runs]
    data = stacked(datasets)
    n_classes = saved.network.config.n_classes
    metrics = evaluate(saved.network, data, split="test", task_metrics=lambda k, guess: ipd_metrics(
        datasets[k].ipd_rad, datasets[k].labels, guess, n_classes))
    return [{"seed": data_seed, "test_phase_noise_rad": run.test_phase_noise_rad, "phase_offset": run.phase_offset,
             "n_test_samples": run.n_test_samples, "test_acc": m["acc"], "test_error_deg": m["error_deg"],
             "test_midpoint_error_deg": m["midpoint_error_deg"]} for (run, data_seed), m in zip(runs, metrics)]


def run_ipd(run: IPDRun, seed: int, progress: bool = False) -> dict:
    """Train and test one network; a flat dict of metrics (see :func:`run_ipd_ensemble`)."""
    return run_ipd_ensemble([(run, seed)], progress=progress)[0]



# --------------------------------------------------------------------------
# What IPD study scripts share (PROTOCOLS, add_protocol_option, protocols: spikeloc.experiments.ipd_protocols)


def per_protocol(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """(protocol name, rows) for each protocol present in ``frame`` (told apart by ``phase_offset``)."""
    for offset, rows in frame.groupby("phase_offset"):
        yield next(name for name, p in PROTOCOLS.items() if p["phase_offset"] == offset), rows


#: Most runs per ensemble: on CPU, and on a GPU (see :func:`ipd_study`).
MAX_ENSEMBLE_CPU, MAX_ENSEMBLE_GPU = 9, 64


def ipd_study(name: str, configs: Sequence[IPDRun], seeds: Sequence[int]) -> Study:
    """A study of IPD runs, trained as ensembles of runs that share their structural settings: up to 9 on CPU,
    up to 64 on a GPU.

    Per network an ensemble is not much cheaper than a single network on CPU (the epoch is bound by dense
    matrix products, see benchmarks/bench_epoch.py), so ensembles stay small: results are saved after
    every ensemble, and a killed study loses at most the ensembles in flight. On a GPU an epoch is bound by
    kernel launches, which an ensemble shares, so the grid is packed into few large ensembles.
    """
    configs = tuple(configs)
    on_gpu = any(is_gpu(c.device) for c in configs)
    return Study(name=name, configs=configs, seeds=tuple(seeds), run_fn=run_ipd,
                 batch_run_fn=run_ipd_ensemble, batch_key=ensemble_key,
                 max_batch=MAX_ENSEMBLE_GPU if on_gpu else MAX_ENSEMBLE_CPU)
