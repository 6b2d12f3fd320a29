"""How long ``--help`` takes: the spikeloc command, ``spikeloc study NAME --help`` and ``python studies/NAME.py
--help`` for every study, each the median wall and CPU time of ``--repeats`` fresh processes (the aim: under 1 s
on a 2-core machine). For scale, in the same session: a bare interpreter (``python -c pass``) and one that imports torch
(what every ``--help`` paid before the parsers stopped importing it).

    python benchmarks/help_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from spikeloc.studies import NAMES

ROOT = Path(__file__).resolve().parents[1]


def median_seconds(command: list[str], repeats: int) -> tuple[float, float]:
    """Median wall and CPU (user + system) seconds of ``command`` run ``repeats`` times from the repository root,
    on this source tree's spikeloc (exit status 0). CPU seconds hardly change with the machine's load; wall
    seconds do (other processes' share of the cores)."""
    walls, cpus, environment = [], [], {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(repeats):
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=environment, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="processes per command (default 5)")
    repeats = parser.parse_args().repeats
    python = sys.executable
    commands = {"python -c pass": [python, "-c", "pass"],
                "python -c 'import torch'": [python, "-c", "import torch"],
                "spikeloc --help": [python, "-m", "spikeloc", "--help"],
                "spikeloc train-ipd --help": [python, "-m", "spikeloc", "train-ipd", "--help"],
                "spikeloc study --list": [python, "-m", "spikeloc", "study", "--list"]}
    for name in NAMES:
        commands[f"spikeloc study {name} --help"] = [python, "-m", "spikeloc", "study", name, "--help"]
        commands[f"python studies/{name}.py --help"] = [python, f"studies/{name}.py", "--help"]
    print(f"median seconds of {repeats} processes each ({python}; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}):")
    print("   wall     CPU  command")
    for label, command in commands.items():
        wall, cpu = median_seconds(command, repeats)
        print(f"  {wall:5.2f}  {cpu:6.2f}  {label}")


if __name__ == "__main__":
    main()
