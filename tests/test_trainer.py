"""spikeloc's one trainer (spikeloc.learning.trainer): skipped and frozen members, early stopping, learning speed,
weight averaging; evaluation's encoding streams."""

import math

import pytest
import torch
from torch import nn

from spikeloc import seeding
from spikeloc.learning.baselines import fit_plain
from spikeloc.learning.surrogate import MemberData, TrainConfig, evaluate, fit, spiking_learner
from spikeloc.learning.trainer import FitResult, TrainingHook, train_epoch
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
from spikeloc.substrate.encoders import EncoderConfig
from spikeloc.tasks.ipd import IPDTask, generate
from spikeloc.validation import InvalidValue

torch.set_num_threads(1)


def ipd_data(n=128, seed=0):
    ipd = generate(IPDTask(fibres_per_ear=10, phase_offset="per_sample"), n, torch.Generator().manual_seed(seed))
    return MemberData.stack([(ipd.spikes, ipd.labels)])


def network(members=1):
    return SpikingClassifier(ClassifierConfig(n_inputs=20, hidden=(8,)), [Member(seed=k) for k in range(members)])


class PoisonMember(TrainingHook):
    """A hook whose penalty is NaN for ``member`` at step ``at`` (0-based); it records that member's weights and
    Adam state just before that step and once it is over (before the next batch, after every hook)."""

    def __init__(self, members, member, at, optimiser, parameters):
        self.members, self.member, self.at, self.step = members, member, at, 0
        self.optimiser, self.parameters = optimiser, parameters
        self.before = self.after = None

    def snapshot(self):
        rows = [p.detach().view(self.members, -1)[self.member].clone() for p in self.parameters]
        state = [{name: value.view(self.members, -1)[self.member].clone()
                  for name, value in self.optimiser.state.get(p, {}).items() if name in ("exp_avg", "exp_avg_sq")}
                 for p in self.parameters]
        others = [p.detach().view(self.members, -1)[1 - self.member].clone() for p in self.parameters]
        return rows, state, others

    def before_batch(self):
        if self.step == self.at + 1:
            self.after = self.snapshot()

    def penalty(self):
        penalty = torch.zeros(self.members)
        if self.step == self.at:
            penalty[self.member] = float("nan")
        return penalty

    def before_step(self):
        if self.step == self.at:
            self.before = self.snapshot()

    def after_step(self):
        self.step += 1


def test_a_member_with_a_non_finite_objective_gets_no_update_not_even_from_momentum():
    net = network(members=2)
    data = MemberData.stack([(ipd_data().inputs[0], ipd_data().labels[0])] * 2)
    config = TrainConfig(batch_size=16, lr=0.05)
    learner = spiking_learner(net, config.loss, [seeding.generator(k, "dropout") for k in range(2)])
    optimiser = torch.optim.Adam(learner.parameters, lr=config.lr)
    hook = PoisonMember(2, member=1, at=5, optimiser=optimiser, parameters=learner.parameters)
    shuffle = [seeding.generator(k, "shuffle") for k in range(2)]
    losses = train_epoch(learner, optimiser, data, config, shuffle, hooks=[hook])
    assert torch.isnan(losses[1]) and torch.isfinite(losses[0])  # the skipped member is marked
    (weights, state, other), (weights_after, state_after, other_after) = hook.before, hook.after
    # Adam had momentum for member 1 (a plain step with a zero gradient would still have moved it) ...
    assert all(bool((s["exp_avg"] != 0).any()) for s in state)
    # ... but its weights and its Adam moments are exactly as before the skipped step
    assert all(torch.equal(a, b) for a, b in zip(weights, weights_after))
    assert all(torch.equal(a[name], b[name]) for a, b in zip(state, state_after) for name in a)
    assert not all(torch.equal(a, b) for a, b in zip(other, other_after))  # member 0 did learn in that step


class SpoilAfter(TrainingHook):
    """A hook that, from epoch ``spoil_from`` on, adds large noise to the weights at the end of every epoch
    (so validation gets worse), and records the weights each epoch's validation sees."""

    def __init__(self, parameters, spoil_from):
        self.parameters, self.spoil_from, self.epoch = list(parameters), spoil_from, 0
        self.validated = []
        self.generator = torch.Generator().manual_seed(0)

    def penalty(self):
        return torch.zeros(1)

    def end_epoch(self):
        self.epoch += 1
        if self.epoch >= self.spoil_from:
            with torch.no_grad():
                for p in self.parameters:
                    p.add_(torch.randn(p.shape, generator=self.generator) * 3 * p.std())
        self.validated.append([p.detach().clone() for p in self.parameters])


