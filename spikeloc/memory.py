"""Will a run fit in memory? A lower bound of what it allocates, checked against what the machine has free,
before anything is allocated: a size that cannot fit is refused naming the config field (and so the option),
instead of ending in an allocator traceback minutes later.

A run's configs list their largest allocations as :class:`Need` records (bytes, and the field that sets them: :func:`need`);
:func:`require_fits` compares the sum with :func:`available_bytes` and raises
:class:`~spikeloc.validation.InvalidValue` naming the field of the largest need. The sums count only the big
arrays (stimuli, weights with their gradients and optimiser moments, one batch of activations), so they are
lower bounds: a run refused needs at least that much; a run accepted may still need somewhat more.

A config's check is asked where its run is trained (:meth:`MemoryChecked.check_memory`: the training
functions, and the study runner before any run of a grid), never when the config is built: a config is valid
or not on every machine alike, so a model file or a study's record made on a large machine still reads on a
small one.

This module imports nothing heavy (the command line reads it before torch).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from spikeloc.validation import InvalidValue

MEMINFO = Path("/proc/meminfo")
#: cgroup v2 limit and usage of this process's container, where there is one
CGROUP_LIMIT, CGROUP_USAGE = Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")
FLOAT32_BYTES = 4
#: float32 copies of each trained weight: the weight, its gradient and Adam's two moments
TRAINED_WEIGHT_COPIES = 4


@dataclasses.dataclass(frozen=True)
class Need:
    """``bytes`` that a run allocates because config field ``field`` holds ``value``."""

    field: str
    value: object
    bytes: float


def available_bytes() -> int | None:
    """Memory this process can still allocate (bytes): Linux's ``MemAvailable`` (free memory plus what the
    kernel can reclaim), lowered to the room left under a cgroup v2 memory limit; elsewhere the free physical
    pages (``os.sysconf``); ``None`` where neither is known."""
    available = None
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024  # the file's unit is kB
    except (OSError, ValueError, IndexError):
        available = None
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            return None
    try:
        limit = CGROUP_LIMIT.read_text().strip()
        if limit != "max":
            available = min(available, int(limit) - int(CGROUP_USAGE.read_text()))
    except (OSError, ValueError):
        pass
    return available


def size_text(n_bytes: float) -> str:
    """``n_bytes`` in decimal units: ``"3.2 TB"``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n_bytes) < 1000 or unit == "TB":
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1000
    raise AssertionError("unreachable")


def require_fits(needs: Sequence[Need], what: str = "the run") -> None:
    """Raise :class:`~spikeloc.validation.InvalidValue` naming the field of the largest need unless the needs
    together fit in :func:`available_bytes` (nothing is checked where that is unknown)."""
    available = available_bytes()
    total = sum(need.bytes for need in needs)
    if available is None or total <= available:
        return
    largest = max(needs, key=lambda need: need.bytes)
    raise InvalidValue(largest.field, largest.value,
                       f"small enough for {what} to fit in memory: it needs at least {size_text(total)} "
                       f"({size_text(largest.bytes)} for this value), {size_text(available)} is available")


def need(config: object, n_bytes: float, *fields: str) -> Need:
    """``n_bytes`` allocated because of ``config``'s ``fields`` (a config dataclass): with several (a product
    of sizes), blamed on the one whose value is the largest multiple of its default (sequences by their sum)."""
    defaults = {field.name: field.default for field in dataclasses.fields(config)}

    def size(value: object) -> float:
        return float(sum(value)) if isinstance(value, (tuple, list)) else float(value)

    def growth(name: str) -> float:
        return size(getattr(config, name)) / max(size(defaults[name]), 1.0)

    field = fields[0] if len(fields) == 1 else max(fields, key=growth)
    return Need(field, getattr(config, field), n_bytes)


class MemoryChecked:
    """Mixin of a run config with ``memory_needs() -> list[Need]`` and a ``device`` field: :meth:`check_memory`."""

    def check_memory(self) -> None:
        """:class:`~spikeloc.validation.InvalidValue` naming the size that grew most when the run's largest
        allocations do not fit in this machine's available memory (CPU runs: a GPU's memory is not checked)."""
        from spikeloc.devices import is_gpu

        if not is_gpu(self.device):
            require_fits(self.memory_needs())
