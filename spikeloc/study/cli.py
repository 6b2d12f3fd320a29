"""What every study script shares: its command line, running the grid, printing and saving the summary.

A study script declares its presets (grids) and figures and calls :func:`study_parser` and
:func:`run_and_summarise`; the grid itself runs through :func:`spikeloc.study.run_study`.

``--device cpu|cuda|cuda:N|auto`` (:mod:`spikeloc.devices`) reaches every run's config through
:func:`run_settings`. On GPUs the grid runs in one worker process per GPU (``--device cuda``: each worker sees
only its own GPU; ``--device cuda:N``: one worker on GPU N), its runs packed into large ensembles by the
study's batch function, unless ``--workers`` says otherwise (see :func:`executor_options`). With
``--executor dask`` they run only on workers that declare a GPU resource (``dask worker ADDRESS --resources
GPU=1``); a cluster without one is a usage error naming ``--scheduler``, before any work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from spikeloc.devices import add_device_option, is_gpu
from spikeloc.files import atomic_write
from spikeloc.options import USAGE_EXIT_STATUS, Parser, UsageError, integer, output_directory
from spikeloc.study import EXECUTORS

if TYPE_CHECKING:  # the parser imports nothing heavy (a study's --help loads neither pandas nor torch)
    import pandas as pd

    from spikeloc.study.runner import Study


def study_parser(description: str, presets: Sequence[str], default_out: str, epochs: bool = True) -> Parser:
    """The command line every study script shares; a script adds its own options to it.  ``epochs=False``
    for a study without training epochs: no ``--epochs`` option, rather than one that does nothing.

    A bad value is one line naming the option and exit status 2 before any work (see
    :mod:`spikeloc.options`): values are checked while parsing, then how they go together, whether dask is
    there when asked for, the output directory (``--out``, or the default ``DEFAULT_OUT-PRESET``; with
    ``--finished-only`` it must hold a study's results) and last whether the Dask scheduler answers.  An
    output directory found unusable once the study is built (another study's results, a damaged ``runs.csv``,
    in use) is a usage error of ``--out`` too (:func:`run_and_summarise`).
    """
    parser = Parser(description=description,
                    checks=[_check_executor, _check_dask_installed, _resolve_out, _check_finished_only,
                            _check_scheduler_answers])
    parser.add_argument("--preset", choices=list(presets), default=presets[0],
                        help="which grid to run (the study's docstring describes each)")
    if epochs:
        parser.add_argument("--epochs", type=integer(minimum=1), default=None,
                            help="training epochs (default: the preset's)")
    parser.add_argument("--out", type=output_directory, default=None, metavar="DIR",
                        help=f"output directory (default {default_out}-PRESET)")
    parser.add_argument("--executor", choices=EXECUTORS, default=None,
                        help="default: processes, or dask when --scheduler is given")
    parser.add_argument("--workers", type=integer(minimum=1), default=None,
                        help="parallel workers (default: one per core; at most one per core, except on a Dask "
                             "cluster given by --scheduler tcp://...)")
    parser.add_argument("--scheduler", type=_scheduler_address, default=None,
                        help="Dask scheduler: tcp://host:port, or 'local' to start a LocalCluster")
    kept = parser.add_mutually_exclusive_group()
    kept.add_argument("--overwrite", action="store_true", help="discard results of a different grid in --out")
    kept.add_argument("--extend", action="store_true",
                      help="keep the results in --out of a smaller grid of this study (configs or seeds added "
                           "since) and run only the runs they lack")
    parser.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    parser.add_argument("--repair", action="store_true",
                        help="keep the intact rows of a damaged runs.csv in --out (the file is first copied to "
                             "runs.csv.damaged-TIME) and run the others again")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_device_option(parser)
    parser.add_argument("--finished-only", action="store_true",
                        help="run nothing: summarise the runs already finished in --out (a study stopped early)")
    parser.set_defaults(default_out=default_out)
    return parser


def _scheduler_address(text: str) -> str:
    if text != "local" and "://" not in text:
        raise argparse.ArgumentTypeError(f"must be 'local' or a scheduler address such as tcp://host:8786, "
                                         f"got {text!r}")
    return text


def _check_executor(args: argparse.Namespace) -> None:
    if args.scheduler is not None and args.executor not in (None, "dask"):
        raise UsageError("--scheduler", f"is only used with --executor dask, not --executor {args.executor}")
    if args.executor == "inline" and args.workers not in (None, 1):
        raise UsageError("--workers", "--executor inline runs one run at a time; leave --workers unset")
    args.executor = args.executor or ("dask" if args.scheduler else "processes")
    from spikeloc.study.runner import available_cores

    cores = available_cores()
    if args.workers is not None and args.workers > cores and args.scheduler in (None, "local"):
        raise UsageError("--workers", f"must be at most {cores}, the CPU cores this process may use (more "
                                      f"workers on this machine only slow each other down), got {args.workers}")


def _check_dask_installed(args: argparse.Namespace) -> None:
    if args.executor != "dask":
        return
    try:
        import distributed  # noqa: F401  (the Dask executor imports it anyway)
    except ImportError:
        option = "--scheduler" if args.scheduler else "--executor"
        raise UsageError(option, "needs dask.distributed, which is not installed here "
                                 "(pip install 'dask[distributed]')") from None


def _resolve_out(args: argparse.Namespace) -> None:
    if args.out is None:
        default = f"{args.default_out}-{args.preset}"
        try:
            args.out = output_directory(default)
        except argparse.ArgumentTypeError as error:
            raise UsageError("--out", f"(default {default}) {error}") from None


def _check_finished_only(args: argparse.Namespace) -> None:
    """``--finished-only`` runs nothing: ``--out`` must hold a study's results (the study checks they are its
    own, :func:`run_and_summarise`), and the options that choose what to run mean nothing with it."""
    if not args.finished_only:
        return
    from spikeloc.study.runner import RUNS_FILE, STUDY_FILE

    for option in ("overwrite", "extend", "retry_failed"):
        if getattr(args, option):
            raise UsageError(f"--{option.replace('_', '-')}", "not allowed with --finished-only, which runs nothing")
    for name in (STUDY_FILE, RUNS_FILE):
        if not (args.out / name).is_file():
            raise UsageError("--out", f"--finished-only summarises the runs finished in {args.out}, but it holds "
                                      f"no {name}: no run of a study has finished there")


def _check_scheduler_answers(args: argparse.Namespace) -> None:
    if args.scheduler not in (None, "local"):
        from spikeloc.study.runner import NoGPUWorkers, SchedulerUnreachable, check_scheduler

        try:
            check_scheduler(args.scheduler, gpu=is_gpu(args.device))
        except (SchedulerUnreachable, NoGPUWorkers) as error:
            raise UsageError("--scheduler", str(error)) from None


def run_settings(args: argparse.Namespace, preset_sizes: dict) -> dict:
    """Run settings shared by every run of the grid: the preset's sizes and the command line's overrides
    (``device`` only when it is not the configs' default, the CPU)."""
    epochs = getattr(args, "epochs", None)  # a study without training epochs has no --epochs
    return {**preset_sizes, **({"epochs": epochs} if epochs is not None else {}),
            **({"device": args.device} if args.device != "cpu" else {})}


def executor_options(args: argparse.Namespace) -> dict:
    """:func:`spikeloc.study.run_study`'s keyword arguments chosen on the command line: ``--executor`` (already
    resolved by the parser: processes, or dask with ``--scheduler``) and ``--workers`` (default one per core);
    on GPUs, unless ``--workers`` is given, one worker per GPU (``--device cuda``, processes), a Dask
    cluster's workers that declare a GPU (counted when the study connects), or a single worker."""
    workers, gpus = args.workers, ()
    if is_gpu(args.device) and workers is None:
        if args.device == "cuda" and args.executor == "processes":
            import torch

            gpus = tuple(range(torch.cuda.device_count()))
        elif args.executor != "dask" or args.scheduler in (None, "local"):
            workers = 1
    return dict(executor=args.executor, workers=workers, scheduler=args.scheduler, gpus=gpus,
                overwrite=args.overwrite, extend=args.extend, retry_failed=args.retry_failed, repair=args.repair,
                quiet=args.quiet)


def run_script(main: Callable[[], None], name: str) -> None:
    """Run a study script's ``main``; a wholly failed study, a directory that cannot be written or a bad
    setting found during the work end it with one clear line (status 1; bad command-line values end it
    earlier, with status 2, see :func:`study_parser`, and so does an output directory whose results cannot
    be used); Ctrl-C or SIGTERM with one line saying how to resume (status 130 or 143)."""
    try:
        main()
    except UsageError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        sys.exit(USAGE_EXIT_STATUS)
    except (ValueError, RuntimeError) as error:
        sys.exit(f"{name}: error: {error}")
    except KeyboardInterrupt as stop:
        runner = sys.modules.get("spikeloc.study.runner")  # loaded by any study that started its runs
        if runner is None or not isinstance(stop, runner.StudyInterrupted):
            raise
        print(f"{name}: {stop}", file=sys.stderr)
        sys.exit(stop.exit_status)


def run_and_summarise(study: Study, args: argparse.Namespace, by: Sequence[str],
                      metrics: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """Run (or resume) the study, or with ``--finished-only`` take the runs of this study already finished in
    ``--out`` (the checks of a run: the directory is locked, its grid must be this one); write
    ``summary.csv``; print a readable summary; return (table, long summary, output directory). A ``by`` column
    of a config field added later holds its default where ``runs.csv`` leaves it out
    (:func:`~spikeloc.study.store.with_recorded_defaults`).  An output
    directory whose results cannot be used is a :class:`UsageError` of ``--out`` naming the flag that helps
    (``--overwrite``, ``--extend``, ``--repair``)."""
    from spikeloc.study.runner import (
        DamagedResultsError,
        ForeignResultsError,
        UnusableDirectoryError,
        finished_results,
        run_study,
        with_recorded_defaults,
    )
    from spikeloc.study.stats import summarise

    out = Path(args.out)
    try:
        if args.finished_only:
            table = finished_results(study, out, repair=args.repair)
            print(f"{len(table)} of {len(study.runs)} runs finished in {out}/ (none run now)")
        else:
            table = run_study(study, out, **executor_options(args))
    except ForeignResultsError as error:
        raise UsageError("--out", str(error.naming("--overwrite", "--extend"))) from None
    except DamagedResultsError as error:
        raise UsageError("--out", str(error.naming("--repair"))) from None
    except UnusableDirectoryError as error:
        raise UsageError("--out", str(error)) from None
    table = with_recorded_defaults(table, type(study.configs[0]), by)  # a field added later: its default
    ok = table["status"] == "ok"
    if not ok.any():
        raise RuntimeError(f"all {len(table)} runs of {study.name} failed, e.g. {table['error'].iloc[0]!r}; "
                           f"table in {out / 'runs.csv'} (rerun with --retry-failed)")
    summary = summarise(table, by=by, metrics=metrics)
    atomic_write(out / "summary.csv", summary.to_csv(index=False))
    failed = int((~ok).sum())
    print(f"\n{study.name}: {len(table)} runs ({failed} failed) in {out}/")
    print(readable_summary(summary, by).to_string())
    return table, summary, out


def readable_summary(summary: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """One row per condition, one column per metric, cells 'mean ± SEM' over independent units, and the number of
    independent units (``n_seeds``). Accuracies in percent to one decimal; other metrics (errors in degrees,
    seconds, ratios) to one decimal, or three significant digits when below 1 in magnitude (a ratio of 0.962 is
    not 1.0). Every condition of ``summary`` appears, one whose ``by`` values are missing (NaN) too."""
    import pandas as pd

    def number(value: float, percent: bool) -> str:
        return f"{100 * value:.1f}" if percent else f"{value:.1f}" if abs(value) >= 1 else f"{value:.3g}"

    def cell(row: pd.Series) -> str:
        percent = row["metric"].endswith("_acc")
        sem = "" if pd.isna(row["sem"]) else " ± " + number(row["sem"], percent)
        return number(row["mean"], percent) + sem

    by = list(by)
    conditions = list(summary.groupby(by, sort=False, dropna=False))  # pivot_table would drop those with NaN keys
    units = f"n_{summary['unit'].iloc[0]}s"
    index = pd.MultiIndex.from_tuples([key for key, _ in conditions], names=by)
    wide = pd.DataFrame([{**dict(zip(rows["metric"], rows.apply(cell, axis=1))), units: rows["n_units"].min()}
                         for _, rows in conditions], index=index if len(by) > 1 else index.get_level_values(0))
    return wide[[*dict.fromkeys(summary["metric"]), units]]
