"""Process-level settings: CPU threads, how freed memory is reused, and dying with the parent process.

Called by entry points (the command line, study workers, benchmarks), never on import: these settings
belong to the whole process.  This module imports only the standard library at its top, so that a new study
worker can run it by its path before it imports anything else (see :data:`WORKER_START`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

_M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_KEEP_BYTES = 1 << 30
#: glibc's trim threshold: the free memory at the top of the heap kept rather than returned to the system.
#: ``mallopt`` takes a C int, so this is the largest one, 2 GiB less a byte (2**31 itself would wrap round to
#: -2**31, which glibc takes as "never trim").
_TRIM_BYTES = 2**31 - 1


def _glibc() -> ctypes.CDLL | None:
    """The C library, if it is glibc (whose malloc the functions below tune); else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def keep_freed_memory() -> bool:
    """Let glibc keep freed blocks of up to 1 GiB in the heap, and up to 2 GiB of free memory at its top,
    instead of returning them to the system.

    Training allocates and frees tensors of tens of MB at every step. By default glibc serves each from a
    fresh ``mmap`` and unmaps it on free, so every step pays page faults for memory it just released: on
    our 2-core VM that was ~10 s of system time in a 50 s benchmark and made an 18-network ensemble
    ~25% slower per network. Returns whether the setting was applied (glibc only; elsewhere a no-op).
    The heap then holds on to its peak: :func:`release_freed_memory` hands the free part back.
    """
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_BYTES))


def release_freed_memory() -> bool:
    """Return the heap's free pages to the system (glibc ``malloc_trim(0)``), e.g. after a study task, so that
    an idle study worker does not hold its last task's peak (``benchmarks/worker_memory.py``: after three IPD
    ensembles of 9 networks, 615 MB resident against 2353 MB, the same peak and seconds per task). Returns
    whether any memory was released (glibc only; elsewhere a no-op returning False)."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))


def configure(threads: int) -> None:
    """Use ``threads`` torch CPU threads, at most one per CPU of this machine (more only make them wait for
    each other), and keep freed memory for reuse (imports torch: this module does not, so that a process that
    never computes, such as a study runner, does not pay for it)."""
    from spikeloc.validation import require

    cpus = os.cpu_count() or 1
    require(isinstance(threads, int) and 1 <= threads <= cpus, "threads", threads,
            f"an integer from 1 to {cpus}, the CPUs of this machine (os.cpu_count())")
    import torch

    torch.set_num_threads(threads)
    keep_freed_memory()


# --------------------------------------------------------------------------
# Dying with the parent

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
ORPHAN_CHECK_SECONDS = 1.0


def _signal_on_parent_death() -> bool:
    """Ask the Linux kernel to SIGKILL this process when its parent dies; False where prctl is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _exit_when_orphaned(parent_pid: int, interval: float = ORPHAN_CHECK_SECONDS) -> None:
    """End this process within ``interval`` seconds of ``parent_pid`` dying: an orphan is adopted by
    another process, so its parent pid changes."""
    while os.getppid() == parent_pid:
        time.sleep(interval)
    os._exit(1)


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when its parent ``parent_pid`` ends, however it ends (SIGKILL, the out-of-memory
    killer, a closed terminal), so that no orphan keeps computing and holding memory.

    On Linux the kernel itself kills this process the moment the parent dies (``PR_SET_PDEATHSIG``): no
    polling, and it works even while the process is stuck in native code or stopped.  (The signal follows
    the death of the parent *thread* that started this process.)  Where prctl is missing, a daemon thread
    checks the parent pid every :data:`ORPHAN_CHECK_SECONDS`, which works on any POSIX system as long as
    this process's Python code gets to run.  A parent that died before the watch was set up ends this
    process at once.
    """
    if not _signal_on_parent_death():
        threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:
        os._exit(1)


#: The ``run_name`` under which a new study worker runs this file (``runpy.run_path``) first thing, before it
#: imports its runner's main module and the runner (seconds, when they import torch): with ``parent_pid``
#: and ``worker_name`` given, it then dies with its parent from its first moments (see
#: ``spikeloc.study.runner._WorkerName``) and ignores Ctrl-C (the runner answers it and stops its workers):
#: the runner also starts it with SIGINT blocked, yet under load a worker was once interrupted in its import.
WORKER_START = "__spikeloc_worker_start__"

if __name__ == WORKER_START:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)  # noqa: F821  (given by the runner through runpy's init_globals)
