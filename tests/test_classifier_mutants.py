"""The spiking classifier (spikeloc.networks.classifier) where `make mutation` found it untested: input delays,
copies of trained networks (restrict, with_tie_break) with learned time constants and delays, dropout masks per
sample, the reset in the final membrane, decisions on membrane scores, and the messages of its refusals."""

import dataclasses

import pytest
import torch

from spikeloc import seeding
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier, predict
from spikeloc.substrate.neurons import SynapticLayer

torch.set_num_threads(1)


def spikes(shape, seed=0, rate=0.3):
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < rate).float()


def test_a_wrong_input_shape_is_refused_naming_the_shape_expected():
    net = SpikingClassifier(ClassifierConfig(n_inputs=4, hidden=(3,), n_classes=2), [Member(0), Member(1)])
    with pytest.raises(ValueError) as refused:
        net(torch.zeros(2, 5, 7, 3))
    assert str(refused.value) == ("inputs = (2, 5, 7, 3) is invalid: must be shaped (members=2, batch, T, inputs=4) "
                                  "or (batch, T, inputs) for one member")


def test_an_unknown_synapse_layer_is_refused_naming_the_layers():
    net = SpikingClassifier(ClassifierConfig(n_inputs=4, hidden=(3,), n_classes=2), [Member(0)])
    assert net.synapse_layer("readout") is net.synapses[1]
    with pytest.raises(ValueError) as refused:
        net.synapse_layer("hidden_1")
    assert str(refused.value) == "name = 'hidden_1' is invalid: must be one of 'input', 'readout'"


def test_fixed_input_delays_shift_each_fibre_by_its_own_number_of_steps():
    config = ClassifierConfig(n_inputs=6, hidden=(5,), n_classes=3, input_delays="fixed", max_delay_steps=3)
    members = [Member(0), Member(1)]
    net = SpikingClassifier(config, members)
    undelayed = SpikingClassifier(dataclasses.replace(config, input_delays="none"), members)
    delays = net.input_delays.delays_steps.long()  # (K, inputs)
    assert int(delays.min()) == 0 and int(delays.max()) == 3
    x = spikes((2, 4, 12, 6))
    shifted = torch.zeros_like(x)
    for k in range(2):
        for i in range(6):
            d = int(delays[k, i])
            shifted[k, :, d:, i] = x[k, :, :12 - d, i]
    torch.testing.assert_close(net(x), undelayed(shifted))
    assert not torch.equal(net(x), undelayed(x))


def trained_like(net):
    """``net`` with every learned time constant and delay moved away from its drawn value (as training does)."""
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            if "log_tau" in name:
                parameter.add_(torch.linspace(-0.3, 0.3, parameter.numel()).view_as(parameter))
        if net.input_delays is not None:
            net.input_delays.delays_steps.copy_(net.input_delays.delays_steps.flip(-1))
    return net


@pytest.mark.parametrize("neuron, readout", [("leaky", "spikes"), ("synaptic", "membrane")])
def test_copies_of_a_trained_network_keep_its_learned_time_constants_and_delays(neuron, readout):
    config = ClassifierConfig(n_inputs=6, hidden=(5, 4), n_classes=3, readout=readout, neuron=neuron,
                              tau_distribution="gamma", tau_spread=0.3, learn_tau=True, input_delays="learned",
                              max_delay_steps=3, threshold=0.5)
    net = trained_like(SpikingClassifier(config, [Member(0), Member(1), Member(2)]))
    x = spikes((3, 2, 10, 6), rate=0.5)
    output = net(x)
    chosen = net.restrict([2, 0])
    torch.testing.assert_close(chosen(x[[2, 0]]), output[[2, 0]])
    torch.testing.assert_close(net.with_tie_break("first_spike")(x), output)
    learned = {name: value for name, value in net.state_dict().items() if "log_tau" in name or "delays" in name}
    assert len(learned) == 3 + (2 if neuron == "synaptic" else 0) + 1  # 2 hidden + readout, synaptic, delays
    for name, value in chosen.state_dict().items():
        if name in learned:
            assert torch.equal(value, learned[name][[2, 0]]), name
    fresh = SpikingClassifier(config, [Member(0), Member(2)])
    assert not any(torch.equal(fresh.state_dict()[name], learned[name][[0, 2]]) for name in learned)


