"""The results store of a study (spikeloc.study.store), driven directly: run ids and columns, study.json and runs.csv
written, read back, checked and repaired, the directory claimed and locked, and the messages a user reads.
Fast (no runs are computed): these are the tests `make mutation` runs against the store."""

import dataclasses
import hashlib
import json
import logging
import math
import re

import numpy as np
import pandas as pd
import pytest

from spikeloc.study import store
from spikeloc.study.runner import Study, _RunOutcome
from spikeloc.study.store import (
    RUNS_FILE,
    STUDY_FILE,
    DamagedResultsError,
    ForeignResultsError,
    StudyDirectoryError,
    UnusableDirectoryError,
    _ResultsStore,
    load_results,
    make_run_id,
    recorded_fields,
)
from spikeloc.validation import added_field


@dataclasses.dataclass(frozen=True)
class Point:
    a: int
    b: float = 0.5
    shape: tuple = (2, 3)
    kind: str = added_field("plain")


@dataclasses.dataclass(frozen=True)
class Outer:
    inner: Point
    name: str = "x"


def no_run(config, seed):
    raise AssertionError("the store computes nothing")


def study(a_values=(1, 2), seeds=(0, 1), name="points"):
    return Study(name, tuple(Point(a) for a in a_values), seeds, no_run)


def ok(**metrics):
    return _RunOutcome(metrics, "ok", None, 0.25)


def recorded(directory, grid, outcomes=None):
    """A store in ``directory`` with every run of ``grid`` recorded (metric ``score = 10 a + seed + 0.5``)."""
    results = _ResultsStore(directory, grid)
    runs = grid.runs
    results.record(runs, outcomes or [ok(score=10 * run.config.a + run.seed + 0.5) for run in runs], "1.0")
    return results


def runs_lines(directory):
    return (directory / RUNS_FILE).read_text().splitlines()


# --------------------------------------------------------------------------
# Run ids and columns


def test_a_run_id_is_the_short_sha256_of_the_canonical_json_of_its_fields_and_seed():
    """The run id identifies a row across versions (resume, extend): its format cannot change."""
    fields = {"b": 0.5, "a": 1, "shape": [2, 3]}
    text = '{"config":{"a":1,"b":0.5,"shape":[2,3]},"seed":7}'
    assert make_run_id(fields, 7) == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert make_run_id(dict(reversed(fields.items())), 7) == make_run_id(fields, 7)
    assert make_run_id(fields, 8) != make_run_id(fields, 7)
    with pytest.raises(ValueError):
        make_run_id({"a": math.nan}, 0)


def test_a_field_added_later_is_left_out_of_the_record_only_at_its_default():
    """So the runs recorded before the field existed keep their ids."""
    assert recorded_fields(Point(1)) == {"a": 1, "b": 0.5, "shape": (2, 3)}
    assert recorded_fields(Point(1, kind="other")) == {"a": 1, "b": 0.5, "shape": (2, 3), "kind": "other"}
    assert recorded_fields(Outer(Point(1))) == {"inner": {"a": 1, "b": 0.5, "shape": (2, 3), "kind": "plain"},
                                                "name": "x"}


def test_the_grid_table_has_flat_config_columns_then_seed_and_run_id_in_grid_order():
    grid = Study("nested", (Outer(Point(1)), Outer(Point(2), "y")), (3, 4), no_run)
    frame = store._grid_frame(grid.description())
    assert list(frame.columns) == ["inner.a", "inner.b", "inner.shape", "inner.kind", "name", "seed", "run_id"]
    assert frame[["inner.a", "name", "seed"]].values.tolist() == [[1, "x", 3], [1, "x", 4], [2, "y", 3], [2, "y", 4]]
    assert frame["inner.shape"].tolist() == ["[2,3]"] * 4
    assert frame["run_id"].tolist() == [run.run_id for run in grid.runs]


# --------------------------------------------------------------------------
# Writing and reading back


