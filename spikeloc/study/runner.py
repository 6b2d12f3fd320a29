"""A generic, resumable study runner.

A :class:`Study` is a grid of configs (frozen dataclass instances) times run
seeds.  Each (config, seed) pair is a *run* with a stable ``run_id``.  A run
function ``run_fn(config, seed) -> dict`` computes one run and returns a flat
dict of plain numbers/strings; the runner knows nothing about what it computes.

:func:`run_study` executes the pending runs of a study and keeps its results in
an output directory:

``study.json``
    The grid: study name, config type, configs (``dataclasses.asdict``, see :func:`recorded_fields`), seeds.
``runs.csv``
    One row per finished run: the config fields (flattened), ``seed``,
    ``run_id``, the metrics returned by the run function, ``status``
    (``"ok"``/``"failed"``), ``error`` (the reason a run failed), ``seconds``
    and ``spikeloc_version``.

Both files are replaced atomically (temporary file in the same directory,
fsync, ``os.replace``), and ``runs.csv`` is rewritten after every finished run
or batch, so a runner killed at any moment loses at most the runs in flight.
Running the same study on the same directory again resumes it: finished runs
are kept and never recomputed nor duplicated.  A directory holding another grid
is refused unless told: ``overwrite`` discards its results, ``extend`` keeps them
when this grid holds every one of their runs (a grid grown by configs or seeds).
The two files are read and written by :mod:`spikeloc.study.store`.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import operator
import pickle
import runpy
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

import spikeloc
from spikeloc import runtime
from spikeloc.runtime import configure, keep_freed_memory, release_freed_memory
from spikeloc.study import EXECUTORS
from spikeloc.study.store import (  # noqa: F401 (the errors, files and load_results are the runner's interface too)
    RESERVED_COLUMNS,
    RUNS_FILE,
    STATUSES,
    STUDY_FILE,
    DamagedResultsError,
    ForeignResultsError,
    StudyDirectoryError,
    UnusableDirectoryError,
    _canonical_json,
    _flatten,
    _locked,
    _ResultsStore,
    _writing,
    load_results,
    make_run_id,
    recorded_fields,
    with_recorded_defaults,
)

#: The Dask resource a task of runs on a GPU asks for, one unit per task: only workers that declare it
#: (``dask worker ADDRESS --resources GPU=1``) run such tasks, one at a time each.
GPU_RESOURCE = "GPU"

_log = logging.getLogger(__name__)


class StudyInterrupted(KeyboardInterrupt):
    """:func:`run_study` was stopped by SIGINT (Ctrl-C) or SIGTERM.

    The finished runs are recorded, the runs in flight are not, the workers are gone and the directory is
    unlocked; the message says how to resume.  A command line exits with :attr:`exit_status` (130 for
    SIGINT, 143 for SIGTERM: 128 + the signal number, as a shell reports a process killed by it).
    """

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.signal_number = signal_number

    @property
    def exit_status(self) -> int:
        return 128 + self.signal_number


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that the same clean stop follows."""

    signal_number = signal.SIGTERM


# --------------------------------------------------------------------------
# The grid


@dataclasses.dataclass(frozen=True)
class Run:
    """One (config, seed) pair of a study; ``index`` is its position in the grid."""

    config: Any
    seed: int
    run_id: str
    index: int


