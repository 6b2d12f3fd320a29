"""Memory left in use after the runner of a study is killed with SIGKILL.

Starts a study runner (``run_study``, ``--workers`` local worker processes) whose runs each hold
``--megabytes`` of memory for ``--hold-seconds``, as a training ensemble would; once every worker holds its
memory, kills the runner with SIGKILL and prints the RSS of each child process of the runner and the
system's used memory (``free -m``) before the kill and after it.  Workers that die with their runner give
the memory back at once; orphaned workers would keep it until their run ends, or for ever.

    python benchmarks/orphan_memory.py [--megabytes 1000] [--workers 2] [--hold-seconds 120]

``--moments T ...`` instead kills a fresh runner T seconds after its first child process appeared, for each T
(the runner and its workers import torch first, as a study script and its workers do, so that the early moments
fall into the workers' start-up and the later ones into their runs), and prints
how many of the processes it started are alive ``--after`` seconds (2) after the kill; found by a tag in their
environment, so re-parented orphans are counted too:

    python benchmarks/orphan_memory.py --moments 0.1 0.3 0.6 1 2 3 5 8 --megabytes 100

Any child process still alive at the end is killed by its pid, so the script never leaves orphans behind.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from spikeloc.study.runner import Study, run_study

TAG = "SPIKELOC_ORPHAN_TAG"
#: Modules every process running this file imports first (a worker imports its runner's main module): torch with
#: --moments, as a study script's workers import it, which takes seconds.
for module in filter(None, os.environ.get("SPIKELOC_ORPHAN_IMPORTS", "").split(",")):
    importlib.import_module(module)


@dataclasses.dataclass(frozen=True)
class Hold:
    """One run: hold ``megabytes`` of memory for ``hold_seconds``."""

    megabytes: int
    hold_seconds: float
    index: int


def hold_memory(config: Hold, seed: int) -> dict:
    block = np.ones(config.megabytes * 2**20 // 8)  # every page written: resident
    time.sleep(config.hold_seconds)
    return {"held_mb": block.nbytes / 2**20}


def run_runner(out: str, megabytes: int, seconds: float, workers: int) -> None:
    """The runner process: a grid of more runs than workers, so every worker is busy."""
    configs = [Hold(megabytes, seconds, index) for index in range(2 * workers)]
    run_study(Study("orphan-memory", configs, (0,), hold_memory), out, workers=workers, quiet=True)


@dataclasses.dataclass(frozen=True)
class Proc:
    pid: int
    start: int

    def status(self) -> dict[str, str] | None:
        """Its /proc status, or None once it is gone (a zombie holds no memory)."""
        try:
            after_name = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            lines = Path(f"/proc/{self.pid}/status").read_text().splitlines()
        except (FileNotFoundError, ProcessLookupError):
            return None
        if after_name[0] in ("Z", "X") or int(after_name[19]) != self.start:
            return None
        return dict(line.split(":\t", 1) for line in lines)

    def rss_mb(self) -> float:
        status = self.status()
        return int(status["VmRSS"].split()[0]) / 1024 if status and "VmRSS" in status else 0.0

    def name(self) -> str:
        try:
            command = Path(f"/proc/{self.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except FileNotFoundError:
            return "?"
        return "resource tracker" if "resource_tracker" in command else "worker"


def tagged(tag: str) -> list[Proc]:
    """Live processes whose environment holds TAG=tag: a runner and everything it started, orphans included."""
    needle = f"{TAG}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and needle in (entry / "environ").read_bytes().split(b"\0"):
                proc = Proc(int(entry.name), int((entry / "stat").read_text().rsplit(")", 1)[1].split()[19]))
                if proc.status():
                    found.append(proc)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def kill_at_moments(moments: list[float], after: float, megabytes: int, workers: int) -> None:
    """For each moment: start a runner, SIGKILL it that many seconds after its first child process appeared,
    count its processes left."""
    total_seen = total_left = 0
    for moment in moments:
        tag = uuid.uuid4().hex
        with tempfile.TemporaryDirectory() as out:
            runner = subprocess.Popen([sys.executable, __file__, "--runner", out, "--megabytes", str(megabytes),
                                       "--workers", str(workers), "--hold-seconds", "600"],
                                      env={**os.environ, TAG: tag, "SPIKELOC_ORPHAN_IMPORTS": "torch"},
                                      start_new_session=True)
            seen: set[Proc] = set()
            try:
                deadline = time.monotonic() + 300
                while not {proc.pid for proc in seen} - {runner.pid}:
                    if time.monotonic() > deadline or runner.poll() is not None:
                        raise SystemExit("the runner started no child process within 300 s")
                    seen.update(tagged(tag))
                    time.sleep(0.01)
                first_child = time.monotonic()
                while time.monotonic() < first_child + moment:
                    seen.update(tagged(tag))
                    time.sleep(0.01)
                seen.update(tagged(tag))
                os.kill(runner.pid, signal.SIGKILL)
                runner.wait()
                killed = time.monotonic()
                time.sleep(after)
                left = tagged(tag)
                children = {proc for proc in seen | set(left) if proc.pid != runner.pid}
                print(f"SIGKILL {moment:5.2f} s after the first child: {len(children)} child processes seen, "
                      f"{len(left)} alive {time.monotonic() - killed:.1f} s after the kill")
                total_seen, total_left = total_seen + len(children), total_left + len(left)
            finally:
                for proc in tagged(tag):
                    os.kill(proc.pid, signal.SIGKILL)
    print(f"{len(moments)} kills: {total_left} of {total_seen} child processes alive {after:.0f} s after the kill")


def children_of(pid: int) -> list[Proc]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == pid:
                found.append(Proc(int(entry.name), int(fields[19])))
    return found


def used_mb() -> str:
    """The 'Mem:' line of ``free -m``."""
    return next(line for line in subprocess.run(["free", "-m"], capture_output=True, text=True).stdout.splitlines()
                if line.startswith("Mem:"))


def report(label: str, children: list[Proc]) -> None:
    alive = [proc for proc in children if proc.status()]
    sizes = ", ".join(f"{proc.pid} {proc.name()} {proc.rss_mb():.0f} MB" for proc in alive) or "none"
    total = sum(proc.rss_mb() for proc in alive)
    print(f"{label:>22}: {len(alive)} of {len(children)} children alive, RSS {total:6.0f} MB ({sizes})")
    print(f"{'':>22}  free -m {used_mb()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=1000, help="memory each run holds")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hold-seconds", type=float, default=120)
    parser.add_argument("--moments", type=float, nargs="+", default=None,
                        help="kill a fresh runner at each of these seconds after its start, count survivors")
    parser.add_argument("--after", type=float, default=2.0, help="with --moments: seconds after the kill to count")
    parser.add_argument("--runner", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runner:
        return run_runner(args.runner, args.megabytes, args.hold_seconds, args.workers)
    if args.moments:
        import spikeloc.study.runner as runner_module
        print(f"spikeloc.study.runner from {runner_module.__file__}")
        return kill_at_moments(args.moments, args.after, args.megabytes, args.workers)

    import spikeloc.study.runner as runner_module
    print(f"spikeloc.study.runner from {runner_module.__file__}")
    with tempfile.TemporaryDirectory() as out:
        print(f"{'before the study':>22}:  free -m {used_mb()}")
        runner = subprocess.Popen([sys.executable, __file__, "--runner", out, "--megabytes", str(args.megabytes),
                                   "--workers", str(args.workers), "--hold-seconds", str(args.hold_seconds)],
                                  start_new_session=True)
        children: list[Proc] = []
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and runner.poll() is None:
                children = children_of(runner.pid)
                holding = [proc for proc in children if proc.rss_mb() > args.megabytes]
                if len(holding) == args.workers:
                    time.sleep(1.0)  # let them finish filling their blocks
                    break
                time.sleep(0.1)
            else:
                raise SystemExit("the runner ended, or its workers did not hold their memory within 120 s")
            report("before SIGKILL", children)
            os.kill(runner.pid, signal.SIGKILL)
            runner.wait()
            killed = time.monotonic()
            for after in (1.0, 10.0):
                time.sleep(max(0.0, killed + after - time.monotonic()))
                report(f"{after:.0f} s after SIGKILL", children)
        finally:
            for proc in children:
                if proc.status():
                    os.kill(proc.pid, signal.SIGKILL)
            if runner.poll() is None:
                runner.kill()
                runner.wait()


if __name__ == "__main__":
    main()
