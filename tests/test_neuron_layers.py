"""One neuron kind per hidden layer (``ClassifierConfig.neuron`` as a tuple): each layer is built of its kind and
computes what a network of that kind computes there; the tuple's length is checked against the hidden layers; a
tuple of one kind is that kind (the same network and run id); run ids recorded before per-layer kinds existed are
unchanged; saved models and the command line (``--neuron`` takes one kind or one per hidden layer) carry it."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from spikeloc import cli
from spikeloc.cli import main
from spikeloc.experiments.digits import DigitsRun
from spikeloc.experiments.ipd import IPDRun, saved_runs
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
from spikeloc.networks.saved import load, save
from spikeloc.study.runner import make_run_id, recorded_fields
from spikeloc.substrate.neurons import NEURONS, LIFLayer, SynapticLayer

LAYER_TYPES = {"leaky": LIFLayer, "synaptic": SynapticLayer}


def strong(network):
    with torch.no_grad():
        for synapses in network.synapses:
            synapses.raw_weight.mul_(4)
    return network.eval()


def test_each_hidden_layer_is_of_its_kind_and_computes_as_in_a_network_of_that_kind():
    """Weights are drawn per synapse layer whatever the kinds, so layer i of the mixed network takes the same
    input currents as layer i of the one-kind networks, and must give that kind's spikes."""
    kinds = ("synaptic", "leaky", "synaptic")
    config = ClassifierConfig(n_inputs=20, hidden=(12, 10, 8), n_classes=4, readout="spikes", neuron=kinds,
                              tau_syn_s=3e-3, tau_distribution="gamma", tau_spread=0.5)
    members = [Member(seed=0), Member(seed=1, dale_layers="both")]
    mixed = strong(SpikingClassifier(config, members))
    alike = {kind: strong(SpikingClassifier(dataclasses.replace(config, neuron=kind), members)) for kind in NEURONS}
    assert [type(layer) for layer in mixed.hidden_layers] == [LAYER_TYPES[kind] for kind in kinds]
    x = (torch.rand(2, 3, 40, 20, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    with torch.no_grad():
        h = x
        for i, (synapses, layer, kind) in enumerate(zip(mixed.synapses, mixed.hidden_layers, kinds)):
            currents = synapses(h)
            h = layer(currents)
            assert float(h.sum()) > 0 and torch.equal(h, alike[kind].hidden_layers[i](currents))
            assert not torch.equal(h, alike[{"leaky": "synaptic", "synaptic": "leaky"}[kind]].hidden_layers[i](
                currents))
        assert torch.equal(mixed(x), mixed.readout(mixed.synapses[-1](h)))
        assert torch.equal(mixed.restrict([1])(x[1:]), mixed(x)[1:])


def test_a_tuple_of_one_kind_is_that_kind():
    assert ClassifierConfig(hidden=(4, 3), neuron=["synaptic", "synaptic"]).neuron == "synaptic"
    assert ClassifierConfig(hidden=(4, 3), neuron=["synaptic", "leaky"]).neuron == ("synaptic", "leaky")
    assert ClassifierConfig(hidden=(4, 3), neuron="synaptic").neurons == ("synaptic", "synaptic")
    assert IPDRun(neuron=("leaky",)) == IPDRun() and DigitsRun(hidden=(8, 4), neuron=["leaky", "leaky"]) == DigitsRun(
        hidden=(8, 4))
    assert IPDRun(more_hidden=(10,), neuron=["synaptic", "leaky"]).network_config().neurons == ("synaptic", "leaky")


@pytest.mark.parametrize("make, message", [
    (lambda: ClassifierConfig(hidden=(4, 3), neuron=("synaptic",)), r"one kind, or one per hidden layer \(2\)"),
    (lambda: ClassifierConfig(hidden=(4,), neuron=("synaptic", "leaky")), r"one per hidden layer \(1\)"),
    (lambda: ClassifierConfig(hidden=(4, 3), neuron=("synaptic", "alif")), "'alif' is invalid: must be one of"),
    (lambda: ClassifierConfig(hidden=(4, 3), neuron=3), "3 is invalid: must be one of"),
    (lambda: IPDRun(more_hidden=(10,), neuron=("synaptic", "leaky", "leaky")), r"one per hidden layer \(2\)"),
    (lambda: DigitsRun(hidden=(8,), neuron=("synaptic", "leaky")), r"one per hidden layer \(1\)"),
    (lambda: ClassifierConfig(hidden=(4, 3), neuron=("synaptic", "leaky"), backend="snntorch"), "^reset = "),
])
def test_bad_neuron_kinds_are_one_error_naming_the_field(make, message):
    with pytest.raises(ValueError, match=message) as error:
        make()
    assert error.value.field in ("neuron", "reset")


def test_run_ids_recorded_before_per_layer_kinds_are_unchanged():
    """Ids printed by the code before this change (``make_run_id(recorded_fields(run), seed)``): a default run
    records no neuron, a one-kind run records it as before, and a tuple of one kind is that run."""
    recorded = [(IPDRun(), 0, "2f12358d3c8488f5"),
                (IPDRun(n_hidden=20, more_hidden=(10,), neuron="synaptic"), 3, "46805a5ba9e14e4b"),
                (IPDRun(n_hidden=20, more_hidden=(10,), neuron=("synaptic", "synaptic")), 3, "46805a5ba9e14e4b"),
                (DigitsRun(hidden=(20, 10)), 1, "b5f1988b7c960813"),
                (DigitsRun(hidden=(20, 10), neuron=("leaky", "leaky")), 1, "b5f1988b7c960813")]
    for run, seed, run_id in recorded:
        assert make_run_id(recorded_fields(run), seed) == run_id
    mixed = IPDRun(n_hidden=20, more_hidden=(10,), neuron=("synaptic", "leaky"))
    assert recorded_fields(mixed)["neuron"] == ("synaptic", "leaky")
    assert make_run_id(recorded_fields(mixed), 3) != "46805a5ba9e14e4b"


def test_saved_models_keep_each_layers_kind(tmp_path):
    config = ClassifierConfig(n_inputs=20, hidden=(10, 8), n_classes=4, neuron=("leaky", "synaptic"),
                              tau_distribution="uniform", tau_spread=0.3, learn_tau=True)
    net = strong(SpikingClassifier(config, [Member(seed=0), Member(seed=1)]))
    with torch.no_grad():
        net.hidden_layers[1].synaptic_time_constants.log_tau.add_(0.2)  # as if trained
    save(net, tmp_path / "model.pt")
    loaded = load(tmp_path / "model.pt").network
    x = (torch.rand(2, 4, 30, 20, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    assert loaded.config == config and loaded.config.neuron == ("leaky", "synaptic")
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))


def test_the_command_lines_kinds_are_the_librarys():
    assert cli.NEURONS == NEURONS


def test_train_ipd_takes_one_kind_per_hidden_layer(tmp_path, capsys):
    model = tmp_path / "model.pt"
    assert main(["train-ipd", "--hidden", "6", "4", "--neuron", "synaptic", "leaky", "--epochs", "1", "--json",
                 "--save", str(model)]) == 0
    saved = load(model)
    assert saved.network.config.neurons == ("synaptic", "leaky")
    (run, _), = saved_runs(saved)  # the run the metadata records, read back
    assert run.neuron == ("synaptic", "leaky") and run.network_config() == saved.network.config


@pytest.mark.parametrize("argv", [
    ["train-ipd", "--hidden", "6", "4", "--neuron", "synaptic", "leaky", "leaky"],
    ["train-ipd", "--neuron", "synaptic", "leaky"],
    ["train-digits", "--hidden", "16", "--neuron", "leaky", "synaptic"],
    ["train-ipd", "--neuron", "alif"],
])
def test_a_neuron_count_or_kind_that_does_not_fit_is_a_usage_error(tmp_path, capsys, argv):
    status = main([*argv, "--save", str(tmp_path / "model.pt")])
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and not (tmp_path / "model.pt").exists()
    assert err.count("\n") == 1 and "argument --neuron: " in err, err
