"""Plasticity transforms (spikeloc.learning.bio): each mechanism on a case computed by hand, the order of the
transforms around the optimiser step, seeded draws, ensemble members equal to single networks, config checks.

Statistical checks use large draws and tolerances of 5 standard errors (the chance of a false failure is below
1e-6 per check; the draws are seeded, so a pass or failure is reproducible)."""

import math
import re
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from spikeloc import seeding
from spikeloc.learning.bio import (
    BioConfig,
    Crystallisation,
    DalePrinciple,
    FuzzyRates,
    L1Penalty,
    PlasticOptimizer,
    Rejuvenation,
    Splitting,
    VolumeRates,
    attach,
)
from spikeloc.learning.bio.crystallisation import crystallise
from spikeloc.learning.bio.fuzzy import fuzzy_factors
from spikeloc.learning.bio.rejuvenation import rejuvenate
from spikeloc.learning.bio.volume import mean_factor, volume_factors
from spikeloc.learning.surrogate import MemberData, TrainConfig, fit
from spikeloc.learning.trainer import TrainingHook
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
from spikeloc.substrate.layers import WeightLayer
from spikeloc.substrate.synapses import Synapses, dale_signs


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def spiking(members, hidden=(8,)):
    return SpikingClassifier(ClassifierConfig(n_inputs=6, hidden=hidden, n_classes=3), members)


def spike_data(n=16, steps=5, seed=0):
    g = seeding.generator(seed, "test/bio/data")
    return (torch.rand(n, steps, 6, generator=g) < 0.4).float(), torch.randint(0, 3, (n,), generator=g)


def one_synapse_layer(raw, signs):
    """A model holding one spikeloc Synapses layer, and its layer record."""
    model = nn.Module()
    model.synapses = Synapses(raw, signs)
    return model, {"synapses": WeightLayer(model.synapses, "raw_weight", raw.shape[0], unit_axis=2)}


# ----------------------------------------------------------------------------------------------- fuzzy rates
def test_uniform_fuzzy_factors_fill_their_interval():
    n, nu = 20000, 0.3
    f = fuzzy_factors((n,), FuzzyRates(spread=nu), gen(1))
    assert float(f.min()) >= 1 - nu and float(f.max()) <= 1 + nu
    # P(no draw within 0.01 of an edge) = (1 - 0.01 / 0.6)^20000 ~ e^-333: the draws reach both ends
    assert float(f.min()) < 1 - nu + 0.01 and float(f.max()) > 1 + nu - 0.01
    # spread evenly: each tenth of the interval holds 2000 +- 5 * sqrt(2000 * 0.9) draws
    counts = torch.histc(f, bins=10, min=1 - nu, max=1 + nu)
    assert bool(((counts - n / 10).abs() < 5 * math.sqrt(n / 10 * 0.9)).all())


def test_lognormal_fuzzy_factors_have_mean_one_and_log_std_spread():
    n, s = 200000, 0.5
    f = fuzzy_factors((n,), FuzzyRates("lognormal", s), gen(2), dtype=torch.float64)
    # std of f is sqrt(e^{s^2} - 1) = 0.53, so the mean's standard error is 0.0012; 5 SE = 0.006
    assert float(f.mean()) == pytest.approx(1.0, abs=5 * math.sqrt(math.exp(s ** 2) - 1) / math.sqrt(n))
    # the sample std of a normal has standard error s / sqrt(2 n) = 0.0008
    assert float(f.log().std()) == pytest.approx(s, abs=5 * s / math.sqrt(2 * n))
    assert float(f.log().mean()) == pytest.approx(-s ** 2 / 2, abs=5 * s / math.sqrt(n))


@pytest.mark.parametrize("config", [FuzzyRates(), FuzzyRates("lognormal", 0.3)])
def test_same_generator_seed_gives_the_same_fuzzy_factors(config):
    first, again, other = (fuzzy_factors((4, 5), config, gen(seed)) for seed in (7, 7, 8))
    assert torch.equal(first, again) and not torch.equal(first, other)


def package_fuzzy_factors(distribution, nu, shape, seed):
    """pytorch-bio-transformations 0.0.5's factors (drawn when a BioModule is made, from torch's global
    generator, clamped to its fuzzy_lr_min / fuzzy_lr_max = 0.5 / 2)."""
    bio_module = pytest.importorskip("bio_transformations.bio_module",
                                     reason="pytorch-bio-transformations (benchmark extra) not installed")
    from bio_transformations.bio_config import BioConfig as PackageConfig
    from bio_transformations.bio_config import Distribution
    layer = nn.Linear(shape[1], shape[0])
    torch.manual_seed(seed)
    config = PackageConfig(fuzzy_lr_distribution=Distribution(distribution), fuzzy_learning_rate_factor_nu=nu)
    return bio_module.BioModule(lambda: layer, config).fuzzy_learning_rate_parameters.detach()