def test_fit_keeps_the_best_validation_weights_and_stops_after_patience():
    net = network()
    data, validation = ipd_data(256, 0), ipd_data(128, 1)
    spoil = SpoilAfter(net.parameters(), spoil_from=3)
    result = fit(net, data, validation, TrainConfig(epochs=10, batch_size=32, lr=0.02, patience=3), hooks=[spoil])
    best = result.best_epoch[0]
    assert best in (1, 2)  # later epochs are spoilt, so worse on validation
    assert result.val_loss[best - 1][0] == min(epoch[0] for epoch in result.val_loss)
    assert result.epochs_run == [best + 3] and len(result.val_loss) == best + 3  # patience 3
    assert all(torch.equal(p, kept) for p, kept in zip(net.parameters(), spoil.validated[best - 1]))
    assert not all(torch.equal(p, last) for p, last in zip(net.parameters(), spoil.validated[-1]))


def test_plain_fit_keeps_the_best_validation_weights_too():
    generator = seeding.generator(0, "test/data")
    x = torch.randn(300, 6, generator=generator)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    spoil = SpoilAfter(model.parameters(), spoil_from=3)
    result = fit_plain(model, (x[:200], y[:200]), (x[200:], y[200:]), epochs=6, lr=1e-2, batch_size=20, seed=0,
                       hooks=[spoil])
    best = result.best_epoch[0]
    assert best in (1, 2) and result.epochs_run == [6]  # a plain fit runs every epoch
    assert all(torch.equal(p, kept) for p, kept in zip(model.parameters(), spoil.validated[best - 1]))


def test_plain_fit_refuses_a_label_beyond_the_models_classes_by_name():
    x = torch.randn(40, 6, generator=seeding.generator(0, "test/data"))
    y = torch.zeros(40, dtype=torch.long)
    for split, bad in (("train", 0), ("validation", 1)):
        labels = [y[:30].clone(), y[30:].clone()]
        labels[bad][3] = 2  # the model has classes 0 and 1
        with pytest.raises(InvalidValue, match=r"labels of a batch = .2 at index.*class indices in \[0, 1\]"):
            fit_plain(nn.Linear(6, 2), (x[:30], labels[0]), (x[30:], labels[1]), epochs=1, lr=1e-2, batch_size=8,
                      seed=0)


def test_epochs_to_fraction_is_the_first_epoch_reaching_that_fraction_of_the_kept_accuracy():
    result = FitResult(epochs_run=[5, 5], best_epoch=[4, 2], best_val_loss=[0.1, 0.2], diverged=[False, False],
                       seconds=0.0, val_acc=[[0.2, 0.5], [0.5, 0.9], [0.7, 0.4], [0.8, 0.95], [0.6, 0.3]])
    assert result.epochs_to_fraction(0, 0.8) == 3  # 0.8 x 0.8 = 0.64: reached first at epoch 3
    assert result.epochs_to_fraction(0, 1.0) == 4  # the kept epoch itself
    assert result.epochs_to_fraction(0, 0.25) == 1  # 0.2 = 0.25 x 0.8: reaching counts
    assert result.epochs_to_fraction(1, 1.0) == 2  # member 1 kept epoch 2 (0.9), not its best accuracy (0.95)
    assert result.epochs_to_fraction(1, 0.8) == 2
    assert result.epochs_to_fraction(1, 0.5) == 1
    for fraction in (0.0, 1.2):
        with pytest.raises(ValueError, match="^fraction = "):
            result.epochs_to_fraction(0, fraction)


class NaNPenalty(TrainingHook):
    """A hook whose penalty (one member) is NaN in optimiser step ``at`` (0-based), zero otherwise."""

    def __init__(self, at):
        self.at, self.step = at, 0

    def penalty(self):
        return torch.full((1,), float("nan") if self.step == self.at else 0.0)

    def after_step(self):
        self.step += 1


