"""Neuromodulatory weight noise experiments: one flat run config -> one flat row (issue 8).

A run trains one network on one task with one kind of training noise, then scores it on the test set:
clean, under its own training noise (``noisy_acc``, mean over ``n_draws`` seeded draws) and along the
robustness curve (fixed noise at each of ``test_scales``, absolute and relative to each layer's weight std,
``n_draws`` draws per point, mean and spread). Tasks:

* ``"ipd"``: the IPD seed's spiking network (:class:`~spikeloc.experiments.ipd.IPDRun`) with ``ipd_hidden``
  hidden units, stimulus ``protocol`` ``"seed"`` or ``"robust"`` and ``training_data`` ``"fixed"`` or
  ``"per_epoch"`` (fresh stimuli every epoch);
* ``"digits"``: a spiking classifier on MNIST-5k (:class:`~spikeloc.experiments.digits.DigitsRun`);
* ``"mlp"``: the noise seed's own setting, a non-spiking ReLU MLP [512, 256] with dropout 0.2 on MNIST-5k,
  Adam lr 1e-3, batch 128.

Training noise (``training``): ``"none"``; ``"fixed"`` (``noise_scale`` x weight std, or absolute);
``"seed_model"`` (the seed's ``NoiseModel`` as written: learned absolute std, ``clamp(exp(theta/2), 1e-6,
0.5)`` from ``theta = 0``, task loss only); ``"learned_task"`` (bounded learned std, sigmoid bounding, task
loss only: the seed's objective on a noise model that can feel its gradient); ``"learned"`` (the same with
the entropy reward of weight ``entropy_weight``, :mod:`spikeloc.learning.neuromodulation`). The learned
models' optimiser runs at ``lr_factor`` x the network's learning rate (default 5: at the seed's 0.1, Adam moves
the log-variance by at most ~1e-4 per step, too little to change within a short run; ``"seed_model"`` keeps
the seed's 0.1). For
``"none"``, ``noisy_acc`` is the accuracy under the fixed noise of ``noise_scale``, so every condition has one.
``kept_at_noise_scale``: the robustness-curve accuracy at ``noise_scale`` (``reference``) over the clean one,
the same measure for every condition; ``kept_<layer>_only``: the same with the noise on that one layer (e.g.
``kept_readout_only``), the others clean: which layer bounds the robustness. ``weight_averaging`` (spiking
tasks): the network (and a learned noise model) is scored with the mean of its weights at the end of each epoch
of the second half of training (:mod:`spikeloc.learning.averaging`) instead of its best-validation weights;
``epochs_averaged`` says how many epochs that mean holds (0 when early stopping ended training before the
second half: the run was then scored with its best-validation weights, not averaged ones). Without averaging,
the weights and the learned noise model scored are both the best-validation epoch's (``final_std_<layer>``:
that noise model's mean std; ``std_history``: every epoch's). ``train_acc``: the accuracy on the training data
the scored weights were last trained on; with fresh stimuli (``training_data="per_epoch"``) that is the set of
epoch ``train_acc_epoch`` (the best epoch, or the last when averaged), not the first epoch's.

Every noise draw comes from the run's seed: training draws from ``"noise/train"``, evaluation draws from
named per-point streams, so runs of different conditions with one seed see the same data, the same initial
weights and the same evaluation noise (a paired design).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from spikeloc import datasets, seeding
from spikeloc.experiments import ensembles
from spikeloc.experiments.digits import split
from spikeloc.experiments.ipd import PROTOCOLS, TRAINING_DATA, IPDRun
from spikeloc.experiments.spiking_tasks import SpikingTaskSizes, spiking_setup
from spikeloc.learning.baselines import fit_plain
from spikeloc.learning.averaging import WeightAverage
from spikeloc.learning.neuromodulation import (
    NoiseObjective,
    NoiseTraining,
    dropout_mlp,
    noisy_scores,
    plain_accuracy,
    robustness_curve,
)
from spikeloc.learning.surrogate import FitResult, evaluate, fit
from spikeloc.study.runner import Study
from spikeloc.substrate.layers import WeightLayer, plain_layers, spiking_layers
from spikeloc.substrate.noise import REFERENCES, SEED_SCALES, NoiseConfig, WeightNoise, fixed_noise
from spikeloc.validation import require, require_choice

TASKS = ("ipd", "digits", "mlp")
TRAININGS = ("none", "fixed", "seed_model", "learned_task", "learned")
#: The seed's noise model as written (absolute std, clamped, log-variance 0 at the start).
SEED_NOISE_MODEL = NoiseConfig(learned=True, reference="absolute", bounding="clamp", min_std=1e-6, max_std=0.5,
                               init_std=1.0)


def curve_column(reference: str, scale: float) -> str:
    """Column of the accuracy at one robustness-curve point, e.g. ``acc_relative_0.3``."""
    return f"acc_{reference}_{scale:g}"


@dataclass(frozen=True)
class NeuromodulationRun(SpikingTaskSizes):
    """Every setting of one run (noise stds absolute or in multiples of the layer's weight std; the task's sizes
    from :class:`~spikeloc.experiments.spiking_tasks.SpikingTaskSizes`)."""

    task: str = "ipd"
    training: str = "none"
    noise_scale: float = 0.3
    reference: str = "relative"
    init_std: float = 0.3
    min_std: float = 1e-3
    max_std: float = 0.5
    per_unit: bool = False
    entropy_weight: float = 0.2
    lr_factor: float = 5.0
    test_scales: tuple[float, ...] = SEED_SCALES
    n_draws: int = 5
    protocol: str = "seed"
    ipd_hidden: int = 30
    training_data: str = "fixed"
    weight_averaging: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "test_scales", tuple(float(s) for s in self.test_scales))
        require_choice(self.task, "task", TASKS)
        require_choice(self.training, "training", TRAININGS)
        require(self.task != "mlp" or self.device == "cpu", "device", self.device,
                "'cpu' for task 'mlp' (the plain MLP reference trains on the CPU)")
        require_choice(self.protocol, "protocol", tuple(PROTOCOLS))
        require_choice(self.training_data, "training_data", TRAINING_DATA)
        require(not (self.weight_averaging and self.task == "mlp"), "weight_averaging", self.weight_averaging,
                "False for the mlp task (spiking tasks only)")
        NoiseConfig(scale=self.noise_scale, reference=self.reference)  # validates noise_scale, reference
        require(self.noise_scale in self.test_scales, "test_scales", self.test_scales,
                f"a list of scales that includes noise_scale = {self.noise_scale}")
        require(len(self.test_scales) >= 1 and all(s >= 0 for s in self.test_scales), "test_scales",
                self.test_scales, "one or more noise scales, each >= 0 (NaN is not)")
        require(self.n_draws >= 1, "n_draws", self.n_draws, "an integer >= 1")
        self.noise_config()
        self.objective()
        if self.task == "ipd":
            self.ipd_run()
        else:
            self.digits_run()

    def ipd_run(self, **settings) -> IPDRun:
        """The IPD run of these sizes, hidden units, protocol and training data."""
        return super().ipd_run(n_hidden=self.ipd_hidden, training_data=self.training_data,
                               **PROTOCOLS[self.protocol], **settings)

    def noise_config(self) -> NoiseConfig | None:
        """The training noise (None: trained without noise)."""
        if self.training == "none":
            return None
        if self.training == "fixed":
            return NoiseConfig(scale=self.noise_scale, reference=self.reference)
        if self.training == "seed_model":
            return SEED_NOISE_MODEL
        return NoiseConfig(learned=True, reference=self.reference, per_unit=self.per_unit, min_std=self.min_std,
                           max_std=self.max_std, init_std=self.init_std)

    def objective(self) -> NoiseObjective:
        if self.training == "seed_model":
            return NoiseObjective("task", 0.0, 0.1)
        if self.training == "learned":
            return NoiseObjective("entropy", self.entropy_weight, self.lr_factor)
        return NoiseObjective("task", 0.0, self.lr_factor)


def run_neuromodulation(run: NeuromodulationRun, seed: int) -> dict:
    """Train and score one network; a flat dict (see the module docstring)."""
    averaging: WeightAverage | None = None
    if run.task == "mlp":
        digits = run.digits_run()
        dataset = datasets.load(digits.dataset)
        (train_x, train_y), validation, (test_x, test_y) = [(p.features(), p.labels) for p in
                                                             split(dataset, digits.n_validation, seed, digits.n_train)]
        model = dropout_mlp(dataset.n_features, (512, 256), len(dataset.classes), 0.2, seed)
        layers = plain_layers(model)
        lr = 1e-3

        def train(noise: NoiseTraining | None) -> FitResult:
            return fit_plain(model, (train_x, train_y), validation, run.epochs, lr, 128, seed,
                             () if noise is None else (noise,))

        def score() -> list[float]:
            return plain_accuracy(model, test_x, test_y)

        def train_score(epoch: int) -> list[float]:
            return plain_accuracy(model, train_x, train_y)
    else:
        network, (train_data, validation_data, test_data), config = spiking_setup(run, seed)
        layers = spiking_layers(network)
        lr = config.lr

        def train(noise: NoiseTraining | None) -> FitResult:
            nonlocal averaging
            if run.weight_averaging:  # the learned noise model is averaged with the weights it belongs to
                averaged = [*network.parameters(), *(noise.noise.parameters() if noise is not None else ())]
                averaging = WeightAverage(averaged, network.n_members, run.epochs // 2 + 1)
            fitted = fit(network, train_data, validation_data, config,
                         hooks=tuple(hook for hook in (noise, averaging) if hook is not None))
            if averaging is not None:
                averaging.apply()
            return fitted

        def score() -> list[float]:
            return [m["acc"] for m in evaluate(network, test_data, split="test")]

        def train_score(epoch: int) -> list[float]:
            return [m["acc"] for m in evaluate(network, train_data.for_epoch(epoch), split="train")]

    noise_config = run.noise_config()
    training = None
    if noise_config is None:
        fitted = train(None)
    else:
        noise = WeightNoise(layers, noise_config)
        device = next(iter(layers.values())).weight.device  # the run's (spiking_setup put the network there)
        training = NoiseTraining(noise, run.objective(), lr, [seeding.generator(seed, "noise/train", device)])
        with noise.attached():
            fitted = train(training)
    if fitted.diverged[0]:  # its weights and scores mean nothing: record why, not numbers
        return ensembles.diverged_row(fitted, 0)
    epochs_averaged = averaging.epochs_averaged[0] if averaging is not None else 0
    # the training data the scored weights were last trained on: the best epoch's (the last epoch's when they
    # are an average, which ends there); they differ only for fresh stimuli
    trained_on = fitted.epochs_run[0] if epochs_averaged > 0 else max(fitted.best_epoch[0], 1)
    row = _row(run, seed, layers, training, score, lambda: train_score(trained_on))
    fresh = run.task == "ipd" and run.training_data != "fixed"
    return {**row, **({"train_acc_epoch": trained_on} if fresh else {}),
            **({"epochs_averaged": epochs_averaged} if run.weight_averaging else {})}


def _row(run: NeuromodulationRun, seed: int, layers: dict[str, WeightLayer], training: NoiseTraining | None,
         score, train_score) -> dict:
    clean = score()[0]
    if training is None:
        evaluation_noise = fixed_noise(layers, run.noise_scale, run.reference)
    else:  # the trained noise model (learned parameters included), switched on at evaluation
        evaluation_noise = WeightNoise(layers, dataclasses.replace(training.noise.config, at_eval=True))
        evaluation_noise.load_state_dict(training.noise.state_dict())
    noisy = noisy_scores(evaluation_noise, score, seed, "noise/evaluate", run.n_draws)[:, 0]
    row = {"status": "ok", "error": "", "train_acc": train_score()[0], "clean_acc": clean,
           "noisy_acc": float(noisy.mean()), "noisy_acc_sd": float(noisy.std()),
           "robustness_ratio": float(noisy.mean()) / clean if clean > 0 else float("nan")}
    for point in robustness_curve(layers, score, seed, run.test_scales, REFERENCES, run.n_draws):
        column = curve_column(point["reference"], point["scale"])
        row[column], row[f"{column}_sd"] = point["mean"], point["sd"]
    kept = row[curve_column(run.reference, run.noise_scale)]
    row["kept_at_noise_scale"] = kept / clean if clean > 0 else float("nan")
    if run.noise_scale > 0:
        for name, layer in layers.items():
            alone = noisy_scores(fixed_noise({name: layer}, run.noise_scale, run.reference), score, seed,
                                 f"noise/layer/{name}", run.n_draws)[:, 0]
            row[f"kept_{name}_only"] = float(alone.mean()) / clean if clean > 0 else float("nan")
    if training is not None and training.noise.config.learned:
        for name, stds in training.noise.mean_stds().items():  # the scored noise model's (not the last epoch's)
            row[f"final_std_{name}"] = stds[0]
        row["std_history"] = json.dumps([{name: stds[0] for name, stds in epoch.items()}
                                         for epoch in training.history])
    return row


def neuromodulation_study(name: str, configs, seeds) -> Study:
    """A study of neuromodulation runs, one network per run."""
    return Study(name=name, configs=tuple(configs), seeds=tuple(seeds), run_fn=run_neuromodulation)

