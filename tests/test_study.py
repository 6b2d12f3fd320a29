"""Tests of the generic study runner (spikeloc.study.runner); its statistics are in tests/test_stats.py.

Worker processes (process pool, dask) must import the run functions, so they
live in a small helper module written to a temporary directory that is put on
``sys.path`` and ``PYTHONPATH`` for the whole session.
"""

from __future__ import annotations

import dataclasses
import fcntl
import importlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spikeloc.files import atomic_write
from spikeloc.study.runner import (
    RUNS_FILE,
    STUDY_FILE,
    DamagedResultsError,
    Study,
    StudyDirectoryError,
    UnusableDirectoryError,
    _plan_tasks,
    finished_results,
    load_results,
    make_run_id,
    run_study,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
HELPERS = "spikeloc_study_test_helpers"
HELPERS_SOURCE = '''
"""Run functions for tests/test_study.py (imported by worker processes too)."""
import dataclasses
import math
import os
import time
import uuid
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class Point:
    a: int
    b: float


def grid(a_values=(1, 2, 3), b_values=(0.5, 1.5)):
    return tuple(Point(a, b) for a in a_values for b in b_values)


def call_key(a, b, seed):
    return f"{a}_{b}_{seed}"


def _note_call(kind, key):
    """Leave a file per call in $SPIKELOC_TEST_CALLS so tests can count calls."""
    directory = os.environ.get("SPIKELOC_TEST_CALLS")
    if directory:
        Path(directory, f"{kind}-{key}-{uuid.uuid4().hex}").touch()


def score(config, seed):
    _note_call("run", call_key(config.a, config.b, seed))
    time.sleep(float(os.environ.get("SPIKELOC_TEST_SLEEP", "0")))
    if config.a < 0:
        raise ValueError("a must be non-negative")
    if config.a == 0:
        return {"score": math.nan, "status": "failed", "error": "NaN loss"}
    return {"score": config.a * config.b + seed, "label": f"a{config.a}"}


def score_batch(pairs):
    """score() for many runs at once, vectorised like an ensemble would be."""
    _note_call("batch", len(pairs))
    a = np.array([config.a for config, _ in pairs])
    b = np.array([config.b for config, _ in pairs])
    seeds = np.array([seed for _, seed in pairs])
    scores = a * b + seeds
    return [
        {"score": math.nan, "status": "failed", "error": "NaN loss"} if a_i == 0
        else {"score": float(s), "label": f"a{a_i}"}
        for a_i, s in zip(a, scores)
    ]


def by_b(config):
    return config.b


def bad_metrics(config, seed):
    return {
        1: {"vector": [1, 2]},
        2: {"seed": 3},
        3: 5,
        4: {"status": "weird"},
        5: {"value": np.float64(2.5)},
    }[config.a]
'''

KILL_SCRIPT = '''
import sys
from spikeloc.study.runner import Study, run_study
from {helpers} import grid, score

if __name__ == "__main__":
    study = Study("kill", grid(), (0, 1), score)
    run_study(study, sys.argv[1], executor="processes", workers=2, quiet=True)
'''


@pytest.fixture(scope="session")
def helpers(tmp_path_factory):
    """The helper module, importable here, in worker processes and in subprocesses."""
    directory = tmp_path_factory.mktemp("helpers")
    (directory / f"{HELPERS}.py").write_text(textwrap.dedent(HELPERS_SOURCE))
    python_path = os.pathsep.join([str(directory), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(directory))
        patch.setenv("PYTHONPATH", python_path)
        yield importlib.import_module(HELPERS)


@pytest.fixture
def calls(tmp_path, monkeypatch):
    """Counts the calls of the helper run functions made during one test."""
    directory = tmp_path / "calls"
    directory.mkdir()
    monkeypatch.setenv("SPIKELOC_TEST_CALLS", str(directory))

    def count() -> Counter:
        names = [path.name for path in directory.iterdir()]
        return Counter(name.rsplit("-", 1)[0] for name in names)

    return count


def key_of_row(helpers, row) -> str:
    return "run-" + helpers.call_key(row["a"], row["b"], row["seed"])


def without_timing(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns="seconds")


def basic_study(helpers, **changes) -> Study:
    fields = dict(name="basic", configs=helpers.grid(), seeds=(0, 1), run_fn=helpers.score)
    return Study(**{**fields, **changes})


def failing_study(helpers) -> Study:
    return Study("failing", helpers.grid(a_values=(-1, 0, 1, 2), b_values=(0.5,)), (0, 1), helpers.score)


def batch_study(helpers, max_batch: int) -> Study:
    return Study("batch", helpers.grid(a_values=(0, 1, 2)), (0, 1, 2), helpers.score,
                 batch_run_fn=helpers.score_batch, batch_key=helpers.by_b, max_batch=max_batch)


# --------------------------------------------------------------------------
# The table


def test_table_has_one_row_per_run_with_config_seed_and_metrics(helpers, tmp_path):
    study = basic_study(helpers)
    table = run_study(study, tmp_path, executor="inline", quiet=True, version="9.9")

    assert len(table) == len(study.configs) * len(study.seeds) == 12
    assert list(table.columns) == ["a", "b", "seed", "run_id", "score", "label",
                                   "status", "error", "seconds", "spikeloc_version"]
    expected = [(c.a, c.b, s) for c in study.configs for s in study.seeds]
    assert list(zip(table["a"], table["b"], table["seed"])) == expected
    assert table["score"].tolist() == [a * b + s for a, b, s in expected]
    assert table["label"].tolist() == [f"a{a}" for a, _, _ in expected]
    assert (table["status"] == "ok").all() and table["error"].isna().all()
    assert (table["seconds"] >= 0).all() and (table["spikeloc_version"] == "9.9").all()
    assert table["run_id"].tolist() == [
        make_run_id(dataclasses.asdict(c), s) for c in study.configs for s in study.seeds]
    assert table.equals(load_results(tmp_path))


def test_study_json_holds_the_grid(helpers, tmp_path):
    study = basic_study(helpers)
    run_study(study, tmp_path, executor="inline", quiet=True)
    stored = json.loads((tmp_path / STUDY_FILE).read_text())
    assert stored == {
        "name": "basic",
        "config_type": f"{HELPERS}.Point",
        "configs": [{"a": c.a, "b": c.b} for c in study.configs],
        "seeds": [0, 1],
    }


def test_results_are_deterministic(helpers, tmp_path):
    first = run_study(basic_study(helpers), tmp_path / "first", executor="inline", quiet=True)
    second = run_study(basic_study(helpers), tmp_path / "second", executor="inline", quiet=True)
    pd.testing.assert_frame_equal(without_timing(first), without_timing(second))


# --------------------------------------------------------------------------
# Resuming, killing, refusing


def test_resume_keeps_finished_rows_and_computes_only_missing_runs(helpers, tmp_path, calls):
    study = basic_study(helpers)
    complete = run_study(study, tmp_path, executor="inline", quiet=True)
    lines = (tmp_path / RUNS_FILE).read_text().splitlines(keepends=True)
    kept = lines[:5]  # header and four rows: as if the runner had been stopped there
    (tmp_path / RUNS_FILE).write_text("".join(kept))
    before = calls()

    resumed = run_study(study, tmp_path, executor="inline", quiet=True)

    new_calls = calls() - before
    kept_keys = {key_of_row(helpers, row) for _, row in complete.iloc[:4].iterrows()}
    assert sum(new_calls.values()) == 8 and not kept_keys & set(new_calls)
    assert (tmp_path / RUNS_FILE).read_text().splitlines(keepends=True)[:5] == kept
    pd.testing.assert_frame_equal(without_timing(resumed), without_timing(complete))

    text = (tmp_path / RUNS_FILE).read_bytes()
    again = run_study(study, tmp_path, executor="inline", quiet=True)
    assert calls() == before + new_calls
    assert (tmp_path / RUNS_FILE).read_bytes() == text
    assert again["run_id"].is_unique and len(again) == 12


def test_killed_study_resumes_without_recomputing_or_duplicating(helpers, tmp_path, calls, monkeypatch):
    script = tmp_path / "kill_me.py"
    script.write_text(KILL_SCRIPT.format(helpers=HELPERS))
    out = tmp_path / "out"
    env = {**os.environ, "SPIKELOC_TEST_SLEEP": "0.5"}
    process = subprocess.Popen([sys.executable, str(script), str(out)], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / RUNS_FILE).exists() and time.monotonic() < deadline:
            assert process.poll() is None, "the study ended before it could be killed"
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the runner and its worker processes
        process.wait()

    finished = load_results(out)
    assert 1 <= len(finished) < 12
    finished_keys = {key_of_row(helpers, row) for _, row in finished.iterrows()}
    assert all(calls()[key] == 1 for key in finished_keys)

    monkeypatch.setenv("SPIKELOC_TEST_SLEEP", "0")
    table = run_study(Study("kill", helpers.grid(), (0, 1), helpers.score), out, executor="inline", quiet=True)

    assert len(table) == 12 and table["run_id"].is_unique and (table["status"] == "ok").all()
    assert all(calls()[key] == 1 for key in finished_keys)
    assert all(calls()[key_of_row(helpers, row)] >= 1 for _, row in table.iterrows())
    resumed_rows = table[table["run_id"].isin(finished["run_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(resumed_rows, finished)


def test_directory_of_a_different_study_is_refused_unless_overwrite(helpers, tmp_path):
    run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True)
    files = {name: (tmp_path / name).read_bytes() for name in (STUDY_FILE, RUNS_FILE)}
    other = basic_study(helpers, seeds=(5, 6, 7))

    with pytest.raises(StudyDirectoryError, match="different study.*seeds differ.*overwrite=True") as refused:
        run_study(other, tmp_path, executor="inline", quiet=True)
    assert "extend" not in str(refused.value)  # seeds 0 and 1 are not in the other grid: nothing to extend
    assert {name: (tmp_path / name).read_bytes() for name in files} == files

    table = run_study(other, tmp_path, executor="inline", quiet=True, overwrite=True)
    assert len(table) == 18 and set(table["seed"]) == {5, 6, 7}
    assert load_results(tmp_path).equals(table)


def test_extend_keeps_the_results_of_a_smaller_grid_and_runs_only_the_new_runs(helpers, tmp_path, calls):
    small = basic_study(helpers, configs=helpers.grid(a_values=(1, 2)), seeds=(0,))
    first = run_study(small, tmp_path, executor="inline", quiet=True)
    grown = basic_study(helpers, configs=helpers.grid(a_values=(1, 2, 3)), seeds=(0, 1))
    offer = "different study.*overwrite=True to replace them, or extend=True to keep them"
    with pytest.raises(StudyDirectoryError, match=offer):
        run_study(grown, tmp_path, executor="inline", quiet=True)
    before = calls()

    table = run_study(grown, tmp_path, executor="inline", quiet=True, extend=True)

    assert len(table) == 12 and (table["status"] == "ok").all()
    assert sum((calls() - before).values()) == 8  # the 4 stored runs were not computed again
    kept = table[table["run_id"].isin(first["run_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, first)
    assert json.loads((tmp_path / STUDY_FILE).read_text()) == grown.description()
    run_study(grown, tmp_path, executor="inline", quiet=True)  # the grown grid now resumes without the option
    assert sum((calls() - before).values()) == 8


@pytest.mark.parametrize("changes, reason", [
    ({"seeds": (0,)}, r"this grid lacks the stored seeds \[1\]"),
    ({"a_values": (1, 2), "seeds": (0, 1, 2)}, r"this grid lacks 2 stored config\(s\), e.g. \{"),
    ({"name": "renamed", "seeds": (0, 1, 2)}, "the stored name is 'basic', this grid's 'renamed'"),
])
def test_extend_refuses_a_grid_without_every_stored_run_and_writes_nothing(helpers, tmp_path, changes, reason):
    run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True)
    files = {name: (tmp_path / name).read_bytes() for name in (STUDY_FILE, RUNS_FILE)}

    if "a_values" in changes:
        a_values = changes.pop("a_values")
        changes = {**changes, "configs": helpers.grid(a_values=a_values)}
    with pytest.raises(StudyDirectoryError, match=f"different study.*cannot extend them: {reason}"):
        run_study(basic_study(helpers, **changes), tmp_path, executor="inline", quiet=True, extend=True)
    assert {name: (tmp_path / name).read_bytes() for name in files} == files


def test_overwrite_and_extend_together_are_refused_before_any_work(helpers, tmp_path):
    with pytest.raises(ValueError, match="overwrite=True or extend=True, not both"):
        run_study(basic_study(helpers), tmp_path / "out", executor="inline", overwrite=True, extend=True)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, content", [
    (RUNS_FILE, b"not,a\nresults,table\n"),
    (RUNS_FILE, b"\xff\xfe\x00\x81 garbage"),
    (RUNS_FILE, b""),
    (STUDY_FILE, b'{"name": "basic", "configs": ['),
    (STUDY_FILE, b'["a", "list"]'),
])
def test_corrupt_file_is_named_and_left_unchanged(helpers, tmp_path, name, content):
    run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True)
    (tmp_path / name).write_bytes(content)
    files = {n: (tmp_path / n).read_bytes() for n in (STUDY_FILE, RUNS_FILE)}

    named = f"{re.escape(str(tmp_path / name))}.*corrupt"
    with pytest.raises(StudyDirectoryError, match=named):
        run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True)
    with pytest.raises(StudyDirectoryError, match=named):
        load_results(tmp_path)
    assert {n: (tmp_path / n).read_bytes() for n in files} == files


def ok_row_lines(directory: Path) -> list[str]:
    return (directory / RUNS_FILE).read_text().splitlines(keepends=True)


def test_a_truncated_runs_file_names_its_problem_and_repair_keeps_its_intact_rows(helpers, tmp_path, calls, caplog):
    run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True)
    lines = ok_row_lines(tmp_path)
    intact = "".join(lines[:6])
    damaged = (intact + lines[6][:9]).encode()  # a file cut short in the 6th row, as a copy or disk fault leaves it
    (tmp_path / RUNS_FILE).write_bytes(damaged)

    with pytest.raises(DamagedResultsError) as refused:
        run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True)
    print(f"\ntruncated runs.csv: {refused.value}")
    assert str(refused.value) == (f"{tmp_path / RUNS_FILE} is corrupt: line 7 has 4 fields, the header 10; pass "
                                  "repair=True to keep its 5 intact rows (the file is first copied aside) and run "
                                  "the other runs again")
    assert (tmp_path / RUNS_FILE).read_bytes() == damaged

    before = calls()
    table = run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True, repair=True)
    (backup,) = tmp_path.glob(f"{RUNS_FILE}.damaged-*")
    print(f"repair: {caplog.records[-1].getMessage()}")
    assert backup.read_bytes() == damaged
    assert len(table) == 12 and table["run_id"].is_unique and sum((calls() - before).values()) == 7
    assert ok_row_lines(tmp_path)[:6] == lines[:6]  # the intact rows kept as they were
    assert caplog.records[-1].getMessage().startswith(f"repaired {tmp_path / RUNS_FILE}: kept its 5 intact rows, "
                                                      "dropped 1 (line 7 has 4 fields, the header 10)")