@pytest.mark.parametrize("neuron", ["leaky", "synaptic"])
def test_every_neuron_of_every_layer_gets_its_own_drawn_time_constants(neuron):
    """Membrane taus around tau_s, synaptic taus around tau_syn_s, per neuron, member and layer."""
    config = ClassifierConfig(n_inputs=6, hidden=(60, 60), n_classes=3, neuron=neuron, tau_distribution="gamma",
                              tau_spread=0.3, tau_s=5e-3, tau_syn_s=2e-3)
    net = SpikingClassifier(config, [Member(0), Member(1)])
    drawn = [(layer.time_constants, 5e-3) for layer in [*net.hidden_layers, net.readout]]
    if neuron == "synaptic":
        assert all(isinstance(layer, SynapticLayer) for layer in net.hidden_layers)
        drawn += [(layer.synaptic_time_constants, 2e-3) for layer in net.hidden_layers]
    for constants, mean_s in drawn:
        tau = constants.log_tau.exp()
        assert len(set(tau.flatten().tolist())) == tau.numel()  # each neuron of each member its own
        assert abs(float(tau.mean()) / mean_s - 1) < 0.15
    taus = [constants.log_tau for constants, _ in drawn if constants.log_tau.shape[1] == 60]
    assert not any(torch.equal(a, b) for i, a in enumerate(taus) for b in taus[i + 1:])  # no layer repeats another


def test_each_sample_of_a_batch_gets_its_own_dropout_mask():
    net = SpikingClassifier(ClassifierConfig(n_inputs=6, hidden=(40,), n_classes=3), [Member(0, dropout=0.5)])
    x = spikes((1, 1, 10, 6), rate=0.6).expand(1, 2, 10, 6)  # the same sample twice
    net.train()
    output = net(x, [seeding.generator(0, "dropout")])
    assert not torch.equal(output[0, 0], output[0, 1])
    net.eval()
    output = net(x)
    assert torch.equal(output[0, 0], output[0, 1])


def test_trace_drops_out_like_forward_in_training():
    net = SpikingClassifier(ClassifierConfig(n_inputs=6, hidden=(8,), n_classes=3, tie_break="membrane"),
                            [Member(0, dropout=0.3), Member(1, dropout=0.6)])
    net.train()
    x = spikes((2, 3, 10, 6), rate=0.6)
    trace = net.trace(x, [seeding.generator(k, "dropout") for k in range(2)])
    assert torch.equal(trace.output, net(x, [seeding.generator(k, "dropout") for k in range(2)]))


@pytest.mark.parametrize("generators, given", [(None, "None"), (1, "1")])
def test_dropout_without_one_generator_per_member_is_refused_by_name(generators, given):
    net = SpikingClassifier(ClassifierConfig(n_inputs=6, hidden=(8,), n_classes=3),
                            [Member(0, dropout=0.3), Member(1)])
    net.train()
    with pytest.raises(ValueError) as refused:
        net(spikes((2, 3, 10, 6)), None if generators is None else [torch.Generator()] * generators)
    assert str(refused.value) == f"dropout_generators = {given} is invalid: must be one generator per member (2)"


def test_the_final_membrane_after_a_subtractive_reset_loses_one_threshold_per_spike():
    """Threshold 0.5: a spike at the last step takes 0.5 off the membrane (not 1 / 0.5)."""
    config = ClassifierConfig(n_inputs=2, hidden=(), n_classes=2, readout="spikes", reset="subtract",
                              threshold=0.5, tie_break="membrane", tau_s=1e9)
    net = SpikingClassifier(config, [Member(0)])
    with torch.no_grad():
        net.synapses[0].raw_weight.copy_(torch.eye(2)[None])
    currents = torch.tensor([[[0.0, 0.0], [0.0, 0.0], [0.6, 0.3]]])  # class 0 spikes at the last step
    trace = net.trace(currents)
    assert trace.output.sum(dim=-2).tolist() == [[1.0, 0.0]]
    torch.testing.assert_close(trace.final_membrane, torch.tensor([[0.6 - 0.5, 0.3]]))


def test_membrane_scores_are_not_rounded_by_default():
    scores = torch.tensor([[[0.3, 0.4]]])  # (batch, T = 1, classes): rounding twice the scores would tie them
    assert predict(scores).tolist() == [1]


def test_first_spike_ranks_a_class_whose_output_never_rose_above_zero_last():
    """Equal scores 0: class 0's output stays 0, class 1's rises at step 0 (and falls again)."""
    output = torch.tensor([[[0.0, 1.0], [0.0, -1.0]]])
    assert predict(output, "first_spike").tolist() == [1]


