"""Exchange spiking classifiers through NIR, the Neuromorphic Intermediate Representation (``nir``), which
snnTorch, Norse, Sinabs, Rockpool, Spyx, Lava-DL and neuromorphic chips read and write.

:func:`to_nir` writes one member of a :class:`~spikeloc.networks.classifier.SpikingClassifier` (any depth) as a
chain ``Input -> Linear -> LIF | CubaLIF -> ... -> Linear -> LI | LIF [-> Linear pooling] -> Output``:

* ``nir.Linear`` per synapse layer, weight ``(outputs, inputs)`` = the member's *effective* weight, Dale's signs
  folded in (``|w| * sign``); the signs themselves ride along in the node's ``metadata["dale_signs"]`` (1 / -1
  per presynaptic unit; 0: unconstrained) for spikeloc to read back; other tools ignore node metadata.
* ``nir.LIF`` per hidden layer of ``"leaky"`` neurons (and the ``"spikes"`` readout), ``nir.CubaLIF`` per hidden
  layer of ``"synaptic"`` (current-based) neurons, ``nir.LI`` for the ``"membrane"`` readout (the leaky
  integrator ``v_t = beta v_{t-1} + I_t``), one time constant per neuron. A network may mix them, one kind per
  hidden layer (``ClassifierConfig.neuron``); other kinds are refused by name.
* Recurrent hidden layers (``"recurrent"``, snnTorch's ``RLeaky``) as a graph cycle: the layer's ``nir.LIF`` node
  feeds a ``nir.Linear`` ``"recurrent_layer_<i>"`` (weight ``(units, units)`` = the member's effective V^T, its
  Dale signs, the units' own, in ``metadata["dale_signs"]``) whose output goes back into the same ``nir.LIF`` node,
  summed there with the feed-forward input (NIR sums a node's inputs; the loop's one-step delay is the
  simulator's). :func:`from_nir` reads such a cycle (one Linear whose only input and only output is one hidden
  LIF node) back as that layer's recurrent weights; a loop on the readout or on a CubaLIF node is refused.
* A population readout (``population`` n > 1: n spiking neurons per class) is followed by its pooling, a
  ``nir.Linear`` ``"population_pool"`` of weight 1/n from each class's n neurons (spikeloc's output: the
  fraction of the class's neurons that spike at each step); :func:`from_nir` reads such a node back as the
  population.

**Time constants.** NIR neurons are continuous-time, ``tau dv/dt = (v_leak - v) + r I``; a simulator with step
``dt`` turns that into a per-step decay. snnTorch's exporter and importer both use forward Euler with a
hard-coded ``dt = 1e-4`` s: ``beta = 1 - dt / tau`` and input gain ``r dt / tau``. So that a graph means the same
network to snnTorch as to spikeloc, each neuron's per-step decay ``beta_n`` (spikeloc: ``exp(-dt_s / tau_n)``) is
written in that convention, ``tau = dt / (1 - beta_n)``, ``r = tau / dt`` (gain exactly 1), ``v_leak = 0``,
``v_reset = 0``, with ``dt = dt_nir_s`` (default :data:`SNNTORCH_DT_S`). A CubaLIF node's synaptic current
(``tau_syn di/dt = -i + w_in S``; spikeloc: ``i_t = alpha_n i_{t-1} + I_t``) is written the same way, as
snnTorch's exporter writes ``snn.Synaptic``: ``tau_syn = dt / (1 - alpha_n)``, ``w_in = tau_syn / dt`` (gain
``w_in dt / tau_syn`` exactly 1), ``tau_mem`` and ``r`` as a LIF node's ``tau`` and ``r``. The ``tau`` in the
file is therefore *not* spikeloc's membrane time constant in seconds (5 ms at dt 1 ms becomes 0.55 ms at dt
0.1 ms), and reading it as ``exp(-dt / tau)`` would give a different network; :func:`from_nir` inverts exactly
this mapping. The graph's metadata records the convention (``spikeloc_time_step_convention``) and spikeloc's own
settings (``spikeloc``: the classifier config and member, JSON) for a faithful round trip.

**Reset.** spikeloc's LIF neurons reset to zero one step after a spike (snnTorch's ``reset_delay=True``);
snnTorch's importer builds ``snn.Leaky(reset_mechanism="zero", reset_delay=False)``, which resets in the same
step. The spikes are identical (the next step's membrane is ``beta (1 - s_t) u_t + I`` either way); only the
membrane recorded at a spike step differs. For CubaLIF it builds ``snn.Synaptic(reset_mechanism="zero",
reset_delay=False)``, whose spikes equal spikeloc's synaptic neurons' for the same reason (the synaptic current
is never reset); ``snn.Synaptic``'s default ``reset_delay=True`` with ``"zero"`` differs (it also drops the
input of the step after a spike, :func:`spikeloc.substrate.fused.synaptic_spikes`).

:func:`from_nir` reads a graph of that shape back into a one-member ``SpikingClassifier``: spikeloc's own
graphs give outputs equal to the original bit for bit (the decays are recovered exactly, see
:func:`_log_tau_for`); graphs from snnTorch's ``export_to_nir`` (``snn.Leaky`` networks with per-neuron tensor
``beta``/``threshold``, and ``snn.Synaptic`` networks with tensor ``alpha`` too, exported with
``ignore_dims=[0]``) import with equal outputs. Known limits of snnTorch's side (snnTorch 1.0.0): it exports
every ``Leaky`` as a reset-to-zero LIF (every ``Synaptic`` as a reset-to-zero CubaLIF), so a ``'subtract'`` (its
default) or ``'none'`` network is written wrongly and nothing in the file can tell (29 % and 44 % of spikes differ,
``python benchmarks/check_snntorch_resets.py``). :func:`from_nir` therefore warns
(:class:`SnnTorchResetWarning`) about graphs with the marks of snnTorch's exporter
(:func:`looks_like_snntorch_export`) unless told ``snntorch_reset="zero"``, and :func:`from_snntorch` reads a
live snnTorch network directly, any reset mechanism included (the substrate has ``"zero"``, ``"subtract"`` and
``"none"``), refusing by name what spikeloc's neurons cannot do. A spikeloc network that does not reset to zero
is not exported: ``nir.LIF`` and ``nir.CubaLIF`` reset to ``v_reset``, and NIR has no node for a subtractive (or
no) reset.
snnTorch's importer has no mapping for ``nir.LI``: :func:`to_snntorch` is its importer with ``nir.LI`` mapped
(a stateful leaky integrator, wired through nirtorch); it needs snnTorch >= 1.0 (0.9's importer returns wrong outputs for ``nir.LI``).

Not representable here (a clear ``ValueError``): input delays (export), biases, ``v_leak`` or ``v_reset``
other than 0, an input gain other than 1, different thresholds within a network, and graphs that are not a chain.
Dropout is a training-time operation and is not exported (the graph is the network in evaluation mode).

Needs the optional packages ``nir`` (and ``nirtorch`` for :func:`to_snntorch`; :func:`from_snntorch` needs
neither): ``pip install -e ".[nir]"``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import types
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from spikeloc.files import atomic_write
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
from spikeloc.validation import require

#: snnTorch's export_to_nir / import_from_nir hard-code this simulation step (seconds).
SNNTORCH_DT_S = 1e-4
CONVENTION = "forward Euler: beta = 1 - dt / tau, input gain r * dt / tau = 1"
INSTALL = 'NIR exchange needs the optional packages nir and nirtorch: pip install -e ".[nir]"'
#: snn.Leaky's reset mechanisms, in the order of its ``reset_mechanism_val``.
SNNTORCH_RESETS = ("subtract", "zero", "none")
#: The oldest snnTorch whose importer :func:`to_snntorch` builds on (0.9's returns wrong outputs for nir.LI).
SNNTORCH_MIN_VERSION = (1, 0)


class NIRFileError(ValueError):
    """A file that is not a readable NIR graph, or one spikeloc cannot represent."""


class SnnTorchResetWarning(UserWarning):
    """A graph from snnTorch's exporter, whose neurons' reset mechanism the file cannot tell."""


def _nir():
    try:
        import nir
    except ImportError as error:
        raise ImportError(INSTALL) from error
    return nir


# ------------------------------------------------------------------------------------------------ export
def _decays(decay: float | torch.Tensor, member: int, units: int) -> np.ndarray:
    """Per-step decay of each neuron of one layer of ``member``, float64, from the layer's ``beta()`` or
    ``alpha()``: exactly the value spikeloc uses (the float32 per-neuron decays, or the float of a fixed tau)."""
    if isinstance(decay, torch.Tensor):
        return decay.detach()[member].cpu().double().numpy()
    return np.full(units, float(decay))


#: Hidden-layer kinds (:data:`~spikeloc.substrate.neurons.NEURONS`) that NIR nodes describe.
EXPORTED_NEURONS = ("leaky", "synaptic", "recurrent")


def to_nir(network: SpikingClassifier, member: int = 0, dt_nir_s: float = SNNTORCH_DT_S):
    """One member of ``network`` as a ``nir.NIRGraph`` (see the module docstring for the node mapping), its time
    constants in the forward-Euler convention of a simulator stepping ``dt_nir_s`` seconds (default snnTorch's
    0.1 ms), recorded in the graph's metadata (``spikeloc_time_step_s``)."""
    nir = _nir()
    config = network.config
    require(0 <= member < network.n_members, "member", member, f"an index in [0, {network.n_members})")
    require(network.input_delays is None, "input_delays", config.input_delays,
            "'none' for NIR export (NIR has no per-fibre delay that spikeloc's importers share)")
    require(dt_nir_s > 0, "dt_nir_s", dt_nir_s, "> 0 s")
    require(config.reset == "zero", "reset", config.reset,
            "'zero' for NIR export (nir.LIF and nir.CubaLIF reset to v_reset after a spike; NIR has no "
            "subtractive or absent reset)")
    require("adaptive" not in config.neurons, "neuron", config.neuron,
            "another kind for NIR export (NIR has no adaptive-threshold neuron: an adaptive network cannot be "
            "exported)")
    require(all(kind in EXPORTED_NEURONS for kind in config.neurons), "neuron", config.neuron,
            f"{' or '.join(map(repr, EXPORTED_NEURONS))} in every hidden layer for NIR export (nir.LIF, nir.CubaLIF, "
            "nir.LIF in a cycle)")
    names = config.synapse_names
    neurons = [*network.hidden_layers, network.readout]
    kinds = [*config.neurons, "readout"]
    nodes = {"input": nir.Input(input_type=np.array([config.n_inputs]))}
    chain, loops = ["input"], []
    for i, (name, synapses, layer, kind, units) in enumerate(zip(names, network.synapses, neurons, kinds,
                                                                 config.layer_sizes[1:])):
        nodes[f"synapses_{name}"] = _linear_node(nir, synapses, member)
        tau = dt_nir_s / (1 - _decays(layer.beta(), member, units))
        spiking = dict(v_leak=np.zeros(units), v_threshold=np.full(units, config.threshold), v_reset=np.zeros(units))
        if kind == "synaptic":  # gains r dt / tau_mem and w_in dt / tau_syn of 1, as snnTorch's exporter writes
            tau_syn = dt_nir_s / (1 - _decays(layer.alpha(), member, units))
            node = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, r=tau / dt_nir_s, w_in=tau_syn / dt_nir_s, **spiking)
        elif kind == "readout" and config.readout == "membrane":
            node = nir.LI(tau=tau, r=tau / dt_nir_s, v_leak=np.zeros(units))
        else:
            node = nir.LIF(tau=tau, r=tau / dt_nir_s, **spiking)
        key = "readout" if kind == "readout" else f"layer_{i + 1}"
        nodes[key] = node
        chain += [f"synapses_{name}", key]
        if kind == "recurrent":  # the cycle LIF -> recurrent Linear -> the same LIF
            nodes[f"recurrent_{key}"] = _linear_node(nir, layer.recurrent, member)
            loops += [(key, f"recurrent_{key}"), (f"recurrent_{key}", key)]
    if config.population > 1:  # the readout's class outputs: each class's fraction of active neurons
        pool = np.kron(np.eye(config.n_classes), np.full((1, config.population), 1 / config.population))
        nodes["population_pool"] = nir.Linear(weight=pool)
        chain.append("population_pool")
    nodes["output"] = nir.Output(output_type=np.array([config.n_classes]))
    chain.append("output")
    metadata = {"spikeloc": json.dumps({"config": dataclasses.asdict(config),
                                        "member": dataclasses.asdict(network.members[member])}),
                "spikeloc_time_step_s": dt_nir_s, "spikeloc_time_step_convention": CONVENTION}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(chain, chain[1:])) + loops, metadata=metadata)