def test_a_diverging_plain_fit_is_marked_and_keeps_finite_weights():
    generator = seeding.generator(1, "test/data")
    x = torch.randn(120, 6, generator=generator)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    result = fit_plain(model, (x[:80], y[:80]), (x[80:], y[80:]), epochs=3, lr=1e-2, batch_size=20, seed=0,
                       hooks=[NaNPenalty(at=2)])  # one bad batch (NaN inputs are refused before training)
    assert result.diverged == [True] and result.epochs_run == [1]
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_a_plain_network_trains_with_bio_plasticity_and_weight_noise_in_the_one_trainer():
    from spikeloc.learning.bio import BioConfig, DalePrinciple, FuzzyRates, Splitting, attach
    from spikeloc.learning.bio.splitting import SubSynapses
    from spikeloc.learning.neuromodulation import NoiseObjective, NoiseTraining
    from spikeloc.substrate.layers import plain_layers
    from spikeloc.substrate.noise import NoiseConfig, WeightNoise
    from spikeloc.substrate.synapses import DaleSigns

    generator = seeding.generator(2, "test/data")
    x = torch.randn(160, 6, generator=generator)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    plasticity = attach(model, BioConfig(fuzzy=FuzzyRates(), splitting=Splitting(2), dale=DalePrinciple(0.5)),
                        [seeding.generator(0, "plasticity")])
    noise = WeightNoise(plain_layers(model), NoiseConfig(scale=0.2))
    training = NoiseTraining(noise, NoiseObjective(), 1e-2, [seeding.generator(0, "noise/train")])
    with noise.attached():
        result = fit_plain(model, (x[:120], y[:120]), (x[120:], y[120:]), epochs=3, lr=1e-2, batch_size=20, seed=0,
                           hooks=[training, plasticity])
    assert result.diverged == [False] and plasticity.steps == 3 * 6
    for layer in (model[0], model[2]):
        chain = layer.parametrizations.weight
        assert [type(p) for p in chain] == [SubSynapses, DaleSigns]  # the noise is gone, the rest is in place
        assert torch.equal(layer.weight, chain[1].signs * chain.original.mean(dim=0).abs())


class Scripted(TrainingHook):
    """A hook that scripts each member's course (member k: ``worse_from[k]``, ``nan_from[k]``, epochs 1-based or
    None): from the end of epoch ``worse_from`` on, noise spoils that member's weights at the end of every
    epoch it trains (its validation gets worse, so it stops early); from epoch ``nan_from`` on, its penalty is
    NaN (its objective turns non-finite). Member k's noise comes from its own generator, so a member's course
    does not depend on its companions (from its seed). Records each member's weights at the end of every epoch."""

    def __init__(self, parameters, seeds, worse_from, nan_from):
        self.parameters, self.members = list(parameters), len(seeds)
        self.worse_from, self.nan_from = worse_from, nan_from
        self.generators = [torch.Generator().manual_seed(100 + seed) for seed in seeds]
        self.epoch, self.stopped = 1, torch.zeros(self.members, dtype=torch.bool)
        self.weights = []  # per epoch: per member, its weights at the end of the epoch

    def rows(self, k):
        return [p.detach().view(self.members, -1)[k].clone() for p in self.parameters]

    def penalty(self):
        return torch.tensor([float("nan") if at is not None and self.epoch >= at else 0.0 for at in self.nan_from])

    def end_epoch(self):
        with torch.no_grad():
            for k, at in enumerate(self.worse_from):
                if at is not None and self.epoch >= at and not self.stopped[k]:
                    for p in self.parameters:
                        rows = p.view(self.members, -1)
                        rows[k] += torch.randn(rows.shape[1], generator=self.generators[k]) * 3 * rows[k].std()
        self.weights.append([self.rows(k) for k in range(self.members)])
        self.epoch += 1

    def members_stopped(self, stopped):
        self.stopped |= stopped


#: Four members' courses (worse_from, nan_from): 0 stops early (after epoch 3) and its objective turns NaN in
#: epoch 5 (the issue's case); 1 trains to the end; 2 diverges in epoch 4; 3 stops later than 0.
COURSES = [(2, 5), (None, None), (None, 4), (4, None)]


def scripted_fit(courses, seeds, *more_hooks):
    net = SpikingClassifier(ClassifierConfig(n_inputs=20, hidden=(8,)), [Member(seed=s) for s in seeds])
    data, validation = ipd_data(128, 0), ipd_data(128, 1)
    spread = lambda d: MemberData.stack([(d.inputs[0], d.labels[0])] * len(seeds))  # noqa: E731
    hook = Scripted(net.parameters(), seeds, [c[0] for c in courses], [c[1] for c in courses])
    result = fit(net, spread(data), spread(validation),
                 TrainConfig(epochs=8, batch_size=32, lr=0.02, patience=2),
                 hooks=[hook, *(make(net) for make in more_hooks)])
    return net, result, hook


