"""The study runner under faults, with real processes and real signals.

A small grid (6 configs x 1 seed of ``score`` from tests/test_study.py, each run sleeping
``SPIKELOC_TEST_SLEEP`` seconds) runs as a study script in a subprocess with 2 worker processes; the tests
kill the runner or a worker, interrupt the runner, or take away its right to write, and check what is left
behind: processes, rows, the lock, the exit status and the message.

Every process of one such run carries a unique ``SPIKELOC_FAULT_TAG`` in its environment (workers inherit
it), so the tests find them in ``/proc`` even after they have been re-parented.  As root, a ``chmod``'ed
directory is still writable; the read-only test therefore drops ``CAP_DAC_OVERRIDE`` from the runner
subprocess (what an ordinary user lacks anyway), so the kernel refuses the writes as it would for them.
"""

from __future__ import annotations

import ctypes
import dataclasses
import fcntl
import importlib
import importlib.util
import os
import re
import resource
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
from test_study import HELPERS, REPO_ROOT, calls, helpers, key_of_row

from spikeloc.study.cli import run_and_summarise, run_script, study_parser
from spikeloc.study.runner import RUNS_FILE, STUDY_FILE, Study, load_results, run_study

SHARED_FIXTURES = (helpers, calls)  # from tests/test_study.py: the fake run functions and their call counts
pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")

FAULT_HELPERS = "spikeloc_fault_test_helpers"
FAULT_HELPERS_SOURCE = f'''
"""Run functions for tests/test_study_faults.py (imported by worker processes too)."""
import os
import signal
import time
from pathlib import Path

from tqdm import tqdm

from {HELPERS} import call_key, score


def score_noting_pid(config, seed):
    """score(), first leaving a file named by this process's pid and the run, so a test can kill it mid-run.
    Runs with a > 1 last $SPIKELOC_TEST_LONG_RUNS seconds longer (default 0), as a long ensemble would.
    Each run makes a (silent) progress bar, as training does."""
    tqdm(disable=True).close()
    Path(os.environ["SPIKELOC_TEST_PIDS"], f"{{os.getpid()}}-run-{{call_key(config.a, config.b, seed)}}").touch()
    result = score(config, seed)
    if config.a > 1:
        time.sleep(float(os.environ.get("SPIKELOC_TEST_LONG_RUNS", "0")))
    return result


def score_swallowing_exceptions(config, seed):
    """score_noting_pid(), swallowing any exception raised meanwhile, as a numba or llvmlite callback does
    with one raised inside it."""
    try:
        return score_noting_pid(config, seed)
    except BaseException:
        return score(config, seed)


def score_killing_its_worker_at_a2(config, seed):
    """score(), except that runs with a == 2 SIGKILL the process computing them."""
    result = score(config, seed)
    if config.a == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return result
'''

SCRIPT = '''
import os
import time
from pathlib import Path

from spikeloc.study.cli import run_and_summarise, run_script, study_parser
from spikeloc.study.runner import Study
from {helpers} import grid
from {fault_helpers} import {run_function}

if __name__ == "__mp_main__" and "SPIKELOC_TEST_STARTING" in os.environ:  # a worker imports this script first:
    Path(os.environ["SPIKELOC_TEST_STARTING"], str(os.getpid())).touch()  # linger as torch's import would
    time.sleep(60)


def main():
    args = study_parser("fault test", ["small"], "unused").parse_args()
    run_and_summarise(Study("faults", grid(), (0,), {run_function}), args, by=["a", "b"], metrics=["score"])


if __name__ == "__main__":
    run_script(main, "faults")
'''

LIBRARY_SCRIPT = '''
import sys
from spikeloc.study.cli import run_script
from spikeloc.study.runner import Study, run_study
from {helpers} import grid
from {fault_helpers} import score_noting_pid


if __name__ == "__main__":  # the study through run_study itself, without the command line's checks
    out = sys.argv[sys.argv.index("--out") + 1]
    run_script(lambda: run_study(Study("faults", grid(), (0,), score_noting_pid), out, workers=2, quiet=True),
               "faults")
'''