def _linear_node(nir, synapses: nn.Module, member: int):
    """A ``nir.Linear`` of one member's effective weight (outputs, inputs), its Dale signs in the metadata."""
    weight = synapses.effective_weight().detach()[member].T.cpu().numpy()  # (outputs, inputs)
    signs = synapses.signs.detach()[member].cpu().numpy()
    return nir.Linear(weight=weight, metadata={"dale_signs": signs} if signs.any() else {})


def write(network: SpikingClassifier, path: str | os.PathLike, member: int = 0,
          dt_nir_s: float = SNNTORCH_DT_S) -> None:
    """Write member ``member`` of ``network`` to a NIR file (HDF5) at ``path``, atomically."""
    nir = _nir()
    graph = to_nir(network, member, dt_nir_s)
    buffer = io.BytesIO()
    nir.write(buffer, graph)
    atomic_write(Path(path), buffer.getvalue())


# ------------------------------------------------------------------------------------------------ import
def read(path: str | os.PathLike, dt_s: float = 1e-3, dt_nir_s: float | None = None,
         snntorch_reset: str | None = None) -> SpikingClassifier:
    """A one-member ``SpikingClassifier`` from the NIR file at ``path`` (:func:`from_nir`, its arguments);
    :class:`NIRFileError` naming the file if it is missing, not a NIR file, or not a graph of the supported
    shape."""
    nir = _nir()
    path = Path(path)
    if not path.is_file():
        raise NIRFileError(f"NIR file {path} does not exist")
    try:
        graph = nir.read(path)
    except Exception as error:  # h5py and nir raise many kinds (OSError, KeyError, ValueError, AssertionError)
        raise NIRFileError(f"{path} is not a readable NIR file ({type(error).__name__}: "
                           f"{str(error).splitlines()[0] if str(error) else 'unreadable'})") from error
    try:
        return from_nir(graph, dt_s, dt_nir_s, snntorch_reset)
    except ValueError as error:
        raise NIRFileError(f"{path}: {error}") from error


