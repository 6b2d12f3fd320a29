"""Dale's law and the ensemble synapse layer (spikeloc.substrate.synapses), driven directly: signs, initial
weights, the effective weight and its gradient at zero, the batched product, and the refusals."""

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from spikeloc.substrate.synapses import DaleSigns, Synapses, dale_signs, signed_weight, uniform_fan_in

torch.set_num_threads(1)


@pytest.mark.parametrize("n, fraction, inhibitory", [(10, 0.3, 3), (7, 0.0, 0), (7, 1.0, 7), (9, 0.5, 4),
                                                     (3, 0.2, 1)])
def test_dale_signs_make_round_fraction_times_n_units_inhibitory_the_rest_excitatory(n, fraction, inhibitory):
    signs = dale_signs(n, fraction, torch.Generator().manual_seed(0))
    assert signs.shape == (n,) and signs.dtype == torch.float32
    assert int((signs == -1).sum()) == inhibitory and int((signs == 1).sum()) == n - inhibitory


def test_which_units_are_inhibitory_is_drawn_from_the_generator():
    draws = {tuple(dale_signs(20, 0.5, torch.Generator().manual_seed(seed)).tolist()) for seed in range(5)}
    assert len(draws) == 5  # not the first half (the seed's left ear), not one fixed choice
    again = dale_signs(20, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(again, dale_signs(20, 0.5, torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_an_inhibitory_fraction_outside_0_1_is_refused_by_name(fraction):
    with pytest.raises(ValueError, match=rf"^ie_ratio = {fraction} is invalid: must be in \[0, 1\]$"):
        dale_signs(10, fraction, torch.Generator().manual_seed(0))


def test_initial_weights_fill_plus_minus_one_over_sqrt_fan_in():
    weights = uniform_fan_in(16, 2000, torch.Generator().manual_seed(0))
    bound = 1 / math.sqrt(16)
    assert weights.shape == (16, 2000)
    assert float(weights.abs().max()) <= bound
    assert float(weights.max()) > 0.99 * bound and float(weights.min()) < -0.99 * bound
    assert abs(float(weights.mean())) < 0.01 * bound
    assert abs(float(weights.std()) - bound / math.sqrt(3)) < 0.02 * bound  # the SD of U(-b, b)


def signs_and_raw():
    """Three presynaptic units (excitatory, inhibitory, unconstrained) onto four outputs, with zeros."""
    raw = torch.tensor([[-2.0, 0.0, 3.0, -0.5], [-2.0, 0.0, 3.0, -0.5], [-2.0, 0.0, 3.0, -0.5]], requires_grad=True)
    return raw, torch.tensor([[1.0], [-1.0], [0.0]])


@pytest.mark.parametrize("zero_gradient", ["cull", "recover"])
def test_signed_weight_keeps_each_units_sign_and_leaves_unconstrained_units_alone(zero_gradient):
    raw, signs = signs_and_raw()
    weight = signed_weight(raw, signs, zero_gradient)
    assert weight.tolist() == [[2.0, 0.0, 3.0, 0.5], [-2.0, 0.0, -3.0, -0.5], [-2.0, 0.0, 3.0, -0.5]]


@pytest.mark.parametrize("zero_gradient, at_zero", [("cull", 0.0), ("recover", 1.0)])
def test_a_zero_synapse_is_culled_or_recovers_with_its_fixed_sign(zero_gradient, at_zero):
    raw, signs = signs_and_raw()
    signed_weight(raw, signs, zero_gradient).sum().backward()
    # d(|w| s)/dw = sign(w) s away from 0; at 0: 0 (cull) or s (recover); an unconstrained weight: 1
    assert raw.grad.tolist() == [[-1.0, at_zero, 1.0, -1.0], [1.0, -at_zero, -1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]


def test_dale_signs_on_a_plain_layer_hold_through_an_optimiser_step():
    layer = nn.Linear(3, 4)
    signs = torch.tensor([[1.0, -1.0, 0.0]])
    parametrize.register_parametrization(layer, "weight", DaleSigns(signs, "recover"))
    signs[0, 0] = -1.0  # the parametrisation keeps its own copy
    with torch.no_grad():
        layer.parametrizations.weight.original.copy_(torch.tensor([[-1.0, 0.0, 2.0]] * 4))
    assert layer.weight.tolist() == [[1.0, 0.0, 2.0]] * 4
    assert layer.parametrizations.weight[0].signs.tolist() == [[1.0, -1.0, 0.0]]
    assert "parametrizations.weight.0.signs" in layer.state_dict()
    layer.weight.sum().backward()  # recover: the zero weight of the inhibitory unit feels -1
    assert layer.parametrizations.weight.original.grad[:, 1].tolist() == [-1.0] * 4


def test_by_default_a_zero_synapse_is_culled_on_a_plain_layer_too():
    raw = torch.zeros(2, 3, requires_grad=True)
    DaleSigns(torch.tensor([[1.0, -1.0, 0.0]]))(raw).sum().backward()
    assert raw.grad.tolist() == [[0.0, 0.0, 1.0]] * 2


def test_an_unknown_zero_gradient_is_refused_by_name():
    for make in (lambda: DaleSigns(torch.ones(1, 3), "revive"),
                 lambda: Synapses(torch.zeros(1, 3, 2), torch.zeros(1, 3), "revive")):
        with pytest.raises(ValueError, match=r"^zero_gradient = 'revive' is invalid: must be one of 'cull', "
                                             r"'recover'$"):
            make()


def test_synapses_refuse_weights_and_signs_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"^raw_weight = \(3, 2\) is invalid: must be shaped \(members, inputs, "
                                         r"outputs\)$"):
        Synapses(torch.zeros(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match=r"^signs = \(2, 3\) is invalid: must be shaped \(members, inputs\) = "
                                         r"\(1, 3\)$"):
        Synapses(torch.zeros(1, 3, 2), torch.zeros(2, 3))


def test_synapses_own_their_weights_and_signs_in_the_weights_dtype():
    raw = torch.ones(2, 3, 4, dtype=torch.float64)
    signs = torch.tensor([[1, -1, 0], [0, 0, 1]], dtype=torch.int64)
    synapses = Synapses(raw, signs, "recover")
    raw.zero_()
    signs.zero_()
    assert synapses.raw_weight.dtype == synapses.signs.dtype == torch.float64
    assert bool((synapses.raw_weight == 1).all())
    assert synapses.signs.tolist() == [[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]
    assert synapses.zero_gradient == "recover"
    assert set(synapses.state_dict()) == {"raw_weight", "signs"}


@pytest.mark.parametrize("zero_gradient", ["cull", "recover"])
def test_each_member_multiplies_by_its_own_signed_weight(zero_gradient):
    generator = torch.Generator().manual_seed(1)
    raw = torch.randn(3, 5, 4, generator=generator)
    raw[0, 0, 0] = 0.0
    signs = torch.stack([dale_signs(5, 0.4, generator), torch.zeros(5), -torch.ones(5)])
    synapses = Synapses(raw, signs, zero_gradient)
    x = torch.randn(3, 2, 6, 5, generator=generator, requires_grad=True)
    effective = torch.stack([signed_weight(raw[k], signs[k][:, None], zero_gradient) for k in range(3)])
    assert torch.equal(synapses.effective_weight(), effective)
    y = synapses(x)
    assert y.shape == (3, 2, 6, 4)
    for k in range(3):
        torch.testing.assert_close(y[k], x[k] @ effective[k])
    y.sum().backward()
    reference = raw.clone().requires_grad_()
    torch.stack([x[k].detach() @ signed_weight(reference[k], signs[k][:, None], zero_gradient)
                 for k in range(3)]).sum().backward()
    torch.testing.assert_close(synapses.raw_weight.grad, reference.grad)
    assert synapses(x[:, 0, 0]).shape == (3, 4)  # (K, inputs) -> (K, outputs)