@pytest.mark.parametrize("distribution, nu", [("lognormal", 0.3), ("uniform", 0.16), ("uniform", 1.5)])
def test_clamped_fuzzy_factors_equal_bio_transformations(distribution, nu):
    theirs = package_fuzzy_factors(distribution, nu, (32, 96), seed=3)
    ours = fuzzy_factors(theirs.shape, FuzzyRates(distribution, nu, clamp=(0.5, 2)), gen(3))
    assert bool(((theirs == 0.5) | (theirs == 2)).any()) or nu < 0.5  # the bounds are reached where they can be
    # same draws, arithmetic in another order: within 2 float32 units in the last place of [1, 2)
    assert torch.allclose(ours, theirs, rtol=0, atol=2.5e-7)


def test_unclamped_lognormal_factors_leave_the_packages_bounds():
    theirs = package_fuzzy_factors("lognormal", 0.3, (32, 96), seed=3)
    ours = fuzzy_factors(theirs.shape, FuzzyRates("lognormal", 0.3), gen(3))
    outside = (ours < 0.5) | (ours > 2)
    assert 0 < int(outside.sum()) < 0.05 * ours.numel()  # P(outside) = 2.2 % for a log std of 0.3
    assert torch.allclose(ours[~outside], theirs[~outside], rtol=0, atol=2.5e-7)


# ------------------------------------------------------------------------------------------- crystallisation
def test_crystallisation_by_hand():
    w, g = torch.tensor([1.0, 1.0, 0.0, 1.0]), torch.tensor([1e-6, 1.0, 0.0, 0.0])
    factors = torch.ones(4)
    config = Crystallisation(threshold=4.5e-5, dampening=0.6)
    # 0 < |g| < 4.5e-5 |w|: 1e-6 (stable); 1 > 4.5e-5 (learning); 0 < 0 is false (a zero weight is never stable);
    # a zero gradient on a weight of 1 is a synapse not used in this batch, not a settled one (the seed damps it)
    assert crystallise(factors, w, g, config) == 1
    assert torch.allclose(factors, torch.tensor([0.6, 1.0, 1.0, 1.0]))
    assert crystallise(factors, w, g, config) == 1
    assert torch.allclose(factors, torch.tensor([0.36, 1.0, 1.0, 1.0]))


# ------------------------------------------------------------------------------------------------ volume
def test_volume_mean_factor_by_hand():
    config = VolumeRates(base=1.0, stability=2.0)
    # |w| = 1: v = 1/2, m = exp(-2 * 1/2) = e^-1
    assert float(mean_factor(torch.tensor(1.0), config)) == pytest.approx(math.exp(-1))
    assert float(mean_factor(torch.tensor(-1.0), config)) == pytest.approx(math.exp(-1))
    assert float(mean_factor(torch.tensor(0.0), VolumeRates(base=0.4))) == pytest.approx(0.4)


def test_volume_factors_scatter_around_the_mean_with_the_variability():
    n, config = 100000, VolumeRates(base=0.8, stability=2.0, variability=0.2)
    weight = torch.full((n,), -0.7, dtype=torch.float64)
    m = 0.8 * math.exp(-2 * 0.7 / 1.7)
    f = volume_factors(weight, config, gen(3))
    # N(m, (0.2 m)^2) is negative with probability Phi(-5) = 3e-7, so |.| barely folds it
    assert float(f.mean()) == pytest.approx(m, abs=5 * 0.2 * m / math.sqrt(n))
    assert float(f.std()) == pytest.approx(0.2 * m, abs=5 * 0.2 * m / math.sqrt(2 * n))
    assert torch.equal(f, volume_factors(weight, config, gen(3)))


# ------------------------------------------------------------------------------------------- rejuvenation
def test_rejuvenation_replaces_a_zero_weight_always_and_the_largest_never():
    config, g = Rejuvenation(dre=8.0, interval_steps=1), gen(4)
    for _ in range(200):
        weight = torch.tensor([[1.0, 0.0, -1.0]])
        replaced = rejuvenate(weight, config, g)
        # threshold |N(0, (1/8)^2)|: above 0 almost surely, above 1 with probability P(|z| > 8) ~ 1e-15
        assert replaced.tolist() == [[False, True, False]]
        assert weight[0, 0] == 1.0 and weight[0, 2] == -1.0
        assert 0 < abs(float(weight[0, 1])) <= 1.0