def _chain(graph) -> list:
    """The graph's nodes from its one input to its one output, following its edges; ValueError otherwise."""
    nir = _nir()
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    successors: dict[str, list[str]] = {}
    for source, target in graph.edges:
        successors.setdefault(source, []).append(target)
    if len(inputs) != 1:
        raise ValueError(f"the graph has {len(inputs)} input nodes; spikeloc reads chains with one")
    order, node = [], inputs[0]
    while True:
        order.append(graph.nodes[node])
        following = successors.get(node, [])
        if isinstance(graph.nodes[node], nir.Output):
            break
        if len(following) != 1 or len(order) > len(graph.nodes):
            raise ValueError(f"node {node!r} has {len(following)} successors; spikeloc reads chains "
                             "Input -> Linear -> LIF -> ... -> Linear -> LI | LIF -> Output")
        node = following[0]
    if len(order) != len(graph.nodes):
        raise ValueError(f"the graph has {len(graph.nodes)} nodes, {len(order)} of them on the input-output chain")
    return order


def _recurrent_loops(graph) -> dict[str, str]:
    """{LIF (or CubaLIF) node key: key of the Linear (or Affine) node in a cycle with it}: a Linear whose only input
    and only output is that one node, as :func:`to_nir` writes a recurrent layer's weights."""
    nir = _nir()
    sources: dict[str, list[str]] = {}
    targets: dict[str, list[str]] = {}
    for source, target in graph.edges:
        targets.setdefault(source, []).append(target)
        sources.setdefault(target, []).append(source)
    loops: dict[str, str] = {}
    for key, node in graph.nodes.items():
        ends = targets.get(key, [])
        if (isinstance(node, (nir.Linear, nir.Affine)) and len(ends) == 1 and sources.get(key, []) == ends
                and isinstance(graph.nodes[ends[0]], (nir.LIF, nir.CubaLIF))):
            if ends[0] in loops:
                raise ValueError(f"LIF node {ends[0]!r} has two recurrent loops ({loops[ends[0]]!r}, {key!r}); "
                                 "spikeloc's recurrent layers have one weight")
            loops[ends[0]] = key
    return loops


def _without_loops(graph, loops: dict[str, str]):
    """The graph's nodes and edges without the recurrent Linear nodes of ``loops`` (what :func:`_chain` walks)."""
    linear = set(loops.values())
    return types.SimpleNamespace(nodes={key: node for key, node in graph.nodes.items() if key not in linear},
                                 edges=[(a, b) for a, b in graph.edges if a not in linear and b not in linear])


