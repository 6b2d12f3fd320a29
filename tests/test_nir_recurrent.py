"""NIR exchange of recurrent networks (neuron="recurrent"): each hidden layer's recurrent weights as a graph cycle
LIF -> Linear -> the same LIF; export -> import gives the same spikes bit for bit, with and without spikeloc's
metadata; cycles spikeloc cannot represent are refused with the reason."""

import copy
import dataclasses

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir", reason="the optional nir extra is not installed (pip install -e '.[nir]')")

from spikeloc.networks import nir as exchange  # noqa: E402
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier  # noqa: E402

CONFIG = ClassifierConfig(n_inputs=20, hidden=(16, 10), n_classes=4, readout="spikes", neuron="recurrent",
                          tau_distribution="gamma", tau_spread=0.4)


def network(neuron="recurrent"):
    config = dataclasses.replace(CONFIG, neuron=neuron)
    members = [Member(seed=1), Member(seed=2, dale_layers=config.synapse_names, ie_ratio=0.3)]
    net = SpikingClassifier(config, members).eval()
    with torch.no_grad():
        for synapses in net.synapses:
            synapses.raw_weight.mul_(4)  # strong enough that every layer spikes
        for layer in net.hidden_layers:
            if hasattr(layer, "recurrent"):
                layer.recurrent.raw_weight.mul_(2)
    return net


def inputs(seed=0):
    return (torch.rand(8, 40, 20, generator=torch.Generator().manual_seed(seed)) < 0.3).float() * 2


def hidden_spikes(net, x):
    h, spikes = x[None], []
    for synapses, layer in zip(net.synapses, net.hidden_layers):
        h = layer(synapses(h))
        spikes.append(h)
    return spikes


@pytest.mark.parametrize("member", [0, 1])
@pytest.mark.parametrize("metadata", ["spikeloc", "stripped"])
@pytest.mark.parametrize("neuron", ["recurrent", ("synaptic", "recurrent")])
def test_round_trip_gives_the_same_spikes_bit_for_bit(member, metadata, neuron, tmp_path):
    net, x = network(neuron), inputs()
    graph = exchange.to_nir(net, member=member)
    assert ("layer_2", "recurrent_layer_2") in graph.edges and ("recurrent_layer_2", "layer_2") in graph.edges
    assert graph.nodes["recurrent_layer_2"].weight.shape == (10, 10)
    assert ("recurrent_layer_1" in graph.nodes) == (neuron == "recurrent")
    if metadata == "stripped":  # another tool's graph: the recurrence is read from the cycles alone
        graph.metadata = {"spikeloc_time_step_s": graph.metadata["spikeloc_time_step_s"]}
    path = tmp_path / "net.nir"
    nir.write(path, graph)
    back = exchange.read(path)
    alone = net.restrict([member])
    assert back.config.neuron == neuron
    with torch.no_grad():
        for mine, theirs in zip(hidden_spikes(back, x), hidden_spikes(alone, x)):
            assert theirs.sum() > 0 and torch.equal(mine, theirs)
        assert torch.equal(back(x), alone(x))
    for mine, theirs in zip(back.hidden_layers[-1:], alone.hidden_layers[-1:]):
        assert torch.equal(mine.recurrent.effective_weight(), theirs.recurrent.effective_weight())
        assert torch.equal(mine.recurrent.signs, theirs.recurrent.signs)


def test_recurrence_matters_to_the_imported_network():
    """Without its cycles (the recurrent nodes and edges dropped, spikeloc's metadata too) the graph reads as a
    leaky network with other spikes: the loops are what carries the recurrence."""
    net, x = network(), inputs(1)
    graph = exchange.to_nir(net, member=0)
    graph.nodes = {k: v for k, v in graph.nodes.items() if not k.startswith("recurrent_")}
    graph.edges = [e for e in graph.edges if not any(end.startswith("recurrent_") for end in e)]
    graph.metadata = {"spikeloc_time_step_s": graph.metadata["spikeloc_time_step_s"]}
    leaky = exchange.from_nir(graph)
    assert leaky.config.neuron == "leaky"
    with torch.no_grad():
        assert not torch.equal(leaky(x), net.restrict([0])(x))


def refused_graph(change):
    graph = exchange.to_nir(network(), member=1)
    graph = copy.deepcopy(graph)
    change(graph)
    return graph


def test_a_loop_on_one_hidden_layer_reads_as_a_mixed_network():
    graph = exchange.to_nir(network(), member=1)
    del graph.nodes["recurrent_layer_2"]
    graph.edges = [e for e in graph.edges if "recurrent_layer_2" not in e]
    assert exchange.from_nir(graph).config.neurons == ("recurrent", "leaky")


def flip_signs(graph):
    graph.nodes["recurrent_layer_1"].metadata["dale_signs"] = -graph.nodes["recurrent_layer_1"].metadata["dale_signs"]


def loop_on_readout(graph):
    graph.nodes["recurrent_readout"] = nir.Linear(weight=np.eye(4))
    graph.edges += [("readout", "recurrent_readout"), ("recurrent_readout", "readout")]


def loop_on_cubalif(graph):
    graph.nodes["layer_1"] = nir.CubaLIF(tau_syn=graph.nodes["layer_1"].tau, tau_mem=graph.nodes["layer_1"].tau,
                                         r=graph.nodes["layer_1"].r, w_in=graph.nodes["layer_1"].r,
                                         v_leak=np.zeros(16), v_threshold=np.ones(16), v_reset=np.zeros(16))


def second_loop(graph):
    graph.nodes["recurrent_again"] = nir.Linear(weight=np.eye(16))
    graph.edges += [("layer_1", "recurrent_again"), ("recurrent_again", "layer_1")]


@pytest.mark.parametrize("change, message", [
    (flip_signs, "dale_signs differ from those of the synapses its layer feeds"),
    (loop_on_readout, "the readout node has a recurrent loop"),
    (second_loop, "LIF node 'layer_1' has two recurrent loops"),
    (loop_on_cubalif, "a CubaLIF node has a recurrent loop"),
])
def test_cycles_spikeloc_cannot_represent_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        exchange.from_nir(refused_graph(change))