def test_an_ok_row_lacking_a_metric_its_other_seeds_have_is_refused_by_name(helpers, tmp_path, calls):
    run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True)
    table = load_results(tmp_path)
    lost = table.iloc[3]
    path = tmp_path / RUNS_FILE
    path.write_text(path.read_text().replace(f",{lost['score']},a{lost['a']},", f",,a{lost['a']},", 1))

    for read in (lambda: load_results(tmp_path), lambda: finished_results(basic_study(helpers), tmp_path),
                 lambda: run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True)):
        with pytest.raises(DamagedResultsError, match=rf"run {lost['run_id']} \(seed {lost['seed']}\) is marked ok "
                                                      r"but its \['score'\] is empty, unlike the other seeds"):
            read()
    before = calls()
    repaired = run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True, repair=True)
    assert calls() - before == Counter({key_of_row(helpers, lost): 1})
    pd.testing.assert_frame_equal(without_timing(repaired), without_timing(table))


def nan_for_seed_1(config, seed):
    return {"ratio": math.nan if seed == 1 else 0.5, "note": None}


def test_a_metric_a_run_returns_as_nan_is_kept_and_not_taken_for_a_lost_cell(tmp_path):
    study = Study("nan", (Other(1), Other(2)), (0, 1), nan_for_seed_1)
    table = run_study(study, tmp_path, executor="inline", quiet=True)
    assert table["ratio"].isna().tolist() == [False, True, False, True] and table["note"].isna().all()
    assert ",nan,nan,ok," in (tmp_path / RUNS_FILE).read_text()
    pd.testing.assert_frame_equal(load_results(tmp_path), table)


