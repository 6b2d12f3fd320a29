"""Summary statistics over study results tables (see :mod:`spikeloc.study.runner`).

Only runs with ``status == "ok"`` enter any statistic.  Confidence intervals use the t-distribution.

Every statistic is computed over *independent units*, by default the run seed.  Runs that share a seed share
its initial weights, data, shuffle order and random draws, so several runs of one seed (e.g. one per training
noise level) are not independent replicates: pooling them as if they were (pseudo-replication) shrinks the
standard error and the p-value without more evidence.  Both :func:`summarise` and :func:`paired_comparison`
therefore first average within each unit and then compute their statistic across units; their tables name
the unit (``unit``) and say how many independent units there were (``n_units``).  For a balanced design this
gives the same test as a linear mixed model with a random intercept per unit (and per unit x condition).

A paired test on a handful of seeds can only see large effects.  :func:`detectable_difference` gives the
smallest true difference a paired t-test on ``n`` units finds with 80 % probability; :func:`verdict` says
"underpowered" with that size, never "no effect", when the test does not reject.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

#: Two-sided significance level of every verdict.
ALPHA = 0.05
#: Power at which :func:`detectable_difference` is quoted.
POWER = 0.8
#: The independent unit of every study: runs of one seed share weights, data and random draws.
UNIT = "seed"


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


def _check_probability(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


def _check_unit(table: pd.DataFrame, unit: str) -> None:
    if unit not in table.columns:
        raise ValueError(f"unit = {unit!r} is not a column of the table (columns: {list(table.columns)})")


def summarise(
    table: pd.DataFrame,
    by: Sequence[str],
    metrics: Sequence[str],
    confidence: float = 0.95,
    unit: str = UNIT,
) -> pd.DataFrame:
    """Per condition (unique values of the ``by`` columns) and metric: mean, SEM and CI over independent units.

    Within a condition, the runs of one ``unit`` (seed) are first averaged into one value; mean, SEM and the
    t confidence interval are then taken over those unit values, so a condition that pools several runs per
    seed is not treated as having more replicates than seeds.  Returns one row per condition and metric with
    columns ``*by, metric, unit, n_units, n_runs, mean, sem, ci_low, ci_high``.  Only ``ok`` runs with a
    non-NaN value count; a condition whose runs all failed appears with ``n_units == 0``.
    """
    _check_probability("confidence", confidence)
    _check_unit(table, unit)
    by = list(by)
    rows = []
    for condition, group in table.groupby(by, sort=True, dropna=False):
        ok = successful_runs(group)
        for metric in metrics:
            runs = ok[[unit, metric]].dropna()
            values = runs.groupby(unit)[metric].mean().to_numpy(dtype=float)
            interval = _mean_and_interval(values, confidence)
            rows.append({**dict(zip(by, condition)), "metric": metric, "unit": unit,
                         "n_units": interval.pop("n"), "n_runs": len(runs), **interval})
    return pd.DataFrame(rows, columns=[*by, "metric", "unit", "n_units", "n_runs", "mean", "sem", "ci_low",
                                       "ci_high"])


def _paired_values(
    table: pd.DataFrame, condition_col: str, baseline: object, other: object,
    metric: str, keys: list[str],
) -> pd.DataFrame:
    """Baseline and other values of ``metric`` side by side, one row per pair of runs sharing ``keys``."""
    ok = successful_runs(table)
    sides = []
    for label, condition in (("baseline", baseline), ("other", other)):
        side = ok.loc[ok[condition_col] == condition, [*keys, metric]]
        if side.duplicated(keys).any():
            raise ValueError(f"{keys} do not identify the {condition_col}={condition!r} runs uniquely; "
                             "name the other grid columns in pair_on")
        sides.append(side.rename(columns={metric: label}))
    return sides[0].merge(sides[1], on=keys, how="inner").dropna(subset=["baseline", "other"])


def detectable_difference(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest true mean difference a two-sided paired t-test on ``n`` units detects with probability ``power``.

    With differences of standard deviation ``sd``, the t statistic of a true mean difference ``delta``
    follows a non-central t distribution with ``n - 1`` degrees of freedom and non-centrality
    ``delta * sqrt(n) / sd``; the test rejects when ``|t| > t_crit = t_{1 - alpha/2, n-1}``.  Returns the
    ``delta`` at which ``P(|t| > t_crit) = power`` (in the metric's units), 0 when ``sd == 0`` and NaN when
    ``n < 2`` or ``sd`` is NaN.  For large ``n`` it tends to ``(z_{1-alpha/2} + z_{power}) * sd / sqrt(n)``.
    """
    _check_probability("alpha", alpha)
    _check_probability("power", power)
    if power <= alpha:
        raise ValueError(f"power must exceed alpha = {alpha}, got {power}")
    if n < 2 or not np.isfinite(sd):
        return np.nan
    if sd == 0:
        return 0.0
    df = n - 1
    critical = stats.t.ppf(1 - alpha / 2, df)

    def shortfall(noncentrality: float) -> float:
        # lower tail as the upper tail of -t (scipy's nct.cdf far in the lower tail can return NaN)
        rejected = stats.nct.sf(critical, df, noncentrality) + stats.nct.sf(critical, df, -noncentrality)
        return rejected - power

    upper = 1.0
    while shortfall(upper) < 0:
        upper *= 2
    noncentrality = optimize.brentq(shortfall, 0.0, upper, xtol=1e-10)
    return float(noncentrality * sd / math.sqrt(n))


