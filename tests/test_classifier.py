import dataclasses

import pytest
import snntorch as snn
import torch
from snntorch import surrogate

from spikeloc.learning.surrogate import MemberData, TrainConfig, fit
from spikeloc.networks.classifier import (
    ClassifierConfig,
    Member,
    SpikingClassifier,
    _drop,
    pool_population,
    predict,
)
from spikeloc.substrate.neurons import LIFParameters, lif_step
from spikeloc.substrate.synapses import Synapses, dale_signs, signed_weight
from spikeloc.tasks.ipd import IPDTask, generate


def random_spikes(shape, seed=0, rate=0.2):
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < rate).float()


@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
def test_lif_step_equals_snntorch_leaky_including_gradients(reset):
    params = LIFParameters(tau_s=5e-3, dt_s=1e-3, surrogate_slope=5.0, reset=reset)
    leaky = snn.Leaky(beta=params.beta, threshold=1.0, reset_mechanism=reset,
                      spike_grad=surrogate.sigmoid(slope=5.0))
    currents = (torch.randn(50, 8, 16, generator=torch.Generator().manual_seed(1)) * 0.8).requires_grad_()
    ours_mem = ref_mem = torch.zeros(8, 16)
    ours, ref = [], []
    for t in range(50):
        s, ours_mem = lif_step(currents[t], ours_mem, params)
        r, ref_mem = leaky(currents[t], ref_mem)
        ours.append(s)
        ref.append(r)
    ours, ref = torch.stack(ours), torch.stack(ref)
    assert torch.equal(ours, ref) and ours.sum() > 50
    weights = torch.randn_like(ours)
    g_ours, = torch.autograd.grad((ours * weights).sum(), currents)
    g_ref, = torch.autograd.grad((ref * weights).sum(), currents)
    torch.testing.assert_close(g_ours, g_ref)


def test_surrogate_gradient_is_the_sigmoid_derivative():
    params = LIFParameters(surrogate_slope=5.0)
    current = torch.tensor([0.3, 1.0, 1.7], requires_grad=True)
    spike, membrane = lif_step(current, torch.zeros(3), params)
    spike.sum().backward()
    x = current.detach() - 1.0
    expected = 5.0 * torch.sigmoid(5.0 * x) * (1 - torch.sigmoid(5.0 * x))
    torch.testing.assert_close(current.grad, expected)
    assert spike.tolist() == [0.0, 0.0, 1.0]  # strictly above threshold spikes


@pytest.mark.parametrize("backend", ["fused", "snntorch"])
def test_network_shapes_and_single_member_squeeze(backend):
    net = SpikingClassifier(ClassifierConfig(n_inputs=20, hidden=(7,), n_classes=5, backend=backend), [Member(seed=0)])
    x = random_spikes((3, 40, 20))
    assert net(x).shape == (3, 40, 5)
    assert torch.equal(net(x), net(x[None])[0])
    assert predict(net(x)).shape == (3,)


def test_wrong_input_shape_is_a_clear_error():
    net = SpikingClassifier(ClassifierConfig(n_inputs=20), [Member()])
    with pytest.raises(ValueError, match="inputs"):
        net(random_spikes((3, 40, 21)))


