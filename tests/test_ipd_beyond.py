"""Options beyond the IPD seed: per-neuron time constants (drawn, learned), per-fibre input delays, cosine
learning-rate schedule; their bad input; and their use in IPD runs (deterministic, members independent)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from spikeloc import seeding
from spikeloc.experiments.ipd import IPDRun, run_ipd, run_ipd_ensemble
from spikeloc.learning.surrogate import TrainConfig
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
from spikeloc.substrate.delays import FibreDelays
from spikeloc.substrate.neurons import draw_time_constants

TINY = dict(epochs=2, n_train_batches=4, n_val_samples=128, n_test_samples=128, n_hidden=8, batch_size=32)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def test_gamma_time_constants_have_the_documented_mean_and_spread():
    taus = draw_time_constants("gamma", 5e-3, 0.58, (40000,), torch.Generator().manual_seed(0)).double()
    assert bool((taus > 0).all())
    assert math.isclose(taus.mean().item(), 5e-3, rel_tol=0.02)
    assert math.isclose((taus.std() / taus.mean()).item(), 0.58, rel_tol=0.03)
    again = draw_time_constants("gamma", 5e-3, 0.58, (40000,), torch.Generator().manual_seed(0)).double()
    assert torch.equal(taus, again)


def test_uniform_time_constants_stay_in_their_interval():
    taus = draw_time_constants("uniform", 5e-3, 0.5, (10000,), torch.Generator().manual_seed(1))
    assert 2.5e-3 <= taus.min().item() < 2.6e-3 and 7.4e-3 < taus.max().item() <= 7.5e-3


@pytest.mark.parametrize("settings, field", [
    (dict(tau_distribution="normal"), "tau_distribution"),
    (dict(tau_distribution="uniform", tau_spread=1.0), "tau_spread"),
    (dict(tau_distribution="gamma", tau_spread=0.0), "tau_spread"),
    (dict(tau_distribution="gamma", tau_spread=-0.5), "tau_spread"),
    (dict(tau_s=0.0), "tau_s"),
    (dict(tau_s=-5e-3, learn_tau=True), "tau_s"),
    (dict(learn_tau=True, backend="snntorch"), "backend"),
    (dict(input_delays="random"), "input_delays"),
    (dict(input_delays="fixed", max_delay_steps=-2), "max_delay_steps"),
    (dict(input_delays="fixed", max_delay_steps=100), "max_delay_steps"),  # the stimulus has 100 steps
    (dict(lr_schedule="plateau"), "lr_schedule"),
    (dict(readout="rates"), "readout"),
    (dict(population=3), "population"),  # a population needs the spiking readout
    (dict(readout="spikes", tie_break="last"), "tie_break"),
    (dict(logit_scale=0.0), "logit_scale"),
])
def test_bad_options_are_one_error_naming_the_field(settings, field):
    with pytest.raises(ValueError, match=rf"^{field} = "):
        IPDRun(**settings)


def test_bad_delays_and_schedule_outside_ipd():
    with pytest.raises(ValueError, match="^delays_steps = "):
        FibreDelays(torch.tensor([[-1.0, 2.0]]), max_delay_steps=5)
    with pytest.raises(ValueError, match="^delays_steps = "):
        FibreDelays(torch.tensor([[1.0, 6.0]]), max_delay_steps=5)
    with pytest.raises(ValueError, match="^max_delay_steps = "):
        FibreDelays(torch.zeros(1, 2), max_delay_steps=12)(torch.zeros(1, 3, 12, 2))  # as long as the input
    with pytest.raises(ValueError, match="^lr_schedule = "):
        TrainConfig(lr_schedule="step")


def test_integer_delays_shift_each_fibre():
    x = torch.rand(2, 3, 20, 4, generator=torch.Generator().manual_seed(2))
    delays = torch.tensor([[0.0, 1.0, 3.0, 7.0], [2.0, 0.0, 5.0, 1.0]])
    y = FibreDelays(delays, max_delay_steps=7)(x)
    for k in range(2):
        for i in range(4):
            d = int(delays[k, i])
            assert torch.equal(y[k, :, d:, i], x[k, :, :20 - d, i])
            assert bool((y[k, :, :d, i] == 0).all())


def test_fractional_delay_interpolates_and_its_gradient_is_the_difference():
    x = torch.rand(1, 2, 15, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    weights = torch.rand(x.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    below, above = (FibreDelays(torch.full((1, 3), d), 6)(x.float()).double() for d in (2.0, 3.0))
    layer = FibreDelays(torch.full((1, 3), 2.25), 6, learn=True)
    y = layer(x.float())
    torch.testing.assert_close(y.double(), 0.75 * below + 0.25 * above, rtol=1e-6, atol=1e-6)
    (y * weights.float()).sum().backward()
    expected = ((above - below) * weights).sum(dim=(0, 1, 2))
    torch.testing.assert_close(layer.delays_steps.grad[0].double(), expected, rtol=1e-5, atol=1e-5)


def test_members_with_per_neuron_taus_and_delays_compute_as_alone():
    config = ClassifierConfig(n_inputs=10, hidden=(6, 5), n_classes=4, tau_distribution="gamma", tau_spread=0.5,
                              learn_tau=True, input_delays="learned", max_delay_steps=4)
    members = [Member(seed=3), Member(seed=8, dale_layers="both")]
    pair = SpikingClassifier(config, members)
    x = 4 * (torch.rand(2, 5, 30, 10, generator=torch.Generator().manual_seed(5)) < 0.5).float()  # drives spikes
    out = pair(x)
    out.sum().backward()
    for layer in [*pair.hidden_layers, pair.readout]:
        assert layer.time_constants.log_tau.grad.abs().sum() > 0
    assert pair.input_delays.delays_steps.grad.abs().sum() > 0
    alone = SpikingClassifier(config, members[1:])
    torch.testing.assert_close(alone(x[1:]), out[1:].detach(), rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # restrict copies the (changed) taus and delays too
        for layer in [*pair.hidden_layers, pair.readout]:
            layer.time_constants.log_tau.add_(0.3)
        pair.input_delays.delays_steps.mul_(0.5)
    torch.testing.assert_close(pair.restrict([1])(x[1:]), pair(x)[1:].detach(), rtol=1e-5, atol=1e-5)


def test_ipd_run_with_all_options_is_deterministic_and_learns_its_taus():
    run = IPDRun(**TINY, tau_distribution="gamma", tau_spread=0.58, learn_tau=True, input_delays="learned",
                 max_delay_steps=5, lr_schedule="cosine")
    first, second = run_ipd_ensemble([(run, 4), (run, 4)])
    first.pop("seconds_per_epoch"), second.pop("seconds_per_epoch")
    assert first == second and first["status"] == "ok"
    hidden = torch.tensor(json.loads(first["hidden_tau_ms"]))
    delays = torch.tensor(json.loads(first["input_delay_steps"]))
    assert hidden.shape == (8,) and len(json.loads(first["readout_tau_ms"])) == 12 and delays.shape == (200,)
    assert bool(((delays >= 0) & (delays <= 5)).all())
    initial = 1e3 * draw_time_constants("gamma", 5e-3, 0.58, (8,), seeding.generator(4, "tau/layer_1"))
    assert not torch.allclose(hidden, initial, rtol=1e-4)  # trained away from the draw
    assert torch.allclose(hidden, initial, rtol=0.5)  # ... but it is that draw, trained


def test_cosine_schedule_changes_training_and_options_off_change_nothing():
    constant, cosine = (run_ipd(IPDRun(**TINY, lr_schedule=s), 0) for s in ("constant", "cosine"))
    assert constant["best_val_loss"] != cosine["best_val_loss"]
    default = run_ipd(IPDRun(**TINY), 0)
    for row in (constant, default):
        row.pop("seconds_per_epoch")
    assert default == constant


def test_saved_model_keeps_its_taus_and_delays(tmp_path):
    from spikeloc.networks.saved import load, save

    config = ClassifierConfig(n_inputs=6, hidden=(5,), n_classes=3, tau_distribution="uniform", tau_spread=0.4,
                              learn_tau=True, input_delays="fixed", max_delay_steps=3)
    network = SpikingClassifier(config, [Member(seed=1), Member(seed=2)])
    with torch.no_grad():
        network.readout.time_constants.log_tau.add_(0.2)
    x = 4 * (torch.rand(2, 3, 20, 6, generator=torch.Generator().manual_seed(6)) < 0.5).float()
    save(network, tmp_path / "model.pt")
    loaded = load(tmp_path / "model.pt").network
    assert torch.equal(loaded(x), network.eval()(x))


def test_spike_count_readouts_in_ipd_runs():
    """The readout options reach the network and the loss; a spiking readout's tie-breaks only change decisions
    (training keeps the weights of the lowest validation loss, which the tie-break does not touch)."""
    spiking = IPDRun(**TINY, readout="spikes", population=2, tie_break="membrane", logit_scale=1.0)
    config = spiking.network_config()
    assert (config.readout, config.population, config.tie_break) == ("spikes", 2, "membrane")
    assert spiking.train_config().loss.logit_scale == 1.0 and IPDRun().train_config().loss.logit_scale == 0.01
    rows = {tie: run_ipd(IPDRun(**TINY, readout="spikes", tie_break=tie, logit_scale=1.0), 0)
            for tie in ("first", "first_spike", "membrane")}
    assert {row["status"] for row in rows.values()} == {"ok"}
    assert len({row["best_val_loss"] for row in rows.values()}) == 1
