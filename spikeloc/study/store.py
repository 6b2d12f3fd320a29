"""The results store of a study: ``study.json`` and ``runs.csv`` in one output directory.

``study.json`` holds the grid (:meth:`spikeloc.study.runner.Study.description`), ``runs.csv`` one row per finished
run (config columns, ``seed``, ``run_id``, metrics, ``status``, ``error``, ``seconds``, ``spikeloc_version``).
Both are replaced atomically (:func:`spikeloc.files.atomic_write`); a row is identified by its run id, a hash of
the run's recorded config fields and seed (:func:`make_run_id`). The store reads the rows back as the exact text
written, refuses a damaged file (:class:`DamagedResultsError`) or keeps its intact rows (``repair``), refuses a
directory holding another study's results unless told (``overwrite``, ``extend``), and locks the directory
against a second runner. :mod:`spikeloc.study.runner` computes the runs and records them here.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import hashlib
import io
import json
import logging
import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from spikeloc.files import atomic_write
from spikeloc.validation import OMIT_IF_DEFAULT

if TYPE_CHECKING:
    from spikeloc.study.runner import Run, Study, _RunOutcome

STUDY_FILE = "study.json"
RUNS_FILE = "runs.csv"
LOCK_FILE = ".lock"
PROBE_PREFIX = ".write-check"
RUN_COLUMNS = ("seed", "run_id")
OUTCOME_COLUMNS = ("status", "error", "seconds", "spikeloc_version")
RESERVED_COLUMNS = frozenset(RUN_COLUMNS + OUTCOME_COLUMNS)
STATUSES = ("ok", "failed")

_log = logging.getLogger(__name__)


class StudyDirectoryError(RuntimeError):
    """An output directory cannot be written, or holds files that cannot be used for this study."""


class UnusableDirectoryError(StudyDirectoryError):
    """An output directory whose results this study cannot use as they are (another study's, damaged, in use
    by another runner), found before any run: a command line reports it as a usage error of its ``--out``."""


class DamagedResultsError(UnusableDirectoryError):
    """A ``runs.csv`` with rows that cannot be used (a truncated or edited file): the message names the first
    problem and says how to keep the intact rows, ``repair`` (:meth:`naming` the command line's own flag)."""

    def __init__(self, path: Path, problems: Sequence[str], intact: int, repair: str = "repair=True") -> None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{path} is corrupt: {problems[0]}{more}; pass {repair} to keep its {intact} intact "
                         f"rows (the file is first copied aside) and run the other runs again")
        self.path, self.problems, self.intact = path, list(problems), intact

    def naming(self, repair: str) -> DamagedResultsError:
        """The same error, telling to pass ``repair`` (e.g. ``"--repair"``)."""
        return DamagedResultsError(self.path, self.problems, self.intact, repair)


class ForeignResultsError(UnusableDirectoryError):
    """An output directory holds results that only ``overwrite`` may discard, or, when they are a part of
    this study's grid (``extendable``), ``extend`` may keep.

    The message names the options to pass; a command line re-raises it with :meth:`naming` its own flags.
    """

    def __init__(self, problem: str, extendable: bool = False, overwrite: str = "overwrite=True",
                 extend: str = "extend=True") -> None:
        advice = f"pass {overwrite} to replace them"
        if extendable:
            advice += f", or {extend} to keep them and run only this grid's other runs"
        super().__init__(f"{problem}; {advice}")
        self.problem = problem
        self.extendable = extendable

    def naming(self, overwrite: str, extend: str) -> ForeignResultsError:
        """The same error, telling to pass ``overwrite`` or ``extend`` (e.g. ``"--overwrite"``)."""
        return ForeignResultsError(self.problem, self.extendable, overwrite, extend)

# --------------------------------------------------------------------------
# Run ids and columns