def test_member_computes_the_same_alone_and_in_an_ensemble():
    config = ClassifierConfig(n_inputs=20, hidden=(9,))
    members = [Member(seed=s, dropout=p, dale_layers=d) for s, p, d in
               ((0, 0.0, "none"), (1, 0.5, "both"), (2, 0.9, "input"))]
    ensemble = SpikingClassifier(config, members)
    x = random_spikes((3, 4, 30, 20))
    masks = lambda seeds: [torch.Generator().manual_seed(s) for s in seeds]  # noqa: E731
    together_training = ensemble(x, masks([0, 1, 2]))
    together = ensemble.eval()(x)
    for k, member in enumerate(members):
        alone = SpikingClassifier(config, [member])
        torch.testing.assert_close(alone(x[k], masks([k])), together_training[k], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(alone.eval()(x[k]), together[k], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(together_training[1], together[1])  # dropout did act in training


def test_dale_signs_are_random_and_have_the_requested_fraction():
    signs = dale_signs(200, 0.5, torch.Generator().manual_seed(0))
    assert int((signs < 0).sum()) == 100
    assert (signs[:100] < 0).float().mean() < 0.7  # not "the first half", as the seed did
    assert int((dale_signs(30, 0.1, torch.Generator().manual_seed(0)) < 0).sum()) == 3
    with pytest.raises(ValueError, match="ie_ratio"):
        dale_signs(10, 1.5, torch.Generator())


def test_dale_signs_never_flip_during_training():
    task = IPDTask(fibres_per_ear=20, phase_offset="per_sample")
    ipd = generate(task, 256, torch.Generator().manual_seed(0))
    data = MemberData.stack([(ipd.spikes, ipd.labels)])
    net = SpikingClassifier(ClassifierConfig(n_inputs=40, hidden=(10,)),
                     [Member(seed=0, dale_layers="both", ie_ratio=0.5)])
    before = [s.effective_weight().detach().clone() for s in net.synapses]
    drawn = [s.signs.clone() for s in net.synapses]  # the signs fixed at construction
    assert all(int((signs < 0).sum()) == signs.shape[1] // 2 for signs in drawn)
    fit(net, data, data, TrainConfig(epochs=3, lr=0.05, batch_size=32))
    for synapses, initial, signs in zip(net.synapses, before, drawn):
        w = synapses.effective_weight().detach()
        assert not torch.equal(w, initial)  # it did learn
        assert torch.equal(synapses.signs, signs)  # training never touched the signs
        # every weight is its presynaptic unit's constructed sign times |raw|: none flipped, none lost its sign
        assert torch.equal(w, signs[:, :, None] * synapses.raw_weight.detach().abs())
        nonzero = w != 0
        assert bool((w.sign() == signs[:, :, None].expand_as(w))[nonzero].all()) and bool(nonzero.any())


def test_member_data_refuses_one_inputs_tensor_with_two_labellings():
    inputs, labels = torch.zeros(2, 8, 3), torch.tensor([0, 1])
    same = MemberData.stack([(inputs, labels), (inputs, labels.clone()), (inputs.clone(), 1 - labels)])
    assert same.inputs.shape[0] == 2 and same.source.tolist() == [0, 0, 1]
    assert same.member_labels(2).tolist() == [1, 0]
    with pytest.raises(ValueError, match="^datasets = .member 1 with an earlier member's inputs tensor but other labels"):
        MemberData.stack([(inputs, labels), (inputs, 1 - labels)])


@pytest.mark.parametrize("zero_gradient,recovers", [("cull", False), ("recover", True)])
def test_zero_synapse_recovers_only_when_asked(zero_gradient, recovers):
    raw = torch.zeros(1, 2, 1)
    synapses = Synapses(raw, torch.tensor([[1.0, -1.0]]), zero_gradient)
    out = synapses(torch.ones(1, 1, 2)).sum()
    out.backward()
    assert bool((synapses.raw_weight.grad != 0).all()) == recovers


def test_unconstrained_units_keep_plain_weights():
    raw = torch.tensor([[[-0.5], [0.5]]])
    synapses = Synapses(raw, torch.tensor([[0.0, -1.0]]))
    assert synapses.effective_weight().flatten().tolist() == [-0.5, -0.5]


def test_dropout_only_in_training_and_at_the_requested_rate():
    net = SpikingClassifier(ClassifierConfig(n_inputs=20, hidden=(50,)), [Member(seed=0, dropout=0.5)])
    x = random_spikes((1, 64, 30, 20), rate=0.5)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(net(x, [g1]), net(x, [g2]))  # masks come from the given generator only
    assert not torch.equal(net(x, [g1]), net(x, [torch.Generator().manual_seed(2)]))
    with pytest.raises(ValueError, match="dropout_generators"):
        net(x)
    hidden = net.hidden_layers[0](net.synapse_layer("input")(x))
    kept = _drop(hidden, net.dropout[0], [torch.Generator().manual_seed(0)])
    spiking = hidden > 0
    assert (kept[spiking] == 0).float().mean() == pytest.approx(0.5, abs=0.05)
    assert set(kept[spiking].unique().tolist()) <= {0.0, 2.0}


@pytest.mark.parametrize("field,value", [("dropout", 1.0), ("dropout", -0.1), ("ie_ratio", 1.2),
                                         ("dale_layers", "hidden")])
def test_bad_member_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        Member(**{field: value})


@pytest.mark.parametrize("field,value", [("tau_s", 0.0), ("n_inputs", 0), ("backend", "cuda-magic"),
                                         ("reset", "subtrac")])
def test_bad_network_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ClassifierConfig(**{field: value})


def test_surrogate_is_finite_far_below_threshold():
    # snnTorch's own sigmoid surrogate returns inf/inf = NaN once slope * (u - threshold) < -88.
    current = torch.tensor([-30.0, -1e4, 0.9], requires_grad=True)
    spike, _ = lif_step(current, torch.zeros(3), LIFParameters(surrogate_slope=5.0))
    spike.sum().backward()
    assert bool(torch.isfinite(current.grad).all())
    assert current.grad[1] == 0.0 and current.grad[2] > 0.0


def test_non_finite_gradients_are_found_and_zeroed_per_member():
    from spikeloc.learning.losses import LossConfig
    from spikeloc.learning.surrogate import spiking_learner
    from spikeloc.learning.trainer import _finite_gradients, _zero_gradients
    net = SpikingClassifier(ClassifierConfig(n_inputs=4, hidden=(3,)), [Member(seed=0), Member(seed=1)])
    learner = spiking_learner(net, LossConfig(), [])
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    net.synapse_layer("input").raw_weight.grad[1, 0, 0] = float("nan")
    finite = _finite_gradients(learner.parameters, learner.n_members)
    assert finite.tolist() == [True, False]
    _zero_gradients(learner.parameters, learner.n_members, ~finite)
    for p in net.parameters():
        assert bool((p.grad[0] == 1).all()) and bool((p.grad[1] == 0).all())


def test_deep_network_shapes_layers_and_per_layer_settings():
    config = ClassifierConfig(n_inputs=12, hidden=(16, 8), n_classes=4)
    assert config.synapse_names == ("input", "hidden_1", "readout")
    member = Member(seed=3, dropout=(0.2, 0.0), dale_layers=("hidden_1",), ie_ratio=0.25)
    net = SpikingClassifier(config, [member])
    assert [tuple(s.raw_weight.shape) for s in net.synapses] == [(1, 12, 16), (1, 16, 8), (1, 8, 4)]
    assert [int((s.signs != 0).sum()) for s in net.synapses] == [0, 16, 0]
    assert int((net.synapse_layer("hidden_1").signs < 0).sum()) == 4
    assert net.dropout[:, 0].tolist() == pytest.approx([0.2, 0.0])
    assert net.eval()(random_spikes((5, 30, 12))).shape == (5, 30, 4)


@pytest.mark.parametrize("member,field", [(Member(dropout=(0.1, 0.2, 0.3)), "dropout"),
                                          (Member(dale_layers=("hidden_7",)), "dale_layers")])
def test_member_that_does_not_fit_the_network_names_the_field(member, field):
    with pytest.raises(ValueError, match=field):
        SpikingClassifier(ClassifierConfig(n_inputs=4, hidden=(5, 5)), [member])


@pytest.mark.parametrize("hidden", [(0,), (10, -1), (2.5,)])
def test_bad_hidden_sizes_are_refused(hidden):
    with pytest.raises(ValueError, match="hidden"):
        ClassifierConfig(hidden=hidden)


def test_spiking_readout_emits_spikes_and_predicts_by_count():
    net = SpikingClassifier(ClassifierConfig(n_inputs=20, hidden=(40,), n_classes=3, readout="spikes"),
                            [Member(seed=1)])
    with torch.no_grad():
        net.synapses[0].raw_weight.mul_(6)
        net.synapses[1].raw_weight.mul_(6)
    out = net(random_spikes((8, 50, 20), rate=0.4))
    assert set(out.unique().tolist()) <= {0.0, 1.0} and out.sum() > 0
    counts = out.sum(dim=-2)
    assert torch.equal(predict(out), counts.argmax(dim=-1))


def test_tie_break_by_first_spike_worked_by_hand():
    # T = 4 steps, 4 classes; counts 2, 2, 1, 2: classes 0, 1 and 3 tie at 2.
    spikes = torch.tensor([[0, 0, 0, 0],
                           [0, 1, 0, 0],
                           [1, 0, 1, 1],
                           [1, 1, 0, 1]], dtype=torch.float32)  # (T, classes)
    # first spikes: class 0 at step 2, class 1 at step 1, class 2 at step 2, class 3 at step 2
    assert predict(spikes).item() == 0  # the seed's argmax: the first tied class
    assert predict(spikes, "first_spike").item() == 1  # the tied class that spiked first
    assert predict(spikes[:, [0, 3, 2]], "first_spike").item() == 0  # same first step: the first of them
    silent = torch.zeros(3, 3)
    assert predict(silent, "first_spike").item() == 0  # no spikes at all: the first class
    untied = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])  # counts 1 and 2: the count decides
    assert predict(untied, "first_spike").item() == 1
    batch = torch.stack([spikes, spikes[:, [3, 2, 1, 0]]])  # (2, T, classes): class 1 moved to index 2
    assert predict(batch, "first_spike").tolist() == [1, 2]
    with pytest.raises(ValueError, match="^tie_break = "):
        predict(spikes, "last")


def test_tie_break_by_final_membrane_worked_by_hand():
    # T = 3 steps, 4 classes; counts 1, 1, 0, 1: classes 0, 1 and 3 tie at 1.
    spikes = torch.tensor([[0, 1, 0, 0],
                           [1, 0, 0, 0],
                           [0, 0, 0, 1]], dtype=torch.float32)  # (T, classes)
    membrane = torch.tensor([0.2, 0.1, 0.9, 0.5])  # final membranes; class 2 is highest but not at the top count
    assert predict(spikes).item() == 0  # the first tied class
    assert predict(spikes, "first_spike").item() == 1  # the tied class that spiked first
    assert predict(spikes, "membrane", final_membrane=membrane).item() == 3  # the tied class highest at the end
    assert predict(spikes, "membrane", final_membrane=torch.tensor([0.2, 0.1, 0.9, 0.2])).item() == 0  # equal: first
    batch = torch.stack([spikes, spikes[:, [3, 2, 1, 0]]])  # (2, T, classes): class 3 moved to index 0
    assert predict(batch, "membrane", final_membrane=torch.stack([membrane, membrane.flip(0)])).tolist() == [3, 0]
    for tie_break, given in (("membrane", None), ("first", membrane), ("membrane", membrane[:3])):
        with pytest.raises(ValueError, match="^final_membrane = "):
            predict(spikes, tie_break, final_membrane=given)


def _identity_readout(population: int = 1, **options) -> SpikingClassifier:
    """Inputs straight onto the LIF output neurons (one input current per output neuron), tau 10 ms, dt 1 ms."""
    n = 5 * population
    config = ClassifierConfig(n_inputs=n, hidden=(), n_classes=5, readout="spikes", population=population,
                              tau_s=10e-3, tie_break="membrane", **options)
    net = SpikingClassifier(config, [Member(seed=0)])
    with torch.no_grad():
        net.synapses[0].raw_weight.copy_(torch.eye(n)[None])
    return net


# Input currents (T = 4 steps) per output neuron, threshold 1, beta = exp(-0.1) = 0.905:
#   class 0: 0.6, 0.6, 0, 0    -> u = 0.6, 1.143 (spike at 1), 0 (reset), 0      1 spike, first at 1, final 0
#   class 1: 1.5, 0, 0, 0.5    -> spike at 0, u_3 = 0.5                           1 spike, first at 0, final 0.5
#   class 2: 0, 1.1, 0, 0.8    -> spike at 1, u_3 = 0.8                           1 spike, first at 1, final 0.8
#   class 3: 0, 0, 0, 1.3      -> spike at 3 (u_3 = 1.3, reset at 4)              1 spike, first at 3, final 0
#   class 4: 0, 0, 0, 0.95     -> no spike                                         0 spikes,             final 0.95
HAND_CURRENTS = torch.tensor([[0.6, 1.5, 0.0, 0.0, 0.0],
                              [0.6, 0.0, 1.1, 0.0, 0.0],
                              [0.0, 0.0, 0.0, 0.0, 0.0],
                              [0.0, 0.5, 0.8, 1.3, 0.95]])


@pytest.mark.parametrize("backend", ["fused", "snntorch"])
def test_network_membrane_tie_break_reads_the_final_membrane_after_the_reset(backend):
    """All four spiking classes tie at one spike: 'first' picks class 0, 'first_spike' class 1, the final
    membrane class 2 (0.8), not class 3 (whose u_T = 1.3 is a spike at the last step, reset to 0) nor class 4
    (0.95, below the top count)."""
    net = _identity_readout(backend=backend)
    trace = net.trace(HAND_CURRENTS[None])
    assert trace.output.sum(dim=-2).tolist() == [[1, 1, 1, 1, 0]]
    torch.testing.assert_close(trace.final_membrane, torch.tensor([[0.0, 0.5, 0.8, 0.0, 0.95]]))
    assert torch.equal(trace.output, net(HAND_CURRENTS[None]))
    assert net.predict(trace).tolist() == [2]
    assert predict(trace.output).tolist() == [0]
    assert predict(trace.output, "first_spike").tolist() == [1]
    with pytest.raises(ValueError, match="^final_membrane = "):
        net.predict(trace.output)  # the output alone cannot break the tie by membrane
    first = net.with_tie_break("first")  # the same weights, another decision rule
    assert first.trace(HAND_CURRENTS[None]).final_membrane is None
    assert torch.equal(first(HAND_CURRENTS[None]), trace.output) and first.predict(trace.output).tolist() == [0]
    assert net.with_tie_break("first_spike").predict(trace.output).tolist() == [1]


def test_population_membrane_tie_break_averages_the_class_neurons():
    """Two neurons per class: class c's neurons get currents of classes c and (c + 1) mod 5 of the table
    above, so every class has 2 spikes except the last two; its final membrane is the mean of its neurons'."""
    net = _identity_readout(population=2)
    currents = torch.stack([HAND_CURRENTS, HAND_CURRENTS.roll(-1, dims=1)], dim=-1).flatten(-2)  # (T, 10)
    trace = net.trace(currents[None])
    assert (trace.output.sum(dim=-2) * 2).round().tolist() == [[2, 2, 2, 1, 1]]
    torch.testing.assert_close(trace.final_membrane, torch.tensor([[0.25, 0.65, 0.4, 0.475, 0.475]]))
    assert net.predict(trace).tolist() == [1]  # 0.65 among the tied classes 0, 1, 2


def test_population_readout_decodes_the_summed_count_worked_by_hand():
    # 2 classes x 3 neurons over T = 2 steps: class 0 owns neurons 0-2, class 1 neurons 3-5
    neurons = torch.tensor([[1, 0, 0, 1, 1, 0],
                            [1, 1, 0, 0, 0, 1]], dtype=torch.float32)
    pooled = pool_population(neurons, 3)
    torch.testing.assert_close(pooled, torch.tensor([[1 / 3, 2 / 3], [2 / 3, 1 / 3]]))
    # summed counts 3 and 3 tie; class 0 and class 1 both spiked at step 0: the first class
    assert predict(pooled, "first_spike").item() == 0
    skewed = torch.tensor([[1, 1, 1, 0, 0, 0],
                           [0, 0, 0, 1, 1, 1],
                           [0, 0, 0, 0, 1, 1]], dtype=torch.float32)  # counts 3 and 5; neuron 0 ties neuron 4
    assert predict(pool_population(skewed, 3), "first_spike").item() == 1  # the summed count decides
    assert torch.equal(pool_population(neurons, 1), neurons)
    # 25 steps, 10 neurons per class, 25 spikes each: class 0 one spike per step (first at step 0), class 1 all
    # ten neurons at step 0 then one per step. Summed fractions 2.4999998 and 2.5000002 in float32: a tie.
    steps = torch.zeros(25, 20)
    steps[:, 0] = 1
    steps[0, 10:] = 1
    steps[1:16, 10] = 1
    pooled = pool_population(steps, 10)
    assert pooled[:, 0].sum() != pooled[:, 1].sum()  # float rounding, not spike counts
    assert predict(pooled, "first", population=10).item() == 0  # tied counts: the first class
    late = torch.zeros(25, 20)
    late[1:, 0] = 1  # class 0: 24 spikes, the first at step 1
    late[0, 10:] = 1
    late[1:15, 10] = 1  # class 1: 10 + 14 = 24 spikes, the first at step 0
    assert predict(pool_population(late, 10), "first", population=10).item() == 0
    assert predict(pool_population(late, 10), "first_spike", population=10).item() == 1


def test_population_network_has_n_neurons_per_class_and_predicts_with_its_tie_break():
    config = ClassifierConfig(n_inputs=20, hidden=(), n_classes=3, readout="spikes", population=4,
                              tie_break="first_spike")
    net = SpikingClassifier(config, [Member(seed=1)])
    assert net.synapse_layer("readout").raw_weight.shape == (1, 20, 12)
    with torch.no_grad():
        net.synapses[0].raw_weight.mul_(6)
    x = random_spikes((8, 30, 20), rate=0.4)
    out = net(x)
    assert out.shape == (8, 30, 3)
    neurons = net.readout(net.synapses[0](x[None]))[0]  # (8, 30, 12) spikes of the output neurons
    torch.testing.assert_close(out.sum(dim=-2) * 4, neurons.sum(dim=-2).unflatten(-1, (3, 4)).sum(dim=-1))
    assert torch.equal(net.predict(out), predict(out, "first_spike", population=4))
    for field, value, extra in (("population", 0, {}), ("population", 2, {"readout": "membrane"}),
                                ("tie_break", "last", {})):
        with pytest.raises(ValueError, match=rf"^{field} = "):
            ClassifierConfig(**{"readout": "spikes", field: value, **extra})


def test_restrict_keeps_the_chosen_members_computation():
    config = ClassifierConfig(n_inputs=10, hidden=(6,), n_classes=3)
    net = SpikingClassifier(config, [Member(seed=s, dale_layers="both") for s in range(3)]).eval()
    x = random_spikes((3, 2, 20, 10))
    sub = net.restrict([2, 0]).eval()
    assert torch.equal(sub(x[[2, 0]]), net(x)[[2, 0]])


def test_network_without_hidden_layers_connects_inputs_to_the_readout():
    config = ClassifierConfig(n_inputs=12, hidden=(), n_classes=4, readout="spikes")
    net = SpikingClassifier(config, [Member(seed=0, dale_layers="readout")]).eval()
    assert config.synapse_names == ("readout",) and len(net.hidden_layers) == 0
    assert net(random_spikes((5, 30, 12))).shape == (5, 30, 4)
    with pytest.raises(ValueError, match="dale_layers"):
        SpikingClassifier(config, [Member(dale_layers="input")])


# Cases that kill mutants mutmut found surviving in synapses.py and classifier.py (`make mutation`).

def test_dale_magnitude_and_its_gradient_in_both_zero_gradient_modes():
    """|raw| * sign in both modes; at raw = 0 the "recover" mode passes gradient +1 * sign (a silenced synapse
    can grow back), the default "cull" mode none (torch's d|w|/dw = 0 at 0)."""
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0])
    expected = torch.tensor([2.0, -0.0, 0.5, -3.0])
    for mode, zero_gradient in (("recover", -1.0), ("cull", 0.0)):
        raw = torch.tensor([-2.0, 0.0, 0.5, 3.0], requires_grad=True)
        effective = signed_weight(raw, signs, mode) if mode == "recover" else signed_weight(raw, signs)
        assert torch.equal(effective, expected)
        effective.sum().backward()
        assert torch.equal(raw.grad, torch.tensor([-1.0, zero_gradient, 1.0, -1.0]))


