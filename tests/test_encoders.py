"""spikeloc.substrate.encoders against snnTorch's spikegen (the independent reference) and against the
equations in their docstrings: rate spikes equal snnTorch's draw for draw from the same seed, latency codes
equal snnTorch's, and bad settings are refused with a ValueError naming the field.
"""

from __future__ import annotations

import pytest
import torch
from snntorch import spikegen

from spikeloc.substrate.encoders import EncoderConfig, current, latency, rate

SHAPES = [(7,), (5, 11), (2, 3, 13)]  # (F,), (batch, F), (members, batch, F)


def unit_values(shape, seed: int) -> torch.Tensor:
    """Values in [0, 1] with exact zeros, ones and values just around the latency threshold 0.01."""
    values = torch.rand(shape, generator=torch.Generator().manual_seed(seed))
    flat = values.view(-1)
    flat[0], flat[-1] = 0.0, 1.0
    if flat.numel() > 3:
        flat[1], flat[2] = 0.0099, 0.0101
    return values


def time_major_to_axis_minus_two(spikes: torch.Tensor) -> torch.Tensor:
    return spikes.movedim(0, -2)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("steps", "gain", "seed"), [(1, 1.0, 0), (25, 1.0, 1), (40, 0.35, 2)])
def test_rate_spikes_equal_snntorch_from_the_same_seed(shape, steps, gain, seed):
    values = unit_values(shape, seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        reference = spikegen.rate(values, num_steps=steps, gain=gain)
    ours = rate(values, steps, torch.Generator().manual_seed(seed), gain=gain)
    assert ours.shape == (*shape[:-1], steps, shape[-1])
    assert ours.dtype == torch.float32 and ours.is_contiguous()
    torch.testing.assert_close(ours, time_major_to_axis_minus_two(reference), rtol=0, atol=0)


def test_rate_spike_probability_is_gain_times_value():
    values = torch.tensor([0.0, 0.2, 0.5, 0.9, 1.0])
    gain, steps, trials = 0.5, 400, 100
    spikes = rate(values.expand(trials, -1), steps, torch.Generator().manual_seed(3), gain=gain)
    frequency = spikes.mean(dim=(0, 1))
    expected = gain * values
    standard_error = (expected * (1 - expected) / (steps * trials)).sqrt()
    assert torch.all((frequency - expected).abs() <= 5 * standard_error + 1e-12)
    assert frequency[0] == 0  # probability 0 never fires


def test_rate_is_deterministic_per_generator_and_never_touches_the_global_rng():
    values = unit_values((4, 30), 5)
    global_state = torch.random.get_rng_state()
    first = rate(values, 20, torch.Generator().manual_seed(9))
    assert torch.equal(torch.random.get_rng_state(), global_state)
    assert torch.equal(first, rate(values, 20, torch.Generator().manual_seed(9)))
    assert not torch.equal(first, rate(values, 20, torch.Generator().manual_seed(10)))


LATENCY_OPTIONS = [
    # (linear, normalize, clip, tau, steps)
    (True, True, True, 1.0, 25),
    (True, True, False, 1.0, 10),
    (True, False, True, 12.0, 16),   # t up to 11.9: within the window
    (True, False, False, 30.0, 16),  # t up to 29.7: late spikes are dropped
    (False, True, True, 1.0, 25),
    (False, True, False, 3.0, 8),
    (False, False, True, 1.0, 14),   # t up to ln(1e5) = 11.5
    (False, False, False, 2.0, 9),   # t up to 23: late spikes are dropped
    (True, True, True, 1.0, 1),
    (False, True, True, 1.0, 1),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("linear", "normalize", "clip", "tau", "steps"), LATENCY_OPTIONS)
@pytest.mark.parametrize("threshold", [0.01, 0.2])
def test_latency_equals_snntorch(shape, linear, normalize, clip, tau, steps, threshold):
    values = unit_values(shape, steps)  # holds a zero, so snnTorch's batch-max normalisation is the code's t_max
    reference = spikegen.latency(
        values, num_steps=steps, threshold=threshold, tau=tau, clip=clip, normalize=normalize, linear=linear,
        bypass=True,
    )
    ours = latency(values, steps, threshold=threshold, tau=tau, linear=linear, normalize=normalize, clip=clip)
    assert ours.shape == (*shape[:-1], steps, shape[-1])
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, time_major_to_axis_minus_two(reference), rtol=0, atol=0)


