"""ClassifierConfig(neuron="recurrent"): hidden layers of snnTorch's RLeaky with all-to-all, Dale-aware recurrent
weights per member; the network against snn.RLeaky stepped by snnTorch, Dale signs, training, saving, options."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
from spikeloc.networks.saved import ModelFileError, load, save
from spikeloc.substrate.neurons import RecurrentLayer
from test_fused_recurrent import snntorch_rleaky

CONFIG = ClassifierConfig(n_inputs=20, hidden=(12,), n_classes=5, readout="spikes", reset="subtract",
                          neuron="recurrent")
MEMBERS = [Member(0, dale_layers="both", ie_ratio=0.25), Member(1)]


def strong(network):
    """Feed-forward weights scaled by 4 (the default init is too weak for every layer to spike)."""
    with torch.no_grad():
        for synapses in network.synapses:
            synapses.raw_weight.mul_(4)
    return network


def inputs(seed: int = 0, members: int = 2):
    return (torch.rand(members, 3, 50, 20, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


def test_network_equals_snntorch_rleaky_stepped_per_member():
    """The hidden layer is snn.RLeaky (all_to_all, linear_features=12, recurrent.weight = member's Dale-signed
    V^T, bias 0) bit for bit in float32, inside the whole network."""
    net = strong(SpikingClassifier(CONFIG, MEMBERS))
    x = inputs()
    layer = net.hidden_layers[0]
    with torch.no_grad():
        currents = net.synapses[0](x)
        beta = torch.full((2, 12), CONFIG.lif.beta, dtype=torch.float32)
        hidden = snntorch_rleaky(currents, layer.recurrent.effective_weight(), beta, "subtract")[0]
        expected = net.readout(net.synapses[1](hidden))
        output = net(x)
    assert 0.05 < hidden.mean() < 0.9 and output.sum() > 0
    assert torch.equal(output, expected)


def test_zero_recurrent_weights_give_the_leaky_network():
    nets = [strong(SpikingClassifier(dataclasses.replace(CONFIG, neuron=neuron), MEMBERS))
            for neuron in ("recurrent", "leaky")]
    x = inputs(1)
    with torch.no_grad():
        assert not torch.equal(nets[0](x), nets[1](x))
        nets[0].hidden_layers[0].recurrent.raw_weight.zero_()
        assert torch.equal(nets[0](x), nets[1](x))


def test_recurrent_signs_are_the_units_own_and_never_flip():
    """Dale: member 0 constrains the synapses its hidden units feed (readout), so its recurrent weights carry
    those units' signs per presynaptic unit; member 1 is unconstrained (signs 0). A training step keeps them."""
    config = dataclasses.replace(CONFIG, hidden=(12, 8))
    members = [Member(0, dale_layers=("input", "hidden_1"), ie_ratio=0.25), Member(1, dale_layers=("readout",))]
    net = strong(SpikingClassifier(config, members))
    first, second = (layer.recurrent for layer in net.hidden_layers)
    assert torch.equal(first.signs, net.synapses[1].signs) and torch.equal(second.signs, net.synapses[2].signs)
    assert (first.signs[0].abs() == 1).all() and (first.signs[1] == 0).all()
    assert (second.signs[0] == 0).all() and (second.signs[1].abs() == 1).all()
    assert (first.signs[0] == -1).sum() == 3  # round(0.25 * 12) inhibitory units
    assert any(p is first.raw_weight for p in net.parameters())  # the trainer's optimiser sees it
    optimiser = torch.optim.SGD(net.parameters(), lr=5.0)
    net(inputs(2)).sum().backward()
    assert first.raw_weight.grad.abs().sum() > 0
    optimiser.step()
    effective = first.effective_weight()[0]
    signs = first.signs[0][:, None]
    assert ((effective * signs) >= 0).all()  # each presynaptic unit's outgoing recurrent weights keep its sign


def test_saved_model_round_trip_restrict_and_damaged_recurrent_signs(tmp_path):
    net = strong(SpikingClassifier(dataclasses.replace(CONFIG, tau_distribution="gamma", tau_spread=0.5,
                                                       learn_tau=True), MEMBERS)).eval()
    save(net, tmp_path / "model.pt")
    loaded = load(tmp_path / "model.pt").network
    x = inputs(3)
    with torch.no_grad():
        assert loaded.config.neuron == "recurrent" and torch.equal(loaded(x), net(x))
        assert torch.equal(net.restrict([1])(x[1:]), net(x)[1:])
    content = torch.load(tmp_path / "model.pt", weights_only=True)
    content["state"]["hidden_layers.0.recurrent.signs"][0, :3] *= -1  # still +-1, but not the units' own signs
    torch.save(content, tmp_path / "damaged.pt")
    with pytest.raises(ModelFileError, match="'hidden_layers.0.recurrent.signs' differs from 'synapses.1.signs'"):
        load(tmp_path / "damaged.pt")
    content["state"]["hidden_layers.0.recurrent.signs"][1, 0] = 1.0  # a sign on the unconstrained member
    torch.save(content, tmp_path / "damaged.pt")
    with pytest.raises(ModelFileError, match="recurrent.signs' holds Dale sign 1"):
        load(tmp_path / "damaged.pt")


def test_recurrent_needs_the_fused_backend():
    with pytest.raises(ValueError, match="^backend = 'snntorch' is invalid: must be 'fused' for recurrent neurons"):
        dataclasses.replace(CONFIG, backend="snntorch")
    net = SpikingClassifier(CONFIG, MEMBERS)
    with pytest.raises(ValueError, match="^backend = 'snntorch' is invalid"):
        RecurrentLayer(CONFIG.lif, net.hidden_layers[0].recurrent, backend="snntorch")


def test_runs_and_command_line_take_the_recurrent_neuron():
    from spikeloc.cli import parser
    from spikeloc.experiments.digits import DigitsRun
    from spikeloc.experiments.ipd import IPDRun

    assert IPDRun(neuron="recurrent").network_config().neuron == "recurrent"
    assert DigitsRun(neuron="recurrent").network_config(n_inputs=4, n_classes=2).neuron == "recurrent"
    for command in ("train-ipd", "train-digits"):
        assert parser().parse_args([command, "--neuron", "recurrent"]).neuron == ["recurrent"]
