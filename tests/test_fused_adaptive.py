"""Adaptive-threshold LIF neurons (ALIF, Bellec et al. 2018) on the fused substrate: ``adaptive_spikes`` against a
plain torch loop written from its equations (module docstring of :func:`spikeloc.substrate.fused.adaptive_spikes`)
and differentiated by torch's autograd: spikes and membranes bit for bit in float32, gradients w.r.t. the currents,
beta and rho to float64 rounding, every reset and backend (Triton on CUDA or through its interpreter,
``TRITON_INTERPRET=1``; skipped otherwise). With no adaptation it is ``lif_spikes`` exactly.
"""

from __future__ import annotations

import os

import pytest
import torch

from spikeloc.substrate.fused import NUMBA_AVAILABLE, TRITON_AVAILABLE, adaptive_spikes, lif_spikes
from test_fused_beta import betas, currents_for
from test_neurons import strong

RESETS = ["zero", "subtract", "none"]
CUDA = torch.cuda.is_available()
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
BACKENDS = [
    pytest.param("numba", marks=pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba is not installed")),
    "torch",
    pytest.param("triton", marks=pytest.mark.skipif(
        not (TRITON_AVAILABLE and (CUDA or INTERPRET)),
        reason="needs triton and a CUDA device, or TRITON_INTERPRET=1 to run its kernels on CPU")),
]
DEVICE = {"triton": "cpu" if INTERPRET or not CUDA else "cuda"}


class _SigmoidSpike(torch.autograd.Function):
    """H(x) forward; snnTorch's sigmoid surrogate k exp(-k x) / (exp(-k x) + 1)^2 backward, written out here (not
    spikeloc's overflow-free form) and in the input's dtype (snnTorch's own spike is float32, which would round
    the float64 gradients this test compares)."""

    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        e = torch.exp(-ctx.slope * x)
        return grad * ctx.slope * e / (e + 1) ** 2, None


def reference_alif(currents, beta, rho, adaptation, threshold, slope, reset):
    """The equations of ``adaptive_spikes``, step by step in torch (autograd differentiates them): currents
    (M, B, T, N), beta and rho (M, N). Returns (spikes, membranes, adaptations), each (M, B, T, N)."""
    beta, rho = beta[:, None, :], rho[:, None, :]
    threshold = torch.tensor(threshold, dtype=currents.dtype)
    b = torch.tensor(adaptation, dtype=currents.dtype)
    u = a = s = torch.zeros_like(currents[..., 0, :])  # u_{-1} = a_{-1} = s_{-1} = 0
    spikes, membranes, adaptations = [], [], []
    for t in range(currents.shape[-2]):
        r = s.detach()  # the reset signal r_t = s_{t-1}, no gradient
        theta_prev = threshold + b * a  # theta_{t-1}: the threshold s_{t-1} was measured against
        a = rho * a + s  # a_t
        if reset == "zero":
            u = beta * ((1 - r) * u) + currents[..., t, :]
        elif reset == "subtract":
            u = (beta * u + currents[..., t, :]) - r * theta_prev
        else:
            u = beta * u + currents[..., t, :]
        s = _SigmoidSpike.apply(u - (threshold + b * a), slope)  # s_t = H(u_t - theta_t)
        spikes.append(s)
        membranes.append(u)
        adaptations.append(a)
    return tuple(torch.stack(x, dim=-2) for x in (spikes, membranes, adaptations))


def run(backend, currents, beta, rho, adaptation, reset, threshold=1.0, slope=5.0, weights=None):
    """adaptive_spikes on ``backend``'s device: spikes, membrane and (with ``weights`` for sum(s w_s) + sum(u w_u))
    the gradients w.r.t. currents, beta, rho (None where a float was given), all on CPU."""
    device = DEVICE.get(backend, "cpu")
    x = currents.to(device, copy=True).requires_grad_(weights is not None)
    b, p = (v.to(device, copy=True).requires_grad_(weights is not None) if isinstance(v, torch.Tensor) else v
            for v in (beta, rho))
    spk, mem = adaptive_spikes(x, b, p, adaptation, threshold, slope, return_membrane=True, backend=backend,
                               reset=reset)
    grads = (None, None, None)
    if weights is not None:
        ((spk * weights[0].to(device)).sum() + (mem * weights[1].to(device)).sum()).backward()
        grads = tuple(v.grad.cpu() if isinstance(v, torch.Tensor) else None for v in (x, b, p))
    return spk.detach().cpu(), mem.detach().cpu(), *grads


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", RESETS)
def test_float32_spikes_and_membranes_equal_the_equations(backend, reset):
    shape = (3, 8, 60, 10)
    currents = currents_for(shape, seed=61, dtype=torch.float32)
    beta, rho = betas((3, 10), seed=62, dtype=torch.float32), betas((3, 10), seed=63, dtype=torch.float32) ** 0.1
    spk_ref, mem_ref, adapt_ref = reference_alif(currents, beta, rho, 0.25, 1.0, 5.0, reset)
    spk, mem, *_ = run(backend, currents, beta, rho, 0.25, reset)
    assert 0.05 < spk_ref.mean() < 0.5 and adapt_ref.max() > 2  # spikes, resets and a threshold that rises
    assert not torch.equal(spk_ref, lif_spikes(currents, beta, reset=reset))  # the adaptation changes spikes
    assert torch.equal(spk, spk_ref)
    assert torch.equal(mem, mem_ref)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("shape, decay_shape", [((3, 4, 40, 6), (3, 6)), ((5, 50, 7), (7,))])
def test_gradients_equal_autograd_through_the_equations_float64(backend, reset, shape, decay_shape):
    """Input, per-neuron beta and per-neuron rho gradients (backpropagation through the membrane, the adaptation
    and the subtracted threshold) against autograd through :func:`reference_alif`, to float64 rounding."""
    currents = currents_for(shape, seed=64)
    weights = tuple(currents_for(shape, seed=s) for s in (65, 66))
    beta, rho = betas(decay_shape, seed=67), betas(decay_shape, seed=68) ** 0.1
    x_ref, b_ref, p_ref = (v.clone().requires_grad_(True) for v in (currents, beta, rho))
    grouped = x_ref if x_ref.dim() == 4 else x_ref[None]  # (M, B, T, N) against (M, N) decays
    spk_ref, mem_ref, _ = reference_alif(grouped, b_ref.reshape(-1, shape[-1]), p_ref.reshape(-1, shape[-1]), 0.3,
                                         1.0, 5.0, reset)
    spk_ref, mem_ref = spk_ref.reshape(shape), mem_ref.reshape(shape)
    ((spk_ref * weights[0]).sum() + (mem_ref * weights[1]).sum()).backward()
    spk, mem, grad_x, grad_beta, grad_rho = run(backend, currents, beta, rho, 0.3, reset, weights=weights)
    assert 0.05 < spk_ref.mean() < 0.5
    assert torch.equal(spk, spk_ref)
    torch.testing.assert_close(mem, mem_ref, rtol=1e-12, atol=1e-12)
    for grad, grad_ref in ((grad_x, x_ref.grad), (grad_beta, b_ref.grad), (grad_rho, p_ref.grad)):
        assert grad_ref.abs().max() > 1e-3  # the adaptation path carries a gradient worth checking
        torch.testing.assert_close(grad, grad_ref, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", RESETS)
def test_no_adaptation_is_lif_spikes_exactly(backend, reset):
    """adaptation = 0: spikes, membranes and the input and beta gradients equal lif_spikes' bit for bit (float32),
    and rho gets no gradient."""
    shape = (2, 6, 50, 9)
    currents = currents_for(shape, seed=69, dtype=torch.float32)
    weights = tuple(currents_for(shape, seed=s, dtype=torch.float32) for s in (70, 71))
    beta, rho = betas((2, 9), seed=72, dtype=torch.float32), betas((2, 9), seed=73, dtype=torch.float32)
    spk, mem, grad_x, grad_beta, grad_rho = run(backend, currents, beta, rho, 0.0, reset, weights=weights)
    device = DEVICE.get(backend, "cpu")
    x, b = currents.to(device, copy=True).requires_grad_(True), beta.to(device, copy=True).requires_grad_(True)
    spk_lif, mem_lif = lif_spikes(x, b, return_membrane=True, backend=backend, reset=reset)
    ((spk_lif * weights[0].to(device)).sum() + (mem_lif * weights[1].to(device)).sum()).backward()
    assert spk.mean() > 0.05
    assert torch.equal(spk, spk_lif.cpu()) and torch.equal(mem, mem_lif.detach().cpu())
    assert torch.equal(grad_x, x.grad.cpu()) and torch.equal(grad_beta, b.grad.cpu())
    assert not grad_rho.any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_float_decays_equal_per_neuron_ones(backend):
    """beta and rho as floats give what the same values per neuron give; only the tensors get gradients."""
    currents = currents_for((4, 30, 5), seed=74, dtype=torch.float32)
    weights = (currents_for((4, 30, 5), seed=75, dtype=torch.float32),) * 2
    floats = run(backend, currents, 0.75, 0.96875, 0.5, "subtract", weights=weights)
    tensors = run(backend, currents, torch.full((5,), 0.75), torch.full((5,), 0.96875), 0.5, "subtract",
                  weights=weights)
    for a, b in zip(floats[:3], tensors[:3]):
        assert torch.equal(a, b)
    assert floats[3] is None and floats[4] is None and tensors[4].abs().sum() > 0


@pytest.mark.skipif(not (TRITON_AVAILABLE and NUMBA_AVAILABLE and (CUDA or INTERPRET)),
                    reason="needs triton and numba, and CUDA or TRITON_INTERPRET=1")
@pytest.mark.parametrize("reset", RESETS)
def test_triton_float32_equals_numba(reset):
    """float32: forward bit for bit; gradients to float32 rounding (Triton's exp and division are its own)."""
    shape = (3, 4, 40, 7)
    currents = currents_for(shape, seed=76, dtype=torch.float32)
    weights = tuple(currents_for(shape, seed=s, dtype=torch.float32) for s in (77, 78))
    beta, rho = betas((3, 7), seed=79, dtype=torch.float32), betas((3, 7), seed=80, dtype=torch.float32) ** 0.1
    numba_out = run("numba", currents, beta, rho, 0.2, reset, weights=weights)
    triton_out = run("triton", currents, beta, rho, 0.2, reset, weights=weights)
    assert torch.equal(triton_out[0], numba_out[0]) and torch.equal(triton_out[1], numba_out[1])
    torch.testing.assert_close(triton_out[2], numba_out[2], rtol=2e-5, atol=2e-6)
    for grad_t, grad_n in zip(triton_out[3:], numba_out[3:]):
        torch.testing.assert_close(grad_t, grad_n, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("settings, message", [
    (dict(rho=1.5), r"^rho must lie in \[0, 1\]"),
    (dict(rho=torch.full((3,), 0.9)), r"^rho must be a float or shaped \(N,\) = \(4,\)"),
    (dict(adaptation=-0.1), r"^adaptation must be finite and >= 0"),
    (dict(adaptation=float("nan")), r"^adaptation must be finite and >= 0"),
    (dict(beta=-0.1), r"^beta must lie in \[0, 1\]"),
    (dict(reset="subtrac"), r"^reset = 'subtrac' is invalid"),
    (dict(slope=0.0), r"^slope must be finite and > 0"),
])
def test_bad_arguments_are_one_clear_error(settings, message):
    arguments = dict(beta=0.9, rho=0.95, adaptation=0.1, slope=5.0, reset="zero") | settings
    with pytest.raises(ValueError, match=message):
        adaptive_spikes(torch.zeros(2, 5, 4), arguments.pop("beta"), arguments.pop("rho"),
                        arguments.pop("adaptation"), **arguments)


def test_empty_currents_give_empty_spikes():
    spikes = adaptive_spikes(torch.zeros(0, 5, 4), 0.9, 0.95, 0.1)
    assert spikes.shape == (0, 5, 4)


# --- the adaptive neuron in networks, configs, runs, saved models, NIR and the command line ----------------------
def test_adaptive_network_without_adaptation_is_the_leaky_network():
    """ClassifierConfig(neuron="adaptive"): hidden layers of AdaptiveLayer, same weights as the leaky network (the
    neuron kind draws no weights); adaptation 0 gives the leaky network's output exactly, adaptation > 0 another."""
    import dataclasses

    from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
    from spikeloc.substrate.neurons import AdaptiveLayer

    config = ClassifierConfig(n_inputs=20, hidden=(12, 9), n_classes=5, readout="spikes", reset="subtract")
    x = (torch.rand(2, 3, 50, 20, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    members = [Member(0), Member(1)]
    leaky, still, adaptive = (strong(SpikingClassifier(dataclasses.replace(config, **settings), members))
                              for settings in (dict(), dict(neuron="adaptive", adaptation=0.0),
                                               dict(neuron="adaptive", adaptation=0.5)))
    assert all(isinstance(layer, AdaptiveLayer) for layer in adaptive.hidden_layers)
    with torch.no_grad():
        assert leaky(x).sum() > 0 and torch.equal(still(x), leaky(x))
        assert adaptive(x).sum() < leaky(x).sum()  # a threshold that rises with each spike fires less


def test_adaptive_network_learns_per_neuron_rho_saves_restricts_and_refuses_nir(tmp_path):
    from spikeloc.networks import nir as exchange
    from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
    from spikeloc.networks.saved import load, save

    config = ClassifierConfig(n_inputs=20, hidden=(10,), n_classes=4, neuron="adaptive", tau_adapt_s=50e-3,
                              adaptation=0.3, tau_distribution="gamma", tau_spread=0.5, learn_tau=True)
    net = strong(SpikingClassifier(config, [Member(0), Member(1)]))
    layer = net.hidden_layers[0]
    adapt_tau_s = layer.adaptation_time_constants.tau_s
    assert 10e-3 < adapt_tau_s.mean() < 200e-3 and not torch.equal(adapt_tau_s, layer.time_constants.tau_s)
    x = (torch.rand(2, 3, 40, 20, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    net(x).sum().backward()
    assert (layer.adaptation_time_constants.log_tau.grad != 0).any()
    net.eval()
    save(net, tmp_path / "model.pt")
    loaded = load(tmp_path / "model.pt").network
    with torch.no_grad():
        assert (loaded.config.neuron, loaded.config.tau_adapt_s, loaded.config.adaptation) == ("adaptive", 50e-3, 0.3)
        assert torch.equal(loaded(x), net(x))
        assert torch.equal(net.restrict([1])(x[1:]), net(x)[1:])
    with pytest.raises(ValueError, match="^neuron = 'adaptive' is invalid: .*NIR has no adaptive-threshold neuron"):
        exchange.to_nir(net)


@pytest.mark.parametrize("field, settings", [("tau_adapt_s", dict(tau_adapt_s=0.0)),
                                             ("adaptation", dict(adaptation=-0.5)),
                                             ("adaptation", dict(adaptation=float("inf"))),
                                             ("backend", dict(neuron="adaptive", backend="snntorch"))])
def test_bad_adaptive_settings_name_the_field(field, settings):
    from spikeloc.networks.classifier import ClassifierConfig

    with pytest.raises(ValueError, match=f"^{field} = "):
        ClassifierConfig(**settings)


def test_snntorch_backend_is_refused_with_the_reason():
    from spikeloc.networks.classifier import ClassifierConfig

    with pytest.raises(ValueError, match="snnTorch has no adaptive-threshold neuron"):
        ClassifierConfig(neuron="adaptive", backend="snntorch")


def test_ipd_runs_pass_the_adaptation_and_keep_their_run_ids():
    import dataclasses

    from spikeloc.experiments.ipd import IPDRun
    from spikeloc.validation import OMIT_IF_DEFAULT

    config = IPDRun(neuron="adaptive", tau_adapt_s=0.1, adaptation=0.2).network_config()
    assert (config.neuron, config.tau_adapt_s, config.adaptation) == ("adaptive", 0.1, 0.2)
    added = {f.name for f in dataclasses.fields(IPDRun) if f.metadata.get(OMIT_IF_DEFAULT)}
    assert {"tau_adapt_s", "adaptation"} <= added
    with pytest.raises(ValueError, match="^adaptation = "):
        IPDRun(neuron="adaptive", adaptation=-1.0)


@pytest.mark.parametrize("command", ["train-ipd", "train-digits"])
def test_command_line_takes_the_adaptive_neuron(command):
    from spikeloc import cli

    args = cli.parser().parse_args([command, "--neuron", "adaptive", "--tau-adapt-ms", "50", "--adaptation", "0.3"])
    settings = cli._network_settings(args)
    assert (settings["neuron"], settings["tau_adapt_s"], settings["adaptation"]) == ("adaptive", 0.05, 0.3)


def test_digits_runs_pass_the_adaptation():
    from spikeloc.experiments.digits import DigitsRun

    config = DigitsRun(neuron="adaptive", tau_adapt_s=0.1, adaptation=0.2).network_config(n_inputs=4, n_classes=2)
    assert (config.neuron, config.tau_adapt_s, config.adaptation) == ("adaptive", 0.1, 0.2)


def test_adaptive_in_one_hidden_layer_of_several():
    """Per-layer kinds: ("adaptive", "leaky") builds an AdaptiveLayer then a LIFLayer; the snntorch backend and NIR
    refuse a network with any adaptive layer."""
    from spikeloc.networks import nir as exchange
    from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
    from spikeloc.substrate.neurons import AdaptiveLayer, LIFLayer

    config = ClassifierConfig(n_inputs=6, hidden=(5, 4), n_classes=3, neuron=("adaptive", "leaky"))
    net = SpikingClassifier(config, [Member(0)])
    assert [type(layer) for layer in net.hidden_layers] == [AdaptiveLayer, LIFLayer]
    with pytest.raises(ValueError, match="^neuron = .*NIR has no adaptive-threshold neuron"):
        exchange.to_nir(net)
    with pytest.raises(ValueError, match="snnTorch has no adaptive-threshold neuron"):
        ClassifierConfig(hidden=(5, 4), neuron=("leaky", "adaptive"), backend="snntorch")