def _recurrent_weights(graph, loops: dict[str, str], neurons: list,
                       signs: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Each hidden layer's recurrent (weight (units, units), Dale signs), None for a layer without a loop;
    ``ValueError`` for a loop on the readout or on a CubaLIF node, or one whose weight does not fit its layer or
    whose signs are not the units' own (``signs[i + 1]``: those of the synapses hidden layer i feeds)."""
    nir = _nir()
    by_node = {id(graph.nodes[key]): graph.nodes[linear] for key, linear in loops.items()}
    if id(neurons[-1]) in by_node:
        raise ValueError("the readout node has a recurrent loop; spikeloc's readouts are not recurrent")
    weights = []
    for node, outgoing in zip(neurons[:-1], signs[1:]):
        loop = by_node.get(id(node))
        if loop is not None and isinstance(node, nir.CubaLIF):
            raise ValueError("a CubaLIF node has a recurrent loop (snnTorch's RSynaptic); spikeloc's recurrent "
                             "neurons are LIF (RLeaky)")
        if loop is not None:
            weight, units = _weight(loop, nir), outgoing.size
            if weight.shape != (units, units):
                raise ValueError(f"a recurrent Linear node has weight {weight.shape}; its layer has {units} units")
            own = np.asarray(loop.metadata.get("dale_signs", np.zeros(units)), dtype=np.float32)
            if not np.array_equal(own, outgoing):
                raise ValueError("a recurrent Linear node's dale_signs differ from those of the synapses its layer "
                                 "feeds; a recurrent layer's Dale signs are its units' own")
            loop = (weight, own)
        weights.append(loop)
    return weights


def _weight(node, nir) -> np.ndarray:
    if isinstance(node, nir.Affine):
        if np.any(node.bias != 0):
            raise ValueError("a synapse layer has a bias; spikeloc's synapses have none")
    elif not isinstance(node, nir.Linear):
        raise ValueError(f"expected a Linear (or bias-free Affine) node, found {type(node).__name__}")
    return np.asarray(node.weight, dtype=np.float64)


def _euler_decay(tau, gain, dt_nir_s: float, gain_name: str) -> np.ndarray:
    """Per-step decays ``1 - dt / tau`` of a node's time constants ``tau`` in the forward-Euler convention, its
    input gain ``gain`` (named ``gain_name``) required to be 1; ValueError otherwise."""
    tau, gain = (np.asarray(value, dtype=np.float64).reshape(-1) for value in (tau, gain))
    if not np.allclose(gain, 1.0, rtol=1e-6, atol=0):  # float32 writers round it
        raise ValueError(f"a neuron node has input gain {gain_name} != 1 (dt = {dt_nir_s} s); spikeloc's "
                         "neurons add their input current unscaled")
    decay = 1 - dt_nir_s / tau
    if np.any(~np.isfinite(decay)) or np.any(decay < 0) or np.any(decay > 1):
        raise ValueError(f"a neuron node has tau outside [dt, inf) (dt = {dt_nir_s} s): decays must be in [0, 1]")
    return decay


def _decay_of(node, nir, dt_nir_s: float) -> tuple[np.ndarray, float | None]:
    """(per-step membrane decays, threshold or None) of a LIF / CubaLIF / LI node in the forward-Euler
    convention."""
    if np.any(np.asarray(node.v_leak) != 0):
        raise ValueError("a neuron node has v_leak != 0; spikeloc's neurons leak to 0")
    if isinstance(node, nir.CubaLIF):
        tau = np.asarray(node.tau_mem, dtype=np.float64)
        beta = _euler_decay(tau, np.asarray(node.r) * dt_nir_s / tau, dt_nir_s, "r * dt / tau_mem")
    else:
        tau = np.asarray(node.tau, dtype=np.float64)
        beta = _euler_decay(tau, np.asarray(node.r) * dt_nir_s / tau, dt_nir_s, "r * dt / tau")
    if isinstance(node, nir.LI):
        return beta, None
    threshold = np.unique(np.asarray(node.v_threshold, dtype=np.float64))
    if threshold.size != 1 or not threshold[0] > 0:
        raise ValueError(f"a {type(node).__name__} node has thresholds {threshold[:5]}; spikeloc needs one "
                         "threshold > 0 per network")
    if np.any(np.asarray(node.v_reset) != 0):
        raise ValueError(f"a {type(node).__name__} node has v_reset != 0; spikeloc's neurons reset to 0")
    return beta, float(threshold[0])


def _synaptic_decay_of(node, nir, dt_nir_s: float) -> np.ndarray | None:
    """Per-step decays of a CubaLIF node's synaptic current (None for other nodes), its input weight ``w_in``
    required to give gain ``w_in dt / tau_syn`` = 1."""
    if not isinstance(node, nir.CubaLIF):
        return None
    tau_syn = np.asarray(node.tau_syn, dtype=np.float64)
    return _euler_decay(tau_syn, np.asarray(node.w_in) * dt_nir_s / tau_syn, dt_nir_s, "w_in * dt / tau_syn")


def _log_tau_for(beta: np.ndarray, dt_s: float) -> torch.Tensor:
    """float32 log time constants (seconds) whose float32 decays ``exp(-dt_s / exp(log_tau))`` (as
    :class:`~spikeloc.substrate.neurons.TimeConstants` computes them) equal ``beta`` rounded to float32: the
    float64 inverse, then the nearest float32 neighbours searched for an exact match (so a spikeloc graph
    round-trips bit for bit). A decay of exactly 0 or 1 has no finite tau and is refused."""
    if np.any((beta <= 0) | (beta >= 1)):
        raise ValueError("per-neuron decays must lie strictly between 0 and 1 (a finite tau > 0)")
    target = torch.from_numpy(beta).float()
    log_tau = torch.from_numpy(np.log(-dt_s / np.log(beta))).float()

    def decay(x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-dt_s / x.exp())

    best = log_tau.clone()
    for step in range(1, 9):
        missing = decay(best) != target
        if not bool(missing.any()):
            break
        for direction in (math.inf, -math.inf):
            candidate = log_tau.clone()
            for _ in range(step):
                candidate = torch.nextafter(candidate, torch.full_like(candidate, direction))
            hit = missing & (decay(candidate) == target)
            best[hit] = candidate[hit]
            missing &= ~hit
    return best


def from_nir(graph, dt_s: float = 1e-3, dt_nir_s: float | None = None,
             snntorch_reset: str | None = None) -> SpikingClassifier:
    """A one-member ``SpikingClassifier`` computing what ``graph`` does (module docstring); ``ValueError``
    naming what does not fit. ``dt_s`` is spikeloc's step (only used to express the decays as time constants
    for graphs spikeloc did not write); ``dt_nir_s`` the graph's forward-Euler step: by default the one a
    spikeloc graph records (``spikeloc_time_step_s``), else snnTorch's :data:`SNNTORCH_DT_S`.

    ``snntorch_reset``: what the caller knows of a graph written by snnTorch's ``export_to_nir``, which writes
    every ``snn.Leaky`` as reset-to-zero whatever its ``reset_mechanism`` (:func:`looks_like_snntorch_export`).
    ``None``: such a graph is read as it says, with a :class:`SnnTorchResetWarning`; ``"zero"``: read, no
    warning (the network did reset to zero); ``"subtract"`` or ``"none"``: refused (the file lost the reset's
    membrane arithmetic; read the live network with :func:`from_snntorch`, which keeps it)."""
    nir = _nir()
    if dt_nir_s is None:
        recorded = graph.metadata.get("spikeloc_time_step_s") if isinstance(graph.metadata, dict) else None
        dt_nir_s = SNNTORCH_DT_S if recorded is None else float(np.asarray(recorded))
    require(dt_s > 0, "dt_s", dt_s, "> 0 s")
    require(dt_nir_s > 0, "dt_nir_s", dt_nir_s, "> 0 s")
    require(snntorch_reset is None or snntorch_reset in SNNTORCH_RESETS, "snntorch_reset", snntorch_reset,
            f"None or one of {SNNTORCH_RESETS}")
    loops = _recurrent_loops(graph)
    order = _chain(_without_loops(graph, loops))
    body = order[1:-1]
    pool = None
    if len(body) >= 3 and len(body) % 2 and isinstance(body[-2], nir.LIF):
        pool, body = _weight(body[-1], nir), body[:-1]
    if len(body) < 2 or len(body) % 2:
        raise ValueError(f"expected Linear and neuron nodes in turn between input and output, found "
                         f"{[type(n).__name__ for n in body]}")
    weights = [_weight(node, nir) for node in body[0::2]]
    neurons = body[1::2]
    for node in neurons[:-1]:
        if not isinstance(node, (nir.LIF, nir.CubaLIF)):
            raise ValueError(f"hidden layers must be LIF or CubaLIF nodes, found {type(node).__name__}")
    if not isinstance(neurons[-1], (nir.LIF, nir.LI)):
        raise ValueError(f"the readout must be a LIF or LI node, found {type(neurons[-1]).__name__}")
    sizes = [weights[0].shape[1], *(w.shape[0] for w in weights)]
    for w, n_in in zip(weights, sizes):
        if w.shape[1] != n_in:
            raise ValueError(f"weight shapes {[w.shape for w in weights]} do not chain")
    if pool is not None and pool.shape[1] != sizes[-1]:
        raise ValueError(f"the Linear node after the readout reads {pool.shape[1]} neurons; the readout has "
                         f"{sizes[-1]}")
    population = 1 if pool is None else _population_of(pool)
    decays, thresholds = zip(*(_decay_of(node, nir, dt_nir_s) for node in neurons))
    for beta, units in zip(decays, sizes[1:]):
        if beta.size != units:
            raise ValueError(f"a neuron node has {beta.size} neurons after a layer of {units} outputs")
    levels = {t for t in thresholds if t is not None}
    if len(levels) > 1:
        raise ValueError(f"layers have different thresholds {sorted(levels)}; spikeloc has one per network")
    if looks_like_snntorch_export(graph):
        _check_snntorch_reset(snntorch_reset)
    looped = {id(graph.nodes[key]) for key in loops}
    kinds = tuple("synaptic" if isinstance(node, nir.CubaLIF) else "recurrent" if id(node) in looped else "leaky"
                  for node in neurons[:-1])
    layout = _Layout(sizes, "membrane" if isinstance(neurons[-1], nir.LI) else "spikes",
                     levels.pop() if levels else 1.0, population, decays, kinds,
                     tuple(_synaptic_decay_of(node, nir, dt_nir_s) for node in neurons[:-1]))
    config, member = _saved_settings(graph, layout) or _inferred_settings(layout, dt_s)
    signs = [np.asarray(node.metadata.get("dale_signs", np.zeros(w.shape[1])), dtype=np.float32)
             for node, w in zip(body[0::2], weights)]
    recurrent = _recurrent_weights(graph, loops, neurons, signs)
    return _classifier(config, member, weights, signs, layout, recurrent)


def _population_of(pool: np.ndarray) -> int:
    """n of a node that averages each class's n consecutive readout neurons (weight 1/n on its own block,
    0 elsewhere), as :func:`to_nir` writes a population readout; ``ValueError`` for any other weight."""
    classes, units = pool.shape
    population = units // classes if classes and units % classes == 0 else 0
    expected = (np.kron(np.eye(classes), np.full((1, population), 1 / population)) if population
                else None)
    if expected is None or not np.allclose(pool, expected, rtol=1e-6, atol=0):
        raise ValueError(f"a Linear node {pool.shape} follows the spiking readout; spikeloc reads one there only "
                         "as a population readout's pooling (weight 1/n over each class's n neurons)")
    return population


def _check_snntorch_reset(snntorch_reset: str | None) -> None:
    """Warn about (None) or refuse (subtract, none) a graph from snnTorch's exporter, whose reset is unknown."""
    if snntorch_reset in ("subtract", "none"):
        raise ValueError(f"snntorch_reset={snntorch_reset!r}: snnTorch's exporter wrote these neurons as "
                         "reset-to-zero, so the file cannot give their spikes; read the live snnTorch network with "
                         "spikeloc.networks.nir.from_snntorch, which keeps its reset")
    if snntorch_reset is None:
        warnings.warn("this graph looks written by snnTorch's export_to_nir (float32 time constants in its "
                      "0.1 ms Euler convention, reset to 0, no spikeloc metadata), which writes every snn.Leaky "
                      "and snn.Synaptic as reset-to-zero whatever its reset_mechanism: a network that used "
                      "snnTorch's default 'subtract' (or 'none') reads in with different spikes. Read the live "
                      "network with spikeloc.networks.nir.from_snntorch, or pass snntorch_reset='zero' if it did "
                      "reset to zero (a Synaptic: with reset_delay=False)",
                      SnnTorchResetWarning, stacklevel=3)


def looks_like_snntorch_export(graph) -> bool:
    """Whether ``graph`` has the marks of snnTorch's ``export_to_nir`` (snnTorch 1.0.0 writes no provenance):
    no spikeloc metadata, and every LIF and CubaLIF node float32 with ``v_reset == 0`` and its gains computed
    in float32 at the hard-coded dt: ``r == tau / 1e-4`` (``tau_mem`` for CubaLIF: its ``tau = dt / (1 -
    beta)``, ``r = tau / dt``) and, for CubaLIF, ``w_in == tau_syn / 1e-4``: the nodes snnTorch writes for every
    ``snn.Leaky`` and ``snn.Synaptic``, whatever their reset mechanism."""
    nir = _nir()
    if isinstance(graph.metadata, dict) and "spikeloc" in graph.metadata:
        return False
    spiking = [node for node in graph.nodes.values() if isinstance(node, (nir.LIF, nir.CubaLIF))]

    def snntorch_gain(tau, gain) -> bool:
        tau, gain = np.asarray(tau), np.asarray(gain)
        return tau.dtype == np.float32 and gain.dtype == np.float32 and np.array_equal(gain, tau / SNNTORCH_DT_S)

    def snntorch_node(node) -> bool:
        if isinstance(node, nir.CubaLIF):
            gains = snntorch_gain(node.tau_mem, node.r) and snntorch_gain(node.tau_syn, node.w_in)
        else:
            gains = snntorch_gain(node.tau, node.r)
        return gains and not np.any(np.asarray(node.v_reset))

    return bool(spiking) and all(snntorch_node(node) for node in spiking)


@dataclasses.dataclass(frozen=True)
class _Layout:
    """What a graph or an snnTorch network says about the classifier: units per layer (inputs first, readout
    neurons last), readout kind, threshold, neurons per class, per-step membrane decays of each neuron layer,
    each hidden layer's kind and its synaptic current's per-step decays (None for ``"leaky"``)."""

    sizes: list[int]
    readout: str
    threshold: float
    population: int
    decays: tuple[np.ndarray, ...]
    kinds: tuple[str, ...]
    synaptic_decays: tuple[np.ndarray | None, ...]


def _classifier(config: ClassifierConfig, member: Member, weights: list[np.ndarray], signs: list[np.ndarray],
                layout: _Layout, recurrent: list[tuple[np.ndarray, np.ndarray] | None] = ()) -> SpikingClassifier:
    """A one-member network of ``config``: ``weights[i]`` (outputs, inputs), Dale signs, the layout's per-neuron
    decays, and each recurrent hidden layer's (weight (outputs, inputs), signs) in ``recurrent`` (None for the
    other layers)."""
    network = SpikingClassifier(config, [member]).eval()
    layers = [*network.hidden_layers, network.readout]
    with torch.no_grad():
        for synapses, w, s in zip(network.synapses, weights, signs):
            synapses.raw_weight.copy_(torch.from_numpy(w.T.copy())[None])
            synapses.signs.copy_(torch.from_numpy(s)[None])
        for layer, loop in zip(network.hidden_layers, recurrent):
            if loop is not None:
                layer.recurrent.raw_weight.copy_(torch.from_numpy(loop[0].T.copy())[None])
                layer.recurrent.signs.copy_(torch.from_numpy(loop[1])[None])
        if config.per_neuron_tau:
            for layer, beta in zip(layers, layout.decays):
                layer.time_constants.log_tau.copy_(_log_tau_for(beta, config.dt_s)[None])
            for layer, alpha in zip(network.hidden_layers, layout.synaptic_decays):
                if alpha is not None:
                    layer.synaptic_time_constants.log_tau.copy_(_log_tau_for(alpha, config.dt_s)[None])
    return network


def _saved_settings(graph, layout: _Layout) -> tuple[ClassifierConfig, Member] | None:
    """spikeloc's own config and member from the graph's metadata, where they describe this graph."""
    saved = graph.metadata.get("spikeloc") if isinstance(graph.metadata, dict) else None
    if saved is None:
        return None
    try:
        content = json.loads(saved.decode() if isinstance(saved, bytes) else str(saved))
        config = ClassifierConfig(**content["config"])
        member = Member(**content["member"])
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"its spikeloc metadata is unreadable ({error})") from error
    fits = (list(config.layer_sizes) == layout.sizes and config.readout == layout.readout
            and config.threshold == layout.threshold and config.population == layout.population
            and config.input_delays == "none" and config.neurons == layout.kinds)
    if fits and not config.per_neuron_tau:
        alpha = math.exp(-config.dt_s / config.tau_syn_s)  # as SynapticLayer.alpha
        fits = (all(np.allclose(beta, config.lif.beta, rtol=1e-12, atol=0) for beta in layout.decays)
                and all(np.allclose(a, alpha, rtol=1e-12, atol=0) for a in layout.synaptic_decays if a is not None))
    return (config, member) if fits else None


