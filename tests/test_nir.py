"""NIR exchange (spikeloc.networks.nir): round trip bit for bit, snnTorch's importer and exporter on the same
networks, the command line, and refusals that name the file or what does not fit."""

import math
import warnings

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir", reason="the optional nir extra is not installed (pip install -e '.[nir]')")
pytest.importorskip("nirtorch", reason="the optional nir extra is not installed (pip install -e '.[nir]')")
import snntorch as snn  # noqa: E402
import snntorch.utils  # noqa: E402
from snntorch.export_nir import export_to_nir  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402

from spikeloc.cli import main  # noqa: E402
from spikeloc.networks import nir as exchange  # noqa: E402
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier  # noqa: E402
from spikeloc.networks.saved import load, save  # noqa: E402

CONFIGS = {
    "two hidden, membrane": ClassifierConfig(n_inputs=20, hidden=(16, 8), n_classes=4),
    "spikes, gamma taus": ClassifierConfig(n_inputs=20, hidden=(16,), n_classes=4, readout="spikes",
                                           tau_distribution="gamma", tau_spread=0.5),
    "no hidden, learned taus": ClassifierConfig(n_inputs=20, hidden=(), n_classes=4, tau_distribution="uniform",
                                                tau_spread=0.5, learn_tau=True),
    "three hidden, spikes": ClassifierConfig(n_inputs=20, hidden=(12, 10, 8), n_classes=4, readout="spikes"),
}


def network(config, dale=True):
    members = [Member(seed=1), Member(seed=2, dale_layers=config.synapse_names if dale else "none", ie_ratio=0.3)]
    net = SpikingClassifier(config, members).eval()
    with torch.no_grad():
        for synapses in net.synapses:
            synapses.raw_weight.mul_(4)  # strong enough that every layer spikes
    return net


def inputs(batch=8, steps=40, n=20, seed=0):
    return (torch.rand(batch, steps, n, generator=torch.Generator().manual_seed(seed)) < 0.3).float() * 2


def hidden_spikes(net, x):
    """Total spikes of every hidden layer (a check that the comparison is not between silent networks)."""
    h, counts = x[None], []
    for synapses, layer in zip(net.synapses, net.hidden_layers):
        h = layer(synapses(h))
        counts.append(float(h.sum()))
    return counts


def run_steps(module, x):
    """Step a nirtorch module over time (batch, T, inputs) from a fresh state."""
    snntorch.utils.reset(module)
    state, outputs = None, []
    for t in range(x.shape[1]):
        out, state = module(x[:, t], state)
        outputs.append(out)
    return torch.stack(outputs, 1)


@pytest.mark.parametrize("name", CONFIGS)
def test_round_trip_through_a_file_is_bit_for_bit(name, tmp_path):
    net, x = network(CONFIGS[name]), inputs()
    for k in range(net.n_members):
        path = tmp_path / f"member{k}.nir"
        exchange.write(net, path, member=k)
        back = exchange.read(path)
        alone = net.restrict([k])
        with torch.no_grad():
            assert torch.equal(back(x), alone(x))
            assert all(c > 0 for c in hidden_spikes(alone, x)), "a silent layer makes the comparison empty"
        assert back.config == net.config and back.members == (net.members[k],)
        for mine, theirs in zip(back.synapses, alone.synapses):
            assert torch.equal(mine.effective_weight(), theirs.effective_weight())
            assert torch.equal(mine.signs, theirs.signs)  # Dale's signs come back, not just folded weights


def test_a_graph_written_at_another_step_reads_back_with_the_step_it_records(tmp_path):
    net, x = network(CONFIGS["spikes, gamma taus"]), inputs()
    exchange.write(net, tmp_path / "coarse.nir", member=0, dt_nir_s=1e-3)
    assert float(nir.read(tmp_path / "coarse.nir").metadata["spikeloc_time_step_s"]) == 1e-3
    with torch.no_grad():
        assert torch.equal(exchange.read(tmp_path / "coarse.nir")(x), net.restrict([0])(x))


