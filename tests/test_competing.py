"""Tests of the competing-hidden-units rule, its stacking, readouts and weight pictures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from spikeloc import seeding
from spikeloc.learning.competing import (
    RULE_STREAM,
    KrotovConfig,
    KrotovReadoutConfig,
    StackConfig,
    TrainerConfig,
    connected_activity,
    hidden_activities,
    initial_weights,
    krotov_readout,
    learn_features,
    layer_stream,
    learn_stack,
    reference_learn_features,
)
from spikeloc.study.plots import weight_grid
from spikeloc.substrate.synapses import Synapses


def random_data(samples: int, inputs: int, seed: int = 1, dtype=torch.float64) -> torch.Tensor:
    return torch.rand(samples, inputs, generator=torch.Generator().manual_seed(seed), dtype=dtype)


SMALL = KrotovConfig(hidden_units=20, p=3.0, k=3, delta=0.4, lr=0.05, epochs=4, batch_size=20)


@pytest.mark.parametrize("p, init, precision", [(1.0, "normal", 1e-30), (1.5, "normal", 1e-30), (2.0, "normal", 1e-30),
                                                (3.0, "normal", 1e-30), (2.0, "uniform", 0.1), (3.0, "uniform", 0.1)])
def test_fast_rule_gives_the_seed_loops_weights(p, init, precision):
    """(Not p = 1 with positive weights: every current is then sum(v), and argsort and topk break ties apart.)"""
    config = dataclasses.replace(SMALL, p=p, init=init, precision=precision)
    data = random_data(200, 30)
    fast, literal = learn_features(config, data), reference_learn_features(config, data)
    start = initial_weights(config, 30, seeding.generator(config.seed, RULE_STREAM)).double()
    assert (literal - start).abs().max() > 0.1  # the rule moved the weights
    torch.testing.assert_close(fast, literal, rtol=0, atol=1e-12)


def test_same_seed_same_weights_other_seed_other_weights():
    data = random_data(50, 12, dtype=torch.float32)
    config = dataclasses.replace(SMALL, batch_size=16)  # last batch of 2: the seed's loop cannot run this
    first = learn_features(config, data)
    assert first.dtype == torch.float32 and torch.isfinite(first).all()
    torch.testing.assert_close(learn_features(config, data), first, rtol=0, atol=0)
    assert not torch.equal(learn_features(dataclasses.replace(config, seed=1), data), first)
    with pytest.raises(ValueError, match="batch_size"):
        reference_learn_features(config, data)


def test_winners_converge_to_normalised_prototypes():
    """With delta = 0 and p = 2 the fixed point of ds = v - (W.v) W is W = v / |v| for each cluster's winner."""
    generator = torch.Generator().manual_seed(3)
    prototypes = torch.rand(3, 16, generator=generator, dtype=torch.float64) ** 4 * 3
    data = prototypes.repeat(40, 1) + 0.01 * torch.rand(120, 16, generator=generator, dtype=torch.float64)
    config = KrotovConfig(hidden_units=8, p=2.0, k=2, delta=0.0, lr=0.1, epochs=200, batch_size=10)
    weights = learn_features(config, data)
    directions = prototypes / prototypes.norm(dim=1, keepdim=True)
    winners = (prototypes @ weights.T).argmax(dim=1)
    torch.testing.assert_close(weights[winners], directions, rtol=0, atol=0.02)


def test_stack_learns_each_layer_on_the_dale_connected_output_of_the_previous():
    data = random_data(60, 10)
    first = dataclasses.replace(SMALL, hidden_units=12, batch_size=12)
    second = dataclasses.replace(SMALL, hidden_units=6, k=2, batch_size=12, seed=5)
    stack = learn_stack(StackConfig(layers=(first, second), inhibitory_fraction=0.25, activation_power=2.0, seed=2), data)
    (connection,) = stack.connections
    assert isinstance(connection, Synapses)
    assert sorted(connection.signs[0].tolist()) == [-1.0] * 3 + [1.0] * 9
    effective = connection.effective_weight()[0]
    # every synapse of a presynaptic unit has exactly that unit's sign (none is 0 or flipped), within the bound
    assert torch.equal(effective.sign(), connection.signs[0][:, None].expand_as(effective))
    assert float(effective.abs().max()) <= 1 / 12 ** 0.5
    torch.testing.assert_close(stack.weights[0], learn_features(first, data))
    second_input = hidden_activities(stack.weights[0], data) ** 2 @ effective  # the seed's: Dale, not normalised
    torch.testing.assert_close(stack.weights[1], learn_features(second, second_input, layer_stream(1)))
    torch.testing.assert_close(stack.transform(data), hidden_activities(stack.weights[1], second_input))
    assert stack.transform(data).shape == (60, 6)