def _inferred_settings(layout: _Layout, dt_s: float) -> tuple[ClassifierConfig, Member]:
    """A config built from the layout: fixed time constants where every membrane decay is equal and every
    synaptic decay is equal, else per-neuron taus."""
    sizes = layout.sizes
    synaptic = [alpha for alpha in layout.synaptic_decays if alpha is not None]
    config = dict(n_inputs=sizes[0], hidden=tuple(sizes[1:-1]), n_classes=sizes[-1] // layout.population,
                  population=layout.population, readout=layout.readout, dt_s=dt_s, threshold=layout.threshold,
                  **({"neuron": layout.kinds} if layout.kinds else {}))
    every, every_synaptic = np.concatenate(layout.decays), np.concatenate([*synaptic, np.ones(0)])
    for decays in (every, every_synaptic):
        if np.any((decays <= 0) | (decays >= 1)):
            raise ValueError("decays must lie strictly between 0 and 1 (a finite time constant > 0)")
    if np.all(every == every[0]) and np.all(every_synaptic == every_synaptic[:1]):
        fixed = dict(tau_s=-dt_s / math.log(every[0]))
        if synaptic:
            fixed["tau_syn_s"] = -dt_s / math.log(every_synaptic[0])
        return ClassifierConfig(**config, **fixed), Member()
    taus = -dt_s / np.log(every)
    if synaptic:
        config["tau_syn_s"] = float((-dt_s / np.log(every_synaptic)).mean())
    # per-neuron taus, overwritten from the graph; the record describes the membrane taus' spread: the half-width
    # of a uniform range that holds them all, or (when that reaches 0) a gamma with their coefficient of variation
    mean = float(taus.mean())
    spread = float(np.abs(taus / mean - 1).max())
    distribution = ("uniform", spread) if spread < 1 else ("gamma", float(taus.std() / mean))
    return (ClassifierConfig(**config, tau_s=mean, tau_distribution=distribution[0], tau_spread=distribution[1]),
            Member())