def test_exported_graph_holds_folded_weights_and_snntorch_time_constants():
    config = CONFIGS["two hidden, membrane"]
    net = network(config)
    graph = exchange.to_nir(net, member=1)
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    assert kinds == {"input": "Input", "synapses_input": "Linear", "layer_1": "LIF", "synapses_hidden_1": "Linear",
                     "layer_2": "LIF", "synapses_readout": "Linear", "readout": "LI", "output": "Output"}
    weight = graph.nodes["synapses_input"].weight
    signs = net.synapses[0].signs[1].numpy()
    assert signs.any() and np.array_equal(np.sign(weight[:, signs != 0]) * signs[signs != 0] >= 0,
                                          np.ones_like(weight[:, signs != 0], dtype=bool))
    assert np.array_equal(weight, net.synapses[0].effective_weight().detach()[1].T.numpy())
    lif = graph.nodes["layer_1"]
    beta = math.exp(-config.dt_s / config.tau_s)
    assert np.allclose(lif.tau, exchange.SNNTORCH_DT_S / (1 - beta), rtol=1e-12)  # not dt / tau_s: Euler
    assert np.allclose(lif.r * exchange.SNNTORCH_DT_S / lif.tau, 1.0, rtol=1e-12)


@pytest.mark.parametrize("name", ["spikes, gamma taus", "three hidden, spikes"])
def test_snntorch_importer_gives_the_same_spikes(name):
    net, x = network(CONFIGS[name]), inputs()
    alone = net.restrict([1])
    with torch.no_grad():
        ours = alone(x)
        theirs = run_steps(import_from_nir(exchange.to_nir(net, member=1)), x)
    assert float(ours.sum()) > 0 and torch.equal(ours, theirs)


def test_membrane_readout_through_snntorch_importer_with_our_leaky_integrator():
    net, x = network(CONFIGS["two hidden, membrane"]), inputs()
    alone = net.restrict([1])
    with torch.no_grad():
        ours = alone(x)
        theirs = run_steps(exchange.to_snntorch(exchange.to_nir(net, member=1)), x)
    # same spikes upstream; the readout sums in another order (fused: a matrix product over time)
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-5) and float(ours.abs().sum()) > 0


def snntorch_network(seed=0, reset="zero", readout_reset=None, per_neuron=True):
    """Linear(20, 16) -> Leaky -> Linear(16, 4) -> Leaky, per-neuron (or one) beta and threshold 1."""
    torch.manual_seed(seed)
    first, second = torch.nn.Linear(20, 16, bias=False), torch.nn.Linear(16, 4, bias=False)
    with torch.no_grad():
        first.weight.mul_(4)
        second.weight.mul_(4)
    # the exporter needs per-neuron tensor beta and threshold, and writes every Leaky as reset-to-zero
    beta = (lambda n: torch.rand(n) * 0.5 + 0.45) if per_neuron else (lambda n: torch.tensor(0.8))
    hidden = snn.Leaky(beta=beta(16), threshold=torch.ones(16), reset_mechanism=reset, init_hidden=True)
    readout = snn.Leaky(beta=beta(4), threshold=torch.ones(4), reset_mechanism=readout_reset or reset,
                        init_hidden=True, output=True)
    return torch.nn.Sequential(first, hidden, second, readout)


def test_a_graph_from_snntorchs_exporter_imports_with_equal_outputs(tmp_path):
    source, x = snntorch_network(), inputs()
    graph = export_to_nir(source, torch.zeros(1, 20), ignore_dims=[0])
    snntorch.utils.reset(source)
    with torch.no_grad():
        expected = torch.stack([source(x[:, t])[0] for t in range(x.shape[1])], 1)
    nir.write(tmp_path / "snntorch.nir", graph)
    imported = exchange.read(tmp_path / "snntorch.nir", snntorch_reset="zero")
    assert imported.config.readout == "spikes" and imported.config.hidden == (16,)
    assert imported.config.per_neuron_tau  # snnTorch's per-neuron betas stay per neuron
    with torch.no_grad():
        assert float(expected.sum()) > 0 and torch.equal(imported(x), expected)


