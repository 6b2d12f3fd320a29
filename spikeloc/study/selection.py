"""Settings chosen on the validation split only: per independent unit, the candidate with the best validation score.

A reported row that tunes a setting runs every candidate value on the same split of each seed and keeps, per
seed, the candidate with the highest validation accuracy; its test accuracy is then read once, never compared
between candidates. Choosing per seed makes the choice part of the protocol that each seed replicates, so the
seeds stay independent units for the paired tests of :mod:`spikeloc.study.stats`. Where one candidate must be
chosen for every seed (say, which option a study trains again), :func:`best_on_validation` takes the best mean
over the seeds. Neither reads any other column than the validation metric they are given.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import pandas as pd

from spikeloc.study.stats import successful_runs
from spikeloc.validation import require


def choose_on_validation(table: pd.DataFrame, by: Sequence[str], metric: str = "val_acc",
                         unit: str = "seed") -> pd.DataFrame:
    """One row per (``by`` values, ``unit``): the successful run with the highest ``metric``, the first in table
    order on ties (so list a grid's preferred value first). Rows keep all their columns (the test accuracy of the
    chosen candidate among them)."""
    missing = sorted({*by, metric, unit} - set(table.columns))
    require(not missing, "table", f"columns {list(table.columns)}", f"columns including {missing}")
    ok = successful_runs(table).dropna(subset=[metric])
    best = ok.groupby([*by, unit], sort=False, dropna=False)[metric].idxmax()
    return ok.loc[best.to_numpy()].reset_index(drop=True)


def best_on_validation(table: pd.DataFrame, candidate: str, metric: str = "val_acc", lower_is_better: bool = False,
                       unit: str = "seed") -> Hashable:
    """The value of column ``candidate`` whose successful runs have the best mean ``metric`` (highest, or lowest
    with ``lower_is_better``: a loss), the runs of each ``unit`` averaged first; the first in table order on ties.
    ``metric`` must be a validation metric: a name starting with ``test`` is refused."""
    missing = sorted({candidate, metric, unit} - set(table.columns))
    require(not missing, "table", f"columns {list(table.columns)}", f"columns including {missing}")
    require(not metric.startswith("test"), "metric", metric, "a validation metric (the test split chooses nothing)")
    ok = successful_runs(table).dropna(subset=[metric])
    require(len(ok) > 0, "table", "no successful run with a value", f"at least one successful run with {metric}")
    means = ok.groupby([candidate, unit], sort=False)[metric].mean().groupby(level=0, sort=False).mean()
    return means.idxmin() if lower_is_better else means.idxmax()