# ------------------------------------------------------------------------------------------------ snnTorch
def from_snntorch(module: nn.Module, dt_s: float = 1e-3) -> SpikingClassifier:
    """A one-member ``SpikingClassifier`` with the spikes of a live snnTorch network, read from its modules
    (no NIR file in between, so nothing of the neurons is lost: snnTorch's exporter writes every ``Leaky`` and
    ``Synaptic`` as reset-to-zero). ``ValueError`` naming the layer and what spikeloc cannot represent.

    ``module``: an ``nn.Sequential`` of ``nn.Linear`` (no bias, or an all-zero one) and a neuron layer in turn,
    any depth: ``snn.Leaky`` or ``snn.Synaptic`` (current-based, the ``"synaptic"`` hidden kind) in hidden
    layers, ``snn.Leaky`` last (the readout). Each neuron layer's ``beta`` (and a ``Synaptic``'s ``alpha``; one,
    or one per neuron, strictly between 0 and 1) becomes the neurons' per-step decay (``dt_s``, spikeloc's step
    in seconds, only turns it into time constants ``tau = -dt_s / ln beta``); its ``threshold`` (one, or one
    per neuron) must be the same everywhere.

    * Hidden layers and a spiking last ``Leaky`` (the ``"spikes"`` readout): any ``reset_mechanism``
      (``"subtract"``, snnTorch's default; ``"zero"``; ``"none"``), the same in every spiking layer (it becomes
      the config's ``reset``, :mod:`spikeloc.substrate.kernels.step`), with snnTorch's default
      ``reset_delay=True``; ``reset_delay=False`` only with ``"zero"`` (a ``Leaky``'s spikes are the same; with
      ``"subtract"`` they are not, and it is refused). A ``Synaptic`` that resets to zero needs
      ``reset_delay=False`` (what snnTorch's NIR importer builds): with the default delay, ``snn.Synaptic``
      also drops the input of the step after a spike, which spikeloc's neurons do not
      (:func:`spikeloc.substrate.fused.synaptic_spikes`), and it is refused.
    * A last ``Leaky`` with ``reset_mechanism="none"`` becomes the ``"membrane"`` readout: the network returns
      that neuron's membrane ``mem`` (snnTorch's spikes are ``mem > threshold``), equal to float rounding
      (spikeloc sums it as a filter over time).
    * Refused: other layer types (subclasses of ``Leaky`` and ``Synaptic`` included), a last ``Synaptic``,
      biases, ``inhibition``, ``graded_spikes_factor`` other than 1, ``state_quant``. Not carried:
      ``learn_alpha`` / ``learn_beta`` / ``learn_threshold`` (the network is read as it is) and ``spike_grad``
      (training only; spikeloc's surrogate is its sigmoid).

    Uniform decays give a fixed time constant, equal to snnTorch's float32 beta. Per-neuron decays are
    stored as float32 log time constants (:class:`~spikeloc.substrate.neurons.TimeConstants`), which cannot
    reach every float32 decay: of 100,000 betas drawn in [0.45, 0.95), 42 % come out 1 to 5 float32 units in
    the last place away at ``dt_s`` = 1 ms (:func:`_log_tau_for`; ``python benchmarks/check_snntorch_resets.py``
    prints it). The spikes were equal in every test; a membrane within a few ulps of the threshold could flip
    one.
    """
    import snntorch as snn

    require(dt_s > 0, "dt_s", dt_s, "> 0 s")
    if not isinstance(module, nn.Sequential):
        raise ValueError(f"module is a {type(module).__name__}; from_snntorch reads an nn.Sequential of "
                         "nn.Linear and snn.Leaky / snn.Synaptic layers")
    layers = list(module)
    kinds = [type(layer) for layer in layers]
    if len(layers) < 2 or len(layers) % 2 or any(k is not nn.Linear for k in kinds[0::2]) or any(
            k not in (snn.Leaky, snn.Synaptic) for k in kinds[1::2]) or kinds[-1] is not snn.Leaky:
        raise ValueError(f"module holds {[k.__name__ for k in kinds]}; from_snntorch reads nn.Linear and "
                         "snn.Leaky or snn.Synaptic in turn, snn.Leaky last (other layer types, subclasses "
                         "included, are not represented)")
    weights = []
    for index, linear in zip(range(0, len(layers), 2), layers[0::2]):
        if linear.bias is not None and bool(linear.bias.detach().any()):
            raise ValueError(f"layer {index} (nn.Linear) has a bias; spikeloc's synapses have none")
        weights.append(linear.weight.detach().cpu().double().numpy())
    sizes = [weights[0].shape[1], *(w.shape[0] for w in weights)]
    decays, synaptic_decays, thresholds, readout, resets = [], [], set(), "spikes", set()
    for index, neuron, units in zip(range(1, len(layers), 2), layers[1::2], sizes[1:]):
        synaptic = isinstance(neuron, snn.Synaptic)
        name = f"layer {index} (snn.{type(neuron).__name__})"
        reset = SNNTORCH_RESETS[int(neuron.reset_mechanism_val)]
        last = index == len(layers) - 1
        if last and reset == "none":
            readout = "membrane"
        else:
            resets.add(reset)
            if len(resets) > 1:
                raise ValueError(f"{name} has reset_mechanism={reset!r} after {sorted(resets - {reset})[0]!r} in an "
                                 "earlier layer; spikeloc's spiking layers share one reset mechanism")
            delay = getattr(neuron, "reset_delay", True)
            if reset != "zero" and not delay:
                raise ValueError(f"{name} has reset_delay=False with reset_mechanism={reset!r}; spikeloc's "
                                 "neurons reset one step after a spike (reset_delay=True)")
            if synaptic and reset == "zero" and delay:
                raise ValueError(f"{name} has reset_mechanism='zero' with reset_delay=True, which also drops the "
                                 "input of the step after a spike; spikeloc's synaptic neurons reset as snn.Leaky "
                                 "(snn.Synaptic with reset_delay=False, as snnTorch's NIR importer builds it)")
        if neuron.inhibition:
            raise ValueError(f"{name} has inhibition=True; spikeloc's neurons do not inhibit each other")
        if bool((neuron.graded_spikes_factor != 1).any()):
            raise ValueError(f"{name} has graded_spikes_factor={neuron.graded_spikes_factor.tolist()}; spikeloc's "
                             "spikes are 0 or 1")
        if neuron.state_quant:
            raise ValueError(f"{name} quantises its state (state_quant); spikeloc's neurons do not")
        for decay, values, into in (("beta", neuron.beta, decays),
                                    *((("alpha", neuron.alpha, synaptic_decays),) if synaptic else ())):
            value = np.broadcast_to(values.detach().cpu().double().numpy(), (units,)).copy()
            if np.any((value <= 0) | (value >= 1)):
                raise ValueError(f"{name} has {decay} outside (0, 1) ({value.min():g} to {value.max():g}); "
                                 f"spikeloc's decays need a finite time constant > 0 (snnTorch clamps {decay} to "
                                 "[0, 1])")
            into.append(value)
        if not synaptic and not last:
            synaptic_decays.append(None)
        if readout == "spikes" or not last:
            thresholds.update(np.unique(neuron.threshold.detach().cpu().double().numpy()).tolist())
    if len(thresholds) != 1 or not min(thresholds) > 0:
        raise ValueError(f"the spiking layers have thresholds {sorted(thresholds)[:5]}; spikeloc needs one "
                         "threshold > 0 for every neuron")
    hidden_kinds = tuple("synaptic" if k is snn.Synaptic else "leaky" for k in kinds[1:-1:2])
    layout = _Layout(sizes, readout, thresholds.pop(), 1, tuple(decays), hidden_kinds, tuple(synaptic_decays))
    config, member = _inferred_settings(layout, dt_s)
    config = dataclasses.replace(config, reset=resets.pop() if resets else "zero")
    return _classifier(config, member, weights, [np.zeros(w.shape[1], dtype=np.float32) for w in weights],
                       layout)


