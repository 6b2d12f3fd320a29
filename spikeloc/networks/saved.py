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
from spikeloc.devices import resolve_device
from spikeloc.files import atomic_write
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier

FORMAT = "spikeloc.SpikingClassifier"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A file that is not a readable spikeloc model of a supported format."""


@dataclasses.dataclass(frozen=True)
class SavedModel:
    """A loaded model: the network (in eval mode), the caller's metadata and the spikeloc version that saved it."""

    network: SpikingClassifier
    metadata: dict[str, Any]
    spikeloc_version: str


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
    as :mod:`spikeloc.devices` takes, ``"auto"`` included); :class:`ModelFileError` (a ``ValueError``) naming
    the file if it is missing, corrupt, foreign or of an unknown format version."""
    device = resolve_device(device) if isinstance(device, str) else device
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        content = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # a foreign file makes torch.load raise almost anything (KeyError, too)
        # torch's own messages run to several sentences of advice about weights_only: the type says enough
        raise ModelFileError(f"{path} is not a readable spikeloc model file (torch.load failed with "
                             f"{type(error).__name__})") from error
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a spikeloc model file (no '{FORMAT}' format marker)")
    if content.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path} has model format version {content.get('format_version')!r}; this spikeloc "
                             f"reads version {FORMAT_VERSION}")
    try:
        config = ClassifierConfig(**content["config"])
        members = [Member(**member) for member in content["members"]]
        network = SpikingClassifier(config, members).to(device)
        network.load_state_dict(content["state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"{path} holds an inconsistent spikeloc model: {error}") from error
    return SavedModel(network.eval(), dict(content["metadata"]), str(content["spikeloc_version"]))