def test_rejuvenation_frequency_at_magnitude_max_over_dre():
    n, dre = 20000, 8.0
    weight = torch.full((n + 1,), 1 / dre, dtype=torch.float64)
    weight[0] = -1.0  # M = max |w| = 1, so a = M / dre
    replaced = rejuvenate(weight, Rejuvenation(dre=dre), gen(5))
    expected = math.erfc(1 / math.sqrt(2))  # 2 (1 - Phi(1)) = 0.317
    rate = float(replaced[1:].double().mean())
    assert rate == pytest.approx(expected, abs=5 * math.sqrt(expected * (1 - expected) / n))
    assert bool((weight.abs() <= 1).all()) and not bool(replaced[0])


def test_rejuvenated_synapses_carry_their_units_dale_sign():
    outputs = 20
    raw = torch.ones(1, 4, outputs)
    raw[0, 0] = 0.0  # inhibitory unit: replaced surely
    raw[0, 3] = 0.0  # unconstrained unit: replaced surely
    model, layers = one_synapse_layer(raw, torch.tensor([[-1.0, 1.0, 1.0, 0.0]]))
    plasticity = attach(model, BioConfig(rejuvenation=Rejuvenation(interval_steps=1)), [gen(6)], layers)
    plasticity.after_step()
    effective = model.synapses.effective_weight().detach()[0]
    stored = model.synapses.raw_weight.detach()[0]
    assert plasticity.rejuvenated == [2 * outputs]
    assert bool((stored[0] > 0).any() and (stored[0] < 0).any())  # fresh draws of both signs ...
    assert bool((effective[0] < 0).all())  # ... act with the inhibitory sign
    assert bool((effective[3] > 0).any() and (effective[3] < 0).any())  # unconstrained: both signs
    assert torch.equal(effective[1:3], torch.ones(2, outputs))


def test_rejuvenation_resets_the_factor_of_a_replaced_synapse_to_its_first_draw():
    raw = torch.ones(1, 3, 10)
    raw[0, 1] = 0.0
    model, layers = one_synapse_layer(raw, torch.zeros(1, 3))
    plasticity = attach(model, BioConfig(fuzzy=FuzzyRates(), rejuvenation=Rejuvenation(interval_steps=1)),
                        [gen(7)], layers)
    state = plasticity.layers["synapses"]
    state.factors.mul_(0.5)  # as if crystallised
    plasticity.after_step()
    assert torch.equal(state.factors[0, 1], state.first_factors[0, 1])
    assert torch.equal(state.factors[0, [0, 2]], 0.5 * state.first_factors[0, [0, 2]])


# ------------------------------------------------------------------------------------------------ L1
def seed_l1_reg(module):
    """The seed's ``BioModule.l1_reg``, transcribed."""
    with torch.no_grad():
        all_params = torch.cat([x.view(-1) for x in module.parameters()])
        return torch.norm(all_params, 1)


def test_l1_penalty_has_the_gradient_strength_times_sign_and_the_seeds_has_none():
    layer = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -2.0, 0.0]]))
    plasticity = attach(layer, BioConfig(l1=L1Penalty(strength=0.1)), [gen()])
    penalty = plasticity.penalty()
    assert penalty.shape == (1,) and float(penalty.detach()) == pytest.approx(0.1 * 2.5)
    penalty.sum().backward()
    assert torch.allclose(layer.weight.grad, torch.tensor([[0.1, -0.1, 0.0]]))

    seed_penalty = seed_l1_reg(layer)
    assert float(seed_penalty) == pytest.approx(2.5) and not seed_penalty.requires_grad
    x = torch.tensor([[1.0, 1.0, 1.0]])
    grads = []
    for extra in (lambda: 0.0, seed_l1_reg, lambda m: plasticity.penalty().sum()):
        layer.weight.grad = None
        (layer(x).sum() + (extra(layer) if extra.__code__.co_argcount else extra())).backward()
        grads.append(layer.weight.grad.clone())
    assert torch.equal(grads[0], grads[1])  # the seed's penalty changes nothing
    assert torch.allclose(grads[2] - grads[0], torch.tensor([[0.1, -0.1, 0.0]]))


def test_l1_penalty_is_per_member():
    network = spiking([Member(seed=0), Member(seed=1, dale_layers="input")])
    plasticity = attach(network, BioConfig(l1=L1Penalty(strength=0.01)), [gen(0), gen(1)])
    penalty = plasticity.penalty()
    expected = [0.01 * sum(float(s.raw_weight[k].detach().abs().sum()) for s in network.synapses) for k in (0, 1)]
    assert penalty.shape == (2,) and penalty.detach().tolist() == pytest.approx(expected)
    penalty[0].backward()
    assert all(float(s.raw_weight.grad[1].abs().max()) == 0 for s in network.synapses)
    assert all(float(s.raw_weight.grad[0].abs().min()) > 0 for s in network.synapses)