def _require_snntorch_importer():
    """snnTorch's private importer function, once snnTorch is new enough (:data:`SNNTORCH_MIN_VERSION`)."""
    import snntorch

    version = tuple(int(part) for part in snntorch.__version__.split(".")[:2] if part.isdigit())
    if version < SNNTORCH_MIN_VERSION:
        raise ImportError(f"to_snntorch needs snntorch >= 1.0 (installed: {snntorch.__version__}; 0.9's importer "
                          'returns wrong outputs for nir.LI): pip install -e ".[nir]"')
    from snntorch.import_nir import _nir_to_snntorch_module
    return _nir_to_snntorch_module


class LeakyIntegrator(nn.Module):
    """One step of the membrane readout for nirtorch graphs: ``v_t = beta v_{t-1} + I_t``, the state passed
    explicitly (nirtorch hands ``state`` in and takes ``(output, state)`` back); ``beta = 1 - dt / tau``
    (snnTorch's forward-Euler convention, input gain ``r dt / tau`` = 1 required)."""

    def __init__(self, beta: torch.Tensor):
        super().__init__()
        self.register_buffer("beta", beta)

    def forward(self, current: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        membrane = current if state is None else self.beta * state + current
        return membrane, membrane


def to_snntorch(graph) -> nn.Module:
    """snnTorch's importer (``snntorch.import_nir.import_from_nir``: the same node mappings) with ``nir.LI``
    mapped to :class:`LeakyIntegrator`, which snnTorch 1.0.0 lacks. Returns nirtorch's stepping module:
    ``output, state = module(x_t, state)`` per time step, ``state=None`` at the start (snnTorch's neurons keep
    their own hidden state: call ``snntorch.utils.reset`` on the module before a new sequence)."""
    nir = _nir()
    try:
        import nirtorch
    except ImportError as error:
        raise ImportError(INSTALL) from error
    _nir_to_snntorch_module = _require_snntorch_importer()

    def snntorch_node(node):
        return _nir_to_snntorch_module(node, init_hidden=True)

    def leaky_integrator(node):
        _decay_of(node, nir, SNNTORCH_DT_S)  # refuses v_leak or an input gain snnTorch's convention lacks
        return LeakyIntegrator(torch.as_tensor(1 - SNNTORCH_DT_S / np.asarray(node.tau), dtype=torch.float32))

    node_map = {kind: snntorch_node for kind in (nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten, nir.AvgPool2d,
                                                 nir.IF, nir.LIF, nir.CubaLIF)}
    node_map[nir.LI] = leaky_integrator
    return nirtorch.nir_to_torch(graph, node_map)


__all__ = ["SNNTORCH_DT_S", "SNNTORCH_RESETS", "LeakyIntegrator", "NIRFileError", "SnnTorchResetWarning", "from_nir",
           "from_snntorch", "looks_like_snntorch_export", "read", "to_nir", "to_snntorch", "write"]