def _canonical_json(value: Any) -> str:
    """Deterministic JSON text of ``value`` (sorted keys, finite numbers only)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def recorded_fields(config: Any) -> dict[str, Any]:
    """A config's fields as the runner records them: ``dataclasses.asdict``, less the fields whose metadata
    has :data:`OMIT_IF_DEFAULT` and whose value is their default."""
    values = dataclasses.asdict(config)
    for field in dataclasses.fields(config):
        if field.metadata.get(OMIT_IF_DEFAULT) and values[field.name] == field.default:
            del values[field.name]
    return values


def with_recorded_defaults(table: pd.DataFrame, config_type: type, columns: Sequence[str]) -> pd.DataFrame:
    """``table`` with each of ``columns`` that :func:`recorded_fields` leaves out at its default (an added field,
    :data:`OMIT_IF_DEFAULT`) holding that default where the table has none: a missing column (no run set the
    field) or an empty cell (a run at the default beside runs that set it), as its table cell would read."""
    fields = dataclasses.fields(config_type) if dataclasses.is_dataclass(config_type) else ()
    defaults = {field.name: field.default for field in fields if field.metadata.get(OMIT_IF_DEFAULT)}
    filled = {}
    for column in (c for c in columns if c in defaults):
        value = _flatten({column: defaults[column]})[column]
        filled[column] = table[column].astype(object).where(table[column].notna(), value) if column in table else value
    return table.assign(**filled)


def make_run_id(config_fields: Mapping[str, Any], seed: int) -> str:
    """Stable id of a run: a short hash of its config fields and seed."""
    text = _canonical_json({"config": config_fields, "seed": seed})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _flatten(fields: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flat table columns of (possibly nested) config fields.

    Nested dataclasses become ``outer.inner`` columns; lists and tuples become
    JSON text, so every value fits in one table cell.
    """
    columns: dict[str, Any] = {}
    for name, value in fields.items():
        column = f"{prefix}{name}"
        if isinstance(value, Mapping):
            columns.update(_flatten(value, prefix=f"{column}."))
        elif isinstance(value, (list, tuple)):
            columns[column] = _canonical_json(value)
        else:
            columns[column] = value
    return columns


def _grid_frame(description: Mapping[str, Any]) -> pd.DataFrame:
    """Config columns, ``seed`` and ``run_id`` of every run, in grid order."""
    rows = [
        {**_flatten(config), "seed": seed, "run_id": make_run_id(config, seed)}
        for config in description["configs"]
        for seed in description["seeds"]
    ]
    return pd.DataFrame(rows)



# --------------------------------------------------------------------------
# Reading and writing


def _read_study_file(path: Path) -> dict[str, Any]:
    """The grid stored in ``study.json``, or a clear error naming the file."""
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnusableDirectoryError(f"{path} is unreadable or corrupt: {exc}") from exc
    expected = {"name", "config_type", "configs", "seeds"}
    if not isinstance(description, dict) or set(description) != expected:
        raise UnusableDirectoryError(f"{path} is corrupt: expected a JSON object with keys {sorted(expected)}")
    return description


TEXT_COLUMNS = ("run_id", "status", "error", "spikeloc_version")
#: How ``runs.csv`` writes a metric that a run returned as NaN or None. An empty cell is a metric the run did
#: not return at all, which is the same for every seed of a config (:func:`_rows_lacking_metrics`).
MISSING_METRIC = "nan"


def _cell(metric: Any) -> Any:
    """A metric as ``runs.csv`` records it: NaN and None as :data:`MISSING_METRIC`, not as an empty cell."""
    return MISSING_METRIC if metric is None or (isinstance(metric, float) and math.isnan(metric)) else metric


