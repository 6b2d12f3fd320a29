"""NIR exchange of current-based (``"synaptic"``) hidden layers as ``nir.CubaLIF``, alone and mixed with LIF layers:
round trip bit for bit, snnTorch's importer and exporter on the same networks (its ``snn.Synaptic``), live
snnTorch ``Synaptic`` networks read by :func:`from_snntorch`, and the reset refusals and warnings of LIF held for
CubaLIF too."""

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir", reason="the optional nir extra is not installed (pip install -e '.[nir]')")
pytest.importorskip("nirtorch", reason="the optional nir extra is not installed (pip install -e '.[nir]')")
import snntorch as snn  # noqa: E402
import snntorch.utils  # noqa: E402
from snntorch.export_nir import export_to_nir  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402
from test_nir import (  # noqa: E402
    assert_exported_reset_is_warned_about,
    hidden_spikes,
    inputs,
    network,
    run_steps,
    snntorch_steps,
)

from spikeloc.networks import nir as exchange  # noqa: E402
from spikeloc.networks.classifier import ClassifierConfig  # noqa: E402

CONFIGS = {
    "synaptic, membrane": ClassifierConfig(n_inputs=20, hidden=(16, 8), n_classes=4, neuron="synaptic",
                                           tau_syn_s=3e-3),
    "synaptic, spikes, gamma taus": ClassifierConfig(n_inputs=20, hidden=(16,), n_classes=4, readout="spikes",
                                                     neuron="synaptic", tau_distribution="gamma", tau_spread=0.5),
    "synaptic then leaky, learned taus": ClassifierConfig(n_inputs=20, hidden=(16, 8), n_classes=4, readout="spikes",
                                                          neuron=("synaptic", "leaky"), tau_distribution="uniform",
                                                          tau_spread=0.5, learn_tau=True, tau_syn_s=2e-3),
    "leaky then synaptic, population": ClassifierConfig(n_inputs=20, hidden=(12, 10), n_classes=4, readout="spikes",
                                                        population=2, neuron=("leaky", "synaptic")),
}
SPIKING = ["synaptic, spikes, gamma taus", "synaptic then leaky, learned taus", "leaky then synaptic, population"]


def node_kinds(graph):
    return [type(graph.nodes[f"layer_{i}"]).__name__ for i in range(1, 1 + sum(k.startswith("layer_")
                                                                             for k in graph.nodes))]


@pytest.mark.parametrize("name", CONFIGS)
def test_round_trip_through_a_file_is_bit_for_bit(name, tmp_path):
    net, x = network(CONFIGS[name]), inputs()
    for k in range(net.n_members):
        exchange.write(net, tmp_path / f"member{k}.nir", member=k)
        graph = nir.read(tmp_path / f"member{k}.nir")
        assert node_kinds(graph) == ["CubaLIF" if kind == "synaptic" else "LIF" for kind in net.config.neurons]
        back, alone = exchange.read(tmp_path / f"member{k}.nir"), net.restrict([k])
        with torch.no_grad():
            assert torch.equal(back(x), alone(x))
            assert all(c > 0 for c in hidden_spikes(alone, x)), "a silent layer makes the comparison empty"
        assert back.config == net.config and back.members == (net.members[k],)


@pytest.mark.parametrize("name", CONFIGS)
def test_a_graph_without_spikeloc_metadata_reads_back_with_equal_outputs(name):
    """Read from the nodes alone (as another tool's graph): the kinds per layer and the decays come back."""
    net, x = network(CONFIGS[name]), inputs()
    graph = exchange.to_nir(net, member=1)
    graph.metadata.pop("spikeloc")
    back = exchange.from_nir(graph)
    assert back.config.neurons == net.config.neurons and back.config.per_neuron_tau == net.config.per_neuron_tau
    if not net.config.per_neuron_tau:
        assert back.config.tau_syn_s == pytest.approx(net.config.tau_syn_s, rel=1e-9)
    with torch.no_grad():
        assert torch.equal(back(x), net.restrict([1])(x))


