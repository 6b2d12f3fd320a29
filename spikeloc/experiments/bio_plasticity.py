"""Bio-inspired plasticity transforms, ablated: one flat run config -> one flat row (issue 11).

A run trains one spiking network on one task with one set of plasticity transforms
(:mod:`spikeloc.learning.bio`) and scores it: test accuracy, learning speed (the first epoch whose validation
accuracy reached 80 % of the kept epoch's), and accuracy under fixed weight noise of ``noise_scale`` x each
layer's weight std (:mod:`spikeloc.substrate.noise`, ``n_draws`` seeded draws; the network's sub-synapses are
merged first, so the noise acts on connection weights).

Tasks: ``"ipd"``, the IPD seed's network on the robust protocol (phase offset and phase noise redrawn per
sample); ``"digits"``, a spiking classifier on MNIST-5k. Conditions (``mechanism``): ``"none"``, each mechanism
alone (:data:`MECHANISMS`), ``"all"`` of them together (uniform fuzzy rates, the seed's), all but
rejuvenation, and rejuvenation by bio_transformations 0.0.5's current rule (``"rejuvenation_package"``; the
``"rejuvenation"`` condition uses the seed's, ``"legacy"``). Every run of one seed
has the same data, initial weights and evaluation noise; the transforms draw from the seed's ``"plasticity"``
stream, so conditions are paired on the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

from spikeloc import seeding
from spikeloc.experiments import ensembles
from spikeloc.experiments.ipd import PROTOCOLS, IPDRun
from spikeloc.experiments.spiking_tasks import SpikingTaskSizes, spiking_setup
from spikeloc.learning.bio import (
    BioConfig,
    Crystallisation,
    DalePrinciple,
    FuzzyRates,
    L1Penalty,
    Rejuvenation,
    Splitting,
    VolumeRates,
    attach,
)
from spikeloc.learning.neuromodulation import noisy_scores
from spikeloc.learning.surrogate import evaluate, fit
from spikeloc.study.runner import Study
from spikeloc.substrate.layers import spiking_layers
from spikeloc.substrate.noise import fixed_noise
from spikeloc.validation import require, require_choice

TASKS = ("ipd", "digits")
#: Each mechanism alone; "none" and "all" are the other conditions.
MECHANISMS = ("fuzzy_uniform", "fuzzy_lognormal", "crystallisation", "volume", "rejuvenation", "l1", "splitting",
              "dale")
#: "all_but_rejuvenation": the seed's rejuvenation replaces 12-14 % of synapses per event, which dominates "all".
#: "rejuvenation" is the seed's rule ("legacy"); "rejuvenation_package" is bio_transformations 0.0.5's current
#: rule, in effect pruning (:mod:`spikeloc.learning.bio.rejuvenation`).
CONDITIONS = ("none", *MECHANISMS, "all", "all_but_rejuvenation", "rejuvenation_package")
#: Learning speed: epochs until the validation accuracy reaches this fraction of the kept epoch's.
SPEED_FRACTION = 0.8


@dataclass(frozen=True)
class BioPlasticityRun(SpikingTaskSizes):
    """Every setting of one run: the condition, each mechanism's settings (used when it is on; defaults the
    seed's, see :mod:`spikeloc.learning.bio.config`; ``rejuvenation_interval`` in optimiser steps, 0: once per
    epoch), the noise evaluation and the task's sizes."""

    task: str = "ipd"
    mechanism: str = "none"
    fuzzy_spread: float = 0.16
    crystal_threshold: float = 4.5e-5
    dampening: float = 0.6
    volume_base: float = 1.0
    stability: float = 2.0
    variability: float = 0.2
    dre: float = 8.0
    rejuvenation_interval: int = 0
    l1_strength: float = 1e-5
    sub_synapses: int = 2
    split_jitter: float = 0.1
    inhibitory_fraction: float = 0.5
    scale: str = "update"
    noise_scale: float = 0.3
    n_draws: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choice(self.task, "task", TASKS)
        require_choice(self.mechanism, "mechanism", CONDITIONS)
        require(self.noise_scale >= 0, "noise_scale", self.noise_scale, ">= 0 (in units of each layer's weight std)")
        require(self.n_draws >= 1, "n_draws", self.n_draws, "an integer >= 1")
        require(self.rejuvenation_interval >= 0, "rejuvenation_interval", self.rejuvenation_interval,
                "an integer >= 0 (0: once per epoch)")
        self.bio_config(steps_per_epoch=1, every=True)
        self.ipd_run() if self.task == "ipd" else self.digits_run()

    def bio_config(self, steps_per_epoch: int, every: bool = False) -> BioConfig:
        """The transforms of this condition (``every``: all of them, to validate every setting)."""
        interval = self.rejuvenation_interval or steps_per_epoch
        on = {self.mechanism}
        if every or self.mechanism == "all":
            on = set(MECHANISMS)
        elif self.mechanism == "all_but_rejuvenation":
            on = set(MECHANISMS) - {"rejuvenation"}
        elif self.mechanism == "rejuvenation_package":
            on = {"rejuvenation"}
        rule = "package" if self.mechanism == "rejuvenation_package" else "legacy"
        distribution = "lognormal" if self.mechanism == "fuzzy_lognormal" else "uniform"
        return BioConfig(
            fuzzy=FuzzyRates(distribution, self.fuzzy_spread) if on & {"fuzzy_uniform", "fuzzy_lognormal"} else None,
            crystallisation=Crystallisation(self.crystal_threshold, self.dampening)
            if "crystallisation" in on else None,
            volume=VolumeRates(self.volume_base, self.stability, self.variability) if "volume" in on else None,
            rejuvenation=Rejuvenation(self.dre, interval, rule) if "rejuvenation" in on else None,
            l1=L1Penalty(self.l1_strength) if "l1" in on else None,
            splitting=Splitting(self.sub_synapses, self.split_jitter) if "splitting" in on else None,
            dale=DalePrinciple(self.inhibitory_fraction) if "dale" in on else None,
            scale=self.scale)

    def ipd_run(self) -> IPDRun:
        return super().ipd_run(**PROTOCOLS["robust"])


