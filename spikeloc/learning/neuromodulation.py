"""Training with neuromodulatory weight noise (:mod:`spikeloc.substrate.noise`) and scoring under it.

:class:`NoiseTraining` drives a :class:`~spikeloc.substrate.noise.WeightNoise` inside spikeloc's trainer (a
:class:`~spikeloc.learning.trainer.TrainingHook` of :func:`spikeloc.learning.trainer.fit`): before every batch it
draws fresh noise from the members' ``"noise/train"`` generators; a learned noise model is trained by the
trainer's Adam as a parameter group of its own, at learning rate ``lr_factor * lr`` (the seed's 0.1; a
learning-rate schedule scales it too), so it is skipped with its member (a non-finite batch, a stopped member)
and restored with the weights to the best-validation epoch: the weights and the noise model ``fit`` leaves
come from one epoch. Its objective is one of two, per member:

* ``"task"`` (the seed's): the noise parameters minimise the task loss ``L(W + sigma * eps)`` of the noisy
  network, nothing else. Noise only ever hurts that loss on average, so its gradient drives ``sigma`` down:
  the variance collapses towards ``min_std`` (what the study measures).
* ``"entropy"``: ``L(W + sigma * eps) - entropy_weight * mean_layers(mean_units(log s))``: the task loss minus
  a reward on the noise tolerated, measured as the entropy of the Gaussian noise (``log sigma`` + const,
  in units of the weight std when the noise is relative, averaged over the layers' units and then the
  layers). The weights still see only the task loss; the noise grows where the task does not mind and shrinks
  where it does, until the marginal task cost of more noise equals ``entropy_weight`` per unit of ``log s``.

The variance history (mean ``s`` per layer and member) is recorded before training and after every epoch.

:func:`noisy_scores` scores a model under several seeded draws of a noise model, for accuracy under the
learned noise and for the robustness curve (:func:`robustness_curve`: the seed's scales, absolute and
relative). :func:`spikeloc.learning.baselines.fit_plain` trains a plain ``nn.Module`` classifier (the seed's
MLP) with the same noise, in the same trainer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from spikeloc import seeding
from spikeloc.learning.baselines import mlp
from spikeloc.learning.trainer import TrainingHook
from spikeloc.substrate.layers import WeightLayer
from spikeloc.substrate.noise import REFERENCES, SEED_SCALES, WeightNoise, fixed_noise
from spikeloc.validation import require, require_choice

OBJECTIVES = ("task", "entropy")


@dataclass(frozen=True)
class NoiseObjective:
    """How a learned noise model is trained: ``objective`` (see the module docstring), the weight of the
    entropy reward, and the noise optimiser's learning rate as a fraction of the network's."""

    objective: str = "task"
    entropy_weight: float = 0.0
    lr_factor: float = 0.1

    def __post_init__(self) -> None:
        require_choice(self.objective, "objective", OBJECTIVES)
        require(math.isfinite(self.entropy_weight) and self.entropy_weight >= 0, "entropy_weight",
                self.entropy_weight, "a finite number >= 0")
        require(self.objective == "entropy" or self.entropy_weight == 0, "entropy_weight", self.entropy_weight,
                "0 with the 'task' objective (the seed's: no reward on noise)")
        require(math.isfinite(self.lr_factor) and self.lr_factor > 0, "lr_factor", self.lr_factor,
                "a finite number > 0")


class NoiseTraining(TrainingHook):
    """Fresh noise per training batch, the noise model's objective term and parameter group, and its history
    (``history[e]``: the mean stds after epoch ``e``, ``history[0]`` before training)."""

    def __init__(self, noise: WeightNoise, objective: NoiseObjective, lr: float,
                 generators: Sequence[torch.Generator]):
        require(len(generators) == noise.n_members, "generators", len(generators),
                f"one per member ({noise.n_members})")
        self.noise = noise
        self.objective = objective
        self.generators = list(generators)
        self.lr = lr * objective.lr_factor
        self.history: list[dict[str, list[float]]] = [noise.mean_stds()]

    def before_batch(self) -> None:
        self.noise.resample(self.generators)

    def penalty(self) -> torch.Tensor:
        """The noise objective's term added to each member's loss, shape (members,)."""
        if self.objective.objective == "task" or not self.noise.config.learned:
            return torch.zeros(self.noise.n_members)
        log_s = [torch.log(self.noise.relative_std(name)) for name in self.noise.names]
        per_member = torch.stack([s.flatten(1).mean(dim=1) if s.shape[0] == self.noise.n_members
                                  else s.mean().reshape(1) for s in log_s]).mean(dim=0)
        return -self.objective.entropy_weight * per_member

    def end_epoch(self) -> None:
        self.history.append(self.noise.mean_stds())

    def parameter_groups(self) -> list[dict]:
        """The learned noise model (its log-variances, members on the leading axis) at ``lr_factor * lr``."""
        return [{"params": list(self.noise.parameters()), "lr": self.lr}] if self.noise.config.learned else []


def noisy_scores(noise: WeightNoise, score: Callable[[], Sequence[float]], seed: int, stream: str,
                 n_draws: int) -> np.ndarray:
    """``score()`` (one number per member) under ``n_draws`` draws of ``noise`` (forced on at evaluation),
    draw d from the generators ``f"{stream}/{d}"`` of ``seed`` (on the weights' device); shape (n_draws, members)."""
    require(n_draws >= 1, "n_draws", n_draws, "an integer >= 1")
    device = next(iter(noise.layers.values())).weight.device
    scores = []
    with noise.attached():
        for draw in range(n_draws):
            noise.resample([seeding.generator(seed, f"{stream}/{draw}/member{k}", device)
                            for k in range(noise.n_members)])
            scores.append(list(score()))
    return np.asarray(scores, dtype=float)


def robustness_curve(layers: dict[str, WeightLayer], score: Callable[[], Sequence[float]], seed: int,
                     scales: Sequence[float] = SEED_SCALES, references: Sequence[str] = REFERENCES,
                     n_draws: int = 5) -> list[dict]:
    """Accuracy under fixed weight noise at each scale and reference: one dict per (reference, scale, member)
    with the mean and standard deviation over ``n_draws`` seeded draws (scale 0: the clean score, one draw)."""
    for reference in references:
        require_choice(reference, "references", REFERENCES)
    points = []
    for reference in references:
        for scale in scales:
            draws = 1 if scale == 0 else n_draws
            values = noisy_scores(fixed_noise(layers, scale, reference), score, seed,
                                  f"noise/curve/{reference}/{scale:g}", draws)
            for k in range(values.shape[1]):
                points.append({"reference": reference, "scale": float(scale), "member": k,
                               "mean": float(values[:, k].mean()), "sd": float(values[:, k].std()),
                               "n_draws": draws})
    return points


# --------------------------------------------------------------------------
# Plain (non-spiking) classifiers: the seed's MLP


class SeededDropout(nn.Module):
    """Inverted dropout whose masks come from an explicit generator (``nn.Dropout`` reads the global RNG)."""

    def __init__(self, p: float, generator: torch.Generator):
        super().__init__()
        require(0 <= p < 1, "dropout", p, "in [0, 1)")
        self.p = p
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=x.device) >= self.p
        return x * keep / (1 - self.p)


def dropout_mlp(n_inputs: int, hidden: Sequence[int], n_classes: int, dropout: float, seed: int) -> nn.Sequential:
    """The seed's ``LeakyMLP``: ReLU MLP (``nn.Linear`` init from stream ``"init/mlp"``) with dropout after
    every hidden ReLU (masks from stream ``"dropout/mlp"``)."""
    base = mlp(n_inputs, hidden, n_classes, seeding.generator(seed, "init/mlp"))
    masks = seeding.generator(seed, "dropout/mlp")
    layers: list[nn.Module] = []
    for module in base:
        layers.append(module)
        if isinstance(module, nn.ReLU):
            layers.append(SeededDropout(dropout, masks))
    return nn.Sequential(*layers)


def plain_accuracy(model: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """[fraction correct] of a plain classifier (one member), in evaluation mode."""
    model.eval()
    with torch.no_grad():
        return [float((model(features).argmax(dim=1) == labels).double().mean())]