GRID_SIZE = 6
SLEEP = "0.5"  # seconds per run: long enough to hit runs in flight, short enough for a fast test
LONG_RUNS = "60"  # seconds more for runs with a > 1: a runner or worker that waits for them fails the test
_PR_CAPBSET_DROP = 24  # <linux/prctl.h>
_CAP_DAC_OVERRIDE = 1  # <linux/capability.h>


@pytest.fixture(scope="session")
def fault_helpers(helpers):  # noqa: F811
    """The fault helper module, next to (and importing) tests/test_study.py's helper module."""
    Path(helpers.__file__).with_name(f"{FAULT_HELPERS}.py").write_text(textwrap.dedent(FAULT_HELPERS_SOURCE))
    return importlib.import_module(FAULT_HELPERS)


@pytest.fixture
def pids(tmp_path, monkeypatch):
    """Directory where score_noting_pid leaves a '<pid>-run-<key>' file per run started."""
    directory = tmp_path / "pids"
    directory.mkdir()
    monkeypatch.setenv("SPIKELOC_TEST_PIDS", str(directory))
    return directory


def started_runs(directory: Path) -> list[tuple[int, str]]:
    """(pid, run key) of every run started so far, oldest first."""
    files = sorted(directory.iterdir(), key=lambda path: path.stat().st_mtime_ns)
    return [(int(pid), key) for pid, key in (path.name.split("-", 1) for path in files)]


# --------------------------------------------------------------------------
# Processes


@dataclasses.dataclass(frozen=True)
class Proc:
    """A process, told apart from a later one with the same pid by its start time."""

    pid: int
    start: int

    def status(self) -> dict[str, str] | None:
        """Its /proc status fields, or None if it is gone (exited, or a zombie that holds no memory)."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            fields = dict(line.split(":\t", 1) for line in Path(f"/proc/{self.pid}/status").read_text().splitlines())
        except (FileNotFoundError, ProcessLookupError):
            return None
        state, start = stat.rsplit(")", 1)[1].split()[0], int(stat.rsplit(")", 1)[1].split()[19])
        return None if state in ("Z", "X") or start != self.start else fields

    def rss_mb(self) -> float:
        status = self.status()
        return int(status.get("VmRSS", "0 kB").split()[0]) / 1024 if status else 0.0


def tagged_processes(tag: str) -> list[Proc]:
    """Live processes whose environment holds SPIKELOC_FAULT_TAG=tag: a runner and everything it started."""
    needle = f"SPIKELOC_FAULT_TAG={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            start = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[19])
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        proc = Proc(int(entry.name), start)
        if proc.status():
            found.append(proc)
    return found


def wait_until_gone(procs: list[Proc], timeout: float) -> tuple[list[Proc], float]:
    """The processes still alive after at most ``timeout`` seconds, and the seconds waited."""
    start = time.monotonic()
    alive = [proc for proc in procs if proc.status()]
    while alive and time.monotonic() - start < timeout:
        time.sleep(0.05)
        alive = [proc for proc in alive if proc.status()]
    return alive, time.monotonic() - start


def default_sigint(then=None) -> None:
    """Subprocess set-up: Ctrl-C's default action, even where pytest itself runs with SIGINT ignored (a
    background job of a non-interactive shell, e.g. under nohup) or blocked in its thread's signal mask (which
    exec keeps), either of which the child would inherit and so never see a KeyboardInterrupt; then
    ``then()``."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if then is not None:
        then()


