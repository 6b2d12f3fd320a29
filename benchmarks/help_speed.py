"""How long ``--help`` takes: the spikeloc command, ``spikeloc study NAME --help`` and ``python studies/NAME.py
--help`` for every study, each the median wall time of ``--repeats`` fresh processes (the aim: under 1 s on a
2-core machine). For scale, in the same session: a bare interpreter (``python -c pass``) and one that imports torch
(what every ``--help`` paid before the parsers stopped importing it).

    python benchmarks/help_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from spikeloc.studies import NAMES

ROOT = Path(__file__).resolve().parents[1]


def median_seconds(command: list[str], repeats: int) -> float:
    """Median wall seconds of ``command`` run ``repeats`` times from the repository root, on this source tree's
    spikeloc (exit status 0)."""
    times, environment = [], {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=environment, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    print(f"median wall seconds of {repeats} processes each ({python}):")
    for label, command in commands.items():
        print(f"  {median_seconds(command, repeats):6.3f}  {label}")


if __name__ == "__main__":
    main()
