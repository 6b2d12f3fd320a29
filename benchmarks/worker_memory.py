"""Memory a study worker holds between tasks, with and without releasing the heap's free pages after each task.

Run:  python benchmarks/worker_memory.py [--tasks 3] [--epochs 2]

Study workers keep freed memory in the heap for speed (spikeloc.runtime.keep_freed_memory), so without a release
a worker goes on holding its largest task's peak while it waits. Here each of two fresh processes (one torch
thread, as a study worker) computes the first ``--tasks`` tasks of ``studies/robustness.py --preset seed`` as the
runner cuts them for 2 workers (IPD ensembles of 9 networks, ``--epochs`` epochs each): one calls the runner's
task as a worker does (spikeloc.study.runner._Task, which ends with spikeloc.runtime.release_freed_memory), the
other computes the same runs without the release. Prints, after each task, its seconds, the resident memory
(VmRSS) and the peak so far (VmHWM), and at the end the resident memory after the last task, released against
kept.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def memory_mb() -> dict[str, int]:
    """This process's resident memory and its peak (MB)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) // 1024 for name in ("VmRSS", "VmHWM")}


def compute_tasks(release: bool, tasks: int, epochs: int) -> list[dict]:
    """In this process: the first ``tasks`` tasks of the robustness seed preset, each followed by a release of
    freed memory or not; per task its seconds and memory."""
    from batch_cuts import ipd_preset_study, robustness  # the benchmark beside this one, and the study

    from spikeloc import runtime
    from spikeloc.study.runner import _plan_tasks

    runtime.configure(1)
    study = ipd_preset_study(robustness, "seed", epochs)
    rows = []
    for task in _plan_tasks(study, study.runs, workers=2)[:tasks]:
        start = time.perf_counter()
        task() if release else task.execute(task.function, task.runs)
        rows.append({"runs": len(task.runs), "seconds": time.perf_counter() - start, **memory_mb()})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--child", choices=["kept", "released"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(compute_tasks(args.child == "released", args.tasks, args.epochs)))
        return
    last = {}
    for variant in ("kept", "released"):
        command = [sys.executable, __file__, "--child", variant, "--tasks", str(args.tasks),
                   "--epochs", str(args.epochs)]
        rows = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        print(f"freed memory {variant}:")
        for index, row in enumerate(rows):
            print(f"  task {index} ({row['runs']} networks, {args.epochs} epochs): {row['seconds']:.1f} s, "
                  f"resident {row['VmRSS']} MB, peak {row['VmHWM']} MB")
        last[variant] = rows[-1]["VmRSS"]
    print(f"resident after the last task: released {last['released']} MB, kept {last['kept']} MB "
          f"({last['released'] / last['kept']:.2f}x)")


if __name__ == "__main__":
    main()
