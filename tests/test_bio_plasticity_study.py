"""The bio-plasticity ablation end to end on a tiny grid: rows, pairing, tables, figures, bad input."""

import importlib

import pandas as pd
import pytest

from spikeloc.experiments.bio_plasticity import BioPlasticityRun, run_bio_plasticity

TINY_TASKS = {"ipd": dict(epochs=2, n_train_batches=4, n_val_samples=64, n_test_samples=64),
              "digits": dict(epochs=2, n_train=256, hidden=(16,))}
TIMING = {"seconds_per_epoch"}
SOME_CONDITIONS = ("none", "rejuvenation", "rejuvenation_package", "splitting", "all")


@pytest.fixture
def study(monkeypatch):
    module = importlib.import_module("spikeloc.studies.bio_plasticity")
    monkeypatch.setitem(module.PRESETS, "quick", dict(seeds=(0, 1), n_draws=2, tasks=TINY_TASKS))
    monkeypatch.setattr("spikeloc.experiments.bio_plasticity.CONDITIONS", SOME_CONDITIONS)  # the study's default
    return module


def test_bio_plasticity_study_writes_tables_comparisons_and_figure(study, tmp_path, capsys):
    out = tmp_path / "bio"
    study.main(["--out", str(out), "--executor", "inline", "--quiet"])
    table = pd.read_csv(out / "runs.csv")
    assert len(table) == 2 * len(SOME_CONDITIONS) * 2 and set(table["status"]) == {"ok"}
    for column in ("test_acc", "epochs_to_80pct", "noisy_acc", "kept_under_noise", "rejuvenated_pct_per_event"):
        assert table[column].notna().all(), column
    assert (table["epochs_to_80pct"].between(1, 2)).all()
    rejuvenating = table["mechanism"].isin(["rejuvenation", "rejuvenation_package", "all"])
    assert (table.loc[rejuvenating, "rejuvenated_pct_per_event"] > 0).all()
    assert (table.loc[~rejuvenating, "rejuvenated_pct_per_event"] == 0).all()
    for task, runs in table.groupby("task"):
        plain = runs.loc[runs["mechanism"] == "none", "stored_synapses"].iloc[0]
        split = runs["mechanism"].isin(["splitting", "all"])
        assert (runs.loc[split, "stored_synapses"] == 2 * plain).all() and (runs.loc[~split, "stored_synapses"]
                                                                            == plain).all()
    summary = pd.read_csv(out / "summary.csv")
    assert {"mean", "sem", "ci_low", "ci_high", "unit", "n_units"} <= set(summary.columns)
    comparisons = pd.read_csv(out / "vs_none.csv")
    assert len(comparisons) == 2 * (len(SOME_CONDITIONS) - 1) * 4 and set(comparisons["n_units"]) == {2}
    assert comparisons["p_adjusted"].notna().all()  # 2 seeds: no sign-flip p below 0.5, no verdict either way
    assert set(comparisons["verdict"]) <= {"identical on all 2 seeds",
                                           "underpowered: with 2 seeds the sign-flip test's smallest p is 0.5 (alpha 0.05)"}
    assert (out / "ablation.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "Each condition vs none" in printed and "rejuvenated_pct_per_event" in printed


def test_split_weights_store_twice_the_synapses_of_none():
    tiny = dict(task="ipd", n_draws=1, **TINY_TASKS["ipd"])
    none = run_bio_plasticity(BioPlasticityRun(mechanism="none", **tiny), 0)
    split = run_bio_plasticity(BioPlasticityRun(mechanism="splitting", **tiny), 0)
    assert split["stored_synapses"] == 2 * none["stored_synapses"] == 2 * (200 * 30 + 30 * 12)


def test_a_run_is_reproducible_and_conditions_of_one_seed_share_their_start():
    tiny = dict(task="digits", n_draws=2, **TINY_TASKS["digits"])
    first = run_bio_plasticity(BioPlasticityRun(mechanism="all", **tiny), 3)
    again = run_bio_plasticity(BioPlasticityRun(mechanism="all", **tiny), 3)
    assert {k: v for k, v in first.items() if k not in TIMING} == {k: v for k, v in again.items() if k not in TIMING}
    # splitting without jitter: sub-synapses start equal, get equal gradients and equal Adam steps, so the network
    # computes what "none" computes (up to rounding): the pairing of conditions on one seed is exact
    none = run_bio_plasticity(BioPlasticityRun(mechanism="none", **tiny), 3)
    split = run_bio_plasticity(BioPlasticityRun(mechanism="splitting", split_jitter=0.0, **tiny), 3)
    assert split["test_acc"] == pytest.approx(none["test_acc"], abs=0.011)
    assert split["best_val_loss"] == pytest.approx(none["best_val_loss"], rel=1e-3)


@pytest.mark.parametrize("field, value", [("mechanism", "telepathy"), ("task", "chess"), ("fuzzy_spread", 1.5),
                                          ("dampening", 1.0), ("rejuvenation_interval", -1), ("sub_synapses", 1),
                                          ("inhibitory_fraction", 1.5), ("scale", "weights"), ("n_draws", 0)])
def test_bad_settings_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        BioPlasticityRun(**{field: value})


def test_invalid_grid_value_fails_before_any_run(study, monkeypatch, tmp_path):
    monkeypatch.setitem(study.PRESETS, "quick", dict(seeds=(0,), n_draws=1, tasks={"ipd": dict(epochs=0)}))
    with pytest.raises(ValueError, match="epochs"):
        study.main(["--out", str(tmp_path / "bad"), "--executor", "inline", "--quiet"])
    assert not (tmp_path / "bad").exists()
