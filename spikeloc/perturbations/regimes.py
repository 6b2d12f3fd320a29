"""Training regimes against perturbations: one run trains a network under one regime, then maps its
robustness to a suite (the perturbations study, ``studies/perturbations.py``).

Regimes (every other setting equal, so runs of one seed share data and initial weights: a paired design):
``plain``; ``dropout`` (hidden spikes dropped with probability ``dropout``); ``weight_noise`` (fixed Gaussian
weight noise of ``noise_scale`` x each layer's weight std, a fresh draw per batch,
:class:`~spikeloc.learning.neuromodulation.NoiseTraining`); ``mismatch_aware`` (a fresh chip-mismatch draw of
``mismatch_sigma`` per batch) and ``quantisation_aware`` (``qat_bits``-bit weights, straight-through;
:mod:`.training`); ``dales_law`` (Dale's law on every synapse layer, half the presynaptic units inhibitory).

Tasks as :class:`~spikeloc.experiments.spiking_tasks.SpikingTaskSizes` has them: IPD (``ipd_hidden`` hidden
units) or MNIST-5k. The row holds the clean test accuracy and, per perturbation of the suite that applies to the
task, its robustness scores (``auc_<name>``, ``half_<name>``, :mod:`.curves`) and its mean accuracy at each level
(``acc_<name>_<level>``), over ``draws`` draws from the run's seed.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

from spikeloc import seeding
from spikeloc.experiments.spiking_tasks import SpikingTaskSizes, spiking_setup
from spikeloc.learning.neuromodulation import NoiseObjective, NoiseTraining
from spikeloc.learning.surrogate import fit
from spikeloc.perturbations.curves import applicable, perturbation_curves, robustness_scores
from spikeloc.perturbations.data import EvaluationData
from spikeloc.perturbations.suite import SUITES
from spikeloc.perturbations.training import check_robust_training, robust_training
from spikeloc.substrate.layers import spiking_layers
from spikeloc.substrate.noise import NoiseConfig, WeightNoise
from spikeloc.validation import require, require_choice

REGIMES = ("plain", "dropout", "weight_noise", "mismatch_aware", "quantisation_aware", "dales_law")
TASKS = ("ipd", "digits")


@dataclass(frozen=True)
class RegimeRun(SpikingTaskSizes):
    """One network trained under ``regime`` on ``task`` and scored under the named ``suite``."""

    task: str = "ipd"
    regime: str = "plain"
    ipd_hidden: int = 30
    dropout: float = 0.2
    noise_scale: float = 0.3
    mismatch_sigma: float = 0.1
    qat_bits: int = 4
    suite: str = "default"
    draws: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choice(self.task, "task", TASKS)
        require_choice(self.regime, "regime", REGIMES)
        require_choice(self.suite, "suite", SUITES)
        require(isinstance(self.draws, int) and self.draws >= 1, "draws", self.draws, "an integer >= 1")
        require(self.mismatch_sigma > 0, "mismatch_sigma", self.mismatch_sigma, "> 0")
        require(self.qat_bits >= 2, "qat_bits", self.qat_bits, "an integer >= 2")
        check_robust_training(self.mismatch_sigma, self.qat_bits)
        NoiseConfig(scale=self.noise_scale)  # validates noise_scale
        self.ipd_run() if self.task == "ipd" else self.digits_run()

    def member_settings(self) -> dict:
        """The member fields of the regime (dropout, Dale's law)."""
        if self.regime == "dropout":
            return {"dropout": self.dropout}
        if self.regime == "dales_law":
            return {"dale_layers": "both", "ie_ratio": 0.5}
        return {}

    def ipd_run(self):
        return super().ipd_run(n_hidden=self.ipd_hidden, **self.member_settings())

    def digits_run(self):
        return dataclasses.replace(super().digits_run(), **self.member_settings())


@contextlib.contextmanager
def regime_hooks(run: RegimeRun, network, seed: int, lr: float):
    """The training hooks (and context) of the run's regime."""
    if run.regime == "weight_noise":
        noise = WeightNoise(spiking_layers(network), NoiseConfig(scale=run.noise_scale))
        device = network.dropout.device
        with noise.attached():
            yield (NoiseTraining(noise, NoiseObjective("task", 0.0, 1.0), lr,
                                 [seeding.generator(seed, "noise/train", device)]),)
        return
    with robust_training(network, run.mismatch_sigma if run.regime == "mismatch_aware" else 0.0,
                         run.qat_bits if run.regime == "quantisation_aware" else 0) as hooks:
        yield hooks


def run_regime(run: RegimeRun, seed: int) -> dict:
    """Train one network under the run's regime and score its robustness; a flat row."""
    network, (train, validation, test), config = spiking_setup(run, seed)
    with regime_hooks(run, network, seed, config.lr) as hooks:
        fitted = fit(network, train, validation, config, hooks=hooks)
    if fitted.diverged[0]:
        return {"status": "diverged", "error": "the training loss became non-finite"}
    data = EvaluationData(test, ((run.ipd_run(), seed),) if run.task == "ipd" else None)
    suite = applicable(SUITES[run.suite], data)
    table = perturbation_curves(network, data, suite, run.draws, seed)
    row = {"status": "ok", "error": "", "clean_acc": float(table["acc"].iloc[0])}
    for score in robustness_scores(table).itertuples():
        row[f"auc_{score.perturbation}"], row[f"half_{score.perturbation}"] = score.auc, score.half_level
    means = table[table["severity"] > 0].groupby(["perturbation", "level"], sort=False)["acc"].mean()
    row.update({f"acc_{name}_{level:g}": float(acc) for (name, level), acc in means.items()})
    return row
