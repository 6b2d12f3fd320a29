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


def keep_freed_memory() -> bool:
    """Let glibc keep freed blocks of up to 1 GiB in the heap instead of returning them to the system.

    Training allocates and frees tensors of tens of MB at every step. By default glibc serves each from a
    fresh ``mmap`` and unmaps it on free, so every step pays page faults for memory it just released: on
    our 2-core VM that was ~10 s of system time in a 50 s benchmark and made an 18-network ensemble
    ~25% slower per network. Returns whether the setting was applied (glibc only; elsewhere a no-op).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)) and bool(libc.mallopt(_M_TRIM_THRESHOLD,
                                                                                          2 * _KEEP_BYTES))
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False


def configure(threads: int) -> None:
    """Use ``threads`` torch CPU threads and keep freed memory for reuse (imports torch: this module does
    not, so that a process that never computes, such as a study runner, does not pay for it)."""
    require(threads >= 1, "threads", threads, "an integer >= 1")
    import torch

    torch.set_num_threads(threads)
    keep_freed_memory()