@dataclasses.dataclass(frozen=True)
class Study:
    """A grid of configs times seeds, and the function that computes one run.

    ``run_fn(config, seed) -> dict`` computes one run.  Optionally
    ``batch_run_fn([(config, seed), ...]) -> [dict, ...]`` computes several
    runs at once (e.g. as one batched ensemble model) and must return exactly
    what ``run_fn`` would return for each run; ``batch_key(config)`` says which
    configs may share a batch (default: all) and ``max_batch`` caps its size.
    Functions must be importable at module level so worker processes can
    unpickle them.
    """

    name: str
    configs: tuple
    seeds: tuple[int, ...]
    run_fn: Callable[[Any, int], Mapping[str, Any]]
    batch_run_fn: Callable[[list[tuple[Any, int]]], Sequence[Mapping[str, Any]]] | None = None
    batch_key: Callable[[Any], Hashable] | None = None
    max_batch: int = 64

    def __post_init__(self) -> None:
        object.__setattr__(self, "configs", tuple(self.configs))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        self._check_name()
        self._check_configs()
        self._check_seeds()
        self._check_functions()

    def _check_name(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("Study.name must be a non-empty string")

    def _check_configs(self) -> None:
        if not self.configs:
            raise ValueError("Study.configs must not be empty")
        if not all(dataclasses.is_dataclass(c) and not isinstance(c, type) for c in self.configs):
            raise TypeError("Study.configs must hold dataclass instances")
        types = {type(c) for c in self.configs}
        if len(types) > 1:
            names = sorted(t.__qualname__ for t in types)
            raise TypeError(f"Study.configs must all have the same type, got {names}")
        counts = Counter(self._config_json(c) for c in self.configs)
        duplicates = sorted(text for text, count in counts.items() if count > 1)
        if duplicates:
            raise ValueError(f"Study.configs must be unique, repeated: {duplicates}")
        clashes = sorted(RESERVED_COLUMNS & _flatten(recorded_fields(self.configs[0])).keys())
        if clashes:
            raise ValueError(f"config fields {clashes} clash with result columns")

    @staticmethod
    def _config_json(config: Any) -> str:
        try:
            return _canonical_json(recorded_fields(config))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"config {config!r} is not JSON-serialisable: {exc}") from exc

    def _check_seeds(self) -> None:
        if not self.seeds:
            raise ValueError("Study.seeds must not be empty")
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in self.seeds):
            raise TypeError(f"Study.seeds must be integers, got {self.seeds}")
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"Study.seeds must be unique, got {self.seeds}")

    def _check_functions(self) -> None:
        if not callable(self.run_fn):
            raise TypeError("Study.run_fn must be callable")
        if self.batch_run_fn is not None and not callable(self.batch_run_fn):
            raise TypeError("Study.batch_run_fn must be callable or None")
        if self.batch_key is not None and self.batch_run_fn is None:
            raise ValueError("Study.batch_key needs a batch_run_fn")
        if self.batch_key is not None and not callable(self.batch_key):
            raise TypeError("Study.batch_key must be callable or None")
        if not isinstance(self.max_batch, int) or self.max_batch < 1:
            raise ValueError(f"Study.max_batch must be a positive integer, got {self.max_batch!r}")

    @cached_property
    def runs(self) -> tuple[Run, ...]:
        """All runs in grid order (config-major, then seed)."""
        pairs = [(c, s) for c in self.configs for s in self.seeds]
        return tuple(
            Run(config, seed, make_run_id(recorded_fields(config), seed), index)
            for index, (config, seed) in enumerate(pairs)
        )

    def description(self) -> dict[str, Any]:
        """The grid as plain JSON data: what ``study.json`` holds."""
        config_type = type(self.configs[0])
        description = {
            "name": self.name,
            "config_type": f"{config_type.__module__}.{config_type.__qualname__}",
            "configs": [recorded_fields(c) for c in self.configs],
            "seeds": list(self.seeds),
        }
        return json.loads(json.dumps(description, allow_nan=False))  # tuples become lists


# --------------------------------------------------------------------------
# Executing runs (this part also runs inside worker processes)


@dataclasses.dataclass(frozen=True)
class _RunOutcome:
    """What one run produced: its metrics, status, failure reason and duration."""

    metrics: dict[str, Any]
    status: str
    error: str | None
    seconds: float

    @classmethod
    def failed(cls, reason: str, seconds: float = math.nan) -> _RunOutcome:
        return cls({}, "failed", reason, seconds)

    @classmethod
    def failure(cls, exc: BaseException, seconds: float = math.nan) -> _RunOutcome:
        return cls.failed(f"{type(exc).__name__}: {exc}", seconds)


