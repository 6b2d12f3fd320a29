"""Process-level settings for training throughput: CPU threads and how freed memory is reused.

Called by entry points (the command line, study workers, benchmarks), never on import: both settings
belong to the whole process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

from spikeloc.validation import require

_M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_KEEP_BYTES = 1 << 30


def _glibc() -> ctypes.CDLL | None:
    """The C library, if it is glibc (whose malloc the functions below tune); else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def keep_freed_memory() -> bool:
    """Let glibc keep freed blocks of up to 1 GiB in the heap instead of returning them to the system.

    Training allocates and frees tensors of tens of MB at every step. By default glibc serves each from a
    fresh ``mmap`` and unmaps it on free, so every step pays page faults for memory it just released: on
    our 2-core VM that was ~10 s of system time in a 50 s benchmark and made an 18-network ensemble
    ~25% slower per network. Returns whether the setting was applied (glibc only; elsewhere a no-op).
    The heap then holds on to its peak: :func:`release_freed_memory` hands the free part back.
    """
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, 2 * _KEEP_BYTES))


def release_freed_memory() -> bool:
    """Return the heap's free pages to the system (glibc ``malloc_trim(0)``), e.g. after a study task, so that
    an idle study worker does not hold its last task's peak (``benchmarks/worker_memory.py``: after three IPD
    ensembles of 9 networks, 615 MB resident against 2353 MB, the same peak and seconds per task). Returns
    whether any memory was released (glibc only; elsewhere a no-op returning False)."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))


def configure(threads: int) -> None:
    """Use ``threads`` torch CPU threads and keep freed memory for reuse (imports torch: this module does
    not, so that a process that never computes, such as a study runner, does not pay for it)."""
    require(threads >= 1, "threads", threads, "an integer >= 1")
    import torch

    torch.set_num_threads(threads)
    keep_freed_memory()