@pytest.mark.parametrize("linear", [True, False])
def test_latency_fires_once_earlier_for_larger_values_and_never_below_threshold(linear):
    values = torch.linspace(0, 1, 101)
    spikes = latency(values, 50, threshold=0.05, linear=linear, normalize=True, clip=True)
    counts = spikes.sum(dim=-2)
    assert torch.equal(counts, (values >= 0.05).float())
    firing = counts == 1
    first_step = spikes.argmax(dim=-2)[firing]
    assert torch.all(first_step[1:] <= first_step[:-1])  # non-increasing in the value
    assert first_step[-1] == 0 and first_step[0] > 0


def test_normalised_log_latency_of_a_sample_does_not_depend_on_its_batch():
    bright = torch.tensor([[0.3, 0.6, 0.9]])  # no value at the threshold: snnTorch would rescale by this batch
    with_dark = torch.cat([bright, torch.zeros(1, 3)])
    alone = latency(bright, 30, linear=False, normalize=True)
    assert torch.equal(alone, latency(with_dark, 30, linear=False, normalize=True)[:1])


@pytest.mark.parametrize("shape", SHAPES)
def test_current_repeats_the_scaled_value_at_every_step(shape):
    values = torch.randn(shape, generator=torch.Generator().manual_seed(0))  # any finite value is a current
    injected = current(values, 6, gain=2.5)
    assert injected.shape == (*shape[:-1], 6, shape[-1]) and injected.is_contiguous()
    for step in range(6):
        torch.testing.assert_close(injected[..., step, :], 2.5 * values, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["rate", "latency", "current"])
def test_config_encode_calls_its_encoder(kind):
    config = EncoderConfig(kind=kind, steps=12, gain=0.8, threshold=0.1, tau=4.0, linear=False, normalize=False,
                           clip=False)
    values = unit_values((3, 9), 4)
    expected = {
        "rate": lambda: rate(values, 12, torch.Generator().manual_seed(1), gain=0.8),
        "latency": lambda: latency(values, 12, threshold=0.1, tau=4.0, linear=False, normalize=False, clip=False),
        "current": lambda: current(values, 12, gain=0.8),
    }[kind]()
    assert torch.equal(config.encode(values, torch.Generator().manual_seed(1)), expected)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"kind": "poisson"}, "kind"),
        ({"steps": 0}, "steps"),
        ({"steps": -3}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"steps": True}, "steps"),
        ({"gain": 0.0}, "gain"),
        ({"gain": 1.5}, "gain"),  # a rate above 1 spike per step is not a probability
        ({"kind": "current", "gain": -1.0}, "gain"),
        ({"kind": "current", "gain": float("inf")}, "gain"),
        ({"kind": "latency", "threshold": 0.0}, "threshold"),
        ({"kind": "latency", "threshold": 1.0}, "threshold"),
        ({"kind": "latency", "tau": 0.0}, "tau"),
        ({"kind": "latency", "linear": 1}, "linear"),
    ],
)
def test_config_refuses_bad_settings_naming_the_field(settings, field):
    with pytest.raises(ValueError, match=rf"^{field} ="):
        EncoderConfig(**settings)


def test_current_config_accepts_gains_above_one():
    assert EncoderConfig(kind="current", gain=20.0).gain == 20.0


@pytest.mark.parametrize("encode", [
    lambda v: rate(v, 5, torch.Generator().manual_seed(0)),
    lambda v: latency(v, 5),
])
@pytest.mark.parametrize("bad", [torch.tensor([0.5, 1.2]), torch.tensor([-0.1, 0.5]),
                                 torch.tensor([0.5, float("nan")]), torch.tensor([[0, 255]], dtype=torch.uint8)])
def test_spike_encoders_refuse_values_outside_the_unit_interval(encode, bad):
    with pytest.raises(ValueError, match=r"^values = .*in \[0, 1\]"):
        encode(bad)


def test_encoders_refuse_bad_arguments_naming_them():
    values = torch.rand(2, 3)
    with pytest.raises(ValueError, match="^generator ="):
        rate(values, 5, None)
    with pytest.raises(ValueError, match="^steps ="):
        latency(values, 0)
    with pytest.raises(ValueError, match="^values ="):
        current(torch.tensor(0.5), 5)  # no feature axis
    with pytest.raises(ValueError, match="^values ="):
        current(torch.tensor([1.0, float("inf")]), 5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_rate_on_cuda_needs_a_cuda_generator():
    values = torch.rand(3, 5, device="cuda")
    spikes = rate(values, 4, torch.Generator(device="cuda").manual_seed(0))
    assert spikes.device == values.device and spikes.shape == (3, 4, 5)
    with pytest.raises(ValueError, match="^generator = 'on cpu'"):
        rate(values, 4, torch.Generator().manual_seed(0))
