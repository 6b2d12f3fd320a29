"""The trainer (spikeloc.learning.trainer) where `make mutation` found it untested: the learning-rate schedules as
their formulas say, the last incomplete batch, and the messages of its refusals. Fast: a one-weight learner."""

import math

import pytest
import torch

from spikeloc.learning.trainer import Learner, MemberData, TrainConfig, TrainingHook, fit

torch.set_num_threads(1)

X = torch.rand(8, 5, 3, generator=torch.Generator().manual_seed(0)) < 0.5
Y = torch.zeros(8, dtype=torch.long)


@pytest.mark.parametrize("make, message", [
    (lambda: TrainConfig(epochs=0), "epochs = 0 is invalid: must be an integer >= 1"),
    (lambda: TrainConfig(batch_size=0), "batch_size = 0 is invalid: must be an integer >= 1"),
    (lambda: TrainConfig(patience=0), "patience = 0 is invalid: must be an integer >= 1"),
    (lambda: TrainConfig(eval_batch_size=0), "eval_batch_size = 0 is invalid: must be an integer >= 1"),
    (lambda: TrainConfig(lr=0.0), "lr = 0.0 is invalid: must be a finite number > 0"),
    (lambda: TrainConfig(loss="ce"), "loss = 'str' is invalid: must be a LossConfig"),
    (lambda: TrainConfig(lr_schedule="step"), "lr_schedule = 'step' is invalid: must be one of 'constant', 'cosine', "
                                              "'linear'"),
    (lambda: TrainConfig(drop_last=1), "drop_last = 1 is invalid: must be True or False"),
    (lambda: MemberData(X[None], Y[None], torch.tensor([0]), encoder=3),
     "encoder = 3 is invalid: must be None or an encoder (e.g. spikeloc.substrate.encoders.EncoderConfig)"),
    (lambda: MemberData(X[None], Y[None, :4], torch.tensor([0])),
     "labels = 'int64 tensor (1, 4)' is invalid: must be shaped (datasets, samples) = (1, 8) like the inputs"),
    (lambda: MemberData(X[None], Y[None], torch.tensor([0.0])),
     "source = 'float32 tensor (1,)' is invalid: must be an int64 tensor shaped (members,)"),
    (lambda: MemberData(X[None], Y[None], torch.tensor([0, 1])),
     "source = [0, 1] is invalid: must be dataset indices in [0, 0]"),
    (lambda: MemberData(X[None], Y[None], torch.tensor([-1])),
     "source = [-1] is invalid: must be dataset indices in [0, 0]"),
    (lambda: MemberData(torch.full((1, 8, 5, 3), math.inf), Y[None], torch.tensor([0])),
     "inputs = 'inf at index [0, 0, 0, 0], 120 of 120 entries not finite' is invalid: must be finite (no NaN or Inf)"),
    (lambda: MemberData(X[None], Y[None] - 1, torch.tensor([0])),
     "labels = '-1 at index [0, 0]' is invalid: must be class indices >= 0"),
    (lambda: MemberData.stack([]),
     "datasets = 'list' is invalid: must be a non-empty sequence of (inputs, labels) pairs, one per member"),
    (lambda: MemberData.stack([(X, Y[:4])]),
     "datasets[0] labels = 'int64 tensor (4,) on cpu' is invalid: must be one per input sample (8), on the inputs' "
     "device (cpu)"),
    (lambda: MemberData.stack([(X, Y), (X[:, :3], Y)]),
     "datasets[1] inputs = 'bool tensor (8, 3, 3) on cpu' is invalid: must be of datasets[0]'s shape, dtype and "
     "device (bool tensor (8, 5, 3) on cpu)"),
    (lambda: MemberData.stack([(X, Y), (X, Y + 1)]),
     "datasets = \"member 1 with an earlier member's inputs tensor but other labels\" is invalid: must be one labels "
     "tensor per inputs tensor (give a copy of the inputs for other labels)"),
])
def test_bad_settings_and_data_are_refused_with_a_message_naming_them(make, message):
    with pytest.raises(ValueError) as refused:
        make()
    assert str(refused.value) == message


class Steps(TrainingHook):
    """Records the weight after every optimiser step."""

    def __init__(self, weight):
        self.weight, self.trajectory = weight, [float(weight.detach())]

    def after_step(self):
        self.trajectory.append(float(self.weight.detach()))


