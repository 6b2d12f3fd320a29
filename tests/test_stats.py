"""Statistics over study tables (spikeloc.study.stats): hand-computed cases.

The independent unit is the seed: runs of one seed at several grid points share its weights, data and draws,
so they are averaged into one value before any standard error, interval or test.  The cases below fail on
the pooled (pseudo-replicated) computation that came before.
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from spikeloc.study.cli import readable_summary, run_and_summarise
from spikeloc.study.runner import Study, run_study
from spikeloc.study.stats import (
    detectable_difference,
    family_verdicts,
    format_comparisons,
    holm,
    paired_comparison,
    paired_test,
    sign_flip_test,
    smallest_exact_p,
    summarise,
    verdict,
    wilson_interval,
    with_verdicts,
)

# --------------------------------------------------------------------------
# summarise


@pytest.fixture
def results_table():
    return pd.DataFrame({
        "method": ["A", "A", "A", "A", "B", "B", "C"],
        "sigma": [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
        "seed": [0, 1, 2, 3, 0, 1, 0],
        "accuracy": [0.5, 0.7, 0.9, 100.0, 0.6, np.nan, 0.8],
        "status": ["ok", "ok", "ok", "failed", "ok", "ok", "failed"],
    })


def test_summarise_matches_a_hand_computation(results_table):
    summary = summarise(results_table, by=["method", "sigma"], metrics=["accuracy"], confidence=0.9)
    assert list(summary.columns) == ["method", "sigma", "metric", "unit", "n_units", "n_runs", "mean", "sem",
                                     "ci_low", "ci_high"]
    a, b, c = (summary.iloc[i] for i in range(3))

    values = np.array([0.5, 0.7, 0.9])
    mean, sem = values.mean(), stats.sem(values)
    low, high = stats.t.interval(0.9, len(values) - 1, loc=mean, scale=sem)
    assert (a["method"], a["sigma"], a["metric"], a["unit"], a["n_units"]) == ("A", 0.1, "accuracy", "seed", 3)
    assert (a["mean"], a["sem"], a["ci_low"], a["ci_high"]) == pytest.approx((mean, sem, low, high))

    assert (b["n_units"], b["n_runs"], b["mean"]) == (1, 1, 0.6)  # the NaN value does not count
    assert np.isnan([b["sem"], b["ci_low"], b["ci_high"]]).all()
    assert c["n_units"] == 0 and np.isnan(c["mean"])  # its only run failed


def test_summarise_averages_within_a_seed_before_the_standard_error():
    # one condition, 3 seeds x 2 sigmas pooled: seed means 0.6, 0.9, 0.7
    table = pd.DataFrame({"method": "A", "seed": [0, 0, 1, 1, 2, 2], "sigma": [0, 1] * 3,
                          "accuracy": [0.5, 0.7, 0.8, 1.0, 0.6, 0.8]})
    row = summarise(table, by=["method"], metrics=["accuracy"], confidence=0.9).iloc[0]
    # by hand: mean 2.2 / 3; SD sqrt(((-0.4/3)^2 + (0.5/3)^2 + (-0.1/3)^2) / 2) = sqrt(0.07 / 3); SEM = SD / sqrt(3)
    sem = math.sqrt(0.07 / 3) / math.sqrt(3)
    assert (row["n_units"], row["n_runs"]) == (3, 6)
    assert row["mean"] == pytest.approx(2.2 / 3)
    assert row["sem"] == pytest.approx(sem) == pytest.approx(0.0881917)  # 6 pooled runs would give 0.0667
    assert row["ci_high"] - row["mean"] == pytest.approx(2.919986 * sem, rel=1e-6)  # t(0.95, 2 df)


def test_readable_summary_gives_accuracies_in_percent_and_small_ratios_to_three_digits():
    table = pd.DataFrame({"method": "A", "seed": [0, 1, 2], "test_acc": [0.90, 0.92, 0.94],
                          "robustness_ratio": [0.951, 0.962, 0.973], "error_deg": [4.0, 4.3, 4.6]})
    summary = summarise(table, by=["method"], metrics=["test_acc", "robustness_ratio", "error_deg"])
    row = readable_summary(summary, ["method"]).iloc[0]
    # by hand: SEM of (0.90, 0.92, 0.94) = 0.02 / sqrt(3) = 0.01155 (1.2 points); of the ratios 0.011 / sqrt(3);
    # of the errors 0.3 / sqrt(3) = 0.173
    assert (row["test_acc"], row["robustness_ratio"], row["error_deg"], row["n_seeds"]) == (
        "92.0 ± 1.2", "0.962 ± 0.00635", "4.3 ± 0.173", 3)


@dataclasses.dataclass(frozen=True)
class RuleRun:
    """A config whose rule_family is an empty string for designed rules, as the Hebbian study's."""

    rule: str
    rule_family: str = ""


