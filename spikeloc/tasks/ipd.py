"""The interaural-phase-difference (IPD) sound-localisation task.

A pure tone of frequency ``tone_hz`` reaches two ears; the right ear hears it delayed by the IPD
(radians, uniform in [-pi/2, pi/2)). Each ear has ``fibres_per_ear`` auditory-nerve fibres, fibre ``i``
with an extra phase delay ``linspace(0, max_phase_delay_rad)[i]`` (so that the differences between
the ears cover the whole IPD range). Fibres fire Poisson spikes at the rate (Hz)

    rate(t) = max_rate_hz * (0.5 * (1 + sin(theta(t)))) ** envelope_power,
    theta(t) = 2 pi (tone_hz * t + offset) + delay_i [+ ipd for the right ear] [+ noise_i],

sampled on a grid of step ``dt_s`` (seconds): a spike in a step with probability ``rate * dt_s``.
The IPD is classified into ``n_classes`` equal bins over [-pi/2, pi/2) (15 degrees each by default).

This follows the seed notebook "Robustness to Noise and Dropout" (``shared/seeds/001``), with two
protocol options that the seed lacks:

* ``phase_offset``: the seed draws ONE random phase offset per call, so a whole training set shares one
  phase and the test set another, a known cause of overfitting (the COMOB project found that resampling
  it fixes this). ``"per_dataset"`` reproduces the seed, ``"per_sample"`` draws one offset per sample.
* ``phase_noise_draw``: the seed draws the Gaussian phase-delay noise (sigma = ``phase_noise_rad``) once per
  call, i.e. one fixed perturbation of the fibres per dataset (``"per_dataset"``); ``"per_sample"``
  redraws it for every sample.

Tensors are batch-major: spikes are ``(samples, time steps, 2 * fibres_per_ear)``, left ear first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from spikeloc.validation import require_choice, require_instance, require_integer, require_number

PHASE_DRAWS = ("per_dataset", "per_sample")
IPD_RANGE_RAD = math.pi  # IPDs lie in [-pi/2, pi/2)
GENERATION_CHUNK = 512  # samples generated at once; fixed so the random stream never depends on memory


@dataclass(frozen=True)
class IPDTask:
    """Every constant of the IPD stimulus; defaults are the seed's."""

    fibres_per_ear: int = 100
    tone_hz: float = 20.0
    duration_s: float = 0.1
    dt_s: float = 1e-3
    max_rate_hz: float = 600.0
    envelope_power: float = 2.0
    max_phase_delay_rad: float = math.pi / 2
    n_classes: int = 12
    phase_noise_rad: float = 0.0
    phase_offset: str = "per_dataset"
    phase_noise_draw: str = "per_dataset"

    def __post_init__(self) -> None:
        require_integer(self.fibres_per_ear, "fibres_per_ear", minimum=1)
        require_number(self.tone_hz, "tone_hz", above=0, note="Hz")
        require_number(self.dt_s, "dt_s", above=0, note="s")
        require_number(self.duration_s, "duration_s", minimum=self.dt_s, note="s (at least dt_s)")
        require_number(self.max_rate_hz, "max_rate_hz", 0, 1 / self.dt_s,
                       note="Hz (max_rate_hz * dt_s is a spike probability per step)")
        require_number(self.envelope_power, "envelope_power", above=0)
        require_number(self.max_phase_delay_rad, "max_phase_delay_rad", minimum=0, note="rad")
        require_integer(self.n_classes, "n_classes", minimum=2)
        require_number(self.phase_noise_rad, "phase_noise_rad", minimum=0, note="rad")
        require_choice(self.phase_offset, "phase_offset", PHASE_DRAWS)
        require_choice(self.phase_noise_draw, "phase_noise_draw", PHASE_DRAWS)

    @property
    def n_steps(self) -> int:
        """Number of time steps of one stimulus."""
        return int(round(self.duration_s / self.dt_s))

    @property
    def n_inputs(self) -> int:
        """Number of input fibres, both ears."""
        return 2 * self.fibres_per_ear


@dataclass(frozen=True)
class IPDData:
    """A generated dataset: ``spikes`` bool (samples, steps, inputs), ``ipd_rad`` and class ``labels``."""

    spikes: torch.Tensor
    ipd_rad: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.labels.shape[0]