def one_weight_learner(seen=None):
    """A learner whose loss is its weight (gradient 1 at every step), so Adam moves it by the learning rate at
    every step (m / sqrt(v) = 1): the steps read off the schedule. ``seen`` collects the samples of each batch."""
    weight = torch.zeros(1, requires_grad=True)

    def forward(inputs, training):
        if seen is not None:
            seen.append(inputs[0, :, 0, 0].tolist())
        return weight.expand(inputs.shape[0])

    return Learner((weight,), (0,), forward, lambda outputs, labels: outputs, lambda outputs: outputs), weight


@pytest.mark.parametrize("schedule, rate", [
    ("constant", lambda step, epoch: 1.0),
    ("cosine", lambda step, epoch: (1 + math.cos(math.pi * step / 6)) / 2),  # S = 3 epochs x 2 batches
    ("linear", lambda step, epoch: 1 - epoch / 3),
])
def test_the_learning_rate_follows_its_schedule_step_by_step(schedule, rate):
    learner, weight = one_weight_learner()
    steps = Steps(weight)
    config = TrainConfig(epochs=3, batch_size=4, lr=0.01, lr_schedule=schedule)
    fit(learner, MemberData.stack([(X.float(), Y)]), None, config, hooks=[steps])
    moves = [before - after for before, after in zip(steps.trajectory, steps.trajectory[1:])]
    expected = [0.01 * rate(step, step // 2) for step in range(6)]
    assert moves == pytest.approx(expected, rel=1e-4)


def test_without_drop_last_the_last_incomplete_batch_is_trained_on():
    samples = torch.arange(10.0)[:, None, None].expand(10, 2, 1).contiguous()  # sample i holds the value i
    labels = torch.zeros(10, dtype=torch.long)
    for drop_last, sizes in ((False, [4, 4, 2]), (True, [4, 4])):
        seen = []
        learner, _ = one_weight_learner(seen)
        config = TrainConfig(epochs=1, batch_size=4, drop_last=drop_last)
        assert config.batches_per_epoch(10) == len(sizes)
        fit(learner, MemberData.stack([(samples, labels)]), None, config)
        assert [len(batch) for batch in seen] == sizes
        if not drop_last:
            assert sorted(value for batch in seen for value in batch) == list(range(10))


def test_a_batch_larger_than_the_training_set_is_refused_unless_the_last_batch_is_kept():
    learner, _ = one_weight_learner()
    data = MemberData.stack([(X.float(), Y)])
    with pytest.raises(ValueError) as refused:
        fit(learner, data, None, TrainConfig(epochs=1, batch_size=9))
    assert str(refused.value) == "batch_size = 9 is invalid: must be <= training set size 8"
    assert fit(learner, data, None, TrainConfig(epochs=1, batch_size=9, drop_last=False)).epochs_run == [1]


def linear_learner(n_members=1, check_data=None):
    """Scores = the inputs (K, b, classes), scaled up in training (so training mode is visible); CE loss."""
    bias = torch.zeros(n_members, 1, 1, requires_grad=True)  # trained, and 0 in the scores checked

    def forward(inputs, training):
        return inputs * (3.0 if training else 1.0) + bias

    def losses(outputs, labels):
        return torch.stack([torch.nn.functional.cross_entropy(o, y) for o, y in zip(outputs, labels)])

    return Learner((bias,), tuple(range(n_members)), forward, losses, lambda outputs: outputs.argmax(dim=-1),
                   check_data=check_data)


def test_validation_scores_are_the_mean_loss_and_accuracy_over_every_sample_in_evaluation_mode():
    from spikeloc.learning.trainer import validation_scores

    generator = torch.Generator().manual_seed(1)
    scores = torch.randn(2, 8, 3, generator=generator)
    labels = torch.randint(0, 3, (2, 8), generator=generator)
    data = MemberData.stack([(scores[0], labels[0]), (scores[1], labels[1])])
    loss, accuracy = validation_scores(linear_learner(2), data, TrainConfig(eval_batch_size=3))  # chunks 3, 3, 2
    expected_loss = [torch.nn.functional.cross_entropy(scores[k], labels[k]) for k in range(2)]
    torch.testing.assert_close(loss, torch.stack(expected_loss))
    assert accuracy.tolist() == [float((scores[k].argmax(-1) == labels[k]).double().mean()) for k in range(2)]


def test_values_to_encode_are_encoded_for_training_and_the_same_way_for_every_validation():
    from spikeloc.learning.trainer import validation_scores
    from spikeloc.substrate.encoders import EncoderConfig

    values = torch.rand(8, 3, generator=torch.Generator().manual_seed(2))
    data = MemberData.stack([(values, torch.zeros(8, dtype=torch.long))], EncoderConfig(steps=5))
    bias = torch.zeros(1, 1, 1, requires_grad=True)
    learner = Learner((bias,), (0,), lambda x, training: x.sum(dim=2) + bias,
                      lambda outputs, labels: outputs.mean(dim=(1, 2)), lambda outputs: outputs.argmax(dim=-1))
    first, second = (validation_scores(learner, data, TrainConfig()) for _ in range(2))
    assert torch.equal(first[0], second[0])
    assert fit(learner, data, data, TrainConfig(epochs=1, batch_size=4)).epochs_run == [1]


def test_fit_refuses_what_it_cannot_train_on_naming_the_argument():
    data = MemberData.stack([(torch.randn(8, 3), Y)])
    pair = MemberData.stack([(torch.randn(8, 3), Y), (torch.randn(8, 3), Y)])
    cases = [
        (lambda: fit(linear_learner(), data, None, "fast"), "config = 'str' is invalid: must be a TrainConfig"),
        (lambda: fit(linear_learner(), "data", None, TrainConfig()),
         "training_data = 'str' is invalid: must be MemberData or a TrainingData source (with for_epoch)"),
        (lambda: fit(linear_learner(), pair, None, TrainConfig(batch_size=4)),
         "training_data = 'data for 2 members' is invalid: must be data for the 1 members trained or evaluated (one "
         "(inputs, labels) pair each)"),
        (lambda: fit(linear_learner(), data, pair, TrainConfig(batch_size=4)),
         "validation = 'data for 2 members' is invalid: must be data for the 1 members trained or evaluated (one "
         "(inputs, labels) pair each)"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError) as refused:
            call()
        assert str(refused.value) == message
    checked = []
    learner = linear_learner(check_data=lambda data, field: checked.append(field))
    fit(learner, data, data, TrainConfig(epochs=1, batch_size=8))  # a batch of the whole set is allowed
    assert checked == ["training_data", "validation"]


def test_fit_asks_a_source_of_fresh_data_for_each_epoch_once_in_order():
    class Fresh:
        def __init__(self):
            self.epochs = []

        def for_epoch(self, epoch):
            self.epochs.append(epoch)
            return MemberData.stack([(torch.randn(8, 3, generator=torch.Generator().manual_seed(epoch)), Y)])

    source = Fresh()
    fit(linear_learner(), source, None, TrainConfig(epochs=3, batch_size=4))
    assert source.epochs == [1, 2, 3]


def test_learning_speed_refuses_a_fraction_outside_0_1():
    from spikeloc.learning.trainer import FitResult

    result = FitResult([1], [1], [0.5], [False], 0.0, [[0.5]], [[0.5]], [[0.9]])
    assert result.epochs_to_fraction(0, 1.0) == 1
    with pytest.raises(ValueError) as refused:
        result.epochs_to_fraction(0, 0.0)
    assert str(refused.value) == "fraction = 0.0 is invalid: must be in (0, 1]"


def test_member_data_refusals_name_the_field_and_the_layout_it_takes():
    """Each refusal of MemberData names the argument and says what it takes, word for word (with an encoder the
    inputs are values to encode, one axis fewer)."""
    from spikeloc.substrate.encoders import EncoderConfig

    x, y, source = torch.zeros(1, 4, 3), torch.zeros(1, 4, dtype=torch.long), torch.zeros(2, dtype=torch.long)
    cases = [
        (lambda: MemberData(x.long(), y, source), "inputs = 'int64 tensor (1, 4, 3)' is invalid: must be a bool or "
         "floating-point tensor shaped (datasets, samples, T, features) or (datasets, samples, features)"),
        (lambda: MemberData(torch.zeros(1, 4, 3, 2), y, source, EncoderConfig()), "inputs = 'float32 tensor "
         "(1, 4, 3, 2)' is invalid: must be a bool or integer or floating-point tensor shaped (datasets, samples, "
         "features) of values to encode with every size >= 1"),
        (lambda: MemberData(x, y.float(), source), "labels = 'float32 tensor (1, 4)' is invalid: must be an int64 "
         "tensor shaped (datasets, samples)"),
        (lambda: MemberData(x, y[0], source), "labels = 'int64 tensor (4,)' is invalid: must be an int64 tensor "
         "shaped (datasets, samples) with every size >= 1"),
        (lambda: MemberData(x, y, source[None]), "source = 'int64 tensor (1, 2)' is invalid: must be an int64 "
         "tensor shaped (members,) with every size >= 1"),
        (lambda: MemberData(x + 2, y, source, EncoderConfig()), "inputs = 'range [2, 2]' is invalid: must be in "
         "[0, 1] for rate coding"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError) as refused:
            make()
        assert str(refused.value).startswith(message), str(refused.value)