def score_rule(config: RuleRun, seed: int) -> dict:
    return {"success_rate": 0.5 + 0.1 * seed + (0.2 if config.rule_family else 0.0)}


def test_every_condition_appears_in_the_readable_summary_nan_keys_and_finished_only_too(tmp_path, capsys):
    summary = summarise(pd.DataFrame({"rule": ["a", "a", "b"], "family": ["x", np.nan, np.nan], "seed": [0, 0, 0],
                                      "test_acc": [0.5, 0.6, 0.7]}), by=["rule", "family"], metrics=["test_acc"])
    assert readable_summary(summary, ["rule", "family"])["test_acc"].tolist() == ["50.0", "60.0", "70.0"]

    study = Study("rules", (RuleRun("oja"), RuleRun("evolved", "polynomial")), (0, 1), score_rule)
    run_study(study, tmp_path, executor="inline", quiet=True)
    capsys.readouterr()
    table, summary, _ = run_and_summarise(study, argparse.Namespace(out=tmp_path, finished_only=True, repair=False),
                                          ["rule", "rule_family"], ["success_rate"])
    assert table["rule_family"].tolist() == ["", "", "polynomial", "polynomial"]  # runs.csv's "" stays ""
    printed = capsys.readouterr().out
    assert "4 of 4 runs finished" in printed
    lines = [line.split() for line in printed.splitlines()]
    assert ["oja", "0.55", "±", "0.05", "2"] in lines and ["evolved", "polynomial", "0.75", "±", "0.05", "2"] in lines


def test_summarise_needs_the_unit_column(results_table):
    with pytest.raises(ValueError, match="unit = 'run'"):
        summarise(results_table, by=["method"], metrics=["accuracy"], unit="run")


# --------------------------------------------------------------------------
# paired_comparison


def permutation_p(differences) -> float:
    """scipy's exact two-sided sign-flip p (one sample, permutation_type="samples"), the reference."""
    return stats.permutation_test((np.asarray(differences, dtype=float),), lambda x, axis: np.sum(x, axis=axis),
                                  permutation_type="samples", n_resamples=np.inf).pvalue


def grid_table(differences: dict[int, list[float]], sigmas=(0.0, 0.5)) -> pd.DataFrame:
    """Runs of conditions "base" (accuracy 0.5) and "new" (0.5 + difference) per seed and sigma."""
    rows = []
    for seed, per_sigma in differences.items():
        for sigma, difference in zip(sigmas, per_sigma):
            rows += [{"method": "base", "seed": seed, "sigma": sigma, "accuracy": 0.5, "status": "ok"},
                     {"method": "new", "seed": seed, "sigma": sigma, "accuracy": 0.5 + difference, "status": "ok"}]
    return pd.DataFrame(rows)


def test_paired_comparison_tests_across_seeds_not_pooled_pairs():
    # differences per (seed, sigma); seed means 0.2, 0.2, 0.1
    table = grid_table({0: [0.1, 0.3], 1: [0.2, 0.2], 2: [0.0, 0.2]})
    row = paired_comparison(table, "method", "base", "new", ["accuracy"], pair_on=["seed", "sigma"]).iloc[0]
    # by hand over the 3 seed means: mean 1/6, SD sqrt(0.01 / 3), SEM 1/30, t = 5 on 2 df;
    # two-sided p for 2 df: 1 - t / sqrt(t^2 + 2) = 1 - 5 / sqrt(27)
    assert (row["unit"], row["n_units"], row["n_pairs"]) == ("seed", 3, 6)
    assert row["mean_difference"] == pytest.approx(1 / 6)
    assert row["sd_difference"] == pytest.approx(math.sqrt(0.01 / 3))
    assert row["t_statistic"] == pytest.approx(5.0)
    assert row["p_ttest"] == pytest.approx(1 - 5 / math.sqrt(27)) == pytest.approx(0.03775, abs=1e-5)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((1 / 6 - 4.302653 / 30, 1 / 6 + 4.302653 / 30))
    # three positive differences: the exact Wilcoxon and sign-flip p are their smallest possible value, 2 / 2^3
    assert row["p_wilcoxon"] == pytest.approx(0.25) and row["min_p_signflip"] == 0.25
    assert row["p_signflip"] == 0.25
    # the 6 pooled pairs would claim t = 3.95 on 5 df, p = 0.011