def test_finished_results_makes_the_checks_of_a_run_and_writes_nothing(helpers, tmp_path):
    run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True)
    files = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    pd.testing.assert_frame_equal(finished_results(basic_study(helpers), tmp_path), load_results(tmp_path))
    with pytest.raises(UnusableDirectoryError, match=r"different study \(name differ in .*\), none of other's"):
        finished_results(basic_study(helpers, name="other"), tmp_path)
    with pytest.raises(UnusableDirectoryError, match=r"different study \(seeds differ"):
        finished_results(basic_study(helpers, seeds=(0, 1, 2)), tmp_path)
    with pytest.raises(UnusableDirectoryError, match="study.json is missing"):
        finished_results(basic_study(helpers), tmp_path / "empty")
    with open(tmp_path / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(UnusableDirectoryError, match="in use by another run of a study"):
            finished_results(basic_study(helpers), tmp_path)
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == files
    assert not (tmp_path / "empty").exists()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_written_get_the_permissions_the_umask_gives(helpers, tmp_path, umask, mode):
    """Results, models and NIR files are all written by atomic_write: a shared folder's members can read them."""
    previous = os.umask(umask)
    try:
        run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True)
        atomic_write(tmp_path / "model.pt", b"weights")
    finally:
        os.umask(previous)
    modes = {name: oct((tmp_path / name).stat().st_mode & 0o777) for name in (STUDY_FILE, RUNS_FILE, "model.pt")}
    print(f"\numask {oct(umask)}: {modes}")
    assert set(modes.values()) == {oct(mode)}