def generate(task: IPDTask, n_samples: int, generator: torch.Generator) -> IPDData:
    """Draw ``n_samples`` stimuli; every random number comes from ``generator`` (on its device).

    Draw order (fixed, so a seed gives one dataset): IPDs, then the per-dataset phase offset and noise
    (when so configured), then per chunk of 512 samples the per-sample offset / noise and the spikes.
    """
    require_instance(task, "task", IPDTask, "an IPDTask")
    require_integer(n_samples, "n_samples", minimum=1)
    require_instance(generator, "generator", torch.Generator, "a torch.Generator")
    device = generator.device
    ipd_rad = torch.rand(n_samples, generator=generator, device=device) * IPD_RANGE_RAD - IPD_RANGE_RAD / 2
    dataset_offset = torch.rand(1, generator=generator, device=device)
    dataset_noise = _phase_noise(task, 1, generator)
    spikes = torch.empty(n_samples, task.n_steps, task.n_inputs, dtype=torch.bool, device=device)
    for start in range(0, n_samples, GENERATION_CHUNK):
        ipd_chunk = ipd_rad[start:start + GENERATION_CHUNK]
        n = ipd_chunk.shape[0]
        offset = (torch.rand(n, generator=generator, device=device)
                  if task.phase_offset == "per_sample" else dataset_offset.expand(n))
        noise = (_phase_noise(task, n, generator)
                 if task.phase_noise_draw == "per_sample" else dataset_noise.expand(n, -1))
        probability = spike_probability(task, ipd_chunk, offset, noise)
        uniform = torch.rand(probability.shape, generator=generator, device=device)
        torch.lt(uniform, probability, out=spikes[start:start + n])
    return IPDData(spikes, ipd_rad, discretise(ipd_rad, task.n_classes))


def _phase_noise(task: IPDTask, n: int, generator: torch.Generator) -> torch.Tensor:
    """Gaussian phase-delay noise (radians), shape (n, 2 * fibres_per_ear)."""
    noise = torch.randn(n, task.n_inputs, generator=generator, device=generator.device)
    return noise * task.phase_noise_rad


def spike_probability(task: IPDTask, ipd_rad: torch.Tensor, offset: torch.Tensor,
                      noise_rad: torch.Tensor) -> torch.Tensor:
    """Per-step spike probability, shape (samples, steps, inputs).

    ``ipd_rad`` (samples,), ``offset`` (samples,) in cycles, ``noise_rad`` (samples, inputs). The phase
    is a sum theta = a(sample, t) + b(sample, fibre), so sin(theta) = sin a cos b + cos a sin b is one
    batched matrix product of rank 2 instead of a sine per element (same values to float rounding).
    """
    device = ipd_rad.device
    times_s = torch.arange(task.n_steps, device=device) * task.dt_s
    tone_phase_rad = 2 * math.pi * (task.tone_hz * times_s[None, :] + offset[:, None])  # a: (samples, steps)
    delays_rad = torch.linspace(0, task.max_phase_delay_rad, task.fibres_per_ear, device=device)
    ear_shift_rad = torch.cat([torch.zeros_like(ipd_rad)[:, None].expand(-1, task.fibres_per_ear),
                               ipd_rad[:, None].expand(-1, task.fibres_per_ear)], dim=1)
    fibre_phase_rad = delays_rad.repeat(2)[None, :] + ear_shift_rad + noise_rad  # b: (samples, inputs)
    sin_theta = torch.bmm(torch.stack([tone_phase_rad.sin(), tone_phase_rad.cos()], dim=2),
                          torch.stack([fibre_phase_rad.cos(), fibre_phase_rad.sin()], dim=1))
    envelope = sin_theta.add_(1).mul_(0.5).pow_(task.envelope_power)
    return envelope.mul_(task.max_rate_hz * task.dt_s)


def discretise(ipd_rad: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Class index of each IPD: equal bins over [-pi/2, pi/2)."""
    labels = ((ipd_rad + IPD_RANGE_RAD / 2) * n_classes / IPD_RANGE_RAD).long()
    return labels.clamp(0, n_classes - 1)


def continuise(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """IPD (radians) at the midpoint of each class bin."""
    return (labels.to(torch.float64) + 0.5) / n_classes * IPD_RANGE_RAD - IPD_RANGE_RAD / 2


def seed_error_deg(ipd_rad: torch.Tensor, predicted: torch.Tensor, n_classes: int) -> float:
    """The seed's error: mean |true IPD - midpoint of the predicted class|, degrees.

    Even a perfect classifier scores a quarter of the bin width on average (3.75 deg for 12 classes).
    """
    return float(torch.rad2deg((ipd_rad.to(torch.float64) - continuise(predicted, n_classes)).abs()).mean())


def midpoint_error_deg(labels: torch.Tensor, predicted: torch.Tensor, n_classes: int) -> float:
    """Mean |midpoint of the true class - midpoint of the predicted class|, degrees (0 when correct)."""
    difference = continuise(labels, n_classes) - continuise(predicted, n_classes)
    return float(torch.rad2deg(difference.abs()).mean())


def ipd_metrics(ipd_rad: torch.Tensor, labels: torch.Tensor, predicted: torch.Tensor,
                n_classes: int) -> dict[str, float]:
    """The task's errors of ``predicted`` classes on samples of true IPDs ``ipd_rad`` and classes ``labels``:
    ``error_deg`` (the seed's metric, see :func:`seed_error_deg`) and ``midpoint_error_deg``."""
    return {"error_deg": seed_error_deg(ipd_rad.cpu(), predicted, n_classes),
            "midpoint_error_deg": midpoint_error_deg(labels.cpu(), predicted, n_classes)}
