"""Process-level memory settings (spikeloc.runtime) and the study runner's use of them."""

from __future__ import annotations

import ctypes
import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spikeloc import runtime
from spikeloc.study import runner
from spikeloc.validation import InvalidValue

REPO_ROOT = Path(__file__).resolve().parents[1]
NOT_GLIBC = runtime._glibc() is None


@pytest.mark.skipif(NOT_GLIBC, reason="glibc's malloc only (mallopt, malloc_trim)")
def test_freed_memory_is_kept_in_the_heap_until_released():
    """300 MB freed under keep_freed_memory stay resident; release_freed_memory hands them back. In a fresh
    process, so that this one's heap does not blur the numbers."""
    program = textwrap.dedent("""
        import numpy as np
        from spikeloc.runtime import keep_freed_memory, release_freed_memory

        def resident_mb():
            line = next(line for line in open("/proc/self/status") if line.startswith("VmRSS"))
            return int(line.split()[1]) // 1024

        assert keep_freed_memory()
        before = resident_mb()
        block = np.ones(300 * 2**20, dtype=np.uint8)
        del block
        held = resident_mb()
        released = release_freed_memory()
        print(before, held, released, resident_mb())
    """)
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=REPO_ROOT,
                            check=True)
    before, held, released, after = result.stdout.split()
    assert int(held) - int(before) > 250 and released == "True" and int(held) - int(after) > 250, result.stdout


@dataclasses.dataclass(frozen=True)
class Cell:
    a: int


def score(cell: Cell, seed: int) -> dict:
    return {"score": cell.a + seed}


def fail(cell: Cell, seed: int) -> dict:
    raise RuntimeError("broken run")


@pytest.mark.parametrize("run_fn", [score, fail])
def test_each_study_task_releases_freed_memory_when_it_ends(tmp_path, monkeypatch, run_fn):
    """An idle study worker should not hold its last task's peak memory, whether the task's runs succeeded."""
    releases = []
    monkeypatch.setattr(runner, "release_freed_memory", lambda: releases.append(True) or True)
    study = runner.Study("release", (Cell(1), Cell(2), Cell(3)), (0, 1), run_fn)
    runner.run_study(study, tmp_path, executor="inline", quiet=True)
    assert len(releases) == 6  # one per task: here one run each


class RecordingLibc:
    """Stands in for glibc: records each mallopt call as the C int values glibc would receive."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((ctypes.c_int(parameter).value, ctypes.c_int(value).value))
        return 1


def test_the_trim_threshold_reaches_glibc_as_the_documented_2_gib_not_a_wrapped_negative(monkeypatch):
    """mallopt takes a C int: 2**31 became -2**31, which glibc takes as 'never trim'."""
    libc = RecordingLibc()
    monkeypatch.setattr(runtime, "_glibc", lambda: libc)
    assert runtime.keep_freed_memory()
    settings = dict(libc.calls)
    print(f"\nmallopt as glibc receives it: {settings}")
    assert settings == {runtime._M_MMAP_THRESHOLD: 2**30, runtime._M_TRIM_THRESHOLD: 2**31 - 1}


@pytest.mark.parametrize("threads", [0, (os.cpu_count() or 1) + 1, 100000])
def test_threads_beyond_the_cpus_are_refused_naming_the_field(threads):
    with pytest.raises(InvalidValue, match=rf"threads = {threads} is invalid: must be an integer from 1 to "
                                           rf"{os.cpu_count()}, the CPUs of this machine"):
        runtime.configure(threads)
