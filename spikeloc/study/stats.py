"""Summary statistics over study results tables (see :mod:`spikeloc.study.runner`).

Only runs with ``status == "ok"`` enter any statistic.  Confidence intervals use the t-distribution.

Every statistic is computed over *independent units*, by default the run seed.  Runs that share a seed share
its initial weights, data, shuffle order and random draws, so several runs of one seed (e.g. one per training
noise level) are not independent replicates: pooling them as if they were (pseudo-replication) shrinks the
standard error and the p-value without more evidence.  Both :func:`summarise` and :func:`paired_comparison`
therefore first average within each unit and then compute their statistic across units; their tables name
the unit (``unit``) and say how many independent units there were (``n_units``).  For a balanced design this
gives the same test as a linear mixed model with a random intercept per unit (and per unit x condition).

Verdicts rest on the exact sign-flip test (:func:`sign_flip_test`), valid at any number of units: with ``n``
units its smallest two-sided p is ``2 / 2**n``, so 3 seeds can never reach 0.05 however alike their differences
(the t-test, whose p is 0 when every seed's difference is the same non-zero value, is kept for its interval
and shown beside it).  A study judges many comparisons at once; their sign-flip p-values are Holm-adjusted
over the study's family (:func:`family_verdicts`: every comparison table the study writes in one run), and
the verdict reads the adjusted p.

A paired test on a handful of seeds can only see large effects.  :func:`detectable_difference` gives the
smallest true difference a paired t-test on ``n`` units finds with 80 % probability if the observed SD were
the true one (3 seeds estimate an SD poorly, so the column says "at the observed SD"); :func:`verdict` says
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
#: Up to this many units :func:`sign_flip_test` enumerates all 2^n sign patterns (65536 at 16) ...
EXACT_SIGN_FLIP_UNITS = 16
#: ... above it, this many random patterns drawn from ``numpy.random.default_rng(SIGN_FLIP_SEED)``.
SIGN_FLIP_DRAWS = 100_000
SIGN_FLIP_SEED = 0


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
    A study has only the SD observed on its few units: given that, this is the detectable difference at the
    observed SD (3 seeds' SD can be far from the true one), as its printed column says.
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


def smallest_exact_p(n: int) -> float:
    """Smallest two-sided p the sign-flip test (:func:`sign_flip_test`) or the Wilcoxon signed-rank test can give
    on ``n`` units: ``2 / 2**n`` (every difference non-zero and of one sign); 0.25 for 3 units, below 0.05 only
    from 6 units on."""
    return 2.0 ** (1 - n) if n > 0 else np.nan


def _sign_patterns(n: int) -> np.ndarray:
    """The sign patterns of :func:`sign_flip_test`: all 2^n for ``n <= EXACT_SIGN_FLIP_UNITS``, else
    ``SIGN_FLIP_DRAWS`` random ones (rows of +-1)."""
    if n <= EXACT_SIGN_FLIP_UNITS:
        bits = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1
    else:
        bits = np.random.default_rng(SIGN_FLIP_SEED).integers(0, 2, size=(SIGN_FLIP_DRAWS, n))
    return 1.0 - 2.0 * bits


def sign_flip_test(differences: Sequence[float]) -> float:
    """Two-sided p of the sign-flip (paired permutation) test that ``differences`` (one per unit, NaNs dropped)
    are symmetric about 0.

    Under the null hypothesis each unit's difference is as likely to carry either sign, so every sign pattern
    ``s`` in {-1, +1}^n is equally likely; with ``T(s) = |sum_i s_i d_i|``::

        p = #{s : T(s) >= T(+1, ..., +1)} / 2^n

    over all 2^n patterns for ``n <= EXACT_SIGN_FLIP_UNITS``, else ``(1 + hits) / (1 + SIGN_FLIP_DRAWS)`` over
    ``SIGN_FLIP_DRAWS`` patterns from the seeded ``SIGN_FLIP_SEED`` stream (a Monte Carlo p that is never 0).
    Exact at any ``n`` with no assumption on the differences' distribution; ``scipy.stats.permutation_test``
    with one sample and ``permutation_type="samples"`` gives the same p.  Its smallest value is
    :func:`smallest_exact_p`; 1 when the differences sum to 0; NaN with no unit.  Sums equal up to 100 machine
    epsilons of the observed one count as ties (scipy's tolerance).
    """
    values = np.asarray(differences, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return np.nan
    observed = abs(values.sum())
    flipped = np.abs(_sign_patterns(len(values)) @ values)
    hits = int(np.count_nonzero(flipped >= observed * (1 - 100 * np.finfo(float).eps)))
    if len(values) <= EXACT_SIGN_FLIP_UNITS:
        return hits / len(flipped)
    return (1 + hits) / (1 + len(flipped))


def paired_test(
    differences: Sequence[float], confidence: float = 0.95, alpha: float = ALPHA, power: float = POWER,
) -> dict[str, float]:
    """Paired tests on one difference per independent unit (``other - baseline``, NaNs dropped).

    Returns ``n_units, mean_difference, sd_difference, ci_low, ci_high`` (t interval), ``t_statistic,
    p_ttest`` (one-sample t-test of the differences, i.e. ``scipy.stats.ttest_rel``; needs 2 units),
    ``p_wilcoxon`` (``scipy.stats.wilcoxon``; needs 2 units and a non-zero difference), ``p_signflip``
    (:func:`sign_flip_test`, the verdicts' test; needs 2 units), ``min_p_signflip`` (:func:`smallest_exact_p`:
    neither exact test can decide at ``alpha`` when it is ``>= alpha``) and ``detectable_at_observed_sd``
    (:func:`detectable_difference` from the observed SD taken as the true one); what the units do not allow is
    NaN.
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
        "p_signflip": sign_flip_test(values) if n > 1 else np.nan,
        "min_p_signflip": smallest_exact_p(n),
        "detectable_at_observed_sd": detectable_difference(sd, n, alpha, power),
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
    Verdicts come from :func:`with_verdicts` / :func:`family_verdicts` over the whole family of comparisons.
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


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values, in the input order.

    With the ``m`` non-NaN p-values sorted, ``p_(1) <= ... <= p_(m)``::

        p_adj_(i) = min(1, max_{j <= i} (m - j + 1) p_(j))

    Rejecting where ``p_adj < alpha`` keeps the probability of any false rejection in the family at most
    ``alpha`` under any dependence between the tests.  NaN stays NaN and is not counted in ``m``.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return adjusted


def verdict(row: pd.Series, lower_is_better: bool = False, alpha: float = ALPHA, power: float = POWER) -> str:
    """What a row of :func:`family_verdicts` (a :func:`paired_comparison` row with ``p_adjusted``) lets one say
    about ``other`` against ``baseline``.

    "better" / "worse" when the sign-flip test rejects at ``alpha`` after Holm's adjustment over the family
    (direction from the mean difference; ``lower_is_better`` for errors, epochs, ...); "identical" when every
    unit's difference is exactly 0.  Otherwise the units could not decide: "underpowered", saying why: too few
    units for the sign-flip test ever to reach ``alpha``, a p below ``alpha`` that the family's adjustment lifts
    above it, or the smallest difference a paired t-test would have found with probability ``power`` at the
    observed SD.  A test that does not reject is never reported as
    "no effect".
    """
    n = int(row["n_units"])
    if n < 2:
        return f"undecided: {n} {row['unit']} (a test needs 2)"
    if row["sd_difference"] == 0 and row["mean_difference"] == 0:
        return f"identical on all {n} {row['unit']}s"
    if row["p_adjusted"] < alpha:
        higher = row["mean_difference"] > 0
        return "better" if higher != lower_is_better else "worse"
    if smallest_exact_p(n) >= alpha:
        return (f"underpowered: with {n} {row['unit']}s the sign-flip test's smallest p is "
                f"{smallest_exact_p(n):.3g} (alpha {alpha})")
    if row["p_signflip"] < alpha:
        return (f"underpowered: p {row['p_signflip']:.3g} alone, {row['p_adjusted']:.3g} adjusted over the family of "
                f"{int(row['family_size'])} comparisons (alpha {alpha})")
    return (f"underpowered: {n} {row['unit']}s detect only |diff| >= {row['detectable_at_observed_sd']:.3g} at "
            f"the observed SD ({power:.0%} power, alpha {alpha})")


def family_verdicts(tables: Sequence[pd.DataFrame], lower_is_better: Sequence[str] = ()) -> list[pd.DataFrame]:
    """``tables`` of :func:`paired_comparison` rows, each with ``p_adjusted`` (Holm over the family),
    ``family_size`` and ``verdict`` (:func:`verdict`); metrics in ``lower_is_better`` are better when smaller.

    The family is every row of every table passed together: a study passes every comparison table it writes in
    one run, in one call, so that its verdicts keep the chance of any false "better" or "worse" at ``ALPHA``
    (:func:`holm` over the rows' ``p_signflip``; rows without a p, fewer than 2 units, are not counted).
    """
    tables = [table.reset_index(drop=True) for table in tables]
    together = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    adjusted = holm(together["p_signflip"]) if len(together) else np.array([])
    size = int(np.count_nonzero(~np.isnan(adjusted)))
    lower = set(lower_is_better)
    judged, start = [], 0
    for table in tables:
        table = table.assign(p_adjusted=adjusted[start:start + len(table)], family_size=size)
        judged.append(table.assign(verdict=[verdict(row, row["metric"] in lower) for _, row in table.iterrows()]))
        start += len(table)
    return judged


def with_verdicts(comparisons: pd.DataFrame, lower_is_better: Sequence[str] = ()) -> pd.DataFrame:
    """``comparisons`` judged as one family (:func:`family_verdicts`): a study or benchmark whose only comparison
    table this is."""
    return family_verdicts([comparisons], lower_is_better)[0]


def format_comparisons(comparisons: pd.DataFrame, keys: Sequence[str] = ()) -> str:
    """Printable text of :func:`paired_comparison` rows (with :func:`family_verdicts`' adjusted p and verdict if
    present): the ``keys`` columns, the number of independent units beside every p-value, and notes on the
    tests: which one decides, the family it is adjusted over, and where too few units keep it from ``ALPHA``."""
    judged = "p_adjusted" in comparisons
    columns = [*keys, "metric", "unit", "n_units", "mean_difference", "ci_low", "ci_high", "p_ttest", "p_wilcoxon",
               "p_signflip", *(["p_adjusted"] if judged else []), "detectable_at_observed_sd",
               *(["verdict"] if "verdict" in comparisons else [])]
    text = comparisons[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}")
    notes = ["ci: t interval of the mean difference; p_signflip: exact sign-flip test over the units"
             + (f" (above {EXACT_SIGN_FLIP_UNITS} units: {SIGN_FLIP_DRAWS} random sign patterns, seed "
                f"{SIGN_FLIP_SEED})" if (comparisons["n_units"] > EXACT_SIGN_FLIP_UNITS).any() else "")]
    if judged:
        size = int(comparisons["family_size"].iloc[0]) if len(comparisons) else 0
        notes.append(f"p_adjusted: p_signflip Holm-adjusted over the study's family of {size} comparisons; "
                     f"the verdict is p_adjusted < {ALPHA}")
    blind = comparisons["min_p_signflip"] >= ALPHA
    if blind.any():
        units = sorted(set(comparisons.loc[blind, "n_units"]))
        notes.append(f"with {', '.join(map(str, units))} units the smallest possible p of the sign-flip and "
                     f"Wilcoxon tests is {', '.join(f'{smallest_exact_p(n):.3g}' for n in units)}, so they cannot "
                     f"reach {ALPHA}")
    notes.append(f"detectable_at_observed_sd: smallest true difference a paired t-test finds with {POWER:.0%} "
                 f"power if the observed SD were the true one")
    return text + "\n(" + "; ".join(notes) + ")"


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
