"""Saved spiking classifiers: weights, configs, members, metadata and the spikeloc version in one file.

:func:`save` writes a ``torch.save`` archive holding only tensors and plain values (str, int, float, bool, None,
lists and dicts); :func:`load` reads it with ``torch.load(weights_only=True)``, so loading never executes pickled
code, checks that the file is a spikeloc model of a known format version, rebuilds the network from its configs
and copies the weights in. The loaded network computes exactly what the saved one did (same weights, signs and
dropout rates, bit for bit).

``metadata`` is the caller's record of how the network was made (e.g. the task settings a command line needs to
score it on fresh data later); it must be plain values as above.
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path
from typing import Any

import torch

import spikeloc
from spikeloc import memory
from spikeloc.devices import resolve_device
from spikeloc.files import atomic_write
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier

FORMAT = "spikeloc.SpikingClassifier"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A file that is not a readable spikeloc model of a supported format."""


@dataclasses.dataclass(frozen=True)
class SavedModel:
    """A loaded model: the network (in eval mode), the caller's metadata, the spikeloc version that saved it and
    the file."""

    network: SpikingClassifier
    metadata: dict[str, Any]
    spikeloc_version: str
    path: Path | None = None  #: the file it was read from (to name it in errors about its metadata)


def save(network: SpikingClassifier, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> None:
    """Write ``network`` (all members) and ``metadata`` to ``path`` atomically."""
    content = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spikeloc_version": spikeloc.__version__,
        "config": dataclasses.asdict(network.config),
        "members": [dataclasses.asdict(m) for m in network.members],
        "state": {name: tensor.detach().cpu() for name, tensor in network.state_dict().items()},
        "metadata": metadata or {},
    }
    buffer = io.BytesIO()
    torch.save(content, buffer)
    atomic_write(Path(path), buffer.getvalue())


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> SavedModel:
    """Read a model written by :func:`save` onto ``device`` (any device, whichever it was saved from; a name
    as :mod:`spikeloc.devices` takes, ``"auto"`` included).

    Every problem is one :class:`ModelFileError` (a ``ValueError``) naming the file and what is wrong: a missing,
    truncated, corrupt or foreign file, an unknown format version, a config or member record with a missing,
    unknown or invalid field, and every tensor (by its state-dict name) that is missing, unexpected, of another
    shape or dtype than the network it describes, not finite, or holding values its role forbids: Dale signs
    other than +-1 on a constrained layer (0 on an unconstrained one), recurrent weights' signs other than their
    units' own, dropout rates other than the members'.
    Nothing is loaded unless the whole file passes, so a damaged model is refused, never scored."""
    device = resolve_device(device) if isinstance(device, str) else device
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a foreign file makes torch.load raise almost anything (KeyError, too)
        # torch's own messages run to several sentences of advice about weights_only: the type says enough
        raise ModelFileError(f"{path} is not a readable spikeloc model file (torch.load failed with "
                             f"{type(error).__name__})") from error
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a spikeloc model file (no '{FORMAT}' format marker)")
    if content.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path} has model format version {content.get('format_version')!r}; this spikeloc "
                             f"reads version {FORMAT_VERSION}")
    for key, kind in (("spikeloc_version", str), ("metadata", dict), ("members", list), ("state", dict)):
        if not isinstance(content.get(key), kind):
            raise ModelFileError(f"{path}: field '{key}' is {described(content.get(key))}, expected a {kind.__name__}")
    config = read_record(ClassifierConfig, content.get("config"), "config", path)
    members = [read_record(Member, member, f"members[{k}]", path) for k, member in enumerate(content["members"])]
    widths = config.layer_sizes
    weights = len(members) * sum(a * b for a, b in zip(widths, widths[1:]))
    try:  # the network and the file's copy of its weights, before either is allocated
        memory.require_fits([memory.need(config, 2 * memory.FLOAT32_BYTES * weights, "hidden", "n_inputs")],
                            "the network")
    except ValueError as error:
        raise ModelFileError(f"{path}: config.{error}") from None
    try:
        network = SpikingClassifier(config, members)
    except ValueError as error:
        raise ModelFileError(f"{path}: config and members do not describe a network: {error}") from None
    _check_state(path, content["state"], network)
    network.load_state_dict(content["state"])
    return SavedModel(network.to(device).eval(), content["metadata"], content["spikeloc_version"], path)