def _read_runs_text(path: Path) -> str | None:
    """The text of ``runs.csv``, or None if it is not UTF-8 text."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return None
    except OSError as exc:
        raise StudyDirectoryError(f"{path} is unreadable: {exc.strerror or exc}") from exc


def _runs_table(text: str | None, description: Mapping[str, Any]) -> tuple[list[dict[str, str]], list[str]]:
    """The intact rows of a ``runs.csv`` text, each as the exact text of its cells, and one line per problem
    of the rows left out (a row cut short or too long, a run not in the grid, a run twice, an unknown status,
    a run marked ok that lacks a metric the other seeds of its config have)."""
    if text is None:
        return [], ["it is not UTF-8 text"]
    records = csv.reader(io.StringIO(text, newline=""))
    header = next(records, None)
    if not header:
        return [], ["it is empty (no header line)"]
    missing = sorted({"run_id", "seed", "status"} - set(header))
    if missing:
        return [], [f"columns {missing} are missing"]
    config_of = {make_run_id(config, seed): index for index, config in enumerate(description["configs"])
                 for seed in description["seeds"]}
    rows, problems, seen = [], [], Counter()
    for record in records:
        if len(record) != len(header):
            problems.append(f"line {records.line_num} has {len(record)} fields, the header {len(header)}")
            continue
        row = dict(zip(header, record))
        if row["run_id"] not in config_of:
            problems.append(f"line {records.line_num} holds run {row['run_id']!r}, which is not in {STUDY_FILE}")
        elif row["status"] not in STATUSES:
            problems.append(f"line {records.line_num}: status must be one of {STATUSES}, got {row['status']!r}")
        else:
            rows.append(row)
            seen[row["run_id"]] += 1
    twice = [run_id for run_id, count in seen.items() if count > 1]
    problems += [f"run {run_id} appears {seen[run_id]} times" for run_id in twice]
    rows = [row for row in rows if seen[row["run_id"]] == 1]
    metrics = set(header) - set(_grid_frame(description).columns) - RESERVED_COLUMNS
    lacking = _rows_lacking_metrics(rows, sorted(metrics), config_of)
    problems += lacking.values()
    return [row for row in rows if row["run_id"] not in lacking], problems


def _rows_lacking_metrics(rows: list[dict[str, str]], metrics: Sequence[str],
                          config_of: Mapping[str, int]) -> dict[str, str]:
    """The rows marked ok with an empty cell in a metric that another ok row of the same config holds (a run
    returns the same metrics for every seed: the cell was lost), by run id, each with the problem."""
    ok = [row for row in rows if row["status"] == "ok"]
    held = {(config_of[row["run_id"]], metric) for row in ok for metric in metrics if row[metric] != ""}
    lacking = {}
    for row in ok:
        empty = [metric for metric in metrics if row[metric] == "" and (config_of[row["run_id"]], metric) in held]
        if empty:
            lacking[row["run_id"]] = (f"run {row['run_id']} (seed {row['seed']}) is marked ok but its {empty} "
                                      f"{'is' if len(empty) == 1 else 'are'} empty, unlike the other seeds of "
                                      f"its config: it would drop out of their summaries and paired comparisons")
    return lacking


def _read_runs_file(path: Path, description: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of ``runs.csv``, checked against the grid ``description`` (:class:`DamagedResultsError` if
    any row cannot be used), numbers parsed except in the runner's own text columns."""
    text = _read_runs_text(path)
    rows, problems = _runs_table(text, description)
    if problems:
        raise DamagedResultsError(path, problems, len(rows))
    return pd.read_csv(io.StringIO(text), dtype=dict.fromkeys(TEXT_COLUMNS, str))


def _describe_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    return ", ".join(f"{key} differ" for key in sorted(new) if old.get(key) != new[key])