def _plain(name: str, value: Any) -> Any:
    """A metric value as a plain Python number/string, or TypeError."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"metric {name!r} is a {type(value).__name__}, not a plain number or string")


def _outcome(result: Any, config: Any, seconds: float) -> _RunOutcome:
    """Check what a run function returned and turn it into a :class:`_RunOutcome`."""
    if not isinstance(result, Mapping):
        error = TypeError(f"run function returned a {type(result).__name__}, not a dict")
        return _RunOutcome.failure(error, seconds)
    metrics = dict(result)
    status = metrics.pop("status", "ok")
    error = metrics.pop("error", None)
    try:
        if not all(isinstance(name, str) for name in metrics):
            raise TypeError("metric names must be strings")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        clashes = sorted((RESERVED_COLUMNS | _flatten(recorded_fields(config)).keys()) & metrics.keys())
        if clashes:
            raise ValueError(f"metrics {clashes} clash with config or result columns")
        metrics = {name: _plain(name, value) for name, value in metrics.items()}
    except (TypeError, ValueError) as exc:
        return _RunOutcome.failure(exc, seconds)
    if status == "ok":
        return _RunOutcome(metrics, status, None, seconds)
    return _RunOutcome(metrics, status, str(error) if error else "run function reported failure", seconds)


def _execute_one(run_fn: Callable, runs: tuple[Run, ...]) -> list[_RunOutcome]:
    """Compute a single run with ``run_fn``; an exception becomes a failed run."""
    (run,) = runs
    start = time.perf_counter()
    try:
        result = run_fn(run.config, run.seed)
    except Exception as exc:
        return [_RunOutcome.failure(exc, time.perf_counter() - start)]
    return [_outcome(result, run.config, time.perf_counter() - start)]


def _execute_batch(batch_run_fn: Callable, runs: tuple[Run, ...]) -> list[_RunOutcome]:
    """Compute several runs at once; each run is charged an equal share of the time.

    If the batch function raises, every run of the batch fails with its reason.
    """
    start = time.perf_counter()
    try:
        results = list(batch_run_fn([(run.config, run.seed) for run in runs]))
        if len(results) != len(runs):
            raise ValueError(f"batch run function returned {len(results)} results for {len(runs)} runs")
    except Exception as exc:
        seconds = (time.perf_counter() - start) / len(runs)
        return [_RunOutcome.failure(exc, seconds) for _ in runs]
    seconds = (time.perf_counter() - start) / len(runs)
    return [_outcome(result, run.config, seconds) for result, run in zip(results, runs)]


@dataclasses.dataclass(frozen=True)
class _Task:
    """One unit of work sent to an executor: one run, or one batch of runs."""

    execute: Callable[[Callable, tuple[Run, ...]], list[_RunOutcome]]
    function: Callable
    runs: tuple[Run, ...]

    def __call__(self) -> list[_RunOutcome]:
        try:
            return self.execute(self.function, self.runs)
        finally:
            release_freed_memory()  # the task's tensors are freed: the worker waits for its next task lean

    @property
    def resources(self) -> dict[str, int] | None:
        """The Dask resources the task needs: one GPU if any of its runs computes on CUDA, else none."""
        return {GPU_RESOURCE: 1} if any(_on_gpu(run.config) for run in self.runs) else None


def _on_gpu(config: Any) -> bool:
    """Whether a run config computes on a GPU: its ``device`` names a CUDA device (``"auto"`` does not: it runs
    on whatever the worker has)."""
    device = getattr(config, "device", "cpu")
    return isinstance(device, str) and device.startswith("cuda")


def _plan_tasks(study: Study, pending: Sequence[Run], workers: int) -> list[_Task]:
    """Split the pending runs into tasks.

    Without a batch function every run is a task, in grid order.  With one, runs are grouped by
    ``batch_key``, each group is ordered seed by seed (grid order within a seed) and cut into chunks of at
    most ``max_batch`` runs, small enough that every worker gets a chunk.  Runs of one seed share what a batch
    computes once (an IPD ensemble's stimuli, the competing study's learned features), so a chunk that holds
    few seeds computes little twice; cutting in grid order (config-major) put every seed in every chunk.
    """
    if study.batch_run_fn is None:
        return [_Task(_execute_one, study.run_fn, (run,)) for run in pending]
    seed_position = {seed: position for position, seed in enumerate(study.seeds)}
    groups: dict[Hashable, list[Run]] = {}
    for run in sorted(pending, key=lambda run: (seed_position[run.seed], run.index)):
        key = study.batch_key(run.config) if study.batch_key else None
        groups.setdefault(key, []).append(run)
    tasks = []
    for runs in groups.values():
        size = min(study.max_batch, math.ceil(len(runs) / workers))
        for start in range(0, len(runs), size):
            tasks.append(_Task(_execute_batch, study.batch_run_fn, tuple(runs[start:start + size])))
    return tasks


def _collect(task: _Task, get_result: Callable[[], list[_RunOutcome]]) -> list[_RunOutcome]:
    """A finished task's outcomes; if the task itself broke (e.g. Dask gave up on it) every one of its runs
    fails with that reason."""
    try:
        return get_result()
    except Exception as exc:
        return [_RunOutcome.failure(exc) for _ in task.runs]


def available_cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _limit_worker_threads(threads: int) -> None:
    """Keep a worker's math libraries to ``threads`` threads (and let it reuse freed memory, see
    :func:`spikeloc.runtime.keep_freed_memory`).

    Libraries not loaded yet read the thread count from the environment when they load (torch takes its
    intra-op thread count from ``OMP_NUM_THREADS``), so torch is set directly only if it is loaded already:
    a worker whose run function never needs torch does not spend a second importing it.
    """
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    if "torch" in sys.modules:
        configure(threads)
    else:
        keep_freed_memory()


class _InlineExecutor:
    """Runs tasks one after another in this process."""

    workers = 1

    def __enter__(self) -> _InlineExecutor:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None

    def results(self, tasks: Sequence[_Task]) -> Iterator[tuple[_Task, list[_RunOutcome]]]:
        for task in tasks:
            yield task, task()


class _WorkerName(str):
    """The name of a worker process, pickled so that the new process, on unpickling it, first runs
    :mod:`spikeloc.runtime` by its file path as :data:`~spikeloc.runtime.WORKER_START`: it then dies with
    ``parent_pid`` from its first moments.

    ``spawn`` sends a new process its name first, before it imports the runner's main module (a study script
    importing torch: seconds, more on a loaded machine) and this module; a runner killed meanwhile left its
    workers alive 8-13 s.  The file is run by path, with the standard library only, so that nothing of
    spikeloc is imported before the process has the runner's ``sys.path``.  Unpickled, the name is a plain
    ``str``.
    """

    parent_pid: int

    def __new__(cls, name: str, parent_pid: int) -> _WorkerName:
        self = super().__new__(cls, name)
        self.parent_pid = parent_pid
        return self

    def __reduce__(self) -> tuple:
        start = _RunFile(runtime.__file__, {"parent_pid": self.parent_pid, "worker_name": str(self)})
        return operator.getitem, (start, "worker_name")


@dataclasses.dataclass(frozen=True)
class _RunFile:
    """Unpickled, the globals of ``path`` run as :data:`~spikeloc.runtime.WORKER_START` with ``init_globals``."""

    path: str
    init_globals: dict[str, Any]

    def __reduce__(self) -> tuple:
        return runpy.run_path, (self.path, self.init_globals, runtime.WORKER_START)


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Block SIGINT in this thread while it starts a worker: the worker inherits the blocked signal and so
    cannot be interrupted by Ctrl-C (which the terminal sends to the whole process group) while it imports,
    which printed a traceback per worker; it ignores SIGINT once it runs (:func:`_worker_main`).  A Ctrl-C
    that reaches this process meanwhile waits, and is delivered when the block ends."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


class _StopRequest:
    """SIGTERM in a worker process: a request to stop, acted on where the worker's own code is running (it
    raises nothing inside a run, where numba or llvmlite callbacks once swallowed the ``SystemExit`` and the
    worker kept computing).  A worker waiting for its next task exits at once; one computing a task exits
    when the task returns, without sending its outcomes; the runner kills it if that takes longer than
    :attr:`_ProcessExecutor.STOP_SECONDS`."""

    def __init__(self) -> None:
        self.requested = False
        self.waiting = False

    def __call__(self, signal_number: int, frame: Any) -> None:
        self.requested = True
        if self.waiting:  # in connection.recv_bytes: this worker's own code, safe to leave
            raise SystemExit(128 + signal_number)


def _worker_main(connection: multiprocessing.connection.Connection, parent_pid: int, threads: int,
                 gpu: int | None = None) -> None:
    """A worker process: compute the pickled tasks received on ``connection`` one at a time and send back
    their outcomes, until the runner closes the connection or sends SIGTERM (:class:`_StopRequest`). With
    ``gpu`` it sees only that GPU (set before anything starts CUDA), so a run's ``"cuda"`` is this worker's GPU.

    It dies with the runner from its start (:class:`_WorkerName`; again here, in case that did not run);
    Ctrl-C, which reaches the whole process group, is the runner's to act on; tqdm's bars share a thread lock
    rather than the multiprocessing lock tqdm makes by default, a named semaphore that a killed worker left
    behind for the resource tracker to warn of ("leaked semaphore objects") when the study ended.
    """
    runtime.die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # held since the start (_sigint_held)
    stop = _StopRequest()
    signal.signal(signal.SIGTERM, stop)
    tqdm.set_lock(threading.RLock())
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    _limit_worker_threads(threads)
    while not stop.requested:
        try:
            stop.waiting = True
            payload = connection.recv_bytes()
        except EOFError:  # the runner is done
            return
        finally:
            stop.waiting = False
        try:
            outcomes: list[_RunOutcome] | str = pickle.loads(payload)()
        except Exception as exc:  # e.g. a run function that this process cannot import
            outcomes = f"{type(exc).__name__}: {exc}"
        if not stop.requested:
            connection.send(outcomes)


def _death_reason(exitcode: int | None) -> str:
    """Why a worker process ended, from its exit code (negative: the signal that killed it)."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        cause = " (killed from outside or by the out-of-memory killer)" if -exitcode == signal.SIGKILL else ""
        return f"worker process was killed by {name}{cause}"
    return f"worker process exited with status {exitcode}"