def test_exported_cubalif_holds_snntorch_time_constants():
    """The node snnTorch's exporter writes for snn.Synaptic: tau_syn = dt / (1 - alpha), w_in = tau_syn / dt,
    tau_mem = dt / (1 - beta), r = tau_mem / dt (dt = 0.1 ms), per neuron."""
    net = network(CONFIGS["synaptic then leaky, learned taus"])
    graph = exchange.to_nir(net, member=1)
    assert node_kinds(graph) == ["CubaLIF", "LIF"]
    node, layer, dt = graph.nodes["layer_1"], net.hidden_layers[0], exchange.SNNTORCH_DT_S
    alpha, beta = layer.alpha().detach()[1].double().numpy(), layer.beta().detach()[1].double().numpy()
    assert np.unique(alpha).size == 16 and not np.allclose(alpha, beta)  # per neuron, and not beta's
    np.testing.assert_allclose(node.tau_syn, dt / (1 - alpha), rtol=1e-12)
    np.testing.assert_allclose(node.tau_mem, dt / (1 - beta), rtol=1e-12)
    np.testing.assert_allclose(node.w_in * dt / node.tau_syn, 1.0, rtol=1e-12)
    np.testing.assert_allclose(node.r * dt / node.tau_mem, 1.0, rtol=1e-12)
    assert not np.any(node.v_leak) and not np.any(node.v_reset) and np.all(node.v_threshold == 1.0)


@pytest.mark.parametrize("name", SPIKING)
def test_snntorch_importer_gives_the_same_spikes(name):
    """snnTorch's importer builds snn.Synaptic(reset_mechanism='zero', reset_delay=False) for CubaLIF: the same
    spikes as spikeloc's zero-reset synaptic neurons."""
    net, x = network(CONFIGS[name]), inputs()
    alone = net.restrict([1])
    graph = exchange.to_nir(net, member=1)
    with torch.no_grad():
        ours = alone(x)
        theirs = run_steps(import_from_nir(graph), x)
        assert float(ours.sum()) > 0
        if net.config.population == 1:
            assert torch.equal(ours, theirs)
        else:  # the pooling is a matrix product: equal to float rounding
            assert torch.allclose(ours, theirs, atol=1e-6)
        assert torch.equal(run_steps(exchange.to_snntorch(graph), x), theirs)


def test_membrane_readout_through_to_snntorch():
    net, x = network(CONFIGS["synaptic, membrane"]), inputs()
    with torch.no_grad():
        ours = net.restrict([1])(x)
        theirs = run_steps(exchange.to_snntorch(exchange.to_nir(net, member=1)), x)
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-5) and float(ours.abs().sum()) > 0


def test_a_synaptic_network_that_does_not_reset_to_zero_is_not_exported():
    config = ClassifierConfig(n_inputs=20, hidden=(16,), n_classes=4, neuron="synaptic", reset="subtract")
    with pytest.raises(ValueError, match="reset = 'subtract' is invalid: must be 'zero' for NIR export"):
        exchange.to_nir(network(config))


def snntorch_network(kinds=("synaptic", "leaky"), reset="subtract", reset_delay=True, per_neuron=True,
                     readout_reset=None, seed=0):
    """Linear(20, 16) -> kinds[0] -> Linear(16, 8) -> kinds[1] -> Linear(8, 4) -> Leaky; snn.Synaptic layers with
    per-neuron (or one) alpha and beta, threshold 1."""
    torch.manual_seed(seed)
    linears = [torch.nn.Linear(a, b, bias=False) for a, b in ((20, 16), (16, 8), (8, 4))]
    with torch.no_grad():
        for linear in linears:
            linear.weight.mul_(3)
    decay = (lambda n: torch.rand(n) * 0.5 + 0.45) if per_neuron else (lambda n: torch.tensor(0.8))

    def neuron(kind, n, last=False):
        common = dict(beta=decay(n), threshold=torch.ones(n), init_hidden=True, output=last,
                      reset_mechanism=readout_reset or reset if last else reset)
        if kind == "synaptic":
            return snn.Synaptic(alpha=decay(n), reset_delay=reset_delay, **common)
        return snn.Leaky(**common)

    return torch.nn.Sequential(linears[0], neuron(kinds[0], 16), linears[1], neuron(kinds[1], 8), linears[2],
                               neuron("leaky", 4, last=True))


