"""How much work the study runner's batches compute twice: the runner's seed-by-seed cut against a cut in grid order.

Run:  python benchmarks/batch_cuts.py [--workers 2]

A batch (an IPD ensemble, a competing-units batch) computes once what its runs of one seed share: an IPD
ensemble generates one stimulus set per seed and stimulus settings (``spikeloc.experiments.ipd.DATA_FIELDS``),
a competing batch learns one set of features per seed and feature settings (``feature_key``). A chunk holding
runs of many seeds computes them once per chunk, so the same set is computed again in every chunk that holds
its seed. For each batched study preset this prints the runs, the batches, and how many of these shared
computations the whole grid needs when cut in grid order (config-major, the runner's cut before) and when cut
seed by seed (``spikeloc.study.runner._plan_tasks``, the runner's cut now), beside the fewest possible (one per
distinct set). Only plans batches: nothing is trained, so it takes seconds.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Hashable, Iterator
from types import ModuleType, SimpleNamespace

from spikeloc.experiments.competing import competing_study, feature_key
from spikeloc.experiments.ipd import DATA_FIELDS, ipd_study, protocols
from spikeloc.studies import competing_units, dales_law, ipd_beyond, robustness
from spikeloc.study.cli import run_settings
from spikeloc.study.runner import Run, Study, _plan_tasks

Shared = Callable[[Run], Hashable]


def stimulus_set(run: Run) -> Hashable:
    return tuple(getattr(run.config, field) for field in DATA_FIELDS), run.seed


def learned_features(run: Run) -> Hashable:
    return feature_key(run.config), run.seed


def ipd_preset_study(script: ModuleType, name: str, epochs: int | None = None) -> Study:
    """The study that an IPD study script (robustness, dales_law, ipd_beyond) runs for preset ``name`` with its
    default options (and ``--epochs epochs``)."""
    options = SimpleNamespace(epochs=epochs, device="cpu", protocol=None)
    preset = script.PRESETS[name]
    runs = script.grid(preset, protocols(options, preset["protocol"]), run_settings(options, preset["sizes"]))
    runs = runs[0] if script is ipd_beyond else runs  # ipd_beyond's grid also returns labels
    return ipd_study(name, runs, preset["seeds"])


def batched_studies() -> Iterator[tuple[str, Study, Shared]]:
    """Every preset of the studies that batch their runs, with what their batches share, as the scripts build them
    with default options."""
    for script in (robustness, dales_law, ipd_beyond):
        for name in script.PRESETS:
            yield f"{script.__name__} {name}", ipd_preset_study(script, name), stimulus_set
    for name, preset in competing_units.PRESETS.items():
        runs = competing_units.grid(preset, run_settings(SimpleNamespace(epochs=None, device="cpu"), preset["sizes"]))
        yield f"competing_units {name}", competing_study(name, runs, preset["seeds"]), learned_features


def grid_order_chunks(study: Study, workers: int) -> list[tuple[Run, ...]]:
    """The baseline: each batch_key group cut in grid order into chunks as large as the runner's."""
    groups: dict[Hashable, list[Run]] = {}
    for run in study.runs:
        groups.setdefault(study.batch_key(run.config), []).append(run)
    return [tuple(runs[start:start + size]) for runs in groups.values()
            for size in [min(study.max_batch, math.ceil(len(runs) / workers))]
            for start in range(0, len(runs), size)]


def computations(chunks: list[tuple[Run, ...]], shared: Shared) -> int:
    return sum(len({shared(run) for run in chunk}) for chunk in chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="workers the runner sizes its chunks for")
    args = parser.parse_args()
    print(f"Shared computations (stimulus sets for IPD, feature learnings for competing units), {args.workers} workers")
    print(f"{'study preset':32s} {'runs':>5s} {'batches':>7s} {'grid order':>10s} {'seed by seed':>12s} {'fewest':>6s}")
    for label, study, shared in batched_studies():
        seed_by_seed = [task.runs for task in _plan_tasks(study, study.runs, args.workers)]
        print(f"{label:32s} {len(study.runs):5d} {len(seed_by_seed):7d} "
              f"{computations(grid_order_chunks(study, args.workers), shared):10d} "
              f"{computations(seed_by_seed, shared):12d} {len({shared(run) for run in study.runs}):6d}")


if __name__ == "__main__":
    main()