def test_predict_refuses_a_final_membrane_it_cannot_use_and_names_its_shape():
    output = torch.zeros(2, 5, 3)
    with pytest.raises(ValueError) as refused:
        predict(output, "first", final_membrane=torch.zeros(2, 3))
    assert str(refused.value) == ("final_membrane = (2, 3) is invalid: must be given (..., classes) exactly when "
                                  "tie_break is 'membrane' (SpikingClassifier.trace gives it)")
    with pytest.raises(ValueError) as refused:
        predict(output, "membrane")
    assert str(refused.value).startswith("final_membrane = None is invalid: must be given (..., classes)")
    with pytest.raises(ValueError) as refused:
        predict(output, "membrane", final_membrane=torch.zeros(2, 4))
    assert str(refused.value) == "final_membrane = (2, 4) is invalid: must be shaped like the class scores (2, 3)"


@pytest.mark.parametrize("make, message", [
    (lambda: ClassifierConfig(hidden=[30, 0]), "hidden = 0 is invalid: must be an integer >= 1 (each layer size)"),
    (lambda: ClassifierConfig(n_inputs=0), "n_inputs = 0 is invalid: must be an integer >= 1"),
    (lambda: ClassifierConfig(n_classes=1.5), "n_classes = 1.5 is invalid: must be an integer >= 1"),
    (lambda: ClassifierConfig(readout="rate"), "readout = 'rate' is invalid: must be one of 'membrane', 'spikes'"),
    (lambda: ClassifierConfig(backend="jax"), "backend = 'jax' is invalid: must be one of 'fused', 'snntorch'"),
    (lambda: ClassifierConfig(zero_gradient="x"), "zero_gradient = 'x' is invalid: must be one of 'cull', 'recover'"),
    (lambda: ClassifierConfig(backend="snntorch", learn_tau=True),
     "backend = 'snntorch' is invalid: must be 'fused' for per-neuron time constants (tau_distribution / learn_tau)"),
    (lambda: ClassifierConfig(input_delays="random"),
     "input_delays = 'random' is invalid: must be one of 'none', 'fixed', 'learned'"),
    (lambda: ClassifierConfig(max_delay_steps=0), "max_delay_steps = 0 is invalid: must be an integer >= 1 (time steps)"),
    (lambda: ClassifierConfig(max_delay_steps=2.0),
     "max_delay_steps = 2.0 is invalid: must be an integer >= 1 (time steps)"),
    (lambda: ClassifierConfig(population=0, readout="spikes"),
     "population = 0 is invalid: must be an integer >= 1 (output neurons per class)"),
    (lambda: ClassifierConfig(population=2),
     "population = 2 is invalid: must be 1 with the membrane readout (a population needs the spiking readout)"),
    (lambda: ClassifierConfig(tie_break="last"),
     "tie_break = 'last' is invalid: must be one of 'first', 'first_spike', 'membrane'"),
    (lambda: ClassifierConfig(tau_syn_s=0.0), "tau_syn_s = 0.0 is invalid: must be > 0 s"),
    (lambda: ClassifierConfig(neuron="synaptic", backend="snntorch"),
     "reset = 'zero' is invalid: must be 'subtract' or 'none' for synaptic neurons on the snntorch backend "
     "(snn.Synaptic's 'zero' reset differs from Leaky's; the fused backend resets as Leaky)"),
    (lambda: Member(seed=-1), "seed = -1 is invalid: must be an integer >= 0"),
    (lambda: Member(dropout=[0.1, 1.0]),
     "dropout = 1.0 is invalid: must be a finite number >= 0 and < 1 (one value, or one per layer)"),
    (lambda: Member(dale_layers="all"), "dale_layers = 'all' is invalid: must be one of 'none', 'input', 'readout', "
                                        "'both'"),
    (lambda: Member(ie_ratio=1.5), "ie_ratio = 1.5 is invalid: must be a finite number >= 0 and <= 1"),
])
def test_bad_settings_are_refused_with_a_message_naming_them(make, message):
    with pytest.raises(ValueError) as refused:
        make()
    assert str(refused.value) == message


def test_the_smallest_valid_settings_are_accepted():
    assert ClassifierConfig(hidden=[1], n_inputs=1, n_classes=1, max_delay_steps=1, tau_syn_s=1e-9).hidden == (1,)
    assert ClassifierConfig(neuron="synaptic", backend="snntorch", reset="subtract").neuron == "synaptic"
    member = Member(dropout=[0.0, 0.5], dale_layers=["input"])
    assert (member.dropout, member.dale_layers) == ((0.0, 0.5), ("input",))
    with pytest.raises(ValueError, match="^neuron = 'alpha' is invalid: must be one of 'leaky'"):
        ClassifierConfig(neuron="alpha")