def hidden_steps(source, x):
    """Each hidden neuron layer's spikes (batch, T, units), snnTorch stepping its own modules from rest."""
    snntorch.utils.reset(source)
    spikes = [[], []]
    with torch.no_grad():
        for t in range(x.shape[1]):
            h = x[:, t]
            for i, layer in enumerate(source):
                h = layer(h)
                if i in (1, 3):
                    spikes[i // 2].append(h)
                if i == 3:
                    break
    return [torch.stack(s, 1) for s in spikes]


@pytest.mark.parametrize("reset, reset_delay", [("subtract", True), ("none", True), ("zero", False)])
@pytest.mark.parametrize("per_neuron", [True, False])
@pytest.mark.parametrize("kinds", [("synaptic", "leaky"), ("synaptic", "synaptic")])
def test_from_snntorch_gives_snntorchs_spikes(kinds, per_neuron, reset, reset_delay):
    """A live Sequential of Linear and Synaptic (and Leaky) layers: every hidden layer's spikes and the
    readout's equal snnTorch stepping its own modules; a last Leaky without reset is the membrane readout."""
    source, x = snntorch_network(kinds, reset, reset_delay, per_neuron), inputs()
    expected, membranes = snntorch_steps(source, x)
    imported = exchange.from_snntorch(source)
    assert imported.config.neurons == kinds and imported.config.reset == reset
    assert imported.config.per_neuron_tau == per_neuron
    with torch.no_grad():
        if reset == "none":
            assert imported.config.readout == "membrane"
            assert torch.allclose(imported(x), membranes, rtol=1e-5, atol=1e-5)
        else:
            assert float(expected.sum()) > 0 and torch.equal(imported(x), expected)
        h = x[None]
        for synapses, layer, theirs in zip(imported.synapses, imported.hidden_layers, hidden_steps(source, x)):
            h = layer(synapses(h))
            assert float(theirs.sum()) > 0 and torch.equal(h[0], theirs)


def changed(change):
    source = snntorch_network()
    change(source)
    return source


@pytest.mark.parametrize("source, message", [
    (lambda: snntorch_network(reset="zero"), r"layer 1 \(snn.Synaptic\) has reset_mechanism='zero' with reset_delay"),
    (lambda: snntorch_network(reset_delay=False), "reset_delay=False with reset_mechanism='subtract'"),
    (lambda: changed(lambda s: s[1].alpha.fill_(1.0)), "alpha outside"),
    (lambda: torch.nn.Sequential(*snntorch_network(), torch.nn.Linear(4, 4, bias=False),
                                 snn.Synaptic(alpha=0.9, beta=0.8)), "snn.Leaky last"),
    (lambda: changed(lambda s: setattr(s[1], "inhibition", True)), r"layer 1 \(snn.Synaptic\) has inhibition"),
    (lambda: snntorch_network(kinds=("leaky", "synaptic"), readout_reset="zero"),
     "reset_mechanism='zero' after 'subtract'"),
])
def test_from_snntorch_refuses_by_name_what_spikeloc_cannot_represent(source, message):
    with pytest.raises(ValueError, match=message):
        exchange.from_snntorch(source())


def test_graphs_from_snntorchs_exporter_warn_that_their_reset_is_unknown(tmp_path):
    """snnTorch's exporter writes every snn.Synaptic as a CubaLIF that resets to zero, whatever its reset: the
    SnnTorchResetWarning of LIF graphs holds for CubaLIF graphs too."""
    source = snntorch_network(kinds=("synaptic", "synaptic"))  # snnTorch's default reset: subtract
    graph = export_to_nir(source, torch.zeros(1, 20), ignore_dims=[0])
    assert node_kinds_in_order(graph) == ["CubaLIF", "CubaLIF", "LIF"] and exchange.looks_like_snntorch_export(graph)
    assert_exported_reset_is_warned_about(source, tmp_path, network(CONFIGS["synaptic, spikes, gamma taus"]))


def node_kinds_in_order(graph):
    order, node = [], "input"
    successors = dict(graph.edges)
    while node != "output":
        node = successors[node]
        order.append(type(graph.nodes[node]).__name__)
    return [kind for kind in order if kind in ("LIF", "CubaLIF", "LI")]


@pytest.mark.parametrize("per_neuron", [True, False])
def test_a_graph_from_snntorchs_exporter_of_a_zero_reset_synaptic_network_imports_with_equal_outputs(per_neuron,
                                                                                                      tmp_path):
    """snn.Synaptic(reset_mechanism='zero', reset_delay=False), the neuron snnTorch's importer builds: through
    snnTorch's exporter and spikeloc's reader, the same spikes (the caller vouches for the reset)."""
    source, x = snntorch_network(kinds=("synaptic", "leaky"), reset="zero", reset_delay=False,
                                 per_neuron=per_neuron), inputs()
    if not per_neuron:  # one decay, as a tensor of the layer's size (which snnTorch's exporter needs)
        for layer in source[1::2]:
            layer.beta = torch.full(layer.threshold.shape, 0.8)
        source[1].alpha = torch.full((16,), 0.8)
    expected, _ = snntorch_steps(source, x)
    nir.write(tmp_path / "zero.nir", export_to_nir(source, torch.zeros(1, 20), ignore_dims=[0]))
    imported = exchange.read(tmp_path / "zero.nir", snntorch_reset="zero")
    assert imported.config.neurons == ("synaptic", "leaky") and imported.config.per_neuron_tau == per_neuron
    with torch.no_grad():
        assert float(expected.sum()) > 0 and torch.equal(imported(x), expected)


def cubalif(n, **changes):
    tau = np.full(n, 5e-4)
    fields = dict(tau_syn=tau, tau_mem=tau, r=tau / exchange.SNNTORCH_DT_S, w_in=tau / exchange.SNNTORCH_DT_S,
                  v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))
    return nir.CubaLIF(**{**fields, **changes})