def smallest_wilcoxon_p(n: int) -> float:
    """Smallest two-sided p a Wilcoxon signed-rank test on ``n`` non-zero differences can give: ``2 / 2**n``
    (all differences of one sign); 0.25 for 3 units, below 0.05 only from 6 units on."""
    return 2.0 ** (1 - n) if n > 0 else np.nan


def paired_test(
    differences: Sequence[float], confidence: float = 0.95, alpha: float = ALPHA, power: float = POWER,
) -> dict[str, float]:
    """Paired tests on one difference per independent unit (``other - baseline``, NaNs dropped).

    Returns ``n_units, mean_difference, sd_difference, ci_low, ci_high`` (t interval), ``t_statistic,
    p_ttest`` (one-sample t-test of the differences, i.e. ``scipy.stats.ttest_rel``; needs 2 units),
    ``p_wilcoxon`` (``scipy.stats.wilcoxon``; needs 2 units and a non-zero difference), ``min_p_wilcoxon``
    (:func:`smallest_wilcoxon_p`: the Wilcoxon test cannot decide at ``alpha`` when it is ``>= alpha``) and
    ``detectable_difference`` (:func:`detectable_difference` from the observed SD); what the units do not
    allow is NaN.
    """
    _check_probability("confidence", confidence)
    values = np.asarray(differences, dtype=float)
    values = values[~np.isnan(values)]
    summary = _mean_and_interval(values, confidence)
    n = summary["n"]
    sd = float(np.std(values, ddof=1)) if n > 1 else np.nan
    ttest = stats.ttest_1samp(values, 0.0) if n > 1 else None
    wilcoxon = stats.wilcoxon(values) if n > 1 and values.any() else None
    return {
        "n_units": n,
        "mean_difference": summary["mean"],
        "sd_difference": sd,
        "ci_low": summary["ci_low"],
        "ci_high": summary["ci_high"],
        "t_statistic": ttest.statistic if ttest is not None else np.nan,
        "p_ttest": ttest.pvalue if ttest is not None else np.nan,
        "p_wilcoxon": wilcoxon.pvalue if wilcoxon is not None else np.nan,
        "min_p_wilcoxon": smallest_wilcoxon_p(n),
        "detectable_difference": detectable_difference(sd, n, alpha, power),
    }