def test_rows_of_runs_outside_the_grid_are_refused(helpers, tmp_path):
    run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True)
    path = tmp_path / RUNS_FILE
    path.write_text(path.read_text().replace(make_run_id({"a": 1, "b": 0.5}, 0), "0123456789abcdef"))
    with pytest.raises(StudyDirectoryError, match="not in study.json"):
        run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True)


def test_directory_in_use_is_refused(helpers, tmp_path):
    with open(tmp_path / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(StudyDirectoryError, match="in use"):
            run_study(basic_study(helpers), tmp_path, executor="inline", quiet=True)


def test_load_results_without_study_is_an_error(tmp_path):
    with pytest.raises(StudyDirectoryError, match="study.json is missing"):
        load_results(tmp_path)


# --------------------------------------------------------------------------
# Failed runs


def test_failed_runs_are_recorded_and_the_grid_goes_on(helpers, tmp_path, calls):
    study = failing_study(helpers)
    table = run_study(study, tmp_path, executor="inline", quiet=True)

    assert len(table) == 8
    assert table["status"].tolist() == ["failed"] * 4 + ["ok"] * 4
    assert table["error"].tolist()[:4] == ["ValueError: a must be non-negative"] * 2 + ["NaN loss"] * 2
    assert table["score"].iloc[:4].isna().all() and table["score"].iloc[4:].notna().all()

    first_calls = calls()
    run_study(study, tmp_path, executor="inline", quiet=True)
    assert calls() == first_calls  # failed runs are not retried by default

    retried = run_study(study, tmp_path, executor="inline", quiet=True, retry_failed=True)
    new_calls = calls() - first_calls
    assert sorted(new_calls) == sorted(f"run-{helpers.call_key(a, 0.5, s)}" for a in (-1, 0) for s in (0, 1))
    assert len(retried) == 8 and retried["run_id"].is_unique
    pd.testing.assert_frame_equal(without_timing(retried), without_timing(table))


def test_results_that_are_not_flat_plain_dicts_fail_the_run(helpers, tmp_path):
    study = Study("bad", helpers.grid(a_values=(1, 2, 3, 4, 5), b_values=(1.0,)), (0,), helpers.bad_metrics)
    table = run_study(study, tmp_path, executor="inline", quiet=True).set_index("a")

    assert table.loc[1, "error"] == "TypeError: metric 'vector' is a list, not a plain number or string"
    assert table.loc[2, "error"].startswith("ValueError: metrics ['seed'] clash")
    assert table.loc[3, "error"] == "TypeError: run function returned a int, not a dict"
    assert table.loc[4, "error"].startswith("ValueError: status must be one of")
    assert table.loc[5, "status"] == "ok" and table.loc[5, "value"] == 2.5
    assert (table.loc[1:4, "status"] == "failed").all()


# --------------------------------------------------------------------------
# Executors and batches


def test_batch_run_fn_gives_the_same_rows_as_per_run(helpers, tmp_path, calls):
    per_run = run_study(dataclasses.replace(batch_study(helpers, 4), batch_run_fn=None, batch_key=None),
                        tmp_path / "per_run", executor="inline", quiet=True)
    batched = run_study(batch_study(helpers, 4), tmp_path / "batched", executor="inline", quiet=True)

    pd.testing.assert_frame_equal(without_timing(batched), without_timing(per_run))
    batch_sizes = Counter({key: n for key, n in calls().items() if key.startswith("batch-")})
    assert batch_sizes == Counter({"batch-4": 4, "batch-1": 2})  # two b groups of 9 runs: 4 + 4 + 1


def test_batches_are_cut_seed_by_seed_so_a_chunk_holds_few_seeds(helpers):
    """Runs of one seed share what a batch computes once (stimuli, learned features): each batch_key group is
    ordered by the study's seed order, grid order within a seed, before it is cut."""
    study = dataclasses.replace(batch_study(helpers, 4), seeds=(2, 0, 1))
    tasks = _plan_tasks(study, study.runs, workers=1)

    chunks = [[(run.config.a, run.config.b, run.seed) for run in task.runs] for task in tasks]
    assert chunks == [[(0, 0.5, 2), (1, 0.5, 2), (2, 0.5, 2), (0, 0.5, 0)],
                      [(1, 0.5, 0), (2, 0.5, 0), (0, 0.5, 1), (1, 0.5, 1)],
                      [(2, 0.5, 1)],
                      [(0, 1.5, 2), (1, 1.5, 2), (2, 1.5, 2), (0, 1.5, 0)],
                      [(1, 1.5, 0), (2, 1.5, 0), (0, 1.5, 1), (1, 1.5, 1)],
                      [(2, 1.5, 1)]]
    pending = [run for run in study.runs if run.seed != 0]  # a resumed study: seed 0 done
    resumed = [[run.seed for run in task.runs] for task in _plan_tasks(study, pending, workers=2)]
    assert resumed == [[2, 2, 2], [1, 1, 1], [2, 2, 2], [1, 1, 1]]


def test_processes_executor_matches_inline_and_batches_for_every_worker(helpers, tmp_path, calls):
    inline = run_study(batch_study(helpers, 8), tmp_path / "inline", executor="inline", quiet=True)
    before = calls()
    processes = run_study(batch_study(helpers, 8), tmp_path / "processes", executor="processes",
                          workers=2, quiet=True)

    pd.testing.assert_frame_equal(without_timing(processes), without_timing(inline))
    # each b group of 9 runs is split in two chunks so both workers get work
    assert calls() - before == Counter({"batch-5": 2, "batch-4": 2})


def test_processes_executor_with_default_workers(helpers, tmp_path):
    inline = run_study(failing_study(helpers), tmp_path / "inline", executor="inline", quiet=True)
    processes = run_study(failing_study(helpers), tmp_path / "processes", quiet=True)
    pd.testing.assert_frame_equal(without_timing(processes), without_timing(inline))


def test_dask_local_cluster(helpers, tmp_path):
    pytest.importorskip("distributed")
    inline = run_study(failing_study(helpers), tmp_path / "inline", executor="inline", quiet=True)
    dask = run_study(failing_study(helpers), tmp_path / "dask", executor="dask", scheduler="local",
                     workers=2, quiet=True)
    pd.testing.assert_frame_equal(without_timing(dask), without_timing(inline))


def test_dask_cluster_by_tcp_address(helpers, tmp_path):
    distributed = pytest.importorskip("distributed")
    inline = run_study(batch_study(helpers, 8), tmp_path / "inline", executor="inline", quiet=True)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        dask = run_study(batch_study(helpers, 8), tmp_path / "dask", executor="dask",
                         scheduler=cluster.scheduler_address, quiet=True)
    pd.testing.assert_frame_equal(without_timing(dask), without_timing(inline))


# --------------------------------------------------------------------------
# Validation


@dataclasses.dataclass(frozen=True)
class Other:
    a: int


@dataclasses.dataclass(frozen=True)
class Clashing:
    seed: int


@pytest.mark.parametrize("changes, error, message", [
    ({"name": ""}, ValueError, "name"),
    ({"configs": ()}, ValueError, "configs must not be empty"),
    ({"configs": ({"a": 1},)}, TypeError, "dataclass instances"),
    ({"configs": (Other(1), Other(1))}, ValueError, "unique"),
    ({"configs": (Other(1), Clashing(1))}, TypeError, "same type"),
    ({"configs": (Clashing(1),)}, ValueError, r"\['seed'\] clash"),
    ({"configs": (Other(math.nan),)}, ValueError, "JSON"),
    ({"seeds": ()}, ValueError, "seeds must not be empty"),
    ({"seeds": (1, 1)}, ValueError, "unique"),
    ({"seeds": (1.5,)}, TypeError, "integers"),
    ({"run_fn": None}, TypeError, "run_fn"),
    ({"batch_key": len}, ValueError, "batch_key needs a batch_run_fn"),
    ({"max_batch": 0}, ValueError, "max_batch"),
])
def test_invalid_study_is_rejected(changes, error, message):
    fields = dict(name="s", configs=(Other(1), Other(2)), seeds=(0,), run_fn=print)
    with pytest.raises(error, match=message):
        Study(**{**fields, **changes})


def test_study_normalises_its_grid():
    study = Study("s", [Other(1), Other(2)], [np.int64(3), 4], print)
    assert study.configs == (Other(1), Other(2)) and study.seeds == (3, 4)
    assert [type(seed) for seed in study.seeds] == [int, int]
    assert [(run.config, run.seed, run.index) for run in study.runs] == [
        (Other(1), 3, 0), (Other(1), 4, 1), (Other(2), 3, 2), (Other(2), 4, 3)]


@pytest.mark.parametrize("arguments, message", [
    ({"executor": "threads"}, "executor must be one of"),
    ({"executor": "processes", "workers": 0}, "workers"),
    ({"executor": "inline", "workers": 2}, "inline"),
    ({"executor": "processes", "scheduler": "local"}, "scheduler"),
])
def test_invalid_runner_arguments_are_rejected(tmp_path, arguments, message):
    study = Study("s", (Other(1),), (0,), print)
    with pytest.raises(ValueError, match=message):
        run_study(study, tmp_path, **arguments)
    assert not (tmp_path / STUDY_FILE).exists()