def lif(n):
    tau = np.full(n, 5e-4)
    return nir.LIF(tau=tau, r=tau / exchange.SNNTORCH_DT_S, v_leak=np.zeros(n), v_threshold=np.ones(n),
                   v_reset=np.zeros(n))


def chain(*nodes):
    return nir.NIRGraph.from_list(nir.Input(np.array([3])), *nodes, nir.Output(np.array([2])))


def hidden(**changes):
    """Input(3) -> Linear -> CubaLIF(4) (with ``changes``) -> Linear -> LIF(2) -> Output."""
    return chain(nir.Linear(weight=np.ones((4, 3))), cubalif(4, **changes),
                 nir.Linear(weight=np.ones((2, 4))), lif(2))


@pytest.mark.parametrize("graph, message", [
    (lambda: hidden(w_in=np.ones(4)), "w_in"),
    (lambda: hidden(r=np.ones(4)), "tau_mem"),
    (lambda: hidden(v_reset=np.ones(4)), "v_reset"),
    (lambda: hidden(v_leak=np.ones(4)), "v_leak"),
    (lambda: hidden(tau_syn=np.full(4, 5e-5), w_in=np.full(4, 0.5)), "tau outside"),
    (lambda: hidden(v_threshold=np.full(4, 2.0)), "thresholds"),
])
def test_cubalif_graphs_spikeloc_cannot_represent_are_refused_with_the_reason(graph, message):
    with pytest.raises(ValueError, match=message):
        exchange.from_nir(graph())


def test_a_cubalif_readout_is_refused_by_name():
    with pytest.raises(ValueError, match="readout must be a LIF or LI node, found CubaLIF"):
        exchange.from_nir(chain(nir.Linear(weight=np.ones((2, 3))), cubalif(2)))


def test_command_line_exports_and_imports_a_mixed_model(tmp_path):
    from spikeloc.cli import main
    from spikeloc.networks.saved import load, save

    net = network(CONFIGS["synaptic then leaky, learned taus"])
    save(net, tmp_path / "model.pt")
    out, back = tmp_path / "member1.nir", tmp_path / "back.pt"
    assert main(["export-nir", "--model", str(tmp_path / "model.pt"), "--member", "1", "--save", str(out)]) == 0
    assert node_kinds(nir.read(out)) == ["CubaLIF", "LIF"]
    assert main(["import-nir", str(out), "--save", str(back)]) == 0
    loaded = load(back).network
    assert loaded.config.neuron == ("synaptic", "leaky")
    with torch.no_grad():
        assert torch.equal(loaded(inputs()), net.restrict([1])(inputs()))
