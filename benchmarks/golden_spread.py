"""How far do the golden IPD rows move under other CPU kernels? The spread behind tests/test_ipd_regression.py.

Trains that test's three runs (one ensemble, one thread) in a fresh process per kernel setting:
ATEN_CPU_CAPABILITY = the machine's own, default, avx2 and avx512 (when /proc/cpuinfo lists avx512f), each also
with numba's NUMBA_CPU_NAME=generic. Prints per setting the largest difference of each column from the recorded
rows (in the units of the test's ``differences``: samples, degrees, relative loss), then the spread: the largest
difference between any two of the settings and the recorded rows, beside the test's TOLERANCE.

    python benchmarks/golden_spread.py            # about 15 s of training per setting
    python benchmarks/golden_spread.py --rows     # (internal) print this process's rows as JSON
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

TEST = Path(__file__).resolve().parent.parent / "tests" / "test_ipd_regression.py"


def regression_test():
    """The test module (its runs, recorded rows, ``differences`` and ``TOLERANCE``), loaded from its file."""
    spec = importlib.util.spec_from_file_location("test_ipd_regression", TEST)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def settings() -> dict[str, dict[str, str]]:
    """Environment changes per kernel setting, named."""
    capabilities = ["", "default", "avx2"]
    if "avx512f" in Path("/proc/cpuinfo").read_text().split():
        capabilities.append("avx512")
    named = {}
    for capability, numba in itertools.product(capabilities, ["", "generic"]):
        env = {"ATEN_CPU_CAPABILITY": capability} if capability else {}
        env.update({"NUMBA_CPU_NAME": numba} if numba else {})
        named[" ".join(f"{k}={v}" for k, v in env.items()) or "machine's own"] = env
    return named


def rows_under(env: dict[str, str]) -> list[dict]:
    clean = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "NUMBA_CPU_NAME")}
    done = subprocess.run([sys.executable, __file__, "--rows"], env={**clean, "OMP_NUM_THREADS": "1", **env},
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def largest(test, rows: list[dict], expected: list[dict]) -> dict:
    """Per column, the largest difference over the runs."""
    found: dict = {}
    for row, reference in zip(rows, expected):
        for key, value in test.differences(row, reference).items():
            found[key] = max(found.get(key, 0), value)
    return found


def main() -> None:
    test = regression_test()
    if sys.argv[1:] == ["--rows"]:
        print(json.dumps(test.ipd_rows()))
        return
    results = {"recorded rows": test.reference_rows()}
    for name, env in settings().items():
        results[name] = rows_under(env)
        against = largest(test, results[name], results["recorded rows"])
        within = all(v <= test.TOLERANCE.get(k, 0) for k, v in against.items())
        print(f"{name:<52} vs recorded: " + ", ".join(f"{k} {v:.3g}" for k, v in against.items() if v)
              + f"  -> {'within' if within else 'OUTSIDE'} TOLERANCE", flush=True)
    spread: dict = {}
    for a, b in itertools.combinations(results.values(), 2):
        for key, value in largest(test, a, b).items():
            spread[key] = max(spread.get(key, 0), value)
    print(f"spread over {len(results)} settings (recorded rows included), largest pairwise difference:")
    for key, value in spread.items():
        print(f"  {key:<26} {value:<10.3g} tolerance {test.TOLERANCE.get(key, 0):g}")


if __name__ == "__main__":
    main()
