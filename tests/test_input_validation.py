"""Bad input to the library is refused before any work with one ValueError naming the argument (issue 29, section
3): data entering training and evaluation (MemberData, fit, evaluate, the encoders), the configs they take, and
the other entry points of raw data (IPD generation, validation splits, logic tasks, competing units).

The plain tests are the issue's cases and more (every one gave a number or a raw torch/numpy error before these
checks); the property-based tests (hypothesis) draw values, shapes, dtypes, non-finite positions and labels and
check, against an oracle written here, that each input is either accepted and gives a valid result or is
refused with a ValueError naming the argument, never another error.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeloc.datasets.splits import ImageSplit, validation_split
from spikeloc.learning.competing import KrotovConfig, learn_features
from spikeloc.learning.losses import LossConfig
from spikeloc.learning.surrogate import MemberData, TrainConfig, evaluate, fit
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
from spikeloc.substrate.encoders import EncoderConfig, rate
from spikeloc.substrate.neurons import LIFParameters
from spikeloc.tasks.ipd import IPDTask, generate
from spikeloc.tasks.logic import patterns

torch.set_num_threads(1)

N_INPUTS, N_CLASSES = 4, 3
#: Few examples, no example database, the same examples every run: the hypothesis tests take seconds.
FEW = settings(max_examples=25, deadline=None, derandomize=True, database=None)


def network(members: int = 1) -> SpikingClassifier:
    return SpikingClassifier(ClassifierConfig(n_inputs=N_INPUTS, hidden=(5,), n_classes=N_CLASSES),
                             [Member(seed=k) for k in range(members)])


def spikes(n: int = 16, steps: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return ((torch.rand(n, steps, N_INPUTS, generator=generator) < 0.3).float(),
            torch.arange(n) % N_CLASSES)


def data(inputs: torch.Tensor, labels: torch.Tensor, encoder=None) -> MemberData:
    return MemberData.stack([(inputs, labels)], encoder)


def with_entry(tensor: torch.Tensor, index: tuple[int, ...], value: float) -> torch.Tensor:
    changed = tensor.clone()
    changed[index] = value
    return changed


def weights(model: SpikingClassifier) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def refuses(call, field: str) -> str:
    """The one-line message of the ValueError ``call()`` raises, which starts by naming ``field`` (after the
    argument holding it, if any: ``datasets[0] inputs = ...``, ``training_data labels = ...``)."""
    with pytest.raises(ValueError) as caught:
        call()
    message = str(caught.value)
    assert re.match(rf"(\S+ )?{re.escape(field)} = ", message), message
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------
# The issue's cases, and more (each gave a number or a raw error before)

CONFIG = TrainConfig(epochs=2, batch_size=8)
X, Y = spikes()


def fit_on(inputs: torch.Tensor, labels: torch.Tensor, config: TrainConfig = CONFIG):
    return lambda: fit(network(), data(inputs, labels), data(X, Y), config)


def evaluate_on(inputs: torch.Tensor, labels: torch.Tensor, **options):
    return lambda: evaluate(network(), data(inputs, labels), **{"split": "test", **options})


NAN, INF = float("nan"), float("inf")

ISSUE_CASES = {
    "fit on NaN inputs": (fit_on(with_entry(X, (3, 2, 1), NAN), Y), "inputs"),
    "fit on Inf inputs": (fit_on(with_entry(X, (15, 5, 3), INF), Y), "inputs"),
    "evaluate on all-NaN inputs": (evaluate_on(torch.full_like(X, NAN), Y), "inputs"),
    "label -1 (evaluate)": (evaluate_on(X, with_entry(Y, (4,), -1)), "labels"),
    "label -1 (fit)": (fit_on(X, with_entry(Y, (4,), -1)), "labels"),
    "label 7 of 3 classes (evaluate)": (evaluate_on(X, with_entry(Y, (4,), 7)), "labels"),
    "label 7 of 3 classes (fit)": (fit_on(X, with_entry(Y, (4,), 7)), "labels"),
    "float labels (evaluate)": (evaluate_on(X, Y.float()), "labels"),
    "float labels (fit)": (fit_on(X, Y.float()), "labels"),
    "T = 0 (evaluate)": (evaluate_on(X[:, :0], Y), "inputs"),
    "T = 0 (fit)": (fit_on(X[:, :0], Y), "inputs"),
    "N = 0 (evaluate)": (evaluate_on(X[:0], Y[:0]), "inputs"),
    "N = 0 (fit)": (fit_on(X[:0], Y[:0]), "inputs"),
    "TrainConfig(lr=inf)": (lambda: TrainConfig(lr=INF), "lr"),
    "TrainConfig(epochs=2.5)": (lambda: TrainConfig(epochs=2.5), "epochs"),
}

RATE = EncoderConfig(kind="rate", steps=4)
PIXELS = torch.rand(16, N_INPUTS, generator=torch.Generator().manual_seed(1))
TASK = IPDTask(fibres_per_ear=2, duration_s=0.005)
SPLIT = ImageSplit(torch.zeros(10, 1, 2, 2, dtype=torch.uint8), torch.arange(10) % 2)

MORE_CASES = {
    "labels shorter than the inputs": (evaluate_on(X, Y[:-1]), "labels"),
    "int32 labels": (fit_on(X, Y.int()), "labels"),
    "integer spikes": (evaluate_on(X.long(), Y), "inputs"),
    "datasets of members shaped differently": (lambda: MemberData.stack([(X, Y), (X[:, :3], Y)]), "inputs"),
    "a dataset not a pair": (lambda: MemberData.stack([X]), "datasets"),
    "no datasets": (lambda: MemberData.stack([]), "datasets"),
    "plain features for a spiking network": (evaluate_on(X[:, 0], Y), "inputs"),
    "a value outside [0, 1] in the last sample to rate-encode": (
        lambda: fit(network(), data(with_entry(PIXELS, (15, 0), 1.5), Y, RATE), data(PIXELS, Y, RATE), CONFIG),
        "inputs"),
    "NaN to rate-encode": (lambda: data(with_entry(PIXELS, (0, 0), NAN), Y, RATE), "inputs"),
    "evaluate batch_size 0": (evaluate_on(X, Y, batch_size=0), "batch_size"),
    "evaluate batch_size 2.5": (evaluate_on(X, Y, batch_size=2.5), "batch_size"),
    "TrainConfig(batch_size='8')": (lambda: TrainConfig(batch_size="8"), "batch_size"),
    "TrainConfig(epochs=True)": (lambda: TrainConfig(epochs=True), "epochs"),
    "TrainConfig(loss='mse_count')": (lambda: TrainConfig(loss="mse_count"), "loss"),
    "LossConfig(logit_scale=inf)": (lambda: LossConfig(logit_scale=INF), "logit_scale"),
    "LossConfig(correct_rate='1')": (lambda: LossConfig(correct_rate="1"), "correct_rate"),
    "EncoderConfig(gain='1')": (lambda: EncoderConfig(gain="1"), "gain"),
    "rate(values, steps=None)": (lambda: rate(PIXELS, None, torch.Generator()), "steps"),
    "IPD generate n_samples 2.5": (lambda: generate(TASK, 2.5, torch.Generator()), "n_samples"),
    "IPD generate without a generator": (lambda: generate(TASK, 4, 0), "generator"),
    "IPDTask(tone_hz=inf)": (lambda: IPDTask(tone_hz=INF), "tone_hz"),
    "IPDTask(duration_s=inf)": (lambda: IPDTask(duration_s=INF), "duration_s"),
    "IPDTask(fibres_per_ear=2.5)": (lambda: IPDTask(fibres_per_ear=2.5), "fibres_per_ear"),
    "IPDTask(n_classes=12.0)": (lambda: IPDTask(n_classes=12.0), "n_classes"),
    "validation_split of a tuple": (lambda: validation_split((SPLIT.images, SPLIT.labels), 2, torch.Generator()),
                                    "split"),
    "logic patterns(2.5)": (lambda: patterns(2.5), "inputs"),
    "logic patterns(0)": (lambda: patterns(0), "inputs"),
    "ClassifierConfig(n_inputs=2.5)": (lambda: ClassifierConfig(n_inputs=2.5), "n_inputs"),
    "Member(seed=-1)": (lambda: Member(seed=-1), "seed"),
    "LIFParameters(threshold=inf)": (lambda: LIFParameters(threshold=INF), "threshold"),
    "competing units on NaN data": (
        lambda: learn_features(KrotovConfig(hidden_units=4, k=2, epochs=1, batch_size=4),
                               with_entry(PIXELS, (2, 2), NAN)), "data"),
}


@pytest.mark.parametrize("case", ISSUE_CASES)
def test_the_issues_bad_inputs_are_refused_naming_the_argument(case):
    call, field = ISSUE_CASES[case]
    refuses(call, field)


@pytest.mark.parametrize("case", MORE_CASES)
def test_more_bad_inputs_are_refused_naming_the_argument(case):
    call, field = MORE_CASES[case]
    refuses(call, field)


def test_messages_say_where_and_what():
    message = refuses(evaluate_on(with_entry(X, (3, 2, 1), NAN), Y), "inputs")
    assert "nan at index [0, 3, 2, 1]" in message and "finite" in message
    message = refuses(evaluate_on(X, with_entry(Y, (4,), 7)), "labels")
    assert "7 at index [0, 4]" in message and "[0, 2]" in message
    assert "an integer >= 1" in refuses(lambda: TrainConfig(epochs=2.5), "epochs")


def test_a_wrong_type_is_a_type_error_too():
    with pytest.raises(TypeError, match="epochs"):
        TrainConfig(epochs=2.5)
    with pytest.raises(TypeError, match="labels"):
        data(X, Y.float())


def test_refused_before_any_work():
    """Data that suit no network (labels beyond its classes, in the validation set) stop ``fit`` before the first
    step: the weights are unchanged."""
    model = network()
    before = weights(model)
    with pytest.raises(ValueError, match="validation labels"):
        fit(model, data(X, Y), data(X, with_entry(Y, (15,), N_CLASSES)), CONFIG)
    assert all(torch.equal(a, b) for a, b in zip(before, weights(model)))


def test_a_member_count_other_than_the_networks_is_refused():
    refuses(lambda: evaluate(network(members=2), data(X, Y), split="test"), "data")


# --------------------------------------------------------------------------
# Configs: any valid value accepted, any invalid one refused naming the field

ANY_VALUE = st.one_of(st.integers(-3, 2000), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                      st.text(max_size=3), st.none(), st.floats(-2, 2))


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: The oracle: for each config field, whether a value is valid (the other fields at their defaults).
VALID = {
    TrainConfig: {
        "epochs": lambda v: is_int(v) and v >= 1,
        "lr": lambda v: is_finite(v) and v > 0,
        "batch_size": lambda v: is_int(v) and v >= 1,
        "patience": lambda v: is_int(v) and v >= 1,
        "eval_batch_size": lambda v: is_int(v) and v >= 1,
        "drop_last": lambda v: isinstance(v, bool),
        "loss": lambda v: isinstance(v, LossConfig),
        "lr_schedule": lambda v: v in ("constant", "cosine", "linear"),
    },
    LossConfig: {
        "logit_scale": lambda v: is_finite(v) and v > 0,
        "correct_rate": lambda v: is_finite(v) and 0 <= v <= 1,
        "incorrect_rate": lambda v: is_finite(v) and 0 <= v <= 1,
    },
    EncoderConfig: {
        "steps": lambda v: is_int(v) and v >= 1,
        "gain": lambda v: is_finite(v) and 0 < v <= 1,  # the default kind, "rate"
        "threshold": lambda v: is_finite(v) and 0 < v < 1,
        "tau": lambda v: is_finite(v) and v > 0,
        "clip": lambda v: isinstance(v, bool),
    },
    IPDTask: {
        "fibres_per_ear": lambda v: is_int(v) and v >= 1,
        "tone_hz": lambda v: is_finite(v) and v > 0,
        "duration_s": lambda v: is_finite(v) and v >= 1e-3,
        "max_rate_hz": lambda v: is_finite(v) and 0 <= v <= 1000,
        "envelope_power": lambda v: is_finite(v) and v > 0,
        "n_classes": lambda v: is_int(v) and v >= 2,
        "phase_noise_rad": lambda v: is_finite(v) and v >= 0,
    },
}
FIELDS = [(config, field) for config, fields in VALID.items() for field in fields]


@settings(FEW, max_examples=150)  # microseconds each
@given(st.sampled_from(FIELDS), st.one_of(ANY_VALUE, st.sampled_from([LossConfig(), "cosine", "mse_count"])))
def test_a_config_accepts_exactly_the_valid_values_of_a_field(config_field, value):
    config, field = config_field
    try:
        made = config(**{field: value})
    except ValueError as error:
        assert not VALID[config][field](value), f"{config.__name__}({field}={value!r}) refused: {error}"
        assert str(error).startswith(f"{field} = "), str(error)
    else:
        assert VALID[config][field](value), f"{config.__name__}({field}={value!r}) accepted"
        assert getattr(made, field) == value or value != value


# --------------------------------------------------------------------------
# Data: random shapes, dtypes, non-finite entries and labels

DTYPES = [torch.bool, torch.float32, torch.float64, torch.int64, torch.uint8]
LABEL_DTYPES = [torch.int64, torch.int32, torch.float32]


@st.composite
def member_data(draw):
    """(inputs, labels, whether they are valid for :func:`network`): spikes (N, T, F)."""
    n, steps = draw(st.integers(0, 5)), draw(st.integers(0, 3))
    features = draw(st.sampled_from([N_INPUTS, N_INPUTS, 0, N_INPUTS + 1]))
    dtype, label_dtype = draw(st.sampled_from(DTYPES)), draw(st.sampled_from(LABEL_DTYPES))
    inputs = torch.randint(0, 2, (n, steps, features), generator=torch.Generator().manual_seed(n)).to(dtype)
    bad_value = draw(st.sampled_from([None, None, NAN, INF, -INF]))
    if bad_value is not None and inputs.numel() and dtype.is_floating_point:
        inputs.view(-1)[draw(st.integers(0, inputs.numel() - 1))] = bad_value
    labels = torch.tensor(draw(st.lists(st.integers(-2, N_CLASSES + 1), min_size=n, max_size=n)),
                          dtype=torch.int64).to(label_dtype)
    valid = (n >= 1 and steps >= 1 and features == N_INPUTS and dtype in (torch.bool, torch.float32, torch.float64)
             and bool(torch.isfinite(inputs.float()).all()) and label_dtype == torch.int64
             and bool(((labels >= 0) & (labels < N_CLASSES)).all()))
    return inputs, labels, valid


NAMED = re.compile(r"^(datasets\[\d+\] )?(data |training_data |validation )?(inputs|labels) = ")


@FEW
@given(member_data())
def test_evaluate_scores_valid_data_and_refuses_the_rest_naming_it(case):
    inputs, labels, valid = case
    try:
        result = evaluate(network(), data(inputs, labels), split="test")
    except ValueError as error:
        assert not valid, str(error)
        assert NAMED.match(str(error)), str(error)
    else:
        assert valid
        assert 0 <= result[0]["acc"] <= 1 and result[0]["confusion"].sum() == len(labels)


@settings(FEW, max_examples=8)
@given(member_data())
def test_fit_trains_on_valid_data_and_refuses_the_rest_naming_it(case):
    inputs, labels, valid = case
    try:
        result = fit(network(), data(inputs, labels), data(X, Y), TrainConfig(epochs=1, batch_size=1))
    except ValueError as error:
        assert not valid, str(error)
        assert NAMED.match(str(error)), str(error)
    else:
        assert valid and result.epochs_run == [1]


@FEW
@given(st.integers(0, 5), st.sampled_from(["rate", "latency", "current"]),
       st.sampled_from([None, NAN, INF, -0.5, 1.5]))
def test_values_to_encode_are_checked_once_where_they_enter(n, kind, bad_value):
    values = torch.rand(n, N_INPUTS, generator=torch.Generator().manual_seed(n))
    if bad_value is not None and n:
        values[n - 1, 0] = bad_value
    valid = n >= 1 and (bad_value is None or (kind == "current" and math.isfinite(bad_value)))
    try:
        result = evaluate(network(), data(values, torch.arange(n) % N_CLASSES, EncoderConfig(kind=kind, steps=3)),
                          split="test")
    except ValueError as error:
        assert not valid, str(error)
        assert NAMED.match(str(error)), str(error)
    else:
        assert valid and result[0]["confusion"].sum() == n


@FEW
@given(ANY_VALUE)
def test_ipd_generate_makes_n_samples_or_refuses_naming_n_samples(n_samples):
    try:
        made = generate(TASK, n_samples, torch.Generator().manual_seed(0))
    except ValueError as error:
        assert not (is_int(n_samples) and n_samples >= 1)
        assert str(error).startswith("n_samples = ")
    else:
        assert is_int(n_samples) and n_samples >= 1
        assert made.spikes.shape == (n_samples, TASK.n_steps, TASK.n_inputs) and made.spikes.dtype == torch.bool
        assert bool(((made.labels >= 0) & (made.labels < TASK.n_classes)).all())


@FEW
@given(ANY_VALUE)
def test_validation_split_holds_out_n_validation_or_refuses_naming_it(n_validation):
    try:
        rest, held_out = validation_split(SPLIT, n_validation, torch.Generator().manual_seed(0))
    except ValueError as error:
        assert not (is_int(n_validation) and 1 <= n_validation <= len(SPLIT) - 1)
        assert str(error).startswith("n_validation = ")
    else:
        assert len(held_out) == n_validation and len(rest) == len(SPLIT) - n_validation