# ------------------------------------------------------------------------------------------------ splitting
def test_splitting_keeps_the_function_and_splits_the_gradient_on_synapses():
    network = spiking([Member(seed=0), Member(seed=1, dale_layers="input")])
    before = [s.effective_weight().detach().clone() for s in network.synapses]
    plasticity = attach(network, BioConfig(splitting=Splitting(sub_synapses=3, jitter=0.1)), [gen(0), gen(1)])
    for synapses, weight in zip(network.synapses, before):
        stored = plasticity.layers[next(n for n, s in plasticity.layers.items() if s.layer.module is synapses)]
        sub = stored.layer.weight
        assert sub.shape == (2, 3, *weight.shape[1:])
        assert not torch.allclose(sub[:, 0], sub[:, 1])  # jittered sub-synapses ...
        assert torch.allclose(synapses.effective_weight(), weight, atol=1e-6)  # ... whose mean is the weight
    projection = torch.randn(before[0].shape, generator=gen(9))
    synapses = network.synapses[0]
    (synapses.effective_weight() * projection).sum().backward()
    # dL/dW_eff = P; dW_eff/dw = sign(w) on Dale units (member 1), 1 otherwise; each of 3 sub-synapses gets 1/3
    raw = synapses.raw_weight.detach()
    signs = synapses.signs[:, :, None]
    expected = torch.where(signs == 0, projection, projection * raw.sign() * signs)
    grad = plasticity.layers["input"].layer.weight.grad
    for g in range(3):
        assert torch.allclose(grad[:, g], expected / 3, atol=1e-6)


def test_splitting_a_linear_layer_and_merging_it_back():
    layer = nn.Linear(4, 5, bias=False)
    weight = layer.weight.detach().clone()
    plasticity = attach(layer, BioConfig(splitting=Splitting(sub_synapses=3, jitter=0.1)), [gen(10)])
    stored = plasticity.layers["layer_0"].layer.weight
    assert stored.shape == (3, 5, 4) and torch.allclose(layer.weight, weight, atol=1e-6)
    x, c = torch.randn(6, 4, generator=gen(11)), torch.randn(6, 5, generator=gen(12))
    (layer(x) * c).sum().backward()
    for g in range(3):
        assert torch.allclose(stored.grad[g], (c.T @ x) / 3, atol=1e-5)  # dL/dW = c^T x, split three ways
    with torch.no_grad():
        stored.add_(torch.randn(stored.shape, generator=gen(13)))
    mean = stored.detach().mean(dim=0)
    plasticity.detach()
    assert not parametrize.is_parametrized(layer, "weight")
    assert isinstance(layer.weight, nn.Parameter) and torch.allclose(layer.weight, mean)


# ------------------------------------------------------------------------------------------------ Dale
def assert_one_sign_per_input(weight, n_inhibitory):
    """Every input column (axis 1) has one sign across outputs and kernel positions."""
    columns = weight.detach().transpose(0, 1).flatten(1)
    negative, positive = (columns < 0).all(dim=1), (columns > 0).all(dim=1)
    assert bool((negative | positive).all()) and int(negative.sum()) == n_inhibitory
    return negative


def test_dale_on_linear_and_conv_layers_holds_through_adam_steps():
    torch.manual_seed(0)  # the layers' own initialisation
    model = nn.Sequential(nn.Conv2d(8, 4, 3), nn.Flatten(), nn.Linear(16, 3))
    magnitudes = [model[0].weight.detach().abs().clone(), model[2].weight.detach().abs().clone()]
    plasticity = attach(model, BioConfig(dale=DalePrinciple(inhibitory_fraction=0.25)), [gen(14)])
    signs = [assert_one_sign_per_input(model[0].weight, 2), assert_one_sign_per_input(model[2].weight, 4)]
    assert torch.equal(model[0].weight.abs(), magnitudes[0]) and torch.equal(model[2].weight.abs(), magnitudes[1])
    optimiser = PlasticOptimizer(torch.optim.Adam(model.parameters(), lr=0.2), plasticity)
    x, y = torch.randn(16, 8, 4, 4, generator=gen(15)), torch.randint(0, 3, (16,), generator=gen(16))
    for _ in range(8):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    raw = model[2].parametrizations.weight.original
    assert bool((raw < 0).any() and (raw > 0).any())  # the stored weights crossed zero freely
    assert torch.equal(assert_one_sign_per_input(model[0].weight, 2), signs[0])
    assert torch.equal(assert_one_sign_per_input(model[2].weight, 4), signs[1])
    assert not torch.equal(model[2].weight.abs(), magnitudes[1])