class Runner:
    """The fault test study script running in a subprocess of its own session, with ``options`` (e.g. 2
    worker processes)."""

    def __init__(self, tmp_path: Path, out: Path, options: tuple[str, ...], preexec_fn=None,
                 source: str = SCRIPT, run_function: str = "score_noting_pid") -> None:
        script = tmp_path / "fault_study.py"
        script.write_text(source.format(helpers=HELPERS, fault_helpers=FAULT_HELPERS, run_function=run_function))
        self.tag = uuid.uuid4().hex
        env = {**os.environ, "SPIKELOC_TEST_SLEEP": SLEEP, "SPIKELOC_FAULT_TAG": self.tag}
        self.process = subprocess.Popen(
            [sys.executable, str(script), "--out", str(out), "--quiet", *options],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
            preexec_fn=lambda: default_sigint(preexec_fn))
        self.pid = self.process.pid

    def wait_for(self, condition, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"the study ended before {what}: {self.process.stderr.read()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)

    def workers(self) -> list[Proc]:
        return [proc for proc in tagged_processes(self.tag) if proc.pid != self.pid]

    def finish(self, timeout: float = 60) -> tuple[int, list[str]]:
        """Wait for the runner; its exit status and the lines it wrote to stderr."""
        _, stderr = self.process.communicate(timeout=timeout)
        return self.process.returncode, stderr.strip().splitlines() or [""]

    def clean_up(self) -> None:
        """End whatever is left of this run (only if a test failed half-way)."""
        for proc in tagged_processes(self.tag):
            os.kill(proc.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


@pytest.fixture
def runner(fault_helpers, tmp_path, pids):
    started = []

    def start(out: Path, options: tuple[str, ...] = ("--workers", "2"), preexec_fn=None,
              source: str = SCRIPT, run_function: str = "score_noting_pid") -> Runner:
        started.append(Runner(tmp_path, out, options, preexec_fn, source, run_function))
        return started[-1]

    yield start
    for each in started:
        each.clean_up()


def assert_each_run_recorded_once(table: pd.DataFrame) -> None:
    assert len(table) == GRID_SIZE and table["run_id"].is_unique and (table["status"] == "ok").all()


# --------------------------------------------------------------------------
# The runner dies


@pytest.mark.parametrize("options", [
    ("--workers", "2"),
    pytest.param(("--scheduler", "local", "--workers", "2"), marks=[
        pytest.mark.slow, pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="no dask")]),
], ids=["processes", "dask"])
def test_sigkill_of_the_runner_takes_its_workers_along(helpers, fault_helpers, runner, tmp_path, calls, pids,
                                                       monkeypatch, options):
    out = tmp_path / "out"
    monkeypatch.setenv("SPIKELOC_TEST_LONG_RUNS", LONG_RUNS)
    study = runner(out, options)
    # the two quick runs (a = 1) are recorded and both workers are in long runs, which they would finish
    study.wait_for(lambda: len(started_runs(pids)) == 4, "4 runs")
    # a run is recorded after it returns, a moment later (Dask collects results asynchronously)
    study.wait_for(lambda: (out / RUNS_FILE).exists() and len(load_results(out)) == 2, "the 2 quick runs recorded")
    children = study.workers()  # the workers and multiprocessing's resource tracker
    rss = sum(proc.rss_mb() for proc in children)

    os.kill(study.pid, signal.SIGKILL)
    study.process.wait()
    left, waited = wait_until_gone(children, timeout=10)
    print(f"\nSIGKILL runner {study.pid} ({' '.join(options)}): {len(children)} child processes "
          f"{sorted(p.pid for p in children)} "
          f"holding {rss:.0f} MB RSS; {len(left)} left after {waited:.2f} s, "
          f"{sum(p.rss_mb() for p in left):.0f} MB RSS left")
    assert not left and not tagged_processes(study.tag)

    finished = load_results(out)
    assert len(finished) == 2
    monkeypatch.setenv("SPIKELOC_TEST_SLEEP", "0")
    monkeypatch.setenv("SPIKELOC_TEST_LONG_RUNS", "0")
    before = calls()
    table = run_study(Study("faults", helpers.grid(), (0,), fault_helpers.score_noting_pid), out,
                      executor="inline", quiet=True)
    assert_each_run_recorded_once(table)
    rerun = calls() - before
    assert sorted(rerun) == sorted(key_of_row(helpers, row) for _, row in table.iterrows()
                                   if row["run_id"] not in set(finished["run_id"]))
    pd.testing.assert_frame_equal(table[table["run_id"].isin(finished["run_id"])].reset_index(drop=True),
                                  finished)
    print(f"rerun: {len(finished)} rows kept, {sum(rerun.values())} runs computed, {len(table)}/{GRID_SIZE} rows, "
          "each run once")


@pytest.fixture
def starting(tmp_path, monkeypatch):
    """Directory where each worker leaves a file named by its pid when it starts importing the study script, in
    which it then lingers (SCRIPT), as a worker importing torch does for seconds."""
    directory = tmp_path / "starting"
    directory.mkdir()
    monkeypatch.setenv("SPIKELOC_TEST_STARTING", str(directory))
    return directory


def test_sigkill_of_the_runner_while_its_workers_start_takes_them_along(runner, tmp_path, starting):
    """The parent-death signal was set only once a worker had imported everything: 8-13 s of orphans."""
    study = runner(tmp_path / "out")
    study.wait_for(lambda: len(list(starting.iterdir())) == 2, "2 workers importing the script")
    children = study.workers()

    os.kill(study.pid, signal.SIGKILL)
    study.process.wait()
    left, waited = wait_until_gone(children, timeout=30)
    print(f"\nSIGKILL runner while its workers start: {len(children)} child processes, {len(left)} left after "
          f"{waited:.2f} s")
    assert not left and not tagged_processes(study.tag)


def test_ctrl_c_while_workers_start_is_one_line_without_their_tracebacks(runner, tmp_path, starting):
    study = runner(tmp_path / "out")
    study.wait_for(lambda: len(list(starting.iterdir())) == 2, "2 workers importing the script")
    children = study.workers()

    os.killpg(study.pid, signal.SIGINT)
    status, lines = study.finish()
    left, _ = wait_until_gone(children, timeout=30)
    print(f"\nCtrl-C while workers start: exit status {status}; stderr {lines}")
    assert status == 130 and len(lines) == 1 and lines[0].startswith("faults: faults stopped by SIGINT: 0 of 6 ")
    assert not left


# --------------------------------------------------------------------------
# The runner is stopped


@pytest.mark.parametrize("signal_number, exit_status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_and_sigterm_stop_cleanly(helpers, fault_helpers, runner, tmp_path, calls, pids, monkeypatch,
                                         signal_number, exit_status):
    out = tmp_path / "out"
    monkeypatch.setenv("SPIKELOC_TEST_LONG_RUNS", LONG_RUNS)
    study = runner(out, ("--workers", "1"))
    study.wait_for(lambda: len(started_runs(pids)) == 3, "3 runs")  # 2 quick ones done, a long one in flight
    children = study.workers()

    if signal_number == signal.SIGINT:
        os.killpg(study.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground process group
    else:
        os.kill(study.pid, signal.SIGTERM)
    status, (*_, message) = study.finish(timeout=30)  # not waiting for the run in flight
    left, waited = wait_until_gone(children, timeout=5)
    name = signal.Signals(signal_number).name
    print(f"\n{name}: exit status {status}; {len(left)} of {len(children)} child processes left "
          f"{waited:.2f} s after the runner exited; last line: {message}")

    kept = load_results(out)
    expected = (rf"faults: faults stopped by {name}: {len(kept)} of {GRID_SIZE} runs are recorded in "
                rf"{re.escape(str(out / RUNS_FILE))}, the runs in flight are not; "
                "to resume, run it again with the same output directory")
    assert status == exit_status and re.fullmatch(expected, message)
    assert not left and not tagged_processes(study.tag)
    with open(out / ".lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released
    kept_keys = {key_of_row(helpers, row) for _, row in kept.iterrows()}
    in_flight = {key for _, key in started_runs(pids)} - kept_keys
    assert len(kept) == 2 and (kept["status"] == "ok").all() and len(in_flight) == 1
    assert all(calls()[key] == 1 for key in kept_keys)

    monkeypatch.setenv("SPIKELOC_TEST_SLEEP", "0")
    monkeypatch.setenv("SPIKELOC_TEST_LONG_RUNS", "0")
    table = run_study(Study("faults", helpers.grid(), (0,), fault_helpers.score_noting_pid), out,
                      executor="inline", quiet=True)
    assert_each_run_recorded_once(table)
    assert all(calls()[key] == 1 for key in kept_keys) and all(calls()[key] == 2 for key in in_flight)


# --------------------------------------------------------------------------
# A worker dies


def test_sigkill_of_a_worker_mid_run_retries_its_run_in_a_fresh_worker(helpers, runner, tmp_path, calls, pids):
    out = tmp_path / "out"
    study = runner(out)
    study.wait_for(lambda: any(pids.iterdir()), "a run")
    victim, key = started_runs(pids)[0]

    os.kill(victim, signal.SIGKILL)
    status, lines = study.finish()
    warning = lines[0]
    table = load_results(out)
    called = calls()
    print(f"\nSIGKILL worker {victim} during run {key}: {warning}\nrunner exit status {status}; {key} computed "
          f"{called[key]} times, the other runs once; {int((table['status'] == 'ok').sum())}/{GRID_SIZE} rows ok")
    assert status == 0
    assert warning == ("worker process was killed by SIGKILL (killed from outside or by the out-of-memory killer) "
                       "during 1 run(s); running them again in a fresh worker")
    assert_each_run_recorded_once(table)
    assert called[key] == 2 and all(n == 1 for other, n in called.items() if other != key)
    assert not tagged_processes(study.tag)
    assert not [line for line in lines if "leaked semaphore" in line], lines  # the resource tracker's warning


def test_a_worker_told_to_stop_stops_after_its_run_even_if_the_run_swallows_exceptions(helpers, runner, tmp_path,
                                                                                       calls, pids, monkeypatch):
    """SIGTERM raised SystemExit inside the run, where a numba/llvmlite callback once swallowed it and the worker
    went on computing; now it is a request the worker acts on between runs."""
    out = tmp_path / "out"
    monkeypatch.setenv("SPIKELOC_TEST_SLEEP", "2")
    study = runner(out, ("--workers", "1"), run_function="score_swallowing_exceptions")
    study.wait_for(lambda: any(pids.iterdir()), "a run")
    victim, key = started_runs(pids)[0]

    os.kill(victim, signal.SIGTERM)
    status, lines = study.finish(timeout=120)
    in_victim = [run for pid, run in started_runs(pids) if pid == victim]
    print(f"\nSIGTERM to worker {victim} during run {key}: it started {in_victim}; runner exit status {status}, "
          f"{lines[0]}")
    assert in_victim == [key] and status == 0
    assert lines[0] == ("worker process exited with status 0 during 1 run(s); running them again in a fresh "
                        "worker")
    assert_each_run_recorded_once(load_results(out))


def test_a_run_whose_worker_dies_twice_is_recorded_failed_and_the_grid_goes_on(helpers, fault_helpers, tmp_path,
                                                                               calls, caplog):
    study = Study("dies", helpers.grid(a_values=(1, 2, 3), b_values=(0.5,)), (0,),
                  fault_helpers.score_killing_its_worker_at_a2)
    table = run_study(study, tmp_path, executor="processes", workers=1, quiet=True).set_index("a")

    reason = "worker process was killed by SIGKILL (killed from outside or by the out-of-memory killer)"
    print(f"\nrun a=2 killed its worker twice: recorded {table.loc[2, 'status']!r} with error "
          f"{table.loc[2, 'error']!r}; a=1, a=3: {table.loc[[1, 3], 'status'].tolist()}")
    assert table["status"].tolist() == ["ok", "failed", "ok"]
    assert table.loc[2, "error"] == f"{reason}, on each of 2 attempts" and pd.isna(table.loc[2, "score"])
    assert calls()[f"run-{helpers.call_key(2, 0.5, 0)}"] == 2
    assert [record.getMessage() for record in caplog.records] == [
        f"{reason} during 1 run(s); running them again in a fresh worker"]


def test_a_run_function_that_workers_cannot_receive_fails_its_runs(helpers, tmp_path):
    study = Study("lambda", helpers.grid(a_values=(1,), b_values=(0.5, 1.5)), (0,), lambda config, seed: {})
    table = run_study(study, tmp_path, executor="processes", workers=1, quiet=True)
    assert table["status"].tolist() == ["failed", "failed"]
    assert table["error"].str.fullmatch(r"AttributeError: Can't pickle local object .*<lambda>'").all()


# --------------------------------------------------------------------------
# Disk trouble


def drop_write_override() -> None:
    """Subprocess set-up: without CAP_DAC_OVERRIDE, root obeys permission bits as every other user does."""
    if os.geteuid() == 0 and ctypes.CDLL(None, use_errno=True).prctl(_PR_CAPBSET_DROP, _CAP_DAC_OVERRIDE,
                                                                    0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "cannot drop CAP_DAC_OVERRIDE")


def partly_finished(helpers, fault_helpers, directory: Path) -> dict[str, bytes]:
    """``directory`` holding the grid's study.json and its first 4 rows; its files' contents."""
    run_study(Study("faults", helpers.grid(), (0,), fault_helpers.score_noting_pid), directory,
              executor="inline", quiet=True)
    lines = (directory / RUNS_FILE).read_text().splitlines(keepends=True)
    (directory / RUNS_FILE).write_text("".join(lines[:5]))
    return {path.name: path.read_bytes() for path in directory.iterdir()}


def contents(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir()}


@pytest.mark.parametrize("entry", ["command line", "run_study"])
def test_read_only_output_directory_fails_before_any_run_and_changes_nothing(
        helpers, fault_helpers, runner, tmp_path, calls, monkeypatch, entry):
    """The command line refuses a new directory inside a read-only one while parsing (exit status 2, see
    tests/test_usage_errors.py); run_study itself refuses a read-only directory holding a partly finished
    study (exit status 1)."""
    out = tmp_path / "out"
    out.mkdir()
    if entry == "run_study":
        monkeypatch.setenv("SPIKELOC_TEST_SLEEP", "0")
        partly_finished(helpers, fault_helpers, out)
    before, calls_before = contents(out), calls()
    out.chmod(0o555)
    try:
        if entry == "command line":
            study = runner(out / "results", preexec_fn=drop_write_override)
        else:
            study = runner(out, preexec_fn=drop_write_override, source=LIBRARY_SCRIPT)
        status, lines = study.finish()
    except subprocess.SubprocessError:
        pytest.skip("this root cannot drop CAP_DAC_OVERRIDE (no CAP_SETPCAP)")
    finally:
        out.chmod(0o755)

    print(f"\nread-only directory, {entry}: exit status {status}; {lines}")
    if entry == "command line":
        assert (status, lines) == (2, [f"fault_study.py: error: argument --out: cannot create {out / 'results'}: "
                                       f"{out} is not writable"])
    else:
        assert (status, lines) == (1, [f"faults: error: cannot write {out}: Permission denied"])
    assert calls() == calls_before and contents(out) == before  # no run, nothing changed


def test_disk_full_at_the_first_write_keeps_the_rows_already_written(helpers, fault_helpers, runner, tmp_path,
                                                                    calls, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("SPIKELOC_TEST_SLEEP", "0")
    before = partly_finished(helpers, fault_helpers, out)
    limit = len(before[RUNS_FILE])  # runs.csv cannot grow: the next row does not fit, as on a full disk

    def file_size_limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    study = runner(out, ("--executor", "inline"), preexec_fn=file_size_limit)
    status, (*_, message) = study.finish()

    print(f"\nfull disk (RLIMIT_FSIZE {limit} bytes) at the first write: exit status {status}; {message}")
    assert status == 1
    assert message == f"faults: error: cannot write {out / RUNS_FILE}: File too large; it still holds the 4 runs " \
                      "recorded before"
    assert contents(out) == before
    assert sum(calls().values()) > GRID_SIZE  # a run was computed before the write failed


def test_directory_of_another_grid_names_the_command_line_flags(helpers, fault_helpers, tmp_path, capsys):
    run_study(Study("faults", helpers.grid(), (0, 1), helpers.score), tmp_path, executor="inline", quiet=True)
    parser = study_parser("fault test", ["small"], "unused")
    options = ["--out", str(tmp_path), "--executor", "inline", "--quiet"]
    other = Study("faults", helpers.grid(), (0, 1, 2), helpers.score)
    summarised = lambda args: lambda: run_and_summarise(other, args, by=["a", "b"], metrics=["score"])  # noqa: E731

    with pytest.raises(SystemExit) as exit:
        run_script(summarised(parser.parse_args(options)), "faults")
    message = capsys.readouterr().err
    print(f"\nanother grid in --out: exit status {exit.value.code}, {message}")
    assert exit.value.code == 2
    assert message == (f"faults: error: argument --out: {tmp_path} holds results of a different study (seeds differ "
                       f"in {tmp_path / STUDY_FILE}); pass --overwrite to replace them, or --extend to keep them and "
                       "run only this grid's other runs\n")
    run_script(summarised(parser.parse_args([*options, "--extend"])), "faults")
    assert len(load_results(tmp_path)) == 18


# --------------------------------------------------------------------------
# Where prctl is missing: the parent watch


def test_a_process_watching_its_parent_exits_when_the_parent_is_killed(tmp_path):
    watcher = ("import os; from spikeloc.runtime import _exit_when_orphaned; parent = os.getppid(); "
               "print(os.getpid(), flush=True); _exit_when_orphaned(parent, interval=0.1)")
    parent = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {watcher!r}])"],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        child_pid = int(parent.stdout.readline())
        start = int(Path(f"/proc/{child_pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        left, waited = wait_until_gone([Proc(child_pid, start)], timeout=5)
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
    print(f"\nparent watch: orphan {child_pid} exited {waited:.2f} s after its parent was killed")
    assert not left


# --------------------------------------------------------------------------
# Dask


@pytest.mark.slow  # a LocalCluster and a worker restart: ~20 s on 2 busy cores
def test_dask_retries_the_run_of_a_killed_worker_and_records_it_once(helpers, fault_helpers, tmp_path, calls, pids,
                                                                      monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("SPIKELOC_TEST_SLEEP", SLEEP)
    study = Study("faults", helpers.grid(), (0,), fault_helpers.score_noting_pid)

    def kill_the_first_run() -> None:
        while not any(pids.iterdir()):
            time.sleep(0.02)
        victim, key = started_runs(pids)[0]
        os.kill(victim, signal.SIGKILL)
        killed.append((victim, key))

    killed = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        killer = threading.Thread(target=kill_the_first_run, daemon=True)
        killer.start()
        table = run_study(study, tmp_path, executor="dask", scheduler=cluster.scheduler_address, quiet=True)
        killer.join(timeout=1)
    (victim, key), called = killed[0], calls()
    print(f"\nDask: SIGKILL worker {victim} during run {key}: {key} computed {called[key]} times, recorded once; "
          f"{int((table['status'] == 'ok').sum())}/{GRID_SIZE} rows ok")
    assert_each_run_recorded_once(table)
    assert called[key] == 2 and all(n == 1 for other, n in called.items() if other != key)


# --------------------------------------------------------------------------
# The spikeloc command


@pytest.mark.slow  # run with -m slow: in 2 of 3 full-suite runs under load the child ignored the Ctrl-C (cause open)
def test_ctrl_c_in_spikeloc_train_is_one_line_and_exit_status_130(tmp_path):
    stderr = tmp_path / "stderr"
    with open(stderr, "w") as err:
        command = subprocess.Popen([sys.executable, "-c", "import sys; from spikeloc.cli import main; sys.exit(main())",
                                    "train-ipd", "--epochs", "50", "--save", str(tmp_path / "model.pt")],
                                   stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                   preexec_fn=default_sigint, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        deadline = time.monotonic() + 300
        while "epochs:" not in stderr.read_text():  # training has started
            assert command.poll() is None and time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.1)
        os.killpg(command.pid, signal.SIGINT)
        status = command.wait(timeout=120)
    finally:
        if command.poll() is None:
            command.kill()
    last = stderr.read_text().replace("\r", "\n").strip().splitlines()[-1]
    print(f"\nCtrl-C in spikeloc train-ipd: exit status {status}; last line {last!r}")
    assert status == 130 and last == "spikeloc train-ipd: interrupted (Ctrl-C); nothing was saved"
    assert "Traceback" not in stderr.read_text() and not (tmp_path / "model.pt").exists()