def test_uniform_decays_import_as_one_time_constant():
    source = snntorch_network()
    for module in (source[1], source[3]):
        module.beta.fill_(0.8)
    imported = exchange.from_nir(export_to_nir(source, torch.zeros(1, 20), ignore_dims=[0]), dt_s=1e-3,
                                 snntorch_reset="zero")
    assert not imported.config.per_neuron_tau
    assert imported.config.lif.beta == pytest.approx(0.8, rel=1e-6)


def snntorch_steps(source, x):
    """(readout spikes, readout membranes) of a Linear/Leaky Sequential, snnTorch stepping itself from rest."""
    snntorch.utils.reset(source)
    with torch.no_grad():
        steps = [source(x[:, t]) for t in range(x.shape[1])]
    return torch.stack([s for s, _ in steps], 1), torch.stack([m for _, m in steps], 1)


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("per_neuron", [True, False])
def test_from_snntorch_gives_snntorchs_spikes(per_neuron, reset):
    """Any reset mechanism, snnTorch's default 'subtract' first: the readout's and every hidden layer's spikes
    equal those of snnTorch stepping its own modules."""
    source, x = snntorch_network(per_neuron=per_neuron, reset=reset), inputs()
    expected, membranes = snntorch_steps(source, x)
    expected_hidden = snntorch_hidden_spikes(source, x)
    imported = exchange.from_snntorch(source)
    assert imported.config.per_neuron_tau == per_neuron and imported.config.reset == reset
    with torch.no_grad():
        if reset == "none":  # a last Leaky without reset is read as the membrane readout
            assert imported.config.readout == "membrane"
            assert torch.allclose(imported(x), membranes, rtol=1e-5, atol=1e-5)
        else:
            assert imported.config.readout == "spikes"
            assert float(expected.sum()) > 0 and torch.equal(imported(x), expected)
        assert float(expected_hidden.sum()) > 0
        assert torch.equal(imported.hidden_layers[0](imported.synapses[0](x[None]))[0], expected_hidden)


def snntorch_hidden_spikes(source, x):
    """The first Leaky's spikes (batch, T, units), snnTorch stepping its own modules from rest."""
    snntorch.utils.reset(source)
    with torch.no_grad():
        return torch.stack([source[1](source[0](x[:, t])) for t in range(x.shape[1])], 1)


def test_a_network_that_does_not_reset_to_zero_is_not_exported():
    source = snntorch_network(reset="subtract")
    with pytest.raises(ValueError, match="reset = 'subtract' is invalid: must be 'zero' for NIR export"):
        exchange.to_nir(exchange.from_snntorch(source))


def test_from_snntorch_reads_a_last_leaky_without_reset_as_the_membrane_readout():
    source, x = snntorch_network(readout_reset="none"), inputs()
    _, membranes = snntorch_steps(source, x)
    imported = exchange.from_snntorch(source)
    assert imported.config.readout == "membrane"
    with torch.no_grad():  # the readout sums as a filter over time: equal to float rounding
        assert torch.allclose(imported(x), membranes, rtol=1e-5, atol=1e-5) and float(membranes.abs().sum()) > 0


def without_reset_delay(source):
    for leaky in (source[1], source[3]):
        leaky.reset_delay = False
    return source


def changed(change):
    source = snntorch_network()
    change(source)
    return source


@pytest.mark.parametrize("source, message", [
    (lambda: snntorch_network(readout_reset="subtract"), "layer 3 .* reset_mechanism='subtract' after 'zero'"),
    (lambda: without_reset_delay(snntorch_network(reset="subtract")), "reset_delay=False"),
    (lambda: changed(lambda s: setattr(s, "0", torch.nn.Linear(20, 16))), "bias"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(20, 16, bias=False), torch.nn.ReLU()), "ReLU"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(20, 4, bias=False), snn.Synaptic(alpha=0.9, beta=0.8)),
     "Synaptic"),
    (lambda: changed(lambda s: setattr(s[1], "inhibition", True)), "inhibition"),
    (lambda: changed(lambda s: s[1].graded_spikes_factor.fill_(2.0)), "graded_spikes_factor"),
    (lambda: changed(lambda s: s[3].threshold.fill_(2.0)), "thresholds"),
    (lambda: changed(lambda s: s[1].beta.fill_(1.0)), "beta outside"),
    (lambda: snntorch_network()[0], "nn.Sequential"),
])
def test_from_snntorch_refuses_by_name_what_spikeloc_cannot_represent(source, message):
    with pytest.raises(ValueError, match=message):
        exchange.from_snntorch(source())