def test_paired_test_on_unit_differences_drops_nans():
    test = paired_test([0.2, np.nan, 0.2, 0.1])
    assert test["n_units"] == 3 and test["t_statistic"] == pytest.approx(5.0)
    assert test["p_ttest"] == pytest.approx(1 - 5 / math.sqrt(27))


def test_paired_comparison_matches_scipy_on_seed_means():
    rng = np.random.default_rng(0)
    base = rng.normal(0.6, 0.05, size=(6, 2))
    new = base + rng.normal(0.03, 0.02, size=(6, 2))
    rows = [{"method": method, "seed": seed, "sigma": sigma, "accuracy": values[seed, j], "status": "ok"}
            for method, values in (("base", base), ("new", new)) for seed in range(6)
            for j, sigma in enumerate((0.1, 0.2))]
    rows += [{"method": "new", "seed": 99, "sigma": 0.1, "accuracy": 5.0, "status": "ok"},  # has no partner
             {"method": "base", "seed": 98, "sigma": 0.1, "accuracy": 0.1, "status": "failed"},
             {"method": "new", "seed": 98, "sigma": 0.1, "accuracy": 0.9, "status": "ok"}]  # partner failed
    row = paired_comparison(pd.DataFrame(rows), "method", "base", "new", ["accuracy"], pair_on=["seed", "sigma"]).iloc[0]

    differences = (new - base).mean(axis=1)
    low, high = stats.t.interval(0.95, 5, loc=differences.mean(), scale=stats.sem(differences))
    ttest = stats.ttest_rel(new.mean(axis=1), base.mean(axis=1))
    assert row["metric"] == "accuracy" and (row["n_units"], row["n_pairs"]) == (6, 12)
    assert row["mean_difference"] == pytest.approx(differences.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert (row["t_statistic"], row["p_ttest"]) == pytest.approx((ttest.statistic, ttest.pvalue))
    assert row["p_wilcoxon"] == pytest.approx(stats.wilcoxon(differences).pvalue)
    assert row["detectable_at_observed_sd"] == pytest.approx(detectable_difference(np.std(differences, ddof=1), 6))
    assert row["p_signflip"] == pytest.approx(permutation_p(differences))


def test_paired_comparison_needs_unique_pairs_and_enough_of_them():
    table = pd.DataFrame({"method": ["base", "base", "new"], "seed": [0, 0, 0], "accuracy": [0.5, 0.6, 0.7]})
    with pytest.raises(ValueError, match="uniquely.*pair_on"):
        paired_comparison(table, "method", "base", "new", ["accuracy"], pair_on=["seed"])
    with pytest.raises(ValueError, match="must hold the independent unit 'seed'"):
        paired_comparison(table, "method", "base", "new", ["accuracy"], pair_on=["sigma"])

    single = paired_comparison(table.iloc[1:], "method", "base", "new", ["accuracy"], pair_on=["seed"])
    assert single.loc[0, "n_units"] == 1 and single.loc[0, "mean_difference"] == pytest.approx(0.1)
    assert single[["ci_low", "ci_high", "p_ttest", "p_wilcoxon", "p_signflip", "detectable_at_observed_sd"]].isna().all(
        axis=None)
    assert with_verdicts(single).loc[0, "verdict"] == "undecided: 1 seed (a test needs 2)"


# --------------------------------------------------------------------------
# power


def test_detectable_difference_has_the_stated_power():
    # Monte Carlo: paired differences N(delta, 1) on 3 units, two-sided t-test at 0.05
    delta = detectable_difference(1.0, 3)
    draws = np.random.default_rng(0).normal(delta, 1.0, size=(200_000, 3))
    t = draws.mean(axis=1) / (draws.std(axis=1, ddof=1) / math.sqrt(3))
    assert np.mean(np.abs(t) > stats.t.ppf(0.975, 2)) == pytest.approx(0.8, abs=0.005)
    assert delta == pytest.approx(3.264, abs=0.01)  # 3 seeds need a difference of 3.3 SDs


def test_detectable_difference_limits():
    # large n: the normal approximation (z_0.975 + z_0.8) sd / sqrt(n) = 2.8016 sd / sqrt(n)
    assert detectable_difference(2.0, 10_000) == pytest.approx(2.8016 * 2.0 / 100, rel=1e-3)
    assert detectable_difference(0.5, 5) == pytest.approx(0.5 * detectable_difference(1.0, 5))
    assert detectable_difference(1.0, 3, power=0.9) > detectable_difference(1.0, 3)
    # power just above alpha: almost any difference is "detected" that often; the root lies below 1
    assert 0 < detectable_difference(1.0, 30, power=0.06) < 0.1
    assert detectable_difference(0.0, 3) == 0.0
    assert np.isnan(detectable_difference(1.0, 1)) and np.isnan(detectable_difference(np.nan, 3))
    with pytest.raises(ValueError, match="power"):
        detectable_difference(1.0, 3, power=0.05)


@pytest.mark.parametrize("n", [2, 3, 5, 6])
def test_smallest_exact_p_is_what_scipy_gives_for_one_sign(n):
    assert smallest_exact_p(n) == 2.0 ** (1 - n)
    assert stats.wilcoxon(np.arange(1.0, n + 1)).pvalue == pytest.approx(smallest_exact_p(n))
    assert sign_flip_test(np.arange(1.0, n + 1)) == smallest_exact_p(n) == permutation_p(np.arange(1.0, n + 1))


# --------------------------------------------------------------------------
# verdicts and printing


def comparison_row(**changes) -> pd.Series:
    row = dict(metric="accuracy", unit="seed", n_units=6, mean_difference=0.02, sd_difference=0.0157, p_ttest=0.2,
               p_signflip=0.2, p_adjusted=0.2, family_size=1, detectable_at_observed_sd=0.0512, min_p_signflip=0.03125)
    return pd.Series({**row, **changes})


def test_a_test_that_does_not_reject_is_underpowered_not_no_effect():
    text = verdict(comparison_row())
    assert text.startswith("underpowered: 6 seeds detect only |diff| >= 0.0512 at the observed SD")
    assert "no detectable effect" not in text


def test_equal_conditions_are_identical_not_underpowered():
    table = grid_table({0: [0.0], 1: [0.0], 2: [0.0]}, sigmas=(0.0,))
    row = with_verdicts(paired_comparison(table, "method", "base", "new", ["accuracy"], pair_on=["seed"])).iloc[0]
    assert np.isnan(row["p_ttest"]) and row["verdict"] == "identical on all 3 seeds" and row["p_signflip"] == 1


@pytest.mark.parametrize("difference, lower_is_better, expected", [
    (0.02, False, "better"), (-0.02, False, "worse"), (0.02, True, "worse"), (-0.02, True, "better")])
def test_a_rejecting_test_says_better_or_worse(difference, lower_is_better, expected):
    assert verdict(comparison_row(mean_difference=difference, p_adjusted=0.01), lower_is_better) == expected


def test_printed_comparisons_show_the_units_beside_each_p_value():
    table = grid_table({0: [0.1, 0.3], 1: [0.2, 0.2], 2: [0.0, 0.2]})
    comparisons = with_verdicts(paired_comparison(table, "method", "base", "new", ["accuracy"], pair_on=["seed", "sigma"]))
    # t-test p = 0.038 on 3 seeds; the sign-flip test cannot go below 0.25 with 3 units
    assert comparisons.loc[0, "verdict"] == "underpowered: with 3 seeds the sign-flip test's smallest p is 0.25 (alpha 0.05)"
    text = format_comparisons(comparisons)
    header, line = text.splitlines()[:2]
    names = header.split()
    assert names.index("n_units") < names.index("p_ttest") < names.index("p_signflip") < names.index("p_adjusted")
    assert line.split()[names.index("n_units")] == "3" and line.split()[names.index("p_adjusted")] == "0.25"
    assert "smallest possible p of the sign-flip and Wilcoxon tests is 0.25" in text
    assert "Holm-adjusted over the study's family of 1 comparisons" in text
    assert "detectable_at_observed_sd" in header and "if the observed SD were the true one" in text


# --------------------------------------------------------------------------
# wilson_interval


def test_wilson_interval_known_values():
    low, high = wilson_interval(73, 100)
    assert low == pytest.approx(0.6365, abs=1e-3) and high == pytest.approx(0.8083, abs=1e-3)
    assert wilson_interval(100, 100)[1] == 1.0 and wilson_interval(0, 100)[0] == 0.0
    assert wilson_interval(0, 100)[1] == pytest.approx(0.0370, abs=1e-3)
    # by hand, 1 of 2 at 95 %: centre 0.5, half = z / (1 + z^2 / 2) * sqrt(1 / 8 + z^2 / 16)
    z = 1.959964
    half = z / (1 + z * z / 2) * math.sqrt(1 / 8 + z * z / 16)
    assert wilson_interval(1, 2) == pytest.approx((0.5 - half, 0.5 + half))
    assert wilson_interval(1, 2, confidence=0.5)[1] < 0.5 + half  # a lower confidence gives a narrower interval


def test_wilson_interval_bad_input():
    assert np.isnan(wilson_interval(0, 0)).all()
    with pytest.raises(ValueError, match="successes = 3 is invalid"):
        wilson_interval(3, 2)
    with pytest.raises(ValueError, match="successes = -1 is invalid"):
        wilson_interval(-1, 2)
    with pytest.raises(ValueError, match="confidence must be between 0 and 1, got 1"):
        wilson_interval(1, 2, confidence=1)


def test_summarise_keeps_conditions_sorted_and_a_nan_condition_and_names_bad_confidence():
    table = pd.DataFrame({"method": ["B", "A", "A"], "sigma": [np.nan, 0.2, 0.1], "seed": [0, 0, 0],
                          "accuracy": [0.1, 0.2, 0.3]})
    summary = summarise(table, by=["method", "sigma"], metrics=["accuracy"])
    assert summary["method"].tolist() == ["A", "A", "B"] and summary["sigma"].tolist()[:2] == [0.1, 0.2]
    assert np.isnan(summary["sigma"].iloc[2]) and summary["mean"].iloc[2] == 0.1  # NaN config value kept
    empty = summarise(table.iloc[:0], by=["method"], metrics=["accuracy"])
    assert empty.empty and list(empty.columns) == ["method", "metric", "unit", "n_units", "n_runs", "mean", "sem",
                                                   "ci_low", "ci_high"]
    with pytest.raises(ValueError, match="^confidence must be between 0 and 1, got 1.5$"):
        summarise(table, by=["method"], metrics=["accuracy"], confidence=1.5)


def test_paired_test_on_two_units_by_hand():
    # mean 0.2, SD 0.1 sqrt(2), SEM 0.1, t = 2 on 1 df: two-sided p = 1 - 2 atan(2) / pi
    test = paired_test([0.1, 0.3])
    assert (test["n_units"], test["sd_difference"], test["t_statistic"]) == pytest.approx((2, 0.1 * math.sqrt(2), 2.0))
    assert test["p_ttest"] == pytest.approx(1 - 2 * math.atan(2) / math.pi)
    assert test["p_wilcoxon"] == pytest.approx(0.5) and test["min_p_signflip"] == 0.5 and test["p_signflip"] == 0.5
    assert (test["ci_low"], test["ci_high"]) == pytest.approx((0.2 - 12.7062 * 0.1, 0.2 + 12.7062 * 0.1), rel=1e-5)
    assert test["detectable_at_observed_sd"] == pytest.approx(detectable_difference(0.1 * math.sqrt(2), 2))
    assert paired_test([0.1, 0.3], power=0.9)["detectable_at_observed_sd"] > test["detectable_at_observed_sd"]
    one = paired_test([0.1])
    assert one["n_units"] == 1
    assert np.isnan([one["sd_difference"], one["p_ttest"], one["p_wilcoxon"], one["p_signflip"]]).all()


@pytest.mark.parametrize("call, name", [
    (lambda: paired_test([0.1, 0.2], confidence=2.0), "confidence"),
    (lambda: paired_test([0.1, 0.2], confidence=0.0), "confidence"),
    (lambda: detectable_difference(1.0, 3, alpha=1.5), "alpha"),
    (lambda: detectable_difference(1.0, 3, power=1.5), "power"),
])
def test_bad_probabilities_name_their_argument(call, name):
    with pytest.raises(ValueError, match=f"^{name} must be between 0 and 1"):
        call()


def test_smallest_exact_p_edges():
    assert smallest_exact_p(1) == 1.0 and np.isnan(smallest_exact_p(0))


def test_verdict_edges():
    # the verdict reads the adjusted p only; p exactly alpha does not reject
    assert verdict(comparison_row(p_adjusted=0.01, p_ttest=0.9, p_signflip=0.9)) == "better"
    assert verdict(comparison_row(p_adjusted=0.05, p_ttest=0.001, p_signflip=0.001)).startswith("underpowered")


def test_with_verdicts_applies_lower_is_better_per_metric():
    seeds = {seed: [0.1 + 0.01 * seed] for seed in range(7)}  # 7 seeds: sign-flip p = 2 / 2^7 per metric
    table = grid_table(seeds, sigmas=(0.0,)).assign(error=lambda t: t["accuracy"])
    comparisons = paired_comparison(table, "method", "base", "new", ["accuracy", "error"], pair_on=["seed"])
    assert with_verdicts(comparisons, lower_is_better=["error"])["verdict"].tolist() == ["better", "worse"]


def test_format_comparisons_columns_and_note():
    table = pd.concat([grid_table({0: [0.1], 1: [0.2]}, sigmas=(0.0,)).assign(task="a"),
                       grid_table({0: [0.1], 1: [0.2], 2: [0.123456]}, sigmas=(0.0,)).assign(task="b")])
    comparisons = pd.concat([paired_comparison(rows, "method", "base", "new", ["accuracy"], pair_on=["seed"])
                             .assign(task=task) for task, rows in table.groupby("task")])
    plain = format_comparisons(comparisons, ["task"])
    assert "verdict" not in plain and plain.splitlines()[0].split()[0] == "task"  # no index column
    assert "0.1412" in plain  # 4 significant digits: mean of 0.1, 0.2, 0.123456
    assert "with 2, 3 units the smallest possible p of the sign-flip and Wilcoxon tests is 0.5, 0.25" in plain
    assert "p_adjusted" not in plain
    assert "verdict" in format_comparisons(with_verdicts(comparisons), ["task"])


def test_wilson_interval_ends_are_exact_where_rounding_is_not():
    # at n = 10 the formula's centre + half rounds to just below 1 in floating point
    assert wilson_interval(10, 10)[1] == 1.0 and wilson_interval(0, 10)[0] == 0.0


def test_pairs_on_a_column_with_nan_values_are_kept():
    table = grid_table({0: [0.1], 1: [0.2]}, sigmas=(0.0,)).assign(meta_task=np.nan)
    row = paired_comparison(table, "method", "base", "new", ["accuracy"], pair_on=["seed", "meta_task"]).iloc[0]
    assert (row["n_units"], row["n_pairs"]) == (2, 2)


def test_paired_comparison_passes_power_and_a_zero_mean_with_spread_is_underpowered():
    table = grid_table({0: [0.25], 1: [-0.25], 2: [0.0]}, sigmas=(0.0,))  # exact in binary: mean exactly 0
    usual, strict = (paired_comparison(table, "method", "base", "new", ["accuracy"], pair_on=["seed"], power=power)
                     .iloc[0] for power in (0.8, 0.95))
    assert strict["detectable_at_observed_sd"] > usual["detectable_at_observed_sd"]
    assert usual["mean_difference"] == 0.0 and usual["sd_difference"] > 0
    assert with_verdicts(usual.to_frame().T).loc[0, "verdict"].startswith("underpowered: with 3 seeds")


# --------------------------------------------------------------------------
# the sign-flip test and the family of a study (issue 30)


def test_identical_differences_on_three_seeds_are_never_better():
    # every seed 0.1 better: SD 0, t = inf, t-test p = 0 -- but 3 units cannot show it (sign-flip p = 2 / 2^3)
    table = grid_table({0: [0.1], 1: [0.1], 2: [0.1]}, sigmas=(0.0,))
    row = with_verdicts(paired_comparison(table, "method", "base", "new", ["accuracy"], pair_on=["seed"])).iloc[0]
    assert row["sd_difference"] == 0 and row["p_signflip"] == 0.25 and row["p_adjusted"] == 0.25
    assert row["verdict"] == "underpowered: with 3 seeds the sign-flip test's smallest p is 0.25 (alpha 0.05)"
    # 6 identical differences can: 2 / 2^6 = 0.03125
    six = with_verdicts(paired_comparison(grid_table({s: [0.1] for s in range(6)}, sigmas=(0.0,)), "method", "base",
                                          "new", ["accuracy"], pair_on=["seed"])).iloc[0]
    assert six["p_signflip"] == 0.03125 and six["verdict"] == "better"


def test_sign_flip_test_by_hand_and_against_scipy():
    # |+-0.1 +-0.2 +-0.3 +-0.05| >= |0.1 - 0.2 + 0.3 + 0.05| = 0.25 for the patterns giving 0.65, 0.55, 0.25,
    # -0.35, -0.45 and their 5 mirror images: 10 of 16
    assert sign_flip_test([0.1, -0.2, 0.3, 0.05]) == 10 / 16 == permutation_p([0.1, -0.2, 0.3, 0.05])
    assert sign_flip_test([0.1, -0.1]) == 1.0 and sign_flip_test([0.0, 0.0, 0.0]) == 1.0
    assert np.isnan(sign_flip_test([])) and sign_flip_test([0.2, np.nan, 0.2]) == 0.5
    rng = np.random.default_rng(1)
    for n in (2, 5, 9, 12):
        differences = rng.normal(0.3, 1.0, size=n).round(2)  # rounded: ties between sign patterns occur
        assert sign_flip_test(differences) == pytest.approx(permutation_p(differences), rel=1e-12)


def test_sign_flip_test_above_the_exact_limit_is_a_seeded_monte_carlo():
    differences = np.random.default_rng(2).normal(0.4, 1.0, size=18)
    exact = permutation_p(differences)  # scipy enumerates all 2^18 patterns
    estimate = sign_flip_test(differences)
    assert estimate == sign_flip_test(differences)  # same seed, same p
    assert estimate == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / 100_000))
    assert sign_flip_test(np.ones(20)) == 1 / 100_001  # never 0: (1 + hits) / (1 + draws)


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4): x4 = 0.02, x3 = 0.03, x2 = 0.06, x1 = 0.04 -> running max 0.06
    adjusted = holm([0.01, 0.04, 0.03, 0.005, np.nan])
    np.testing.assert_allclose(adjusted[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adjusted[4])
    assert holm([0.5, 0.6]).tolist() == [1.0, 1.0] and holm([]).size == 0


def test_a_family_of_comparisons_is_adjusted_together():
    # 7 seeds all better: sign-flip p = 2 / 2^7 = 0.0156 each; alone "better", one of four Holm gives 0.0625
    seven = grid_table({s: [0.1 + 0.01 * s] for s in range(7)}, sigmas=(0.0,))
    one = paired_comparison(seven, "method", "base", "new", ["accuracy"], pair_on=["seed"])
    assert with_verdicts(one).loc[0, "verdict"] == "better"
    first, second = family_verdicts([one, pd.concat([one, one, one], ignore_index=True)])
    assert first["p_adjusted"].tolist() == pytest.approx([4 * 2 / 128]) == second["p_adjusted"].tolist()[:1]
    assert (first["family_size"] == 4).all() and (second["family_size"] == 4).all()
    assert first.loc[0, "verdict"] == ("underpowered: p 0.0156 alone, 0.0625 adjusted over the family of 4 "
                                       "comparisons (alpha 0.05)")
    assert "family of 4 comparisons" in format_comparisons(second)
