"""Where a run computes: device names, checked once and resolved once.

A run config names its device as data (``device: str = "cpu"``); the experiments create generators, data and
networks on it, and nothing below them chooses a device. Accepted names: ``"cpu"``, ``"cuda"`` (the current
GPU), ``"cuda:N"`` and ``"auto"`` (a GPU when one is available, else the CPU). :func:`check_device` checks the
spelling (in a config's ``__post_init__``, so a config can be written anywhere); :func:`resolve_device` also
checks that the device exists, when the work starts; :func:`add_device_option` gives a command line
``--device``, resolved while the arguments are parsed, so ``--device cuda`` on a machine without a GPU is one
clear usage error (exit status 2) before any work.

The same seed gives the same numbers run to run on one kind of device. CPU and CUDA runs of one seed differ:
random draws made on a CUDA generator (stimuli, encodings, dropout masks) are not the CPU generator's, and
float sums on the GPU are ordered differently; weights are drawn on the CPU, so they are equal.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any

from spikeloc.validation import added_field, require

DEVICE_NAMES = "'cpu', 'cuda', 'cuda:N' or 'auto'"
_PATTERN = re.compile(r"cpu|auto|cuda(:\d+)?")


def device_field() -> Any:
    """A run config's ``device: str = device_field()``: ``"cpu"`` by default, and while it is ``"cpu"`` left out
    of a study's run ids and columns, so results recorded before configs had a device keep their ids."""
    return added_field("cpu")


def check_device(device: str, field: str = "device") -> None:
    """Raise ``ValueError`` naming ``field`` unless ``device`` is spelled as one of :data:`DEVICE_NAMES`."""
    require(isinstance(device, str) and _PATTERN.fullmatch(device) is not None, field, device, DEVICE_NAMES)


def resolve_device(device: str, field: str = "device") -> str:
    """The device a run uses: ``"auto"`` becomes ``"cuda"`` or ``"cpu"``; a CUDA device that this machine does
    not have is a ``ValueError`` naming ``field``. Returns the name (e.g. ``"cuda:1"``)."""
    check_device(device, field)
    if device == "cpu":
        return device
    import torch  # only here: a command line that stays on the CPU never loads torch while parsing

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        require(torch.cuda.is_available(), field, device,
                "'cpu' or 'auto' here: no CUDA device is available (torch.cuda.is_available() is False)")
        index = int(device.partition(":")[2] or 0)
        count = torch.cuda.device_count()
        require(index < count, field, device,
                f"one of this machine's {count} CUDA devices (cuda:0 to cuda:{count - 1})")
    return device


def is_gpu(device: str) -> bool:
    """Whether a (checked) device name means a CUDA device (``"auto"``: whether this machine has one)."""
    return (resolve_device(device) if device == "auto" else device).startswith("cuda")


def add_device_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--device cpu|cuda|cuda:N|auto`` (default cpu), resolved by :func:`resolve_device` as it is parsed."""

    def parse(text: str) -> str:
        try:
            return resolve_device(text, "--device")
        except ValueError as error:  # argparse prefixes "argument --device: "
            raise argparse.ArgumentTypeError(str(error).removeprefix("--device = ")) from None

    parser.add_argument("--device", type=parse, default="cpu",
                        help="where to compute: cpu, cuda, cuda:N, or auto (a GPU if there is one)")
    return parser