def test_graphs_from_snntorchs_exporter_warn_that_their_reset_is_unknown(tmp_path):
    source = snntorch_network(reset="subtract")  # snnTorch's default reset
    assert_exported_reset_is_warned_about(source, tmp_path, network(CONFIGS["spikes, gamma taus"]))


def assert_exported_reset_is_warned_about(source, tmp_path, own):
    """snnTorch's export of ``source`` (a 'subtract' network) warns and reads with other spikes, is refused with
    snntorch_reset='subtract' and read silently with 'zero'; spikeloc's own network ``own`` reads silently."""
    x = inputs()
    nir.write(tmp_path / "subtract.nir", export_to_nir(source, torch.zeros(1, 20), ignore_dims=[0]))
    with pytest.warns(exchange.SnnTorchResetWarning, match="from_snntorch"):
        imported = exchange.read(tmp_path / "subtract.nir")
    with torch.no_grad():  # what the warning is about: the file route changes the spikes
        assert not torch.equal(imported(x), snntorch_steps(source, x)[0])
    with pytest.raises(exchange.NIRFileError, match="snntorch_reset='subtract'"):
        exchange.read(tmp_path / "subtract.nir", snntorch_reset="subtract")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exchange.read(tmp_path / "subtract.nir", snntorch_reset="zero")  # the caller vouches: no warning
        exchange.from_nir(exchange.to_nir(own))  # spikeloc's own: none


@pytest.mark.parametrize("dale", [True, False])
def test_population_readout_exports_with_its_pooling(dale):
    config = ClassifierConfig(n_inputs=20, hidden=(16,), n_classes=4, readout="spikes", population=3)
    net, x = network(config, dale=dale), inputs()
    graph = exchange.to_nir(net, member=1)
    pool = graph.nodes["population_pool"].weight
    assert pool.shape == (4, 12) and np.allclose(pool.sum(axis=1), 1) and np.count_nonzero(pool) == 12
    alone = net.restrict([1])
    with torch.no_grad():
        ours = alone(x)
        assert float(ours.sum()) > 0 and torch.equal(exchange.from_nir(graph)(x), ours)
        graph.metadata.pop("spikeloc")  # read from the graph alone: the pooling node gives the population
        back = exchange.from_nir(graph)
        assert back.config.population == 3 and torch.equal(back(x), ours)
        # snnTorch's importer runs it too (the pooling is a matrix product: equal to float rounding)
        assert torch.allclose(run_steps(import_from_nir(exchange.to_nir(net, member=1)), x), ours, atol=1e-6)


def test_a_linear_after_the_spiking_readout_that_is_not_a_pooling_is_refused():
    graph = nir.NIRGraph.from_list(nir.Input(np.array([3])), nir.Linear(weight=np.ones((2, 3))), lif(2),
                                   nir.Linear(weight=np.ones((1, 2))), nir.Output(np.array([1])))
    with pytest.raises(ValueError, match="population"):
        exchange.from_nir(graph)


def test_to_snntorch_requires_snntorch_1(monkeypatch):
    monkeypatch.setattr(snn, "__version__", "0.9.1")
    with pytest.raises(ImportError, match=r"snntorch >= 1\.0 \(installed: 0\.9\.1"):
        exchange.to_snntorch(exchange.to_nir(network(CONFIGS["two hidden, membrane"])))


def chain(*nodes):
    return nir.NIRGraph.from_list(nir.Input(np.array([3])), *nodes, nir.Output(np.array([2])))


