"""How many spikes of an snnTorch network differ once read into spikeloc, per reset mechanism, by two routes:
snnTorch's ``export_to_nir`` then spikeloc's ``from_nir`` (the file route, which cannot tell the reset), and
``spikeloc.networks.nir.from_snntorch`` on the live network (which keeps the reset mechanism, and refuses what
it cannot represent). With ``'none'`` the last Leaky is read as the membrane readout; its spikes are compared as
``membrane > threshold`` (snnTorch's), so a membrane within float rounding of the threshold could differ.

Networks: ``Linear(20, 16) -> Leaky -> Linear(16, 4) -> Leaky`` with per-neuron beta in [0.45, 0.95) and
threshold 1, every Leaky with the given ``reset_mechanism``, weights scaled by 4 so every layer spikes; inputs
are random spike trains (8 samples x 40 steps, p = 0.3, amplitude 2). Counts are summed over hidden and readout
spikes of ``--seeds`` networks. ``--hidden-neuron synaptic``: the hidden layer is ``snn.Synaptic`` (per-neuron
alpha in [0.45, 0.95) too) with the given reset and snnTorch's default ``reset_delay=True``, and with
``"zero"`` also ``reset_delay=False`` (what snnTorch's NIR importer builds).

Last line: how many per-neuron decays spikeloc's float32 log time constants reproduce exactly (100,000 float32
betas drawn uniformly in [0.45, 0.95), dt 1 ms, :func:`spikeloc.networks.nir._log_tau_for`), and the largest miss
in float32 units in the last place.

    python benchmarks/check_snntorch_resets.py [--seeds 5] [--hidden-neuron leaky|synaptic]
"""

from __future__ import annotations

import argparse
import warnings

import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir

from spikeloc.networks import nir as exchange


def snntorch_network(reset: str, seed: int, hidden_neuron: str = "leaky",
                     reset_delay: bool = True) -> torch.nn.Sequential:
    generator = torch.Generator().manual_seed(seed)
    first, second = torch.nn.Linear(20, 16, bias=False), torch.nn.Linear(16, 4, bias=False)
    with torch.no_grad():
        for linear in (first, second):
            uniform = torch.rand(linear.weight.shape, generator=generator) * 2 - 1
            linear.weight.copy_(uniform * 4 / linear.in_features**0.5)
    hidden = snn.Leaky(beta=torch.rand(16, generator=generator) * 0.5 + 0.45, threshold=torch.ones(16),
                       reset_mechanism=reset, init_hidden=True)
    if hidden_neuron == "synaptic":
        hidden = snn.Synaptic(alpha=torch.rand(16, generator=generator) * 0.5 + 0.45, beta=hidden.beta,
                              threshold=torch.ones(16), reset_mechanism=reset, reset_delay=reset_delay,
                              init_hidden=True)
    readout = snn.Leaky(beta=torch.rand(4, generator=generator) * 0.5 + 0.45, threshold=torch.ones(4),
                        reset_mechanism=reset, init_hidden=True, output=True)
    return torch.nn.Sequential(first, hidden, second, readout)


def snntorch_spikes(network: torch.nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Spikes (batch, T, units) of each Leaky / Synaptic layer, snnTorch stepping its own modules from rest."""
    import snntorch.utils
    snntorch.utils.reset(network)
    per_step = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            h, layers = x[:, t], []
            for module in network:
                h = module(h)
                if isinstance(module, (snn.Leaky, snn.Synaptic)):
                    h = h[0] if isinstance(h, tuple) else h
                    layers.append(h)
            per_step.append(layers)
    return [torch.stack([step[i] for step in per_step], 1) for i in range(len(per_step[0]))]


def spikeloc_spikes(network, x: torch.Tensor) -> list[torch.Tensor]:
    """Spikes of each hidden layer and the spiking readout of a one-member spikeloc network."""
    h, layers = x[None], []
    with torch.no_grad():
        for synapses, layer in zip(network.synapses, network.hidden_layers):
            h = layer(synapses(h))
            layers.append(h[0])
        readout = network.readout(network.synapses[-1](h))[0]
        if network.config.readout == "membrane":  # a last Leaky without reset: snnTorch's spikes are mem > threshold
            readout = (readout > network.config.threshold).to(readout.dtype)
        layers.append(readout)
    return layers


def differing(expected: list[torch.Tensor], got: list[torch.Tensor]) -> tuple[int, int]:
    """(spikes that differ, spikes snnTorch fired), over every layer."""
    return (sum(int((e != g).sum()) for e, g in zip(expected, got)), sum(int(e.sum()) for e in expected))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="networks per reset mechanism (default: 5)")
    parser.add_argument("--hidden-neuron", choices=("leaky", "synaptic"), default="leaky",
                        help="the hidden layer's snnTorch neuron (default: leaky)")
    args = parser.parse_args()
    x = (torch.rand(8, 40, 20, generator=torch.Generator().manual_seed(0)) < 0.3).float() * 2
    cases = [(reset, True) for reset in exchange.SNNTORCH_RESETS]
    if args.hidden_neuron == "synaptic":
        cases.insert(2, ("zero", False))
    for reset, reset_delay in cases:
        name = reset if reset_delay else f"{reset} (reset_delay=False)"
        routes = {"export_to_nir + from_nir": [0, 0], "from_snntorch": [0, 0]}
        refusal = None
        for seed in range(args.seeds):
            network = snntorch_network(reset, seed, args.hidden_neuron, reset_delay)
            expected = snntorch_spikes(network, x)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", exchange.SnnTorchResetWarning)
                graph = export_to_nir(network, torch.zeros(1, 20), ignore_dims=[0])
                counts = differing(expected, spikeloc_spikes(exchange.from_nir(graph), x))
            routes["export_to_nir + from_nir"] = [a + b for a, b in zip(routes["export_to_nir + from_nir"], counts)]
            try:
                counts = differing(expected, spikeloc_spikes(exchange.from_snntorch(network), x))
                routes["from_snntorch"] = [a + b for a, b in zip(routes["from_snntorch"], counts)]
            except ValueError as error:
                refusal = str(error)
        for route, (wrong, fired) in routes.items():
            if route == "from_snntorch" and refusal is not None:
                print(f"reset={name:8s} {route:25s}: refused ({refusal.split(';')[0]})")
            else:
                print(f"reset={name:8s} {route:25s}: {wrong} of {fired} spikes differ "
                      f"({100 * wrong / max(fired, 1):.1f} %), {args.seeds} networks")
    betas = torch.rand(100_000, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.45
    decays = torch.exp(-1e-3 / exchange._log_tau_for(betas.double().numpy(), 1e-3).exp())
    ulps = (decays.view(torch.int32) - betas.view(torch.int32)).abs()
    print(f"per-neuron decays: {int((ulps == 0).sum())} of {len(betas)} float32 betas in [0.45, 0.95) exact as "
          f"log time constants at dt 1 ms; the rest within {int(ulps.max())} ulps")


if __name__ == "__main__":
    main()