def paired_comparison(
    table: pd.DataFrame,
    condition_col: str,
    baseline: object,
    other: object,
    metrics: Sequence[str],
    pair_on: Sequence[str],
    unit: str = UNIT,
    confidence: float = 0.95,
    alpha: float = ALPHA,
    power: float = POWER,
) -> pd.DataFrame:
    """Compare condition ``other`` with ``baseline`` over independent units (seeds).

    Runs of the two conditions that share their ``pair_on`` values (e.g. seed and sigma; ``pair_on`` must
    hold ``unit``) form a pair with difference ``other - baseline``.  The pairs of each unit are averaged
    into one difference per unit (they share that unit's weights, data and random draws, so they are not
    independent), and :func:`paired_test` runs across the units.  Returns one row per metric: ``metric,
    unit, n_units, n_pairs`` (the run pairs averaged into the units) and :func:`paired_test`'s columns.
    """
    _check_unit(table, unit)
    keys = list(pair_on)
    if unit not in keys:
        raise ValueError(f"pair_on = {keys} must hold the independent unit {unit!r}")
    rows = []
    for metric in metrics:
        pairs = _paired_values(table, condition_col, baseline, other, metric, keys)
        per_unit = (pairs["other"] - pairs["baseline"]).groupby(pairs[unit]).mean()
        test = paired_test(per_unit.to_numpy(dtype=float), confidence, alpha, power)
        rows.append({"metric": metric, "unit": unit, "n_units": test.pop("n_units"), "n_pairs": len(pairs),
                     **test})
    return pd.DataFrame(rows)


def verdict(row: pd.Series, lower_is_better: bool = False, alpha: float = ALPHA, power: float = POWER) -> str:
    """What a :func:`paired_comparison` row lets one say about ``other`` against ``baseline``.

    "better" / "worse" when the paired t-test rejects at ``alpha`` (direction from the mean difference;
    ``lower_is_better`` for errors, epochs, ...); "identical" when every unit's difference is exactly 0.
    Otherwise the units could not decide: "underpowered", with the smallest difference the test would have
    found with probability ``power``.  A non-significant test on few units is never reported as "no effect".
    """
    n = int(row["n_units"])
    if n < 2:
        return f"undecided: {n} {row['unit']} (a test needs 2)"
    if row["sd_difference"] == 0 and row["mean_difference"] == 0:
        return f"identical on all {n} {row['unit']}s"
    if row["p_ttest"] < alpha:
        higher = row["mean_difference"] > 0
        return "better" if higher != lower_is_better else "worse"
    return (f"underpowered: {n} {row['unit']}s detect only |diff| >= {row['detectable_difference']:.3g} "
            f"({power:.0%} power, alpha {alpha})")


def with_verdicts(comparisons: pd.DataFrame, lower_is_better: Sequence[str] = ()) -> pd.DataFrame:
    """``comparisons`` with a ``verdict`` column (:func:`verdict`); metrics in ``lower_is_better`` are better
    when smaller."""
    lower = set(lower_is_better)
    return comparisons.assign(verdict=[verdict(row, row["metric"] in lower) for _, row in comparisons.iterrows()])


def format_comparisons(comparisons: pd.DataFrame, keys: Sequence[str] = ()) -> str:
    """Printable text of :func:`paired_comparison` rows (with :func:`with_verdicts`' verdict if present): the
    ``keys`` columns, the number of independent units beside every p-value, and a note where the Wilcoxon test
    could not reach ``ALPHA`` with that many units."""
    columns = [*keys, "metric", "unit", "n_units", "mean_difference", "ci_low", "ci_high", "p_ttest", "p_wilcoxon",
               "detectable_difference", *(["verdict"] if "verdict" in comparisons else [])]
    text = comparisons[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}")
    blind = comparisons["min_p_wilcoxon"] >= ALPHA
    if blind.any():
        units = sorted(set(comparisons.loc[blind, "n_units"]))
        text += (f"\n(Wilcoxon: with {', '.join(map(str, units))} units its smallest possible p is "
                 f"{', '.join(f'{smallest_wilcoxon_p(n):.3g}' for n in units)}, so it cannot reach {ALPHA}; "
                 f"detectable_difference: smallest true difference the t-test finds with {POWER:.0%} power)")
    return text


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial success rate (Wilson 1927).

    With ``p = successes / n`` and ``z`` the standard normal quantile of ``(1 + confidence) / 2``::

        centre = (p + z^2 / (2 n)) / (1 + z^2 / n)
        half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / (4 n^2))

    It stays inside [0, 1] and is not degenerate at 0 or n successes (unlike the normal interval).
    Returns (NaN, NaN) for ``n == 0``.
    """
    _check_probability("confidence", confidence)
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