@dataclasses.dataclass
class _Worker:
    """A worker process, the runner's end of its connection, and the task it is computing (if any)."""

    process: multiprocessing.process.BaseProcess
    connection: multiprocessing.connection.Connection
    task: _Task | None = None


class _ProcessExecutor:
    """Runs tasks in local worker processes started with ``spawn``, one task per worker at a time.

    Each worker gets ``cores // workers`` math-library threads (at least one) so the workers together do
    not oversubscribe the machine, and dies with the runner (:func:`spikeloc.runtime.die_with_parent`).  A
    worker that dies (killed, out of memory) is replaced by a fresh one and its task is run once more; if that
    worker dies too, the task's runs are recorded failed with the reason.  Workers computing other tasks go on
    undisturbed.  Leaving :meth:`results` early (Ctrl-C, SIGTERM, an error) terminates every worker, so
    the runs in flight are neither recorded nor left computing.  With ``gpus`` there is one worker per GPU
    index, worker i seeing only GPU ``gpus[i]`` (its replacement too).
    """

    ATTEMPTS = 2
    #: How long a stopped worker may take to finish its task before it is killed (:meth:`_stop`).
    STOP_SECONDS = 2.0

    def __init__(self, workers: int | None, gpus: Sequence[int] = ()) -> None:
        self.gpus = tuple(gpus)
        self.workers = len(self.gpus) or workers or available_cores()

    def __enter__(self) -> _ProcessExecutor:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None

    def results(self, tasks: Sequence[_Task]) -> Iterator[tuple[_Task, list[_RunOutcome]]]:
        size = min(self.workers, len(tasks))
        threads = max(1, available_cores() // size)
        context = multiprocessing.get_context("spawn")
        workers = [self._start(context, threads, self._gpu(i)) for i in range(size)]
        waiting = collections.deque(tasks)
        deaths: Counter[int] = Counter()  # id(task) -> workers that died computing it
        try:
            while waiting or any(worker.task for worker in workers):
                for worker in workers:
                    while worker.task is None and waiting:
                        refused = self._hand_over(worker, waiting.popleft())
                        if refused:
                            yield refused
                busy = [worker for worker in workers if worker.task]
                if not busy:  # the last waiting tasks could not be sent
                    break
                ready = multiprocessing.connection.wait(
                    [worker.connection for worker in busy] + [worker.process.sentinel for worker in busy])
                for index, worker in enumerate(workers):
                    if worker.task is None or not {worker.connection, worker.process.sentinel} & set(ready):
                        continue
                    task, worker.task = worker.task, None
                    outcomes = self._receive(worker, task)
                    if outcomes is not None:
                        yield task, outcomes
                        continue
                    reason = _death_reason(worker.process.exitcode)
                    workers[index] = self._start(context, threads, self._gpu(index))
                    deaths[id(task)] += 1
                    if deaths[id(task)] < self.ATTEMPTS:
                        _log.warning("%s during %d run(s); running them again in a fresh worker",
                                     reason, len(task.runs))
                        waiting.appendleft(task)
                    else:
                        reason = f"{reason}, on each of {self.ATTEMPTS} attempts"
                        yield task, [_RunOutcome.failed(reason) for _ in task.runs]
        finally:
            self._stop(workers)

    def _gpu(self, index: int) -> int | None:
        return self.gpus[index] if self.gpus else None

    @staticmethod
    def _start(context: multiprocessing.context.BaseContext, threads: int, gpu: int | None = None) -> _Worker:
        ours, theirs = context.Pipe()
        process = context.Process(target=_worker_main, args=(theirs, os.getpid(), threads, gpu), daemon=True,
                                  name=_WorkerName("spikeloc-study-worker", os.getpid()))
        with _sigint_held():
            process.start()
        theirs.close()
        return _Worker(process, ours)

    @staticmethod
    def _hand_over(worker: _Worker, task: _Task) -> tuple[_Task, list[_RunOutcome]] | None:
        """Send ``task`` to an idle worker; a task that cannot be pickled fails at once (returned)."""
        try:
            payload = pickle.dumps(task)
        except Exception as exc:
            return task, [_RunOutcome.failure(exc) for _ in task.runs]
        worker.task = task
        with contextlib.suppress(OSError):  # a worker that died already: its sentinel tells
            worker.connection.send_bytes(payload)
        return None

    @staticmethod
    def _receive(worker: _Worker, task: _Task) -> list[_RunOutcome] | None:
        """The outcomes of ``task`` a worker sent back, or None if it died first (then it is joined)."""
        try:
            if worker.connection.poll():
                outcomes = worker.connection.recv()
                if isinstance(outcomes, str):  # the worker could not compute the task: the reason why
                    return [_RunOutcome.failed(outcomes) for _ in task.runs]
                return outcomes
        except (EOFError, OSError):
            pass
        worker.connection.close()
        worker.process.join()
        return None

    @classmethod
    def _stop(cls, workers: Sequence[_Worker]) -> None:
        """End every worker now, busy or not: SIGTERM (an idle worker exits at once, a busy one when its task
        returns, see :class:`_StopRequest`), then SIGKILL for those still computing after
        :attr:`STOP_SECONDS`."""
        for worker in workers:
            worker.connection.close()
            worker.process.terminate()
        deadline = time.monotonic() + cls.STOP_SECONDS
        for worker in workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "executor='dask' needs dask.distributed; install it with "
            "`pip install 'dask[distributed]'`"
        ) from exc
    return distributed