def test_dale_on_synapses_signs_free_members_and_keeps_constrained_ones():
    network = spiking([Member(seed=0), Member(seed=1, dale_layers="input", ie_ratio=0.5)])
    kept = network.synapses[0].signs[1].clone()
    attach(network, BioConfig(dale=DalePrinciple(inhibitory_fraction=0.25)), [gen(20), gen(21)])
    assert torch.equal(network.synapses[0].signs[1], kept)
    assert torch.equal(network.synapses[0].signs[0], dale_signs(6, 0.25, gen(20)))
    readout_signs = network.synapses[1].signs
    assert all(set(readout_signs[k].tolist()) == {-1.0, 1.0} and int((readout_signs[k] < 0).sum()) == 2
               for k in (0, 1))


# ------------------------------------------------------------------------------------- order and moments
def linear_problem(config, seed=30):
    """A bias-free linear layer with the transforms of ``config`` attached (same init for the same seed)."""
    torch.manual_seed(seed)
    layer = nn.Linear(5, 4, bias=False)
    return layer, attach(layer, config, [gen(seed)])


def linear_loss(layer, step):
    g = gen(100 + step)
    x, target = torch.randn(8, 5, generator=g), torch.randn(8, 4, generator=g)
    return ((layer(x) - target) ** 2).mean()


def sgd_step(config):
    layer, plasticity = linear_problem(config)
    optimiser = PlasticOptimizer(torch.optim.SGD(layer.parameters(), lr=1.0), plasticity)
    optimiser.zero_grad()
    linear_loss(layer, 0).backward()
    grad, before = layer.weight.grad.clone(), layer.weight.detach().clone()
    optimiser.step()
    return layer, plasticity.layers["layer_0"].factors, grad, before


def test_under_sgd_the_update_is_factor_times_gradient_in_both_modes():
    fuzzy = FuzzyRates(spread=0.5)
    layer, factors, grad, before = sgd_step(BioConfig(fuzzy=fuzzy))
    assert not torch.allclose(factors, torch.ones_like(factors))
    assert torch.allclose(layer.weight - before, -factors * grad, atol=1e-6)
    assert torch.equal(layer.weight.grad, grad)  # update mode leaves the gradient as backward() made it
    scaled, factors_g, grad_g, before_g = sgd_step(BioConfig(fuzzy=fuzzy, scale="gradient"))
    assert torch.equal(factors_g, factors) and torch.equal(before_g, before) and torch.equal(grad_g, grad)
    assert torch.allclose(scaled.weight.grad, factors * grad)  # scaled before the step
    assert torch.allclose(scaled.weight, layer.weight, atol=1e-6)


def adam_trajectory(config, steps=20):
    layer, plasticity = linear_problem(config)
    start = layer.weight.detach().clone()
    optimiser = torch.optim.Adam(layer.parameters(), lr=0.01)
    if plasticity is not None:
        optimiser = PlasticOptimizer(optimiser, plasticity)
    for step in range(steps):
        optimiser.zero_grad()
        linear_loss(layer, step).backward()
        optimiser.step()
    return layer.weight.detach(), start


def test_under_adam_fixed_factors_on_the_gradient_cancel_and_on_the_update_do_not():
    plain, start = adam_trajectory(BioConfig())
    fuzzy = FuzzyRates(spread=0.5)
    on_gradient, _ = adam_trajectory(BioConfig(fuzzy=fuzzy, scale="gradient"))
    on_update, _ = adam_trajectory(BioConfig(fuzzy=fuzzy))
    moved = float((plain - start).abs().max())
    assert moved > 0.05
    # Adam divides m ~ f g by sqrt(v) ~ f |g|: only eps = 1e-8 keeps the factor
    assert float((on_gradient - plain).abs().max()) < 1e-4 * moved
    assert float((on_update - plain).abs().max()) > 0.1 * moved


