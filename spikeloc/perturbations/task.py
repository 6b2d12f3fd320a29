"""Task perturbations: the test data change, the network does not.

* ``phase_noise`` (level sigma, radians): IPD test stimuli generated with phase-delay noise sigma
  (:class:`~spikeloc.tasks.ipd.IPDTask`'s ``phase_noise_rad``), a fresh test set of the member's size per draw
  (from the draw's generator; the clean level is the member's own test set);
* ``pixel_noise`` (level sigma, in units of the pixel range [0, 1]): Gaussian noise added to every pixel of the
  test images before they are encoded, clamped to [0, 1]; the encoding draws stay the clean ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from spikeloc.experiments.ipd import stacked
from spikeloc.learning.trainer import MemberData
from spikeloc.perturbations.base import Perturbation, non_negative, normal
from spikeloc.tasks.ipd import generate
from spikeloc.validation import require


class PhaseNoise(Perturbation):
    name = "phase_noise"
    kind = "task"
    unit = "rad of IPD phase-delay noise"

    def check(self, level: float) -> None:
        non_negative(self, level)

    def applies_to(self, data) -> bool:
        return data.ipd_runs is not None

    def perturbed_data(self, data, level: float, generators: Sequence[torch.Generator]) -> MemberData:
        require(self.applies_to(data), "suite", self.name, "perturbations of the network's task (IPD only)")
        return stacked([generate(run.task(level), run.n_test_samples, g) for (run, _), g in
                        zip(data.ipd_runs, generators)])


class PixelNoise(Perturbation):
    name = "pixel_noise"
    kind = "task"
    unit = "std of Gaussian pixel noise (pixel range 1)"

    def check(self, level: float) -> None:
        non_negative(self, level)

    def applies_to(self, data) -> bool:
        return data.member_data.encoder is not None

    def perturbed_data(self, data, level: float, generators: Sequence[torch.Generator]) -> MemberData:
        require(self.applies_to(data), "suite", self.name, "perturbations of the network's task (images only)")
        clean = data.member_data
        values = clean.inputs[clean.source]
        noisy = (values + level * normal(values.shape[1:], generators, values.device)).clamp(0, 1)
        return MemberData(noisy, clean.labels[clean.source], torch.arange(len(generators), device=values.device),
                          clean.encoder)
