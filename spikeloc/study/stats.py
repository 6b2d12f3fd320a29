"""Summary statistics over study results tables (see :mod:`spikeloc.study.runner`).

Only runs with ``status == "ok"`` enter any statistic.  Confidence intervals
use the t-distribution.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats


def successful_runs(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of finished, successful runs (all rows if there is no status column)."""
    if "status" not in table.columns:
        return table
    return table[table["status"] == "ok"]


def _mean_and_interval(values: np.ndarray, confidence: float) -> dict[str, float]:
    """n, mean, standard error and t confidence interval of ``values``.

    SEM and interval are NaN when there are fewer than two values.
    """
    n = len(values)
    mean = values.mean() if n else np.nan
    sem = stats.sem(values) if n > 1 else np.nan
    half_width = stats.t.ppf((1 + confidence) / 2, n - 1) * sem if n > 1 else np.nan
    return {"n": n, "mean": mean, "sem": sem,
            "ci_low": mean - half_width, "ci_high": mean + half_width}


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")


def summarise(
    table: pd.DataFrame,
    by: Sequence[str],
    metrics: Sequence[str],
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per condition (unique values of the ``by`` columns) and metric: n, mean, SEM, CI.

    Returns one row per condition and metric with columns ``*by, metric, n,
    mean, sem, ci_low, ci_high``.  Only ``ok`` runs with a non-NaN value count;
    a condition whose runs all failed appears with ``n == 0``.
    """
    _check_confidence(confidence)
    by = list(by)
    rows = []
    for condition, group in table.groupby(by, sort=True, dropna=False):
        ok = successful_runs(group)
        for metric in metrics:
            values = ok[metric].dropna().to_numpy(dtype=float)
            rows.append({**dict(zip(by, condition)), "metric": metric,
                         **_mean_and_interval(values, confidence)})
    return pd.DataFrame(rows, columns=[*by, "metric", "n", "mean", "sem", "ci_low", "ci_high"])


def _paired_values(
    table: pd.DataFrame, condition_col: str, baseline: object, other: object,
    metric: str, pair_on: list[str],
) -> pd.DataFrame:
    """Baseline and other values of ``metric`` side by side, one row per pair."""
    ok = successful_runs(table)
    sides = []
    for label, condition in (("baseline", baseline), ("other", other)):
        side = ok.loc[ok[condition_col] == condition, [*pair_on, metric]]
        if side.duplicated(pair_on).any():
            raise ValueError(f"{pair_on} do not identify the {condition_col}={condition!r} runs uniquely")
        sides.append(side.rename(columns={metric: label}))
    return sides[0].merge(sides[1], on=pair_on, how="inner").dropna(subset=["baseline", "other"])


def paired_comparison(
    table: pd.DataFrame,
    condition_col: str,
    baseline: object,
    other: object,
    metrics: Sequence[str],
    pair_on: Sequence[str],
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Compare condition ``other`` with ``baseline`` on runs paired by ``pair_on``.

    Runs of the two conditions that share their ``pair_on`` values (e.g. seed
    and sigma) form a pair; differences are ``other - baseline``.  Returns one
    row per metric: ``metric, n_pairs, mean_difference, ci_low, ci_high,
    t_statistic, p_ttest`` (``scipy.stats.ttest_rel``, needs 2 pairs) and
    ``p_wilcoxon`` (``scipy.stats.wilcoxon``, needs 2 pairs and a non-zero
    difference); what the pairs do not allow is NaN.
    """
    _check_confidence(confidence)
    pair_on = list(pair_on)
    rows = []
    for metric in metrics:
        pairs = _paired_values(table, condition_col, baseline, other, metric, pair_on)
        differences = (pairs["other"] - pairs["baseline"]).to_numpy(dtype=float)
        summary = _mean_and_interval(differences, confidence)
        enough = summary["n"] > 1
        ttest = stats.ttest_rel(pairs["other"], pairs["baseline"]) if enough else None
        wilcoxon = stats.wilcoxon(differences) if enough and differences.any() else None
        rows.append({
            "metric": metric,
            "n_pairs": summary["n"],
            "mean_difference": summary["mean"],
            "ci_low": summary["ci_low"],
            "ci_high": summary["ci_high"],
            "t_statistic": ttest.statistic if ttest is not None else np.nan,
            "p_ttest": ttest.pvalue if ttest is not None else np.nan,
            "p_wilcoxon": wilcoxon.pvalue if wilcoxon is not None else np.nan,
        })
    return pd.DataFrame(rows)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial success rate (Wilson 1927).

    With ``p = successes / n`` and ``z`` the standard normal quantile of ``(1 + confidence) / 2``::

        centre = (p + z^2 / (2 n)) / (1 + z^2 / n)
        half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / (4 n^2))

    It stays inside [0, 1] and is not degenerate at 0 or n successes (unlike the normal interval).
    Returns (NaN, NaN) for ``n == 0``.
    """
    _check_confidence(confidence)
    if not 0 <= successes <= n:
        raise ValueError(f"successes = {successes} is invalid: must be between 0 and n = {n}")
    if n == 0:
        return np.nan, np.nan
    z = stats.norm.ppf((1 + confidence) / 2)
    p = successes / n
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z / scale * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exactly 0 / 1 at the ends (no rounding residue)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return float(low), float(high)