def test_dale_signs_at_the_ends_of_the_inhibitory_fraction():
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(dale_signs(6, 1.0, generator), -torch.ones(6))
    assert torch.equal(dale_signs(6, 0.0, generator), torch.ones(6))
    with pytest.raises(ValueError, match=r"^ie_ratio = 1\.5 is invalid: must be in \[0, 1\]$"):
        dale_signs(6, 1.5, generator)


def test_predict_rounds_population_counts_only():
    """A membrane readout's time sums are not rounded (0.2 < 0.4 decides); a population readout's fractions are
    turned into counts (population * score) before the argmax."""
    membrane = torch.tensor([[0.1, 0.2], [0.1, 0.2]])  # (T, classes): sums 0.2 and 0.4
    assert predict(membrane).item() == 1
    fractions = torch.tensor([[0.1, 0.1], [0.1, 0.1], [0.0, 0.1]])  # 10 neurons per class: 2 and 3 spikes
    assert predict(fractions, population=10).item() == 1


def test_first_spike_tie_break_never_prefers_a_class_below_the_top_count():
    """The only class at the top count wins even when it spiked only at the last step."""
    output = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # (T = 3, classes)
    assert predict(output, "first_spike").item() == 1


@pytest.mark.parametrize("reset", ["subtract", "none"])
def test_reset_mechanism_reaches_every_spiking_layer_on_both_backends(reset, tmp_path):
    """ClassifierConfig(reset=...): the fused network equals the snnTorch-stepped one (snn.Leaky with that
    reset_mechanism), differs from the reset-to-zero network, and survives a save/load round trip; the final
    membrane of a spiking readout is the membrane after that reset."""
    from spikeloc.networks.saved import load, save

    config = ClassifierConfig(n_inputs=20, hidden=(12, 9), n_classes=5, readout="spikes", reset=reset,
                              tie_break="membrane")
    x = random_spikes((2, 3, 50, 20), seed=3, rate=0.4)
    nets = {backend: SpikingClassifier(dataclasses.replace(config, backend=backend), [Member(0), Member(1)])
            for backend in ("fused", "snntorch")}
    zero = SpikingClassifier(dataclasses.replace(config, reset="zero"), [Member(0), Member(1)])
    with torch.no_grad():
        for net in (*nets.values(), zero):  # stronger weights than the default init: every layer spikes
            for synapses in net.synapses:
                synapses.raw_weight.mul_(4)
        fused, stepped = nets["fused"].trace(x), nets["snntorch"].trace(x)
        assert fused.output.sum() > 0 and torch.equal(fused.output, stepped.output)
        torch.testing.assert_close(fused.final_membrane, stepped.final_membrane, rtol=0, atol=0)
        assert not torch.equal(fused.output, zero(x))
        currents = nets["fused"].synapses[-1](nets["fused"].hidden_layers[1](nets["fused"].synapses[1](
            nets["fused"].hidden_layers[0](nets["fused"].synapses[0](x)))))
        spikes, membranes = nets["fused"].readout(currents, return_membrane=True)
        after = membranes[..., -1, :] - (spikes[..., -1, :] if reset == "subtract" else 0)  # threshold 1
        torch.testing.assert_close(fused.final_membrane, after, rtol=0, atol=0)
    save(nets["fused"], tmp_path / "model.pt")
    loaded = load(tmp_path / "model.pt").network
    assert loaded.config.reset == reset and torch.equal(loaded(x), fused.output)


def test_reset_is_left_out_of_run_identity_while_zero():
    from spikeloc.validation import OMIT_IF_DEFAULT

    field = {f.name: f for f in dataclasses.fields(ClassifierConfig)}["reset"]
    assert field.default == "zero" and field.metadata.get(OMIT_IF_DEFAULT)
