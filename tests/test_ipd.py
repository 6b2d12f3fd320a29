import math

import pytest
import torch

from spikeloc.tasks.ipd import (
    IPDTask,
    continuise,
    discretise,
    generate,
    midpoint_error_deg,
    seed_error_deg,
    spike_probability,
)


def gen(task=IPDTask(), n=256, seed=0):
    return generate(task, n, torch.Generator().manual_seed(seed))


def test_shapes_and_types():
    data = gen(n=300)
    assert data.spikes.shape == (300, 100, 200)
    assert data.spikes.dtype == torch.bool
    assert data.ipd_rad.shape == data.labels.shape == (300,)
    assert float(data.ipd_rad.min()) >= -math.pi / 2 and float(data.ipd_rad.max()) < math.pi / 2


def test_mean_firing_rate_matches_envelope_average():
    # E[(0.5 (1 + sin))^2] over a uniform phase is 3/8, so the mean rate is 600 Hz * 3/8 = 225 Hz.
    data = gen(n=512)
    rate_hz = data.spikes.float().mean() / IPDTask().dt_s
    assert rate_hz == pytest.approx(225.0, rel=0.01)


def test_rate_follows_the_tone_phase():
    # Per-dataset offset: at a fixed fibre, spike counts over samples follow the 20 Hz envelope in time.
    task = IPDTask()
    data = gen(task, n=2048)
    observed = data.spikes[:, :, 0].float().mean(0)  # left fibre 0: no delay, no IPD
    g = torch.Generator().manual_seed(0)
    torch.rand(2048, generator=g)  # the IPDs
    offset = torch.rand(1, generator=g)
    expected = spike_probability(task, torch.zeros(1), offset, torch.zeros(1, 200))[0, :, 0]
    assert torch.corrcoef(torch.stack([observed, expected]))[0, 1] > 0.95


def test_same_seed_same_data_and_different_seed_differs():
    a, b, c = gen(seed=3), gen(seed=3), gen(seed=4)
    assert torch.equal(a.spikes, b.spikes) and torch.equal(a.ipd_rad, b.ipd_rad)
    assert not torch.equal(a.spikes, c.spikes)


def test_classes_are_balanced():
    counts = torch.bincount(gen(n=12000).labels, minlength=12).float()
    assert counts.min() > 0.9 * 1000 and counts.max() < 1.1 * 1000


def test_per_dataset_offset_is_shared_and_per_sample_is_not():
    # Left fibre 0 has no delay and no IPD: with one offset per dataset all samples fire in phase, so the
    # PSTH over samples keeps the envelope's modulation; with one offset per sample the phases spread over
    # the cycle and the PSTH flattens.
    def modulation(offset):
        psth = gen(IPDTask(phase_offset=offset), n=2048).spikes[:, :, 0].float().mean(0)
        return float(psth.std() / psth.mean())

    assert modulation("per_dataset") > 0.8
    assert modulation("per_sample") < 0.15


def test_discretise_continuise_round_trip():
    labels = torch.arange(12)
    assert torch.equal(discretise(continuise(labels, 12), 12), labels)
    assert discretise(torch.tensor([-math.pi / 2, math.pi / 2 - 1e-6]), 12).tolist() == [0, 11]


def test_error_metrics():
    ipd = torch.tensor([-math.pi / 2 + 0.01, 0.1])
    labels = discretise(ipd, 12)
    assert midpoint_error_deg(labels, labels, 12) == 0.0
    assert seed_error_deg(ipd, labels, 12) > 0.0
    # A perfect classifier scores a quarter bin (3.75 deg) on average under the seed metric.
    ipd = torch.rand(100000, generator=torch.Generator().manual_seed(0)) * math.pi - math.pi / 2
    assert seed_error_deg(ipd, discretise(ipd, 12), 12) == pytest.approx(3.75, abs=0.05)
    assert midpoint_error_deg(labels, labels + 1, 12) == pytest.approx(15.0)


@pytest.mark.parametrize("field,value", [("phase_noise_rad", -0.1), ("fibres_per_ear", 0), ("n_classes", 1),
                                         ("phase_offset", "sometimes"), ("max_rate_hz", 2000.0)])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        IPDTask(**{field: value})

def test_phase_noise_draw_per_dataset_fixes_one_perturbation():
    # Left-ear fibres do not depend on the IPD. With one offset and one noise draw per dataset, each
    # left fibre's PSTH over samples keeps the full envelope modulation; redrawing the noise per sample
    # smears the phase across samples and flattens the PSTH (by about exp(-sigma^2 / 2) for a sine).
    def modulation(draw):
        data = gen(IPDTask(phase_noise_rad=1.5, phase_noise_draw=draw), n=2048)
        return data.spikes[:, :, :100].float().mean(0).std(0).mean()

    fixed, redrawn = modulation("per_dataset"), modulation("per_sample")
    assert redrawn < 0.6 * fixed
