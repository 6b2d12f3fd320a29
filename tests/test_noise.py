"""Weight noise (spikeloc.substrate.noise) and its training (spikeloc.learning.neuromodulation)."""

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from spikeloc import seeding
from spikeloc.learning.baselines import fit_plain
from spikeloc.learning.neuromodulation import (
    NoiseObjective,
    NoiseTraining,
    noisy_scores,
    plain_accuracy,
    robustness_curve,
)
from spikeloc.learning.trainer import TrainingHook
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
from spikeloc.substrate.layers import plain_layers, spiking_layers
from spikeloc.substrate.noise import NoiseConfig, WeightNoise, fixed_noise

torch.set_num_threads(1)


def generators(seed, n):
    return [seeding.generator(seed, f"test/noise/{k}") for k in range(n)]


def spiking(members, hidden=(16,)):
    return SpikingClassifier(ClassifierConfig(n_inputs=12, hidden=hidden, n_classes=3), members)


class Exploding(nn.Module):
    """A model whose forward reads its noisy weight, then raises."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 4)

    def forward(self, x):
        self.linear(x)
        raise RuntimeError("boom inside the forward")


def test_an_exception_inside_the_forward_leaves_the_weights_unchanged():
    model = Exploding()
    parameter, before = model.linear.weight, model.linear.weight.detach().clone()
    noise = WeightNoise(plain_layers(model), NoiseConfig(scale=5.0, reference="absolute"))
    with pytest.raises(RuntimeError, match="boom"):
        with noise.attached():
            noise.resample(generators(0, 1))
            model(torch.ones(2, 6))
    assert not parametrize.is_parametrized(model.linear)
    assert model.linear.weight is parameter
    assert torch.equal(model.linear.weight, before)


def test_noise_is_in_the_forward_in_training_and_off_at_evaluation():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    x = torch.randn(5, 1, 6, 6)
    clean = model(x).detach()
    noise = WeightNoise(plain_layers(model), NoiseConfig(scale=0.3))
    assert noise.names == ("layer_0", "layer_1")
    with noise.attached():
        noise.resample(generators(1, 1))
        model.train()
        noisy = model(x)
        model.eval()
        assert torch.equal(model(x), clean)
    assert not torch.allclose(noisy, clean)
    assert torch.equal(model(x), clean)


def test_fixed_relative_noise_has_the_asked_std_per_member():
    network = spiking([Member(seed=0), Member(seed=1)], hidden=(400,))
    layer = spiking_layers(network)["input"]
    with torch.no_grad():
        network.synapses[0].raw_weight[1] *= 10  # member 1's weights are 10x wider
    noise = WeightNoise({"input": layer}, NoiseConfig(scale=0.2))
    noise.resample(generators(2, 2))
    perturbation = noise.perturbation("input")
    for k in range(2):
        expected = 0.2 * float(network.synapses[0].raw_weight[k].detach().std())
        assert float(perturbation[k].std()) == pytest.approx(expected, rel=0.05)


def test_noise_goes_in_before_dale_abs_on_constrained_synapses_and_plainly_on_free_ones():
    network = spiking([Member(seed=3, dale_layers="input", ie_ratio=0.5)])
    synapses = network.synapses[0]
    noise = WeightNoise(spiking_layers(network), NoiseConfig(scale=100.0, reference="absolute"))
    with noise.attached():
        noise.resample(generators(3, 1))
        network.train()
        constrained = synapses.effective_weight().detach()
        free = network.synapses[1].effective_weight().detach()
        input_noise = noise.perturbation("input").detach()
        readout_noise = noise.perturbation("readout").detach()
    raw, signs = synapses.raw_weight.detach(), synapses.signs[:, :, None]
    # W_eff = sign * |W + sigma eps|: fails if the noise were added after |.| (sign * |W| + sigma eps) or the
    # sign were lost or flipped
    assert torch.equal(constrained, signs * (raw + input_noise).abs())
    assert bool((constrained.sign() == signs.expand_as(constrained)).all())  # noise of 100 never flips a sign
    assert torch.allclose(free, network.synapses[1].raw_weight.detach() + readout_noise)


def test_relative_noise_is_scaled_by_the_std_of_the_effective_weight():
    network = spiking([Member(seed=0, dale_layers="input", ie_ratio=0.0)], hidden=(400,))  # all excitatory
    synapses = network.synapses[0]
    noise = WeightNoise(spiking_layers(network), NoiseConfig(scale=0.2))
    noise.resample(generators(2, 1))
    perturbation = noise.perturbation("input")[0]
    effective = float(synapses.effective_weight().detach().std())
    raw = float(synapses.raw_weight.detach().std())
    assert raw == pytest.approx(2 * effective, rel=0.05)  # |uniform(-b, b)| has half the std
    assert float(perturbation.std()) == pytest.approx(0.2 * effective, rel=0.05)


def dale_mlp(order, splitting=False):
    """An MLP with bio's Dale signs (and sub-synapses) and weight noise attached in ``order``; returns the model,
    its first layer's noise-free weight before and after, its output before and after, and the noisy weight
    and noise drawn within the context."""
    from spikeloc.learning.bio import BioConfig, DalePrinciple, Splitting, attach

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    x = torch.randn(4, 6)
    config = BioConfig(dale=DalePrinciple(0.4), splitting=Splitting(3) if splitting else None)
    noise_config = NoiseConfig(scale=3.0, reference="absolute")
    if order == "bio first":
        attach(model, config, generators(1, 1))
        chain = [type(p) for p in model[0].parametrizations.weight]
        before, output_before = model[0].weight.detach().clone(), model(x).detach()
        noise = WeightNoise(plain_layers(model), noise_config)
        with noise.attached():
            noise.resample(generators(2, 1))
            noisy, drawn = model[0].weight.detach(), noise.perturbation("layer_0").detach()
    else:
        noise = WeightNoise(plain_layers(model), noise_config)
        with noise.attached():
            noise.resample(generators(2, 1))
            attach(model, config, generators(1, 1))
            noisy, drawn = model[0].weight.detach(), noise.perturbation("layer_0").detach()
        chain = [type(p) for p in model[0].parametrizations.weight]
        before, output_before = model[0].weight.detach().clone(), model(x).detach()
    return model, chain, before, model[0].weight.detach(), output_before, model(x).detach(), noisy, drawn


@pytest.mark.parametrize("order", ["bio first", "noise first"])
def test_noise_takes_out_only_its_own_parametrisation_and_dale_holds_in_either_order(order):
    from spikeloc.substrate.synapses import DaleSigns

    model, chain, before, after, output_before, output_after, noisy, drawn = dale_mlp(order)
    assert chain == [DaleSigns]
    assert [type(p) for p in model[0].parametrizations.weight] == [DaleSigns]  # Dale's signs survive the noise
    assert torch.equal(after, before) and torch.equal(output_after, output_before)
    signs = model[0].parametrizations.weight[0].signs
    raw = model[0].parametrizations.weight.original.detach()
    assert torch.equal(after, signs * raw.abs())
    assert torch.equal(noisy, signs * (raw + drawn).abs())  # the noise went in before |.|, in either order


def test_noise_on_split_dale_synapses_perturbs_the_connection_and_leaves_the_split_in_place():
    from spikeloc.learning.bio.splitting import SubSynapses
    from spikeloc.substrate.synapses import DaleSigns

    model, chain, before, after, output_before, output_after, noisy, drawn = dale_mlp("bio first", splitting=True)
    assert chain == [SubSynapses, DaleSigns]
    assert [type(p) for p in model[0].parametrizations.weight] == chain
    assert torch.equal(after, before) and torch.equal(output_after, output_before)  # the forward still runs
    sub_synapses = model[0].parametrizations.weight.original.detach()
    assert drawn.shape == before.shape  # one noise term per connection, not per sub-synapse
    signs = model[0].parametrizations.weight[1].signs
    assert torch.equal(noisy, signs * (sub_synapses.mean(dim=0) + drawn).abs())


def test_detaching_the_plasticity_inside_a_noise_context_is_refused_before_anything_changes():
    from spikeloc.learning.bio import BioConfig, DalePrinciple, attach
    from spikeloc.substrate.synapses import DaleSigns

    model = nn.Sequential(nn.Linear(6, 5))
    plasticity = attach(model, BioConfig(dale=DalePrinciple(0.4)), generators(1, 1))
    noise = WeightNoise(plain_layers(model), NoiseConfig(scale=3.0, reference="absolute"))
    with noise.attached():
        noise.resample(generators(2, 1))
        with pytest.raises(ValueError, match="^detach = .*_Perturbation"):
            plasticity.detach()
    assert [type(p) for p in model[0].parametrizations.weight] == [DaleSigns]


def test_splitting_a_weight_that_already_carries_noise_is_refused_and_leaves_the_layer_clean():
    from spikeloc.learning.bio import BioConfig, Splitting, attach

    model = nn.Sequential(nn.Linear(6, 5))
    parameter, before = model[0].weight, model[0].weight.detach().clone()
    noise = WeightNoise(plain_layers(model), NoiseConfig(scale=3.0, reference="absolute"))
    with pytest.raises(ValueError, match="^splitting = .*attach before adding weight noise"):
        with noise.attached():
            noise.resample(generators(2, 1))
            attach(model, BioConfig(splitting=Splitting(3)), generators(1, 1))
    assert not parametrize.is_parametrized(model[0])
    assert model[0].weight is parameter and torch.equal(model[0].weight, before)


def test_members_draw_their_own_noise_and_same_seed_gives_same_noise():
    pair = spiking([Member(seed=0), Member(seed=1)])
    alone = spiking([Member(seed=1)])
    x = (torch.rand(2, 4, 10, 12) < 0.3).float()
    outputs = []
    for network, gens, inputs in ((pair, generators(5, 2), x), (alone, generators(5, 2)[1:], x[1:])):
        noise = WeightNoise(spiking_layers(network), NoiseConfig(scale=0.3))
        with noise.attached():
            noise.resample(gens)
            network.train()
            outputs.append(network(inputs).detach())
    assert torch.allclose(outputs[0][1], outputs[1][0], atol=1e-5)


def test_learned_noise_gets_the_task_gradient_unless_the_seeds_clamp_blocks_it():
    for config, has_gradient in ((NoiseConfig(learned=True), True),
                                 (NoiseConfig(learned=True, bounding="clamp", min_std=1e-6, max_std=0.5,
                                              init_std=1.0), False)):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
        noise = WeightNoise(plain_layers(model), config)
        with noise.attached():
            noise.resample(generators(0, 1))
            nn.functional.cross_entropy(model(torch.randn(16, 5)), torch.arange(16) % 3).backward()
        gradients = [p.grad for p in noise.parameters()]
        assert all(g is not None and bool((g != 0).any()) == has_gradient for g in gradients)


def test_bounded_std_stays_within_bounds_and_starts_at_init():
    config = NoiseConfig(learned=True, min_std=0.01, max_std=0.4, init_std=0.1)
    assert float(config.bounded_std(torch.tensor(config.initial_theta()))) == pytest.approx(0.1)
    extremes = config.bounded_std(torch.tensor([-1e4, 1e4]))
    assert extremes.tolist() == pytest.approx([0.01, 0.4])


def test_per_unit_noise_has_one_variance_per_postsynaptic_unit_and_member():
    network = spiking([Member(seed=0), Member(seed=1)])
    noise = WeightNoise(spiking_layers(network), NoiseConfig(learned=True, per_unit=True))
    assert noise.log_variances["input"].shape == (2, 1, 16)
    assert noise.log_variances["readout"].shape == (2, 1, 3)


def classification_data(seed, n=256):
    g = seeding.generator(seed, "test/data")
    x = torch.randn(n, 10, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long()


@pytest.mark.parametrize("objective, direction", [(NoiseObjective("task"), -1),
                                                  (NoiseObjective("entropy", 1.0, lr_factor=10), +1)])
def test_the_seed_objective_shrinks_the_noise_and_the_entropy_reward_grows_it(objective, direction):
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 2))
    torch.manual_seed(0)
    noise = WeightNoise(plain_layers(model), NoiseConfig(learned=True, init_std=0.3, max_std=2.0))
    training = NoiseTraining(noise, NoiseObjective(objective.objective, objective.entropy_weight, 10.0), 1e-2,
                             generators(0, 1))
    with noise.attached():
        fit_plain(model, classification_data(0), classification_data(1, 64), epochs=6, lr=1e-2, batch_size=32,
                  seed=0, hooks=(training,))
    assert len(training.history) == 7
    start, end = training.history[0], training.history[-1]
    assert all(direction * (end[name][0] - start[name][0]) > 0 for name in start)


def test_robustness_curve_is_seeded_and_noise_hurts_more_at_larger_scales():
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
    fit_plain(model, classification_data(0), classification_data(1, 64), epochs=5, lr=1e-2, batch_size=32, seed=0)
    x, y = classification_data(2, 512)
    layers = plain_layers(model)

    def score():
        return plain_accuracy(model, x, y)

    first = robustness_curve(layers, score, seed=4, scales=(0.0, 0.1, 3.0), n_draws=3)
    again = robustness_curve(layers, score, seed=4, scales=(0.0, 0.1, 3.0), n_draws=3)
    assert first == again and len(first) == 6
    relative = {p["scale"]: p for p in first if p["reference"] == "relative"}
    assert relative[0.0]["mean"] == score()[0] and relative[0.0]["n_draws"] == 1
    assert relative[3.0]["mean"] < relative[0.0]["mean"] and relative[3.0]["sd"] > 0
    draws = noisy_scores(fixed_noise(layers, 0.5, "relative"), score, seed=4, stream="s", n_draws=4)
    assert draws.shape == (4, 1) and len(set(draws[:, 0].tolist())) > 1


@pytest.mark.parametrize("kwargs, field", [
    (dict(scale=-0.1), "scale"), (dict(scale=math.nan), "scale"), (dict(reference="percent"), "reference"),
    (dict(min_std=0.5, max_std=0.1), "max_std"), (dict(min_std=math.nan), "min_std"),
    (dict(learned=True, init_std=0.9), "init_std"), (dict(bounding="tanh"), "bounding"), (dict(layers=()), "layers"),
])
def test_bad_noise_configs_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field} ="):
        NoiseConfig(**kwargs)


def test_a_noise_model_naming_layers_the_network_lacks_is_refused():
    network = spiking([Member(seed=0)])
    with pytest.raises(ValueError, match="^layers = .*'input', 'readout'"):
        WeightNoise(spiking_layers(network), NoiseConfig(scale=0.1, layers=("input", "hidden_1")))
    only_input = WeightNoise(spiking_layers(network), NoiseConfig(scale=0.1, layers=("input",)))
    assert only_input.names == ("input",)


@pytest.mark.parametrize("kwargs, field", [
    (dict(objective="reward"), "objective"), (dict(entropy_weight=0.1), "entropy_weight"),
    (dict(objective="entropy", entropy_weight=-1.0), "entropy_weight"), (dict(lr_factor=0.0), "lr_factor"),
])
def test_bad_noise_objectives_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field} ="):
        NoiseObjective(**kwargs)


def test_a_forward_without_a_draw_is_refused_with_the_reason():
    model = nn.Linear(3, 2)
    noise = WeightNoise(plain_layers(model), NoiseConfig(scale=0.1))
    with noise.attached(), pytest.raises(ValueError, match="resample"):
        model(torch.ones(1, 3))


class Course(TrainingHook):
    """A hook after :class:`NoiseTraining` that spoils member k's weights at the end of every epoch from
    ``spoil_from[k]`` on while it trains (so its validation gets worse and it stops early), makes member
    ``poisoned``'s objective NaN at batch ``at`` (0-based, counted over the run), and records the noise model
    (per member, its log-variances) at the end of every epoch and before batches ``at`` and ``at + 1``."""

    def __init__(self, network, noise, spoil_from, poisoned, at):
        self.network, self.noise, self.members = network, noise, network.n_members
        self.spoil_from, self.poisoned, self.at = spoil_from, poisoned, at
        self.generator = seeding.generator(0, "test/spoil")
        self.epoch, self.batch, self.stopped = 1, 0, torch.zeros(self.members, dtype=torch.bool)
        self.theta, self.around = [], []

    def thetas(self):
        return [[p.detach().view(self.members, -1)[k].clone() for p in self.noise.parameters()]
                for k in range(self.members)]

    def before_batch(self):
        if self.batch in (self.at, self.at + 1):
            self.around.append(self.thetas())

    def penalty(self):
        penalty = torch.zeros(self.members)
        if self.batch == self.at:
            penalty[self.poisoned] = float("nan")
        return penalty

    def after_step(self):
        self.batch += 1

    def end_epoch(self):
        with torch.no_grad():
            for k, at in enumerate(self.spoil_from):
                if at is not None and self.epoch >= at and not self.stopped[k]:
                    for p in self.network.parameters():
                        rows = p.view(self.members, -1)
                        rows[k] += torch.randn(rows.shape[1], generator=self.generator) * 3 * rows[k].std()
        self.theta.append(self.thetas())
        self.epoch += 1

    def members_stopped(self, stopped):
        self.stopped |= stopped


def test_a_learned_noise_model_is_skipped_frozen_and_restored_with_its_weights():
    from spikeloc.learning.surrogate import MemberData, TrainConfig, fit

    network = spiking([Member(seed=k) for k in range(3)])
    g = seeding.generator(0, "test/spikes")
    spikes, labels = torch.rand(192, 20, 12, generator=g) < 0.2, torch.randint(0, 3, (192,), generator=g)
    spikes[labels == 1, :, :4] |= torch.rand(int((labels == 1).sum()), 20, 4, generator=g) < 0.5
    spikes[labels == 2, :, 8:] |= torch.rand(int((labels == 2).sum()), 20, 4, generator=g) < 0.5
    three = lambda part: MemberData.stack([(spikes[part], labels[part])] * 3)  # noqa: E731
    noise = WeightNoise(spiking_layers(network), NoiseConfig(learned=True, init_std=0.3, max_std=2.0))
    training = NoiseTraining(noise, NoiseObjective("entropy", 1.0, lr_factor=10), 0.02, generators(0, 3))
    # member 0 stops early, member 1 trains on, member 2's objective is NaN in batch 6 (of 4 per epoch)
    course = Course(network, noise, spoil_from=[2, 5, None], poisoned=2, at=6)
    with noise.attached():
        result = fit(network, three(slice(0, 128)), three(slice(128, None)),
                     TrainConfig(epochs=8, batch_size=32, lr=0.02, patience=2), hooks=[training, course])
    assert result.epochs_run[0] < result.epochs_run[1] and result.diverged == [False, False, True]
    # skipped: member 2's noise model did not move in the batch whose objective was NaN (Adam had momentum)
    (before, after) = course.around
    assert all(torch.equal(a, b) for a, b in zip(before[2], after[2]))
    assert not all(torch.equal(a, b) for a, b in zip(before[0], after[0]))  # member 0's did
    # frozen: member 0's noise model stays as it was at its stop while member 1 trains on
    stop = result.epochs_run[0]
    for epoch in range(stop, result.epochs_run[1]):
        assert all(torch.equal(a, b) for a, b in zip(course.theta[epoch][0], course.theta[stop - 1][0]))
    # restored: each member's noise model is its best epoch's, as its weights are
    for k in (0, 1):
        best, last = result.best_epoch[k], result.epochs_run[k]
        assert best < last
        now = [p.detach().view(3, -1)[k] for p in noise.parameters()]
        assert all(torch.equal(a, b) for a, b in zip(now, course.theta[best - 1][k]))
        assert not all(torch.equal(a, b) for a, b in zip(now, course.theta[last - 1][k]))
