"""snnTorch's other neurons on the fused substrate. Current-based LIF (``synaptic_spikes``) against
``snn.Synaptic`` stepped by snnTorch (its own neuron and autograd are the reference): spikes and membranes bit for
bit in float32, input and per-neuron alpha / beta gradients to float64 rounding, for snnTorch's reset mechanisms
whose arithmetic spikeloc shares ('subtract', its default, and 'none'); the numba and torch backends agree.
"""

from __future__ import annotations

import dataclasses

import pytest
import snntorch as snn
import torch
from snntorch import surrogate
from test_fused_beta import betas, currents_for

from spikeloc.substrate.fused import NUMBA_AVAILABLE, lif_spikes, synaptic_current, synaptic_spikes

BACKENDS = ["numba", "torch"] if NUMBA_AVAILABLE else ["torch"]


def snntorch_synaptic(currents, alpha, beta, reset, threshold=1.0, slope=5.0):
    """snn.Synaptic(learn_alpha, learn_beta) with per-neuron (M, N) alpha and beta broadcast over the batch of
    (M, B, T, N) currents, stepped from rest: (spikes, membranes, alpha parameter, beta parameter)."""
    neuron = snn.Synaptic(alpha=alpha[:, None, :].clone(), beta=beta[:, None, :].clone(), threshold=threshold,
                          spike_grad=surrogate.sigmoid(slope=slope), reset_mechanism=reset, learn_alpha=True,
                          learn_beta=True)
    syn = mem = torch.zeros_like(currents[..., 0, :])
    spikes, mems = [], []
    for t in range(currents.shape[-2]):
        spk, syn, mem = neuron(currents[..., t, :], syn, mem)
        spikes.append(spk.to(currents.dtype))
        mems.append(mem)
    return torch.stack(spikes, -2), torch.stack(mems, -2), neuron.alpha, neuron.beta


def scaled_currents(shape, seed, dtype):
    """Smaller currents than LIF tests use: the synaptic filter sums about 1 / (1 - alpha) steps of them."""
    return 0.4 * currents_for(shape, seed, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["subtract", "none"])
def test_synaptic_float32_equals_snntorch_synaptic(backend, reset):
    shape = (3, 6, 60, 8)
    currents = scaled_currents(shape, 41, torch.float32)
    alpha, beta = betas((3, 8), 42, torch.float32), betas((3, 8), 43, torch.float32)
    spk_ref, mem_ref, _, _ = snntorch_synaptic(currents, alpha, beta, reset)
    spk, mem = synaptic_spikes(currents, alpha, beta, return_membrane=True, backend=backend, reset=reset)
    assert 0.05 < spk_ref.mean() < 0.9
    assert torch.equal(spk, spk_ref.detach()) and torch.equal(mem, mem_ref.detach())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["subtract", "none"])