def test_crystallisation_reads_the_unscaled_gradient():
    threshold = 1e-3
    for ratio, damped in ((1.2, False), (0.8, True)):
        layer, plasticity = linear_problem(BioConfig(fuzzy=FuzzyRates(spread=0.5),
                                                     crystallisation=Crystallisation(threshold, 0.6),
                                                     scale="gradient"))
        state = plasticity.layers["layer_0"]
        assert float(state.factors.min()) < 1 / 1.2  # f g would fall below the threshold for these
        with torch.no_grad():
            layer.weight.fill_(1.0)
        layer.weight.grad = torch.full_like(layer.weight, ratio * threshold)
        plasticity.before_step()
        expected = state.first_factors * (0.6 if damped else 1.0)
        assert torch.allclose(state.factors, expected)
        assert plasticity.crystallised == [layer.weight.numel() if damped else 0]
        assert torch.allclose(layer.weight.grad, expected * ratio * threshold)  # this step's (damped) factors


def test_rejuvenation_runs_every_interval_steps_after_the_optimiser_step():
    layer = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[2.0, 0.5, 0.5]]))
    plasticity = attach(layer, BioConfig(rejuvenation=Rejuvenation(interval_steps=3)), [gen(40)])
    optimiser = PlasticOptimizer(torch.optim.SGD(layer.parameters(), lr=1.0), plasticity)
    # step 1 zeroes synapse 1, step 3 zeroes synapse 2 (gradient = the weight, lr 1)
    for step, grad in ((1, [0.0, 0.5, 0.0]), (2, [0.0, 0.0, 0.0]), (3, [0.0, 0.0, 0.5])):
        optimiser.zero_grad()
        layer.weight.grad = torch.tensor([grad])
        optimiser.step()
        if step < 3:
            assert float(layer.weight.detach()[0, 1]) == 0.0 and plasticity.rejuvenated == [0]
    # at step 3 both zeros were replaced: synapse 2 was zeroed by this very step, so rejuvenation came after it;
    # synapse 0 (= max) is replaced with probability P(|z| > 8)
    assert plasticity.steps == 3 and plasticity.rejuvenated == [2]
    assert float(layer.weight.detach()[0, 0]) == 2.0 and bool((layer.weight[0, 1:] != 0).all())


def test_rejuvenation_acts_on_the_scaled_update_and_its_fresh_weights_are_not_rescaled():
    config = BioConfig(fuzzy=FuzzyRates(spread=0.5), rejuvenation=Rejuvenation(dre=2.0, interval_steps=1))
    layer, plasticity = linear_problem(config)
    generator = plasticity.generators[0]
    replay = torch.Generator().set_state(generator.get_state())  # the draws rejuvenation will make
    optimiser = PlasticOptimizer(torch.optim.SGD(layer.parameters(), lr=1.0), plasticity)
    optimiser.zero_grad()
    linear_loss(layer, 0).backward()
    expected = layer.weight.detach() - plasticity.layers["layer_0"].factors * layer.weight.grad
    replaced = rejuvenate(expected, config.rejuvenation, replay)
    optimiser.step()
    assert 0 < int(replaced.sum()) == plasticity.rejuvenated[0]
    assert torch.allclose(layer.weight, expected, atol=1e-6)