def _not_extending(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why the grid ``new`` does not extend the stored grid ``old`` (empty: it does, holding all its runs)."""
    reasons = [f"the stored {key} is {old[key]!r}, this grid's {new[key]!r}"
               for key in ("name", "config_type") if old[key] != new[key]]
    configs = {_canonical_json(config) for config in new["configs"]}
    lacking = [config for config in old["configs"] if _canonical_json(config) not in configs]
    reasons += [f"this grid lacks {len(lacking)} stored config(s), e.g. {lacking[0]}"] if lacking else []
    seeds = sorted(set(old["seeds"]) - set(new["seeds"]))
    return reasons + ([f"this grid lacks the stored seeds {seeds}"] if seeds else [])


@contextlib.contextmanager
def _writing(path: Path, consequence: str = "") -> Iterator[None]:
    """Turn a failed write under ``path`` (read-only, disk full, not a directory) into one
    :class:`StudyDirectoryError` naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise StudyDirectoryError(f"cannot write {path}: {exc.strerror or exc}{consequence}") from exc


def _check_writable(directory: Path) -> None:
    """Create, write, sync and remove a small file in ``directory``, as every update of the results does,
    so that a directory that cannot take them fails before any run."""
    with tempfile.NamedTemporaryFile(dir=directory, prefix=f"{PROBE_PREFIX}.", suffix=".tmp") as probe:
        probe.write(b"spikeloc write check\n")
        probe.flush()
        os.fsync(probe.fileno())


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (released even if the process is killed)."""
    with _writing(directory):
        lock = open(directory / LOCK_FILE, "w")
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise UnusableDirectoryError(f"{directory} is in use by another run of a study (wait for it to "
                                         f"end, or choose another directory)") from exc
        yield


class _ResultsStore:
    """The ``study.json`` and ``runs.csv`` of one study in one directory.

    Rows already on disk are kept as the exact text read from ``runs.csv`` so
    rewriting the file never alters them.  ``existing=True``: the directory must hold this study's results
    already (nothing new is claimed).  ``repair=True``: a damaged ``runs.csv`` is copied aside and replaced by
    its intact rows (:meth:`_read_rows`).
    """

    def __init__(self, directory: Path, study: Study, overwrite: bool = False, extend: bool = False,
                 repair: bool = False, existing: bool = False) -> None:
        self.directory = directory
        self.study = study
        self.study_path = directory / STUDY_FILE
        self.runs_path = directory / RUNS_FILE
        with _writing(directory):
            if overwrite:
                self._remove_results()
            self._remove_stale_temporary_files()
            self._claim_directory(extend, existing)
            _check_writable(directory)
        self.rows: dict[str, dict[str, Any]] = self._read_rows(repair)

    def _remove_results(self) -> None:
        self.runs_path.unlink(missing_ok=True)
        self.study_path.unlink(missing_ok=True)

    def _remove_stale_temporary_files(self) -> None:
        """Remove what a process killed while writing left: atomic writes' ``.NAME.RANDOM.tmp`` files of
        ``study.json`` and ``runs.csv`` and the write check's ``.write-check.RANDOM.tmp``."""
        for pattern in (f".{STUDY_FILE}.*.tmp", f".{RUNS_FILE}.*.tmp", f"{PROBE_PREFIX}.*.tmp"):
            for leftover in self.directory.glob(pattern):
                leftover.unlink()

    def _claim_directory(self, extend: bool, existing: bool = False) -> None:
        """Write ``study.json``, or check that the one there describes this study; with ``extend``, one that
        describes a part of it (same name and config type, its configs and seeds among this grid's) is
        replaced by this grid, its rows kept.  With ``existing``, only the check: a directory without this
        study's ``study.json`` is refused."""
        grid = self.study.description()
        if existing and not self.study_path.exists():
            raise UnusableDirectoryError(f"{self.directory} holds no results of a study: {self.study_path} is "
                                         "missing")
        if existing and _read_study_file(self.study_path) != grid:
            stored = _read_study_file(self.study_path)
            raise UnusableDirectoryError(
                f"{self.directory} holds results of a different study ({_describe_difference(stored, grid)} in "
                f"{self.study_path}), none of {self.study.name}'s")
        if self.study_path.exists():
            stored = _read_study_file(self.study_path)
            if stored == grid:
                return
            reasons = _not_extending(stored, grid)
            problem = (f"{self.directory} holds results of a different study "
                       f"({_describe_difference(stored, grid)} in {self.study_path})")
            if not extend or reasons:
                why = f"; cannot extend them: {'; '.join(reasons)}" if extend else ""
                raise ForeignResultsError(problem + why, extendable=not reasons)
        elif self.runs_path.exists():
            raise ForeignResultsError(f"{self.directory} holds results ({self.runs_path}) but no {self.study_path}")
        atomic_write(self.study_path, json.dumps(grid, indent=2) + "\n")

    def _read_rows(self, repair: bool) -> dict[str, dict[str, Any]]:
        """The rows of ``runs.csv`` by run id. A damaged file is refused (:class:`DamagedResultsError`), or
        with ``repair`` copied to ``runs.csv.damaged-TIME`` and replaced by its intact rows, a warning saying
        how many rows were dropped."""
        if not self.runs_path.exists():
            return {}
        text = _read_runs_text(self.runs_path)
        rows, problems = _runs_table(text, self.study.description())
        if problems and not repair:
            raise DamagedResultsError(self.runs_path, problems, len(rows))
        self.rows = {row["run_id"]: row for row in rows}
        if problems:
            damaged = self.runs_path.read_bytes()
            records = sum(1 for _ in csv.reader(io.StringIO(damaged.decode("utf-8", "replace"), newline="")))
            backup = self.runs_path.with_name(f"{RUNS_FILE}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            atomic_write(backup, damaged)
            if self.rows:
                self._write()
            else:
                self.runs_path.unlink()
            _log.warning("repaired %s: kept its %d intact rows, dropped %d (%s%s); the damaged file is kept as %s",
                         self.runs_path, len(rows), max(0, records - 1) - len(rows), problems[0],
                         f", and {len(problems) - 1} more problems" if len(problems) > 1 else "", backup)
        return self.rows

    def pending_runs(self, retry_failed: bool) -> list[Run]:
        """Runs without a row, plus the failed ones if ``retry_failed``."""
        def is_pending(run: Run) -> bool:
            row = self.rows.get(run.run_id)
            return row is None or (retry_failed and row["status"] == "failed")
        return [run for run in self.study.runs if is_pending(run)]

    def record(self, runs: Sequence[Run], outcomes: Sequence[_RunOutcome], version: str) -> None:
        """Add finished runs (replacing older rows of the same runs) and rewrite ``runs.csv``; if it cannot
        be written, one :class:`StudyDirectoryError` naming it, and the file keeps the rows it had."""
        recorded_before = len(self.rows)
        for run, outcome in zip(runs, outcomes, strict=True):
            self.rows[run.run_id] = {
                **_flatten(recorded_fields(run.config)),
                "seed": run.seed,
                "run_id": run.run_id,
                **{name: _cell(value) for name, value in outcome.metrics.items()},
                "status": outcome.status,
                "error": outcome.error,
                "seconds": outcome.seconds,
                "spikeloc_version": version,
            }
        with _writing(self.runs_path, f"; it still holds the {recorded_before} runs recorded before"):
            self._write()

    def _write(self) -> None:
        rows = [self.rows[run.run_id] for run in self.study.runs if run.run_id in self.rows]
        table = pd.DataFrame(rows)
        leading = list(_flatten(recorded_fields(self.study.configs[0]))) + list(RUN_COLUMNS)
        metrics = [c for c in table.columns if c not in leading and c not in OUTCOME_COLUMNS]
        table = table[leading + metrics + list(OUTCOME_COLUMNS)]
        atomic_write(self.runs_path, table.to_csv(index=False))



def load_results(out_dir: str | os.PathLike) -> pd.DataFrame:
    """The results table of the study in ``out_dir``, in grid order.

    Config columns are rebuilt from ``study.json``, so they keep their types
    exactly; the other columns are parsed from ``runs.csv``.
    """
    directory = Path(out_dir)
    if not (directory / STUDY_FILE).exists():
        raise StudyDirectoryError(f"{directory} holds no study: {STUDY_FILE} is missing")
    description = _read_study_file(directory / STUDY_FILE)
    grid = _grid_frame(description)
    runs_path = directory / RUNS_FILE
    if not runs_path.exists():
        return grid.iloc[:0].assign(**{column: [] for column in OUTCOME_COLUMNS})
    runs = _read_runs_file(runs_path, description)
    runs = runs.drop(columns=[c for c in grid.columns if c != "run_id"], errors="ignore")
    return grid.merge(runs, on="run_id", how="inner", validate="one_to_one")
