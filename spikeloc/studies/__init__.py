"""The studies: one module per study (its presets, grid, comparisons and figures), run by ``spikeloc study NAME``
or by the thin script ``studies/NAME.py`` of a source tree, with the same options and outputs.

A study module defines ``parser()`` (its command line), ``run(args)`` (the work) and ``main(argv)`` (both).
It imports torch, pandas and matplotlib only inside its functions, so that listing the studies, building a
parser and answering ``--help`` or a usage error load none of them.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

#: The studies' names, as ``spikeloc study NAME`` and ``studies/NAME.py`` spell them.
NAMES = tuple(sorted(module.name for module in pkgutil.iter_modules(__path__)))


def study(name: str) -> ModuleType:
    """The module of study ``name`` (one of :data:`NAMES`)."""
    if name not in NAMES:
        raise ValueError(f"no study {name!r}: choose from {', '.join(NAMES)}")
    return importlib.import_module(f"{__name__}.{name}")


def summary_line(name: str) -> str:
    """The first sentence (paragraph) of study ``name``'s docstring: what it compares."""
    return " ".join(study(name).__doc__.strip().split("\n\n")[0].split())