def run_bio_plasticity(run: BioPlasticityRun, seed: int) -> dict:
    """Train and score one network; a flat dict (see the module docstring)."""
    network, (train, validation, test), config = spiking_setup(run, seed)
    steps_per_epoch = train.n_samples // config.batch_size
    device = next(network.parameters()).device  # the run's (spiking_setup put the network there)
    plasticity = attach(network, run.bio_config(steps_per_epoch), [seeding.generator(seed, "plasticity", device)])
    fitted = fit(network, train, validation, config, hooks=[plasticity])
    if fitted.diverged[0]:  # its weights and scores mean nothing: record why, not numbers
        return ensembles.diverged_row(fitted, 0)
    stored, slowed = plasticity.synapse_count(), plasticity.slowed_fraction(0.1)[0]
    rejuvenated = plasticity.rejuvenated_per_event()[0]
    plasticity.detach()

    def score() -> list[float]:
        return [m["acc"] for m in evaluate(network, test, split="test")]

    clean = score()[0]
    noisy = noisy_scores(fixed_noise(spiking_layers(network), run.noise_scale, "relative"), score, seed,
                         "noise/evaluate", run.n_draws)[:, 0]
    return {"status": "ok", "error": "", "train_acc": evaluate(network, train, split="train")[0]["acc"],
            "test_acc": clean,
            "best_val_acc": fitted.val_acc[fitted.best_epoch[0] - 1][0],
            "epochs_to_80pct": fitted.epochs_to_fraction(0, SPEED_FRACTION),
            "noisy_acc": float(noisy.mean()), "noisy_acc_sd": float(noisy.std()),
            "kept_under_noise": float(noisy.mean()) / clean if clean > 0 else float("nan"),
            "rejuvenated_pct_per_event": 100 * rejuvenated, "rejuvenation_events": plasticity.rejuvenation_events,
            "slowed_fraction": slowed,
            "stored_synapses": stored, "optimiser_steps": plasticity.steps,
            **ensembles.fit_columns(fitted, 0)}


def bio_plasticity_study(name: str, configs, seeds) -> Study:
    """A study of plasticity-ablation runs, one network per run."""
    return Study(name=name, configs=tuple(configs), seeds=tuple(seeds), run_fn=run_bio_plasticity)