class SchedulerUnreachable(RuntimeError):
    """No Dask scheduler answered at the address given, within dask's connect timeout."""


def _connect(distributed: Any, address: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``, or :class:`SchedulerUnreachable` saying how
    long it waited (dask's ``distributed.comm.timeouts.connect``, 30 s unless configured)."""
    start = time.monotonic()
    try:
        return distributed.Client(address)
    except OSError as exc:
        import dask

        timeout = dask.config.get("distributed.comm.timeouts.connect")
        raise SchedulerUnreachable(
            f"no Dask scheduler answered at {address}: gave up after {time.monotonic() - start:.1f} s "
            f"(dask's distributed.comm.timeouts.connect = {timeout})") from exc


class NoGPUWorkers(RuntimeError):
    """Runs on a GPU were sent to a Dask cluster none of whose workers declares the GPU resource."""


def _gpu_workers(client: Any, address: str) -> int:
    """How many workers of the cluster declare the :data:`GPU_RESOURCE`; :class:`NoGPUWorkers` if none does
    (tasks asking for it would wait for ever)."""
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    count = sum(1 for worker in workers if worker.get("resources", {}).get(GPU_RESOURCE, 0) >= 1)
    if count == 0:
        raise NoGPUWorkers(
            f"none of the {len(workers)} workers of the Dask scheduler at {address} declares a {GPU_RESOURCE} "
            f"resource, and runs on a GPU go only to workers that do: start one per GPU with "
            f"`CUDA_VISIBLE_DEVICES=i dask worker {address} --nthreads 1 --resources {GPU_RESOURCE}=1`")
    return count


def check_scheduler(address: str, gpu: bool = False) -> None:
    """Connect to the Dask scheduler at ``address`` and disconnect: :class:`SchedulerUnreachable` if none
    answers, and with ``gpu`` :class:`NoGPUWorkers` if no worker declares the GPU resource (a command line
    checks this before it writes anything)."""
    with _connect(_import_distributed(), address) as client:
        if gpu:
            _gpu_workers(client, address)


class _DaskExecutor:
    """Runs tasks on a dask.distributed cluster.

    ``scheduler="local"`` starts a ``LocalCluster`` of ``workers`` single-threaded
    worker processes for the duration of the study; ``"tcp://host:port"``
    connects to an existing scheduler (``workers`` then defaults to the
    cluster's thread count and only guides batch chunking).

    ``gpu``: some runs compute on a GPU. Their tasks ask for one unit of :data:`GPU_RESOURCE` each, so only
    workers that declare it run them (the other tasks run anywhere). The workers of a local cluster then
    declare one GPU each; an existing cluster must have at least one such worker when the study starts
    (else :class:`NoGPUWorkers`, before any run), and ``workers`` defaults to their number.
    """

    def __init__(self, scheduler: str, workers: int | None, gpu: bool = False) -> None:
        self.scheduler = scheduler
        self.workers = workers
        self.gpu = gpu

    def __enter__(self) -> _DaskExecutor:
        distributed = _import_distributed()
        with contextlib.ExitStack() as stack:
            if self.scheduler == "local":
                self.workers = self.workers or available_cores()
                cluster = stack.enter_context(distributed.LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, resources={GPU_RESOURCE: 1} if self.gpu else None,
                ))
                address = cluster.scheduler_address
            else:
                address = self.scheduler
            self._client = stack.enter_context(_connect(distributed, address))
            gpu_workers = _gpu_workers(self._client, address) if self.gpu else 0
            # each task thread of a worker computes with one math-library thread: no oversubscription
            self._client.run(_limit_worker_threads, 1)
            self.workers = self.workers or gpu_workers or max(1, sum(self._client.nthreads().values()))
            self._resources = stack.pop_all()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._resources.close()

    def results(self, tasks: Sequence[_Task]) -> Iterator[tuple[_Task, list[_RunOutcome]]]:
        distributed = _import_distributed()
        futures = {self._client.submit(task, pure=False, resources=task.resources): task for task in tasks}
        try:
            for future in distributed.as_completed(list(futures)):
                task = futures[future]
                yield task, _collect(task, future.result)
        finally:
            self._client.cancel(list(futures))


def _make_executor(executor: str, workers: int | None, scheduler: str | None, gpus: Sequence[int] = (),
                   gpu: bool = False):
    """The executor named by ``run_study``'s arguments, after checking them (``gpu``: some runs are on a GPU)."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if gpus and (executor != "processes" or workers is not None):
        raise ValueError("gpus (one worker per GPU) needs executor='processes' and workers unset")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    if scheduler is not None and executor != "dask":
        raise ValueError("scheduler is only used with executor='dask'")
    if executor == "inline":
        if workers not in (None, 1):
            raise ValueError("executor='inline' runs one run at a time; leave workers unset")
        return _InlineExecutor()
    if executor == "processes":
        return _ProcessExecutor(workers, gpus)
    return _DaskExecutor(scheduler or "local", workers, gpu)


# --------------------------------------------------------------------------
# Entry points


def run_study(
    study: Study,
    out_dir: str | os.PathLike,
    *,
    executor: str = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    extend: bool = False,
    retry_failed: bool = False,
    repair: bool = False,
    quiet: bool = False,
    version: str | None = None,
    gpus: Sequence[int] = (),
) -> pd.DataFrame:
    """Run every pending run of ``study``, keeping results in ``out_dir``.

    ``executor`` is ``"inline"`` (this process, one run at a time),
    ``"processes"`` (``workers`` local processes, default one per core) or
    ``"dask"`` (``scheduler="local"`` starts a LocalCluster of ``workers``
    processes; ``scheduler="tcp://host:port"`` uses an existing cluster).
    Runs already in ``out_dir`` are kept; failed ones are run again only with
    ``retry_failed=True``.  ``overwrite=True`` discards whatever results
    ``out_dir`` holds, even of a different study.  ``extend=True`` accepts results of a smaller grid of this
    study (the same name and config type, each of its configs and seeds in this grid): they are kept, and
    only this grid's other runs are computed.  A ``runs.csv`` with rows that cannot be used (cut short,
    edited, a run marked ok whose metric is empty) is refused with :class:`DamagedResultsError`; with
    ``repair=True`` it is copied aside and its intact rows kept, the others run again.  ``version`` is recorded in
    each row (default: the installed spikeloc version).  ``gpus`` (GPU indices, processes only): one worker
    per GPU, each seeing only its own (``CUDA_VISIBLE_DEVICES``), so runs configured for ``"cuda"`` spread
    over the GPUs.  With Dask, tasks of runs on a GPU (configs whose ``device`` is ``"cuda"`` or
    ``"cuda:N"``) go only to workers that declare the ``GPU`` resource (see :class:`_DaskExecutor`).

    A directory that holds another study's results, damaged results or is in use by another runner is
    refused before any run with an :class:`UnusableDirectoryError`. Configs with a ``check_memory()`` method
    (:class:`spikeloc.memory.MemoryChecked`) are asked first whether their runs fit in this machine's memory;
    its error is raised before anything is written.

    Faults: a directory that cannot be written fails before any run (or, if it fills up, at the first
    write) with one :class:`StudyDirectoryError` naming it, the rows already written intact.  SIGINT
    (Ctrl-C) and SIGTERM stop the study cleanly: the workers are ended, the runs in flight are not
    recorded, the directory is unlocked and :class:`StudyInterrupted` says how to resume.  Local worker
    processes die with the runner however it dies; one that dies itself is replaced and its runs are
    tried once more before they are recorded failed (see :class:`_ProcessExecutor`).

    Returns the full results table, read back from disk, in grid order.
    """
    if overwrite and extend:
        raise ValueError("run_study: pass overwrite=True or extend=True, not both")
    for config in study.configs:  # machine resources, before anything is written (spikeloc.memory.MemoryChecked)
        if hasattr(config, "check_memory"):
            config.check_memory()
    chosen_executor = _make_executor(executor, workers, scheduler, gpus, any(_on_gpu(c) for c in study.configs))
    directory = Path(out_dir)
    with _writing(directory):
        directory.mkdir(parents=True, exist_ok=True)
    version = version if version is not None else spikeloc.__version__
    with _locked(directory):
        store = _ResultsStore(directory, study, overwrite, extend, repair)
        pending = store.pending_runs(retry_failed)
        if pending:
            try:
                with _sigterm_raises(), chosen_executor, _progress_bar(study, len(pending), quiet) as bar:
                    tasks = _plan_tasks(study, pending, chosen_executor.workers)
                    with contextlib.closing(chosen_executor.results(tasks)) as results:
                        for task, outcomes in results:
                            store.record(task.runs, outcomes, version)
                            bar.update(len(task.runs))
            except KeyboardInterrupt as stop:
                raise _interrupted(study, directory, getattr(stop, "signal_number", signal.SIGINT)) from None
    return load_results(directory)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While active, SIGTERM raises :class:`_Terminated` (Python runs signal handlers in the main thread
    only, so elsewhere this does nothing and SIGTERM keeps its effect)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signal_number: int, frame: Any) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _interrupted(study: Study, directory: Path, signal_number: int) -> StudyInterrupted:
    """The one-line report of a stopped study: what is kept and how to resume."""
    kept = len(load_results(directory))
    return StudyInterrupted(
        f"{study.name} stopped by {signal.Signals(signal_number).name}: {kept} of {len(study.runs)} runs are "
        f"recorded in {directory / RUNS_FILE}, the runs in flight are not; to resume, run it again with the "
        "same output directory", signal_number)


def _progress_bar(study: Study, pending: int, quiet: bool) -> tqdm:
    total = len(study.runs)
    return tqdm(total=total, initial=total - pending, desc=study.name, unit="run",
                file=sys.stderr, disable=quiet)


def finished_results(study: Study, out_dir: str | os.PathLike, *, repair: bool = False) -> pd.DataFrame:
    """The runs of ``study`` finished in ``out_dir`` (e.g. of a study stopped early), computing nothing: the
    checks of :func:`run_study` (the directory is locked, its ``study.json`` must describe exactly this grid,
    ``runs.csv`` must be intact unless ``repair``), then its table as :func:`load_results` reads it."""
    directory = Path(out_dir)
    if not (directory / STUDY_FILE).is_file():
        raise UnusableDirectoryError(f"{directory} holds no results of a study: {directory / STUDY_FILE} is "
                                     "missing")
    with _locked(directory):
        _ResultsStore(directory, study, repair=repair, existing=True)
        return load_results(directory)