def test_rejuvenated_per_event_divides_by_the_events_and_the_stored_synapses():
    layer = nn.Linear(4, 5, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.weight[0, :2] = 0.0  # replaced surely at every event (threshold |N| > 0); the ones almost never
    plasticity = attach(layer, BioConfig(rejuvenation=Rejuvenation(interval_steps=2)), [gen(41)])
    assert plasticity.rejuvenated_per_event() == [0.0]
    for _ in range(4):  # events at steps 2 and 4
        with torch.no_grad():
            layer.weight[0, :2] = 0.0
        plasticity.after_step()
    assert plasticity.rejuvenation_events == 2 and plasticity.rejuvenated == [4]
    assert plasticity.rejuvenated_per_event() == [2 / 20]


def test_package_rule_prunes_weak_synapses_to_tiny_positive_weights_and_clamps_to_one():
    n = 20000
    weight = (2 * torch.rand(n, generator=gen(42)) - 1) * 0.3
    weight[:2] = torch.tensor([3.0, -2.0])
    std = float(weight.clamp(-1, 1).std())
    expected = float(torch.exp(-8.0 * weight[2:].abs() / std).mean())  # E[P(replaced)] over the weights
    before = weight.clone()
    replaced = rejuvenate(weight, Rejuvenation(dre=8.0, rule="package"), gen(43))
    rate = float(replaced[2:].double().mean())
    assert rate == pytest.approx(expected, abs=5 * math.sqrt(expected * (1 - expected) / n))
    assert weight[0] == 1.0 and weight[1] == -1.0  # clamped, never replaced (P = exp(-8 / std) ~ 0)
    assert bool((weight[replaced] > 0).all() and (weight[replaced] < 1e-3).all())  # near-zero: pruned
    assert torch.equal(weight[2:][~replaced[2:]], before[2:][~replaced[2:]])


def test_package_rule_equals_bio_transformations_rejuvenate_weights():
    bio_module = pytest.importorskip("bio_transformations.bio_module",
                                     reason="pytorch-bio-transformations (benchmark extra) not installed")
    layer = nn.Linear(30, 40)
    with torch.no_grad():
        layer.weight.copy_((2 * torch.rand(40, 30, generator=gen(44)) - 1) * 1.5)  # some beyond the clamp
    ours = layer.weight.detach().clone()
    package = bio_module.BioModule(lambda: layer)  # draws its fuzzy factors: seed after it
    torch.manual_seed(45)  # the package draws from torch's global generator
    package.rejuvenate_weights()
    replaced = rejuvenate(ours, Rejuvenation(dre=8.0, rule="package"), torch.Generator().manual_seed(45))
    assert 0 < int(replaced.sum()) < replaced.numel()
    assert torch.equal(ours, layer.weight.detach())


class Spy(TrainingHook):
    """A training hook that logs its calls and snapshots the network's weights around the step."""

    def __init__(self, name, log, network):
        self.name, self.log, self.network = name, log, network
        self.snapshots = []

    def _record(self, event):
        self.log.append((self.name, event))

    def before_batch(self):
        self._record("before_batch")

    def penalty(self):
        self._record("penalty")
        return torch.zeros(self.network.n_members)

    def before_step(self):
        self._record("before_step")
        self.snapshots.append([p.detach().clone() for p in self.network.parameters()])

    def after_step(self):
        self._record("after_step")
        self.snapshots.append([p.detach().clone() for p in self.network.parameters()])

    def end_epoch(self):
        self._record("end_epoch")

    def members_stopped(self, stopped):
        self._record("members_stopped")


def test_fit_drives_hooks_in_order_around_the_optimiser_step():
    network = spiking([Member(seed=0)])
    log = []
    spies = [Spy("a", log, network), Spy("b", log, network)]
    data = MemberData.stack([spike_data(16)])
    fit(network, data, data, TrainConfig(epochs=2, lr=0.05, batch_size=8, patience=5), hooks=spies)
    per_batch = [(s, e) for e in ("before_batch", "penalty", "before_step", "after_step") for s in "ab"]
    epoch = per_batch * 2 + [("a", "end_epoch"), ("b", "end_epoch")]
    assert log == epoch * 2
    snapshots = spies[0].snapshots  # before_step, after_step of batch 1, 2, 3, 4
    for b in range(4):
        before, after = snapshots[2 * b], snapshots[2 * b + 1]
        assert any(not torch.equal(p, q) for p, q in zip(before, after))  # the step sits between them
        if b < 3:
            assert all(torch.equal(p, q) for p, q in zip(after, snapshots[2 * b + 2]))


def test_an_optimiser_with_state_from_before_splitting_is_refused():
    layer = nn.Linear(4, 3)
    stale = torch.optim.Adam(layer.parameters(), lr=0.01)
    layer(torch.ones(2, 4)).sum().backward()
    stale.step()
    plasticity = attach(layer, BioConfig(splitting=Splitting(sub_synapses=3)), [gen(50)])
    with pytest.raises(ValueError, match="^optimizer = "):
        PlasticOptimizer(stale, plasticity)
    with pytest.raises(ValueError, match="^optimizer = "):
        PlasticOptimizer(torch.optim.Adam([layer.bias], lr=0.01), plasticity)
    PlasticOptimizer(torch.optim.Adam(layer.parameters(), lr=0.01), plasticity)  # built after: accepted


def test_an_optimiser_built_before_splitting_but_not_stepped_works_as_one_built_after():
    """``parametrize`` reshapes the stored parameter in place (the same object), so only an optimiser's state
    from before attaching is stale."""
    weights = []
    for build_first in (True, False):
        layer = nn.Linear(4, 3)
        with torch.no_grad():
            layer.weight.copy_(torch.arange(12.0).reshape(3, 4) / 10)
            layer.bias.zero_()
        early = torch.optim.SGD(layer.parameters(), lr=0.1) if build_first else None
        plasticity = attach(layer, BioConfig(splitting=Splitting(sub_synapses=3)), [gen(51)])
        optimiser = PlasticOptimizer(early or torch.optim.SGD(layer.parameters(), lr=0.1), plasticity)
        optimiser.zero_grad()
        layer(torch.ones(2, 4)).pow(2).sum().backward()
        optimiser.step()
        weights.append(layer.weight.detach())
    assert torch.equal(weights[0], weights[1])


# --------------------------------------------------------------------------------- members and determinism
ALL_ON = BioConfig(fuzzy=FuzzyRates("lognormal", 0.3), crystallisation=Crystallisation(threshold=1e-2),
                   volume=VolumeRates(), rejuvenation=Rejuvenation(interval_steps=2), l1=L1Penalty(1e-3),
                   splitting=Splitting(sub_synapses=2), dale=DalePrinciple(0.25))


def trained(members, config=ALL_ON):
    network = spiking(members)
    plasticity = attach(network, config, [seeding.generator(m.seed, "plasticity") for m in members])
    data = MemberData.stack([spike_data(32)] * len(members))
    fit(network, data, data, TrainConfig(epochs=2, lr=0.02, batch_size=8, patience=5), hooks=[plasticity])
    return network, plasticity


def test_ensemble_members_equal_single_networks_with_all_mechanisms_on():
    pair, pair_plasticity = trained([Member(seed=3), Member(seed=4, dale_layers="input")])
    assert sum(pair_plasticity.rejuvenated) > 0 and sum(pair_plasticity.crystallised) > 0
    for k, member in enumerate(pair.members):
        alone, alone_plasticity = trained([member])
        assert alone_plasticity.rejuvenated == [pair_plasticity.rejuvenated[k]]
        assert alone_plasticity.crystallised == [pair_plasticity.crystallised[k]]
        for (name, p), (_, q) in zip(pair.named_parameters(), alone.named_parameters()):
            assert torch.allclose(p[k], q[0], atol=1e-6), name
        for s, t in zip(pair.synapses, alone.synapses):
            assert torch.equal(s.signs[k], t.signs[0])


def test_same_seed_same_training_with_all_mechanisms_on():
    first, _ = trained([Member(seed=5)])
    again, _ = trained([Member(seed=5)])
    assert all(torch.equal(p, q) for p, q in zip(first.parameters(), again.parameters()))


def test_one_generator_per_member_is_required():
    with pytest.raises(ValueError, match="^generators = "):
        attach(spiking([Member(seed=0), Member(seed=1)]), BioConfig(fuzzy=FuzzyRates()), [gen()])


# ------------------------------------------------------------------------------------------------ validation
BAD_CONFIGS = [
    (lambda: FuzzyRates(spread=1.2), "fuzzy.spread"),
    (lambda: FuzzyRates(spread=0.0), "fuzzy.spread"),
    (lambda: FuzzyRates(distribution="gamma"), "fuzzy.distribution"),
    (lambda: FuzzyRates(clamp=(0.0, 2.0)), "fuzzy.clamp"),
    (lambda: FuzzyRates(clamp=(1.5, 2.0)), "fuzzy.clamp"),
    (lambda: FuzzyRates(clamp=(0.5,)), "fuzzy.clamp"),
    (lambda: FuzzyRates(clamp=0.5), "fuzzy.clamp"),
    (lambda: FuzzyRates(spread=1.2, clamp=(0.5, math.inf)), "fuzzy.clamp"),
    (lambda: Crystallisation(dampening=1), "crystallisation.dampening"),
    (lambda: Crystallisation(threshold=math.nan), "crystallisation.threshold"),
    (lambda: VolumeRates(base=0), "volume.base"),
    (lambda: VolumeRates(variability=-0.1), "volume.variability"),
    (lambda: Rejuvenation(interval_steps=0), "rejuvenation.interval_steps"),
    (lambda: Rejuvenation(interval_steps=2.5), "rejuvenation.interval_steps"),
    (lambda: Rejuvenation(dre=0), "rejuvenation.dre"),
    (lambda: Rejuvenation(rule="old"), "rejuvenation.rule"),
    (lambda: L1Penalty(strength=-1), "l1.strength"),
    (lambda: Splitting(sub_synapses=1), "splitting.sub_synapses"),
    (lambda: Splitting(jitter=1.0), "splitting.jitter"),
    (lambda: DalePrinciple(inhibitory_fraction=2), "dale.inhibitory_fraction"),
    (lambda: BioConfig(scale="x"), "scale"),
    (lambda: BioConfig(fuzzy=0.16), "fuzzy"),
]


@pytest.mark.parametrize("make, field", BAD_CONFIGS)
def test_bad_configs_name_the_field(make, field):
    with pytest.raises(ValueError, match=f"^{re.escape(field)} = "):
        make()


def test_bad_configs_are_refused_under_python_O():
    script = ("from spikeloc.learning.bio import Crystallisation\n"
              "try:\n    Crystallisation(dampening=1)\nexcept ValueError as e:\n    print(e)\n")
    run = subprocess.run([sys.executable, "-O", "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("crystallisation.dampening = 1 is invalid")