def test_a_new_store_writes_the_grid_and_has_every_run_pending(tmp_path):
    grid = study()
    results = _ResultsStore(tmp_path, grid)
    assert (tmp_path / STUDY_FILE).read_text() == json.dumps(grid.description(), indent=2) + "\n"
    assert not (tmp_path / RUNS_FILE).exists()
    assert results.rows == {}
    assert results.pending_runs(retry_failed=False) == list(grid.runs)
    assert sorted(path.name for path in tmp_path.iterdir()) == [STUDY_FILE]  # the write check left nothing


def test_rows_are_written_in_grid_order_config_columns_first_and_nan_spelled_out(tmp_path):
    grid = study()
    results = _ResultsStore(tmp_path, grid)
    runs = grid.runs
    results.record(runs[2:], [ok(score=None, label="c"), _RunOutcome({}, "failed", "ValueError: no", math.nan)],
                   "1.0")
    results.record(runs[:2], [ok(score=1.5, label="a"), ok(score=np.float64(math.nan), label="b")], "1.0")
    assert runs_lines(tmp_path) == [
        "a,b,shape,seed,run_id,score,label,status,error,seconds,spikeloc_version",
        f"1,0.5,\"[2,3]\",0,{runs[0].run_id},1.5,a,ok,,0.25,1.0",
        f"1,0.5,\"[2,3]\",1,{runs[1].run_id},nan,b,ok,,0.25,1.0",
        f"2,0.5,\"[2,3]\",0,{runs[2].run_id},nan,c,ok,,0.25,1.0",
        f"2,0.5,\"[2,3]\",1,{runs[3].run_id},,,failed,ValueError: no,,1.0",
    ]


def test_a_resumed_store_keeps_the_rows_as_written_and_runs_what_is_missing_or_asked_again(tmp_path):
    grid = study()
    runs = grid.runs
    first = _ResultsStore(tmp_path, grid)
    first.record(runs[:3], [ok(score=0.1 + 0.2), ok(score=2.0), _RunOutcome({}, "failed", "boom", 1.0)], "1.0")
    written = (tmp_path / RUNS_FILE).read_bytes()
    resumed = _ResultsStore(tmp_path, grid)
    assert resumed.rows[runs[0].run_id]["score"] == "0.30000000000000004"
    assert resumed.pending_runs(retry_failed=False) == [runs[3]]
    assert resumed.pending_runs(retry_failed=True) == [runs[2], runs[3]]
    resumed.record([runs[2]], [ok(score=3.0)], "1.1")  # the retried run replaces its failed row
    lines = runs_lines(tmp_path)
    assert lines[:3] == written.decode().splitlines()[:3]
    assert lines[3] == f"2,0.5,\"[2,3]\",0,{runs[2].run_id},3.0,ok,,0.25,1.1"
    assert len(lines) == 4


def test_load_results_rebuilds_config_columns_from_the_grid_and_keeps_text_columns_text(tmp_path):
    grid = study()
    runs = grid.runs
    results = _ResultsStore(tmp_path, grid)
    results.record(runs, [ok(score=1.0), ok(score=2.0), ok(score=3.0), _RunOutcome({}, "failed", "1", 0.5)], "2")
    table = load_results(tmp_path)
    assert table["run_id"].tolist() == [run.run_id for run in runs]
    assert table["shape"].tolist() == ["[2,3]"] * 4
    assert table["a"].dtype == np.int64 and table["score"].dtype == np.float64
    assert table["error"].iloc[3] == "1" and table["spikeloc_version"].tolist() == ["2"] * 4
    assert table["status"].tolist() == ["ok", "ok", "ok", "failed"]


def test_load_results_of_a_study_without_rows_is_an_empty_table_with_every_column(tmp_path):
    _ResultsStore(tmp_path, study())
    table = load_results(tmp_path)
    assert table.empty
    assert list(table.columns) == ["a", "b", "shape", "seed", "run_id", "status", "error", "seconds",
                                   "spikeloc_version"]
    with pytest.raises(StudyDirectoryError, match=re.escape(f"{tmp_path / 'other'} holds no study: study.json is "
                                                            "missing")):
        load_results(tmp_path / "other")