def test_every_member_of_an_ensemble_gets_the_row_it_gets_alone():
    net, together, hook = scripted_fit(COURSES, seeds=range(4))
    assert together.epochs_run[:3] == [3, 8, 4] and together.best_epoch[:3] == [1, 8, 3]
    assert together.diverged == [False, False, True, False]  # member 0's NaN in epoch 5 came after its stop
    for k, course in enumerate(COURSES):
        alone_net, alone, _ = scripted_fit([course], seeds=[k])
        assert (together.epochs_run[k], together.best_epoch[k], together.diverged[k]) == (
            alone.epochs_run[0], alone.best_epoch[0], alone.diverged[0]), k
        assert together.best_val_loss[k] == pytest.approx(alone.best_val_loss[0], rel=1e-5, nan_ok=True)
        run = alone.epochs_run[0]
        for history in ("train_loss", "val_loss", "val_acc"):
            mine = [epoch[k] for epoch in getattr(together, history)]
            assert mine[:run] == pytest.approx([epoch[0] for epoch in getattr(alone, history)], rel=1e-5, nan_ok=True)
            assert all(math.isnan(v) for v in mine[run:]), history  # nothing recorded after its stop
        for p, q in zip(net.parameters(), alone_net.parameters()):
            torch.testing.assert_close(p.detach()[k], q.detach()[0], rtol=1e-5, atol=1e-6)


def test_a_stopped_member_is_frozen_bit_for_bit_while_its_companions_train():
    net, result, hook = scripted_fit(COURSES[:2], seeds=range(2))
    assert result.epochs_run == [3, 8] and result.best_epoch == [1, 8] and result.diverged == [False, False]
    at_stop = hook.weights[2][0]
    for epoch in range(3, 8):  # member 0's weights at the end of epochs 4..8: exactly those at its stop
        assert all(torch.equal(a, b) for a, b in zip(hook.weights[epoch][0], at_stop)), epoch + 1
    assert not all(torch.equal(a, b) for a, b in zip(hook.weights[7][1], hook.weights[2][1]))  # member 1 trained


def test_weight_averaging_covers_the_epochs_each_member_trained_and_says_how_many():
    from spikeloc.learning.averaging import WeightAverage

    averages = []

    def averaging(net):
        averages.append(WeightAverage(net.parameters(), net.n_members, start_epoch=4))
        return averages[0]

    net, result, hook = scripted_fit([COURSES[0], COURSES[1], COURSES[3]], range(3), averaging)
    average = averages[0]
    assert result.epochs_run[0] == 3 and result.epochs_run[1] == 8 and 4 <= result.epochs_run[2] < 8
    assert average.epochs_averaged == [0, 5, result.epochs_run[2] - 3]  # member 0 stopped before epoch 4
    average.apply()
    for k in range(3):
        mine = [p.detach().view(3, -1)[k] for p in net.parameters()]
        first, last = (4, result.epochs_run[k]) if k else (result.best_epoch[0], result.best_epoch[0])
        expected = [torch.stack(epoch).mean(dim=0) for epoch in
                    zip(*(hook.weights[e - 1][k] for e in range(first, last + 1)))]
        for a, b in zip(mine, expected):
            torch.testing.assert_close(a, b)  # member 0: its best-validation weights, no average


class RecordingEncoder:
    """A rate encoder that keeps every encoding it draws."""

    def __init__(self):
        self.rate, self.drawn = EncoderConfig(steps=10), []

    def check_values(self, values, field):
        self.rate.check_values(values, field)

    def encode(self, values, generator):
        self.drawn.append(self.rate.encode(values, generator))
        return self.drawn[-1]


def test_each_evaluated_split_has_its_own_encoding_stream_and_scores_alike_whatever_came_before():
    g = seeding.generator(0, "test/values")
    values, labels = torch.rand(96, 20, generator=g), torch.randint(0, 12, (96,), generator=g)
    net, encoder = network(), RecordingEncoder()
    data = MemberData.stack([(values, labels)], encoder)  # one set scored as every split: only the draws differ
    first = evaluate(net, data, split="test")
    evaluate(net, data, split="train")
    evaluate(net, data, split="validation")
    again = evaluate(net, data, split="test")
    assert first[0]["acc"] == again[0]["acc"] and (first[0]["confusion"] == again[0]["confusion"]).all()
    test, train, validation, test_again = encoder.drawn
    assert torch.equal(test, test_again)
    assert not torch.equal(test, train) and not torch.equal(test, validation) and not torch.equal(train, validation)
    with pytest.raises(ValueError, match="^split = "):
        evaluate(net, data, split="")
