"""Process-level memory settings (spikeloc.runtime) and the study runner's use of them."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spikeloc import runtime
from spikeloc.study import runner

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