def test_leftovers_of_a_killed_write_are_removed_and_nothing_else(tmp_path):
    grid = study()
    recorded(tmp_path, grid)
    leftovers = [".study.json.1a2b.tmp", ".runs.csv.3c4d.tmp", ".write-check.5e6f.tmp"]
    kept = [".notes.txt.7a8b.tmp", "notes.txt"]
    for name in leftovers + kept:
        (tmp_path / name).write_text("partial")
    _ResultsStore(tmp_path, grid)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(kept + [STUDY_FILE, RUNS_FILE])


def test_a_failed_write_names_the_file_and_says_what_it_still_holds(tmp_path, monkeypatch):
    grid = study()
    results = recorded(tmp_path, grid)
    written = (tmp_path / RUNS_FILE).read_bytes()

    def disk_full(path, content):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "atomic_write", disk_full)
    with pytest.raises(StudyDirectoryError) as refused:
        results.record(grid.runs[:1], [ok(score=9.0)], "1.0")
    assert str(refused.value) == (f"cannot write {tmp_path / RUNS_FILE}: No space left on device; it still holds "
                                  "the 4 runs recorded before")
    assert (tmp_path / RUNS_FILE).read_bytes() == written


def test_a_directory_that_cannot_be_written_fails_before_anything_is_claimed(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(StudyDirectoryError, match=re.escape(f"cannot write {missing}: No such file or directory")):
        _ResultsStore(missing, study())


# --------------------------------------------------------------------------
# Another study's directory


def test_another_studys_results_are_refused_unless_overwritten(tmp_path):
    recorded(tmp_path, study(name="first"))
    with pytest.raises(ForeignResultsError) as refused:
        _ResultsStore(tmp_path, study(a_values=(3,)))
    assert str(refused.value) == (
        f"{tmp_path} holds results of a different study (configs differ, name differ in {tmp_path / STUDY_FILE}); "
        "pass overwrite=True to replace them")
    assert str(refused.value.naming("--overwrite", "--extend")) == str(refused.value).replace("overwrite=True",
                                                                                              "--overwrite")
    replaced = _ResultsStore(tmp_path, study(a_values=(3,)), overwrite=True)
    assert replaced.rows == {} and not (tmp_path / RUNS_FILE).exists()
    assert json.loads((tmp_path / STUDY_FILE).read_text())["configs"] == [{"a": 3, "b": 0.5, "shape": [2, 3]}]


def test_results_without_a_grid_are_refused(tmp_path):
    (tmp_path / RUNS_FILE).write_text("a,seed,run_id,status\n")
    with pytest.raises(ForeignResultsError) as refused:
        _ResultsStore(tmp_path, study())
    assert str(refused.value) == (f"{tmp_path} holds results ({tmp_path / RUNS_FILE}) but no {tmp_path / STUDY_FILE}; "
                                  "pass overwrite=True to replace them")


@pytest.mark.parametrize("files", [[], [STUDY_FILE]])
def test_overwrite_takes_a_directory_whatever_part_of_the_results_it_holds(tmp_path, files):
    if files:
        _ResultsStore(tmp_path, study(name="other"))
    _ResultsStore(tmp_path, study(), overwrite=True)
    assert json.loads((tmp_path / STUDY_FILE).read_text())["name"] == "points"


def test_a_cell_with_a_windows_line_break_is_kept_as_written(tmp_path):
    grid = study()
    results = _ResultsStore(tmp_path, grid)
    results.record(grid.runs[:1], [_RunOutcome({}, "failed", "first line\r\nsecond line", 0.5)], "1.0")
    resumed = _ResultsStore(tmp_path, grid)
    assert resumed.rows[grid.runs[0].run_id]["error"] == "first line\r\nsecond line"
    resumed.record(grid.runs[1:2], [ok(score=1.0)], "1.0")  # the first row is rewritten from the text read
    assert b"first line\r\nsecond line" in (tmp_path / RUNS_FILE).read_bytes()


def test_recording_runs_without_one_outcome_each_is_refused_and_writes_nothing(tmp_path):
    grid = study()
    results = _ResultsStore(tmp_path, grid)
    with pytest.raises(ValueError):
        results.record(grid.runs[:2], [ok(score=1.0)], "1.0")
    assert not (tmp_path / RUNS_FILE).exists()


def test_an_extended_grid_with_a_new_column_loads_before_its_new_runs_are_recorded(tmp_path):
    small = study()
    recorded(tmp_path, small)
    grown = Study("points", (*small.configs, Point(3, kind="other")), small.seeds, no_run)
    _ResultsStore(tmp_path, grown, extend=True)
    table = load_results(tmp_path)
    assert table["run_id"].tolist() == [run.run_id for run in small.runs]
    assert table["kind"].isna().all() and table["score"].tolist() == [10.5, 11.5, 20.5, 21.5]


def test_extend_keeps_the_rows_of_a_smaller_grid_and_stores_the_larger_one(tmp_path):
    small = study(a_values=(1,), seeds=(0,))
    recorded(tmp_path, small)
    grown = study(a_values=(1, 2), seeds=(0, 1))
    with pytest.raises(ForeignResultsError) as refused:
        _ResultsStore(tmp_path, grown)
    assert str(refused.value) == (
        f"{tmp_path} holds results of a different study (configs differ, seeds differ in {tmp_path / STUDY_FILE}); "
        "pass overwrite=True to replace them, or extend=True to keep them and run only this grid's other runs")
    assert str(refused.value.naming("-o", "-e")).endswith("pass -o to replace them, or -e to keep them and run only "
                                                          "this grid's other runs")
    extended = _ResultsStore(tmp_path, grown, extend=True)
    assert json.loads((tmp_path / STUDY_FILE).read_text()) == grown.description()
    assert extended.pending_runs(retry_failed=False) == list(grown.runs[1:])


@pytest.mark.parametrize("grid, reasons", [
    (study(a_values=(1, 2), seeds=(0,), name="renamed"), ["the stored name is 'points', this grid's 'renamed'"]),
    (study(a_values=(2, 3), seeds=(0, 1)), ["this grid lacks 1 stored config(s), e.g. {'a': 1, 'b': 0.5, "
                                            "'shape': [2, 3]}"]),
    (study(a_values=(1, 2), seeds=(1, 2)), ["this grid lacks the stored seeds [0]"]),
    (Study("points", (Outer(Point(1)),), (0,), no_run),
     ["the stored config_type is 'test_store.Point', this grid's 'test_store.Outer'",
      "this grid lacks 2 stored config(s), e.g. {'a': 1, 'b': 0.5, 'shape': [2, 3]}"]),
])
def test_extend_refuses_a_grid_without_every_stored_run_and_says_why(tmp_path, grid, reasons):
    recorded(tmp_path, study(a_values=(1, 2), seeds=(0,)))
    stored = (tmp_path / STUDY_FILE).read_text()
    with pytest.raises(ForeignResultsError) as refused:
        _ResultsStore(tmp_path, grid, extend=True)
    assert str(refused.value).endswith(f"; cannot extend them: {'; '.join(reasons)}; pass overwrite=True to replace "
                                       "them")
    assert not refused.value.extendable
    assert (tmp_path / STUDY_FILE).read_text() == stored


def test_an_existing_study_is_checked_and_nothing_is_claimed(tmp_path):
    grid = study()
    with pytest.raises(UnusableDirectoryError) as refused:
        _ResultsStore(tmp_path, grid, existing=True)
    assert str(refused.value) == f"{tmp_path} holds no results of a study: {tmp_path / STUDY_FILE} is missing"
    assert list(tmp_path.iterdir()) == []
    recorded(tmp_path, study(seeds=(0,)))
    with pytest.raises(UnusableDirectoryError) as refused:
        _ResultsStore(tmp_path, grid, existing=True)
    assert str(refused.value) == (f"{tmp_path} holds results of a different study (seeds differ in "
                                  f"{tmp_path / STUDY_FILE}), none of points's")
    assert len(_ResultsStore(tmp_path, study(seeds=(0,)), existing=True).rows) == 2


@pytest.mark.parametrize("text, problem", [
    ("{", "is unreadable or corrupt: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ('["name", "config_type", "configs", "seeds"]', "is corrupt: expected a JSON object with keys ['config_type', "
                                                    "'configs', 'name', 'seeds']"),
    ('{"name": "points", "configs": [], "seeds": []}', "is corrupt: expected a JSON object with keys"),
])
def test_a_corrupt_grid_file_is_named(tmp_path, text, problem):
    (tmp_path / STUDY_FILE).write_text(text)
    for read in (lambda: _ResultsStore(tmp_path, study()), lambda: load_results(tmp_path)):
        with pytest.raises(UnusableDirectoryError, match=re.escape(f"{tmp_path / STUDY_FILE} {problem}")):
            read()


def test_a_directory_in_use_is_refused_until_it_is_unlocked(tmp_path):
    with store._locked(tmp_path):
        with pytest.raises(UnusableDirectoryError) as refused:
            with store._locked(tmp_path):
                pass
        assert str(refused.value) == (f"{tmp_path} is in use by another run of a study (wait for it to end, or "
                                      "choose another directory)")
    with store._locked(tmp_path):
        pass


# --------------------------------------------------------------------------
# Damaged files


def damage(directory, grid, edit):
    """``runs.csv`` of every run of ``grid`` in a new ``directory``, its lines (header first) changed by ``edit``."""
    directory.mkdir()
    recorded(directory, grid)
    lines = runs_lines(directory)
    (directory / RUNS_FILE).write_text("".join(line + "\n" for line in edit(lines)))


def problems_of(directory, grid):
    text = store._read_runs_text(directory / RUNS_FILE)
    rows, problems = store._runs_table(text, grid.description())
    return [row["run_id"] for row in rows], problems


def test_each_kind_of_damaged_row_is_named_and_the_intact_rows_kept(tmp_path):
    grid = study(a_values=(1, 2, 3))
    ids = [run.run_id for run in grid.runs]
    stranger = make_run_id(recorded_fields(Point(9)), 0)

    def edit(lines):
        lines[1] = lines[1].rsplit(",", 2)[0]  # cut short
        lines[2] = lines[2].replace(ids[1], stranger)
        lines[3] = lines[3].replace(",ok,", ",done,")
        lines[5] = lines[5].replace(",30.5,", ",,")  # a lost cell: seed 0 of a = 3 lacks the score seed 1 has
        return lines + [lines[4]]  # run 3 twice

    damage(tmp_path / "runs", grid, edit)
    kept, problems = problems_of(tmp_path / "runs", grid)
    assert kept == [ids[5]]
    assert problems == [
        "line 2 has 8 fields, the header 10",
        f"line 3 holds run '{stranger}', which is not in study.json",
        "line 4: status must be one of ('ok', 'failed'), got 'done'",
        f"run {ids[3]} appears 2 times",
        f"run {ids[4]} (seed 0) is marked ok but its ['score'] is empty, unlike the other seeds of its config: it "
        "would drop out of their summaries and paired comparisons",
    ]


def test_an_empty_metric_is_a_lost_cell_only_beside_seeds_of_the_config_that_hold_it(tmp_path):
    grid = study()

    def no_score_for_a1_and_a_failed_run(lines):
        return [lines[0], lines[1].replace(",10.5,", ",,"), lines[2].replace(",11.5,", ",,"),
                lines[3].replace(",20.5,ok,", ",,failed,"), lines[4]]  # a failed run returns no metrics

    damage(tmp_path / "1", grid, no_score_for_a1_and_a_failed_run)
    assert problems_of(tmp_path / "1", grid) == ([run.run_id for run in grid.runs], [])

    def with_extra(lines, empty):
        """A second metric ``extra``, its cell (and the score's, with ``empty == 2``) lost in line 1."""
        lines = [lines[0].replace("score", "score,extra")] + [line.replace(",ok", ",7,ok") for line in lines[1:]]
        lines[1] = lines[1].replace(",10.5,7,", ",,," if empty == 2 else ",10.5,,")
        return lines

    lost = (f"run {grid.runs[0].run_id} (seed 0) is marked ok but its {{}} empty, unlike the other seeds of its "
            "config: it would drop out of their summaries and paired comparisons")
    damage(tmp_path / "2", grid, lambda lines: with_extra(lines, 1))
    assert problems_of(tmp_path / "2", grid)[1] == [lost.format("['extra'] is")]
    damage(tmp_path / "3", grid, lambda lines: with_extra(lines, 2))
    assert problems_of(tmp_path / "3", grid)[1] == [lost.format("['extra', 'score'] are")]


@pytest.mark.parametrize("content, problem", [
    (b"\xff\xfe", "it is not UTF-8 text"),
    (b"", "it is empty (no header line)"),
    (b"a,seed,score\n1,0,2\n", "columns ['run_id', 'status'] are missing"),
])
def test_a_file_that_is_no_table_of_runs_is_refused_whole(tmp_path, content, problem):
    grid = study()
    _ResultsStore(tmp_path, grid)
    (tmp_path / RUNS_FILE).write_bytes(content)
    assert problems_of(tmp_path, grid) == ([], [problem])
    with pytest.raises(DamagedResultsError) as refused:
        load_results(tmp_path)
    assert str(refused.value) == (f"{tmp_path / RUNS_FILE} is corrupt: {problem}; pass repair=True to keep its 0 "
                                  "intact rows (the file is first copied aside) and run the other runs again")


def test_a_damaged_file_is_refused_with_its_first_problem_and_how_many_more(tmp_path):
    grid = study()
    tmp_path = tmp_path / "runs"
    damage(tmp_path, grid, lambda lines: [lines[0], lines[1][:5], lines[2][:5], *lines[3:]])
    before = (tmp_path / RUNS_FILE).read_bytes()
    with pytest.raises(DamagedResultsError) as refused:
        _ResultsStore(tmp_path, grid)
    message = (f"{tmp_path / RUNS_FILE} is corrupt: line 2 has 2 fields, the header 10 (and 1 more); pass "
               "{} to keep its 2 intact rows (the file is first copied aside) and run the other runs again")
    assert str(refused.value) == message.format("repair=True")
    assert str(refused.value.naming("--repair")) == message.format("--repair")
    assert (refused.value.intact, len(refused.value.problems)) == (2, 2)
    assert (tmp_path / RUNS_FILE).read_bytes() == before


def test_repair_copies_the_damaged_file_aside_and_keeps_the_intact_rows(tmp_path, caplog):
    grid = study()
    tmp_path = tmp_path / "runs"
    damage(tmp_path, grid, lambda lines: [*lines[:3], lines[3][:5], lines[4].replace(",ok,", ",maybe,")])
    damaged = (tmp_path / RUNS_FILE).read_bytes()
    with caplog.at_level(logging.WARNING, logger=store.__name__):
        repaired = _ResultsStore(tmp_path, grid, repair=True)
    backups = list(tmp_path.glob(f"{RUNS_FILE}.damaged-*"))
    assert len(backups) == 1 and re.fullmatch(r"runs\.csv\.damaged-\d{8}-\d{6}", backups[0].name)
    assert backups[0].read_bytes() == damaged
    assert runs_lines(tmp_path) == damaged.decode().splitlines()[:3]
    assert repaired.pending_runs(retry_failed=False) == list(grid.runs[2:])
    assert caplog.records[-1].getMessage() == (
        f"repaired {tmp_path / RUNS_FILE}: kept its 2 intact rows, dropped 2 (line 4 has 2 fields, the header 10, "
        f"and 1 more problems); the damaged file is kept as {backups[0]}")


def test_repair_of_a_file_without_intact_rows_removes_it(tmp_path, caplog):
    grid = study()
    _ResultsStore(tmp_path, grid)
    (tmp_path / RUNS_FILE).write_bytes(b"\xff")
    with caplog.at_level(logging.WARNING, logger=store.__name__):
        _ResultsStore(tmp_path, grid, repair=True)
    assert not (tmp_path / RUNS_FILE).exists()
    assert caplog.records[-1].getMessage().startswith(f"repaired {tmp_path / RUNS_FILE}: kept its 0 intact rows, "
                                                      "dropped 0 (it is not UTF-8 text); the damaged file is kept as ")


def test_an_unreadable_runs_file_is_named(tmp_path):
    grid = study()
    _ResultsStore(tmp_path, grid)
    (tmp_path / RUNS_FILE).mkdir()
    with pytest.raises(StudyDirectoryError, match=re.escape(f"{tmp_path / RUNS_FILE} is unreadable: Is a directory")):
        store._read_runs_text(tmp_path / RUNS_FILE)
