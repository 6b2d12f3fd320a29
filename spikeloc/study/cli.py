"""What every study script shares: its command line, running the grid, printing and saving the summary.

A study script declares its presets (grids) and figures and calls :func:`study_parser` and
:func:`run_and_summarise`; the grid itself runs through :func:`spikeloc.study.run_study`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from spikeloc.files import atomic_write
from spikeloc.study.runner import EXECUTORS, ForeignResultsError, Study, StudyInterrupted, run_study
from spikeloc.study.stats import summarise


def study_parser(description: str, presets: Sequence[str], default_out: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--preset", choices=list(presets), default=presets[0])
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the preset's)")
    parser.add_argument("--out", default=None, help=f"output directory (default {default_out}-PRESET)")
    parser.add_argument("--executor", choices=EXECUTORS, default=None,
                        help="default: processes, or dask when --scheduler is given")
    parser.add_argument("--workers", type=int, default=None, help="parallel workers (default: one per core)")
    parser.add_argument("--scheduler", default=None,
                        help="Dask scheduler: tcp://host:port, or 'local' to start a LocalCluster")
    parser.add_argument("--overwrite", action="store_true", help="discard results of a different grid in --out")
    parser.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--finished-only", action="store_true",
                        help="run nothing: summarise the runs already finished in --out (a study stopped early)")
    parser.set_defaults(default_out=default_out)
    return parser


def run_settings(args: argparse.Namespace, preset_sizes: dict) -> dict:
    """Run settings shared by every run of the grid: the preset's sizes and the command line's overrides."""
    return {**preset_sizes, **({"epochs": args.epochs} if args.epochs is not None else {})}


def run_script(main: Callable[[], None], name: str) -> None:
    """Run a study script's ``main``; bad input, a wholly failed study or an unusable output directory end
    it with one clear line (status 1); Ctrl-C or SIGTERM with one line saying how to resume (status 130 or
    143)."""
    try:
        main()
    except (ValueError, RuntimeError) as error:
        sys.exit(f"{name}: error: {error}")
    except StudyInterrupted as stop:
        print(f"{name}: {stop}", file=sys.stderr)
        sys.exit(stop.exit_status)


def run_and_summarise(study: Study, args: argparse.Namespace, by: Sequence[str],
                      metrics: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """Run (or resume) the study, or with ``--finished-only`` take the runs already in ``runs.csv``; write
    ``summary.csv``; print a readable summary; return (table, long summary, output directory)."""
    out = Path(args.out or f"{args.default_out}-{args.preset}")
    executor = args.executor or ("dask" if args.scheduler else "processes")
    if args.finished_only:
        table = pd.read_csv(out / "runs.csv")
        print(f"{len(table)} of {len(study.configs) * len(study.seeds)} runs finished in {out}/ (none run now)")
    else:
        try:
            table = run_study(study, out, executor=executor, workers=args.workers, scheduler=args.scheduler,
                              overwrite=args.overwrite, retry_failed=args.retry_failed, quiet=args.quiet)
        except ForeignResultsError as error:
            raise error.naming("--overwrite") from None
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
    """One row per condition, one column per metric, cells 'mean ± SEM' (accuracies in percent)."""
    def cell(row: pd.Series) -> str:
        scale = 100 if row["metric"].endswith("_acc") else 1
        sem = "" if pd.isna(row["sem"]) else f" ± {row['sem'] * scale:.1f}"
        return f"{row['mean'] * scale:.1f}{sem}"

    cells = summary.assign(cell=summary.apply(cell, axis=1))
    wide = cells.pivot_table(index=list(by), columns="metric", values="cell", aggfunc="first", sort=False)
    counts = summary.groupby(list(by), sort=False)["n"].min()
    return wide[list(dict.fromkeys(summary["metric"]))].assign(n=counts)