def lif(n, **changes):
    tau = np.full(n, 5e-4)
    fields = dict(tau=tau, r=tau / exchange.SNNTORCH_DT_S, v_leak=np.zeros(n), v_threshold=np.ones(n),
                  v_reset=np.zeros(n))
    return nir.LIF(**{**fields, **changes})


@pytest.mark.parametrize("graph, message", [
    (lambda: chain(nir.Affine(weight=np.ones((2, 3)), bias=np.ones(2)), lif(2)), "bias"),
    (lambda: chain(nir.Linear(weight=np.ones((2, 3))), lif(2, v_leak=np.ones(2))), "v_leak"),
    (lambda: chain(nir.Linear(weight=np.ones((2, 3))), lif(2, v_reset=np.ones(2))), "v_reset"),
    (lambda: chain(nir.Linear(weight=np.ones((2, 3))), lif(2, r=np.ones(2))), "input gain"),
    (lambda: chain(nir.Linear(weight=np.ones((2, 3))), lif(2, v_threshold=np.array([1.0, 2.0]))), "threshold"),
    (lambda: chain(nir.Linear(weight=np.ones((2, 3)))), "in turn"),
])
def test_graphs_spikeloc_cannot_represent_are_refused_with_the_reason(graph, message):
    with pytest.raises(ValueError, match=message):
        exchange.from_nir(graph())


def test_export_refuses_input_delays_and_a_missing_member():
    delayed = SpikingClassifier(ClassifierConfig(n_inputs=4, hidden=(3,), n_classes=2, input_delays="fixed",
                                                 max_delay_steps=2), [Member()])
    with pytest.raises(ValueError, match="input_delays"):
        exchange.to_nir(delayed)
    with pytest.raises(ValueError, match="member"):
        exchange.to_nir(network(CONFIGS["two hidden, membrane"]), member=2)


def test_command_line_exports_and_imports_and_names_bad_files(tmp_path, capsys):
    net = network(CONFIGS["spikes, gamma taus"])
    save(net, tmp_path / "model.pt")
    out, back = tmp_path / "member1.nir", tmp_path / "back.pt"
    assert main(["export-nir", "--model", str(tmp_path / "model.pt"), "--member", "1", str(out)]) == 0
    assert main(["import-nir", str(out), "--save", str(back)]) == 0
    with torch.no_grad():
        assert torch.equal(load(back).network(inputs()), net.restrict([1])(inputs()))
    capsys.readouterr()
    (tmp_path / "junk.nir").write_text("not a graph")
    import h5py
    with h5py.File(tmp_path / "other.h5", "w") as f:  # HDF5, but not NIR
        f.create_dataset("data", data=np.ones(3))
    nir.write(tmp_path / "linear_only.nir", chain(nir.Linear(weight=np.ones((2, 3)))))  # NIR, not a spiking chain
    cases = [
        (["import-nir", str(tmp_path / "other.h5"), "--save", str(tmp_path / "x.pt")], "other.h5"),
        (["import-nir", str(tmp_path / "linear_only.nir"), "--save", str(tmp_path / "x.pt")], "linear_only.nir"),
        (["import-nir", str(tmp_path / "junk.nir"), "--save", str(tmp_path / "x.pt")], "junk.nir"),
        (["import-nir", str(tmp_path / "missing.nir"), "--save", str(tmp_path / "x.pt")], "missing.nir"),
        (["import-nir", str(tmp_path / "model.pt"), "--save", str(tmp_path / "x.pt")], "model.pt"),
        (["export-nir", "--model", str(tmp_path / "junk.nir"), str(tmp_path / "y.nir")], "junk.nir"),
        (["export-nir", "--model", str(tmp_path / "model.pt"), "--member", "7", str(tmp_path / "y.nir")],
         "--member"),
        (["export-nir", "--model", str(tmp_path / "model.pt"), str(tmp_path / "no" / "y.nir")], "y.nir"),
    ]
    for argv, named in cases:
        assert main(argv) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and named in error and "Traceback" not in error
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "y.nir").exists()