def read_record(kind: type, values: object, where: str, path: Path):
    """``kind(**values)`` for a record (a config dataclass) read from the file at ``path``, where ``where``
    names it in the file (``"config"``, ``"members[1]"``, ``"metadata.runs[0].config"``); a
    :class:`ModelFileError` naming the file and the field if ``values`` is not a dict, lacks a field that has
    no default, has a field ``kind`` does not know, or holds a value ``kind`` refuses. A field with a default
    may be missing: files written before it existed take its default (which keeps what they computed)."""
    if not isinstance(values, dict):
        raise ModelFileError(f"{path}: {where} is {described(values)}, expected a dict of {kind.__name__} fields")
    known = {field.name: field for field in dataclasses.fields(kind)}
    unknown = sorted(set(values) - set(known), key=str)
    if unknown:
        raise ModelFileError(f"{path}: {where} has unknown field {unknown[0]!r} ({kind.__name__} has none)")
    missing = [name for name, field in known.items() if name not in values
               and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING]
    if missing:
        raise ModelFileError(f"{path}: {where} lacks field {missing[0]!r}")
    try:
        return kind(**values)
    except (TypeError, ValueError) as error:
        field = getattr(error, "field", None)  # spikeloc.validation.InvalidValue names its field
        detail = f"{where}.{error}" if field else f"{where}: {error}"
        raise ModelFileError(f"{path}: {detail}") from None


def _check_state(path: Path, state: dict, network: SpikingClassifier) -> None:
    """Raise :class:`ModelFileError` naming the first tensor of ``state`` that ``network`` (freshly built from
    the file's configs) could not take as it is: see :func:`load`."""
    expected = network.state_dict()
    for name in state:
        if name not in expected:
            raise ModelFileError(f"{path}: unexpected tensor {name!r} (not in a network of this config)")
    for name, reference in expected.items():
        if name not in state:
            raise ModelFileError(f"{path}: tensor {name!r} is missing")
        tensor = state[name]
        where = f"{path}: tensor {name!r}"
        if not isinstance(tensor, torch.Tensor):
            raise ModelFileError(f"{where} is {described(tensor)}, not a tensor")
        if tensor.dtype != reference.dtype:
            raise ModelFileError(f"{where} has dtype {tensor.dtype}, expected {reference.dtype}")
        if tensor.shape != reference.shape:
            raise ModelFileError(f"{where} has shape {tuple(tensor.shape)}, but the file's config and members make "
                                 f"{tuple(reference.shape)}")
        bad = ~torch.isfinite(tensor)
        if bad.any():
            raise ModelFileError(f"{where} holds {int(bad.sum())} non-finite values (NaN or infinite) of "
                                 f"{tensor.numel()}")
        if name.endswith(".signs"):
            # a member's presynaptic units are all constrained (+-1) on its Dale layers, all 0 elsewhere
            constrained = reference != 0
            wrong = torch.where(constrained, tensor.abs() != 1, tensor != 0)
            if wrong.any():
                value = tensor[wrong][0].item()
                role = ("+-1 where the member obeys Dale's law" if constrained[wrong][0]
                        else "0 where it does not (an unconstrained layer)")
                raise ModelFileError(f"{where} holds Dale sign {value:g}: signs must be {role}")
        if name == "dropout" and not torch.equal(tensor, reference):
            raise ModelFileError(f"{where} holds {tensor.tolist()}, not the members' dropout rates "
                                 f"{reference.tolist()}")
    _check_recurrent_signs(path, state, network)


def _check_recurrent_signs(path: Path, state: dict, network: SpikingClassifier) -> None:
    """A recurrent hidden layer's Dale signs are its units' own: those of the synapses the layer feeds."""
    for i in range(len(network.config.hidden)):
        name, outgoing = f"hidden_layers.{i}.recurrent.signs", f"synapses.{i + 1}.signs"
        if name in state and not torch.equal(state[name], state[outgoing]):
            raise ModelFileError(f"{path}: tensor {name!r} differs from {outgoing!r}: a recurrent layer's Dale signs "
                                 "must be its units' own (those of the synapses they feed)")


def described(value: object) -> str:
    """How an error message names a value read from a file that is not what was expected: "missing", "a list"."""
    return "missing" if value is None else f"a {type(value).__name__}"