def test_synaptic_gradients_equal_snntorch_autograd_float64(backend, reset):
    shape = (3, 4, 40, 6)
    currents = scaled_currents(shape, 44, torch.float64)
    weights_spk, weights_mem = (torch.round(16 * currents_for(shape, seed=s)) / 16 for s in (45, 46))
    alpha, beta = betas((3, 6), 47), betas((3, 6), 48)
    x_ref = currents.clone().requires_grad_(True)
    spk_ref, mem_ref, alpha_ref, beta_ref = snntorch_synaptic(x_ref, alpha, beta, reset)
    ((spk_ref * weights_spk).sum() + (mem_ref * weights_mem).sum()).backward()
    x, a, b = (t.clone().requires_grad_(True) for t in (currents, alpha, beta))
    spk, mem = synaptic_spikes(x, a, b, return_membrane=True, backend=backend, reset=reset)
    ((spk * weights_spk).sum() + (mem * weights_mem).sum()).backward()
    assert torch.equal(spk, spk_ref.detach()) and 0.05 < spk.mean() < 0.9
    torch.testing.assert_close(mem, mem_ref.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(a.grad, alpha_ref.grad.reshape(3, 6), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(b.grad, beta_ref.grad.reshape(3, 6), rtol=1e-9, atol=1e-9)
    assert (a.grad != 0).all()


def test_synaptic_zero_reset_is_lif_spikes_of_the_filtered_current():
    """reset 'zero': the membrane resets as snn.Leaky's (spikeloc's zero reset), driven by the synaptic current;
    snn.Synaptic's own 'zero' (which also drops the reset step's current) differs, as documented."""
    currents = scaled_currents((4, 60, 8), 49, torch.float32)
    current = torch.zeros_like(currents[:, 0])
    filtered = []
    for t in range(currents.shape[1]):  # a plain loop, snnTorch's float order
        current = 0.75 * current + currents[:, t]
        filtered.append(current)
    filtered = torch.stack(filtered, 1)
    assert torch.equal(synaptic_current(currents, 0.75), filtered)
    spikes = synaptic_spikes(currents, 0.75, 0.8)
    assert torch.equal(spikes, lif_spikes(filtered, 0.8)) and spikes.sum() > 0
    reference, _, _, _ = snntorch_synaptic(currents[None], torch.full((1, 8), 0.75), torch.full((1, 8), 0.8), "zero")
    assert not torch.equal(spikes, reference[0].detach())


def test_synaptic_backends_agree_float32():
    if not NUMBA_AVAILABLE:
        pytest.skip("numba not installed")
    shape = (2, 16, 100, 30)
    currents, weights = scaled_currents(shape, 50, torch.float32), currents_for(shape, 51, torch.float32)
    grads = []
    for backend in BACKENDS:
        x = currents.clone().requires_grad_(True)
        a, b = (betas((2, 30), s, torch.float32).requires_grad_(True) for s in (52, 53))
        (synaptic_spikes(x, a, b, backend=backend, reset="subtract") * weights).sum().backward()
        grads.append((x.grad, a.grad, b.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=2e-5, atol=2e-6)
    torch.testing.assert_close(grads[0][1:], grads[1][1:], rtol=1e-4, atol=1e-3)


def strong(network):
    """Every synapse layer's weights scaled by 4 (the default init is too weak for every layer to spike)."""
    with torch.no_grad():
        for synapses in network.synapses:
            synapses.raw_weight.mul_(4)
    return network


def test_synaptic_network_equals_snntorch_stepped_synaptic():
    """ClassifierConfig(neuron="synaptic"): the fused network's output equals the one whose hidden layers step
    snn.Synaptic, and differs from the leaky network."""
    from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier

    config = ClassifierConfig(n_inputs=20, hidden=(12, 9), n_classes=5, readout="spikes", reset="subtract",
                              neuron="synaptic", tau_syn_s=3e-3)
    x = (torch.rand(2, 3, 50, 20, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    members = [Member(0), Member(1)]
    nets = [strong(SpikingClassifier(dataclasses.replace(config, backend=b), members)) for b in ("fused", "snntorch")]
    leaky = strong(SpikingClassifier(dataclasses.replace(config, neuron="leaky"), members))
    with torch.no_grad():
        fused, stepped = nets[0](x), nets[1](x)
        assert fused.sum() > 0 and torch.equal(fused, stepped)
        assert not torch.equal(fused, leaky(x))


def test_synaptic_network_learns_per_neuron_alpha_saves_and_restricts(tmp_path):
    from spikeloc.networks import nir as exchange
    from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
    from spikeloc.networks.saved import load, save

    config = ClassifierConfig(n_inputs=20, hidden=(10,), n_classes=4, neuron="synaptic", tau_distribution="gamma",
                              tau_spread=0.5, learn_tau=True)
    net = strong(SpikingClassifier(config, [Member(0), Member(1)]))
    layer = net.hidden_layers[0]
    assert not torch.equal(layer.synaptic_time_constants.log_tau, layer.time_constants.log_tau)
    x = (torch.rand(2, 3, 40, 20, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    net(x).sum().backward()
    assert (layer.synaptic_time_constants.log_tau.grad != 0).any()
    net.eval()
    save(net, tmp_path / "model.pt")
    loaded = load(tmp_path / "model.pt").network
    with torch.no_grad():
        assert loaded.config.neuron == "synaptic" and torch.equal(loaded(x), net(x))
        assert torch.equal(net.restrict([1])(x[1:]), net(x)[1:])
        # NIR: CubaLIF nodes carry the learned per-neuron alpha (more in tests/test_nir_synaptic.py)
        assert torch.equal(exchange.from_nir(exchange.to_nir(net, member=1))(x[1]), net.restrict([1])(x[1:])[0])


@pytest.mark.parametrize("field, settings", [("neuron", dict(neuron="alif")), ("tau_syn_s", dict(tau_syn_s=0.0)),
                                             ("reset", dict(neuron="synaptic", backend="snntorch"))])
def test_bad_neuron_settings_name_the_field(field, settings):
    from spikeloc.networks.classifier import ClassifierConfig

    with pytest.raises(ValueError, match=f"^{field} = "):
        ClassifierConfig(**settings)


def test_runs_pass_the_neuron_kind_and_reset_to_their_networks():
    from spikeloc.experiments.digits import DigitsRun
    from spikeloc.experiments.ipd import IPDRun
    from spikeloc.validation import OMIT_IF_DEFAULT

    ipd = IPDRun(neuron="synaptic", reset="subtract", tau_syn_s=2e-3).network_config()
    assert (ipd.neuron, ipd.reset, ipd.tau_syn_s) == ("synaptic", "subtract", 2e-3)
    digits = DigitsRun(neuron="synaptic", reset="none").network_config(n_inputs=4, n_classes=2)
    assert (digits.neuron, digits.reset) == ("synaptic", "none")
    for run in (IPDRun, DigitsRun):  # added fields: left out of run ids while they hold their defaults
        added = {f.name for f in dataclasses.fields(run) if f.metadata.get(OMIT_IF_DEFAULT)}
        assert {"neuron", "reset"} <= added
    with pytest.raises(ValueError, match="^neuron = "):
        IPDRun(neuron="izhikevich")


@pytest.mark.parametrize("backend", BACKENDS)
def test_synaptic_current_passes_gradcheck_float64(backend):
    """The synaptic filter is smooth (no threshold in it): finite differences check its hand-written backward
    (input currents and per-neuron alpha) directly."""
    currents = currents_for((2, 7, 3), seed=54).requires_grad_(True)
    alpha = betas((3,), seed=55).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, a: synaptic_current(x, a, backend=backend), (currents, alpha))