def test_stacked_layers_with_one_seed_draw_from_their_own_streams():
    """The seed gave every layer the same stream: layer 2 then starts from layer 1's first normal draws."""
    data = random_data(60, 12)
    layer = dataclasses.replace(SMALL, hidden_units=12, batch_size=12)  # layer 2's input is as wide as layer 1's
    stack = learn_stack(StackConfig(layers=(layer, layer), seed=0), data)
    torch.testing.assert_close(stack.weights[0], learn_features(layer, data))  # layer 1: the default stream
    second_input = hidden_activities(stack.weights[0], data) @ stack.connections[0].effective_weight()[0]
    assert not torch.allclose(stack.weights[1], learn_features(layer, second_input))  # not layer 1's stream
    torch.testing.assert_close(stack.weights[1], learn_features(layer, second_input, layer_stream(1)))
    starts = [initial_weights(layer, 12, seeding.generator(layer.seed, layer_stream(i))) for i in range(3)]
    assert len({RULE_STREAM, *map(layer_stream, range(3))}) == 3
    for a in range(3):
        for b in range(a + 1, 3):
            assert not torch.isclose(starts[a], starts[b]).any()  # no shared draw anywhere
    with pytest.raises(ValueError, match="^layer = "):
        layer_stream(-1)


def test_identity_connection_with_divisive_normalisation_worked_by_hand():
    weights = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    data = torch.tensor([[2.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    # ReLU(W v) = (2, 1, 1) and (0, 0, 0); squared: (4, 1, 1); divided by their sum 6
    expected = torch.tensor([[4 / 6, 1 / 6, 1 / 6], [0.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(connected_activity(weights, None, 2.0, "divisive", data), expected)
    torch.testing.assert_close(connected_activity(weights, None, 2.0, "none", data), expected * 6)
    layer = dataclasses.replace(SMALL, hidden_units=5, k=2, batch_size=10)
    config = StackConfig(layers=(dataclasses.replace(layer, hidden_units=12), layer), connection="identity",
                         normalisation="divisive", activation_power=3.0)
    data = random_data(40, 8)
    stack = learn_stack(config, data)
    assert stack.connections == (None,)
    second_input = connected_activity(stack.weights[0], None, 3.0, "divisive", data)
    torch.testing.assert_close(second_input.sum(dim=1), torch.ones(40, dtype=torch.float64))
    torch.testing.assert_close(stack.weights[1], learn_features(layer, second_input, layer_stream(1)))
    torch.testing.assert_close(stack.transform(data), hidden_activities(stack.weights[1], second_input))
    for field, value in (("connection", "random"), ("normalisation", "l2")):
        with pytest.raises(ValueError, match=rf"^{field} = "):
            dataclasses.replace(config, **{field: value})


@pytest.mark.parametrize("field, value", [("p", 0.5), ("k", 1), ("k", 21), ("delta", -0.1), ("init", "zeros"),
                                          ("precision", 0.0), ("lr", 0.0), ("epochs", 0), ("batch_size", 0),
                                          ("hidden_units", 1)])
def test_bad_rule_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^{field} = "):
        dataclasses.replace(SMALL, **{field: value})


def test_bad_data_names_the_field():
    weights = learn_features(SMALL, random_data(40, 30))
    with pytest.raises(ValueError, match=r"^data = .784 inputs per sample. .* 30 inputs"):
        hidden_activities(weights, random_data(5, 784))
    with pytest.raises(ValueError, match=r"^data = "):
        learn_features(SMALL, torch.zeros(10, 30, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"^test features = "):
        krotov_readout(KrotovReadoutConfig(), TrainerConfig(epochs=1),
                       (random_data(10, 4), torch.zeros(10, dtype=torch.int64)),
                       (random_data(10, 5), torch.zeros(10, dtype=torch.int64)))
    with pytest.raises(ValueError, match=r"^val labels = "):
        krotov_readout(KrotovReadoutConfig(), TrainerConfig(epochs=1),
                       *[(random_data(10, 4), torch.zeros(10, dtype=torch.int64))] * 2,
                       (random_data(10, 4), torch.zeros(9, dtype=torch.int64)))


@pytest.mark.parametrize("make, field", [
    (lambda: StackConfig(layers=()), "layers"),
    (lambda: StackConfig(layers=(SMALL,), inhibitory_fraction=1.5), "inhibitory_fraction"),
    (lambda: StackConfig(layers=(SMALL,), activation_power=0.5), "activation_power"),
    (lambda: KrotovReadoutConfig(power=0.5), "power"),
    (lambda: KrotovReadoutConfig(beta=0.0), "beta"),
    (lambda: TrainerConfig(lr=-1.0), "lr"),
])
def test_bad_stack_and_readout_settings_name_the_field(make, field):
    with pytest.raises(ValueError, match=rf"^{field} = "):
        make()


def blobs(samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three Gaussian classes in 20 dimensions, well separated."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.rand(3, 20, generator=torch.Generator().manual_seed(0)) * 4
    labels = torch.randint(0, 3, (samples,), generator=generator)
    return (centres[labels] + 0.5 * torch.randn(samples, 20, generator=generator)).clamp(min=0), labels


def test_krotov_readout_learns_separable_classes_and_is_seeded():
    train, validation, test = blobs(300, 1), blobs(100, 3), blobs(200, 2)
    trainer = TrainerConfig(epochs=30, lr=0.01, batch_size=50)
    readout = KrotovReadoutConfig(power=2.0, beta=0.01)
    result = krotov_readout(readout, trainer, train, test, validation)
    assert set(result) == {"train_acc", "test_acc", "val_acc"}
    assert min(result.values()) > 0.9, result
    assert krotov_readout(readout, trainer, train, test, validation) == result
    untrained = krotov_readout(readout, dataclasses.replace(trainer, epochs=1, lr=1e-6), train, test)
    assert set(untrained) == {"train_acc", "test_acc"} and untrained["test_acc"] < 0.8


def grid_pixels(fig) -> np.ndarray:
    return np.ma.filled(np.ma.asarray(fig.axes[0].images[0].get_array(), dtype=float), np.nan)


def test_gray_weight_grid_with_more_cells_than_units():
    weights = np.arange(5 * 4, dtype=float).reshape(5, 4) - 10  # 5 units of 2x2 pixels
    pixels = grid_pixels(weight_grid(weights, (1, 2, 2), columns=3, rows=3))
    assert pixels.shape == (6, 6)
    np.testing.assert_array_equal(pixels[0:2, 2:4], weights[1].reshape(2, 2))  # unit 1: row 0, column 1
    np.testing.assert_array_equal(pixels[2:4, 2:4], weights[4].reshape(2, 2))  # unit 4: row 1, column 1
    assert np.isnan(pixels[2:4, 4:6]).all() and np.isnan(pixels[4:, :]).all()  # cells without a unit


def test_rgb_weight_grid_puts_channels_last_and_cuts_extra_units():
    weights = np.random.default_rng(0).normal(size=(7, 3 * 4 * 5))
    pixels = grid_pixels(weight_grid(weights, (3, 4, 5), columns=2, rows=2))
    assert pixels.shape == (8, 10, 3)
    shown = weights[:4]
    expected = (shown[3].reshape(3, 4, 5).transpose(1, 2, 0) - shown.min()) / (shown.max() - shown.min())
    np.testing.assert_allclose(pixels[4:8, 5:10], expected)
    assert pixels.min() == 0 and pixels.max() == 1
    with pytest.raises(ValueError, match="^image_shape = "):
        weight_grid(weights, (1, 4, 5), columns=2)
