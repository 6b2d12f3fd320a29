"""The Hebbian logic study end to end on a tiny grid: tables, pooled cells, figures, bad input."""

import importlib
import json

import pandas as pd
import pytest



@pytest.fixture
def study(monkeypatch):
    module = importlib.import_module("spikeloc.studies.hebbian_logic")
    monkeypatch.setitem(module.PRESETS, "quick", dict(
        tasks=("xor",), seeds=(0, 1), long_updates=(), meta=dict(meta_steps=2, n_updates=3, n_replications=2),
        evolution="short", families=("polynomial",), drives=(0.8, 1.0), bias_rules=module.BIAS_RULES,
        settings=dict(n_replications=4, n_updates=5)))
    return module


def test_study_writes_tables_and_figures(study, tmp_path, capsys):
    out = tmp_path / "hebbian"
    study.main(["--out", str(out), "--executor", "inline", "--quiet"])
    table = pd.read_csv(out / "runs.csv")
    # sizes x (rate: 5 designed + 4 with a bias + 2 learned + 2 evolved; spiking: 6 designed, and the 4 + 2
    # rules on units with a bias at two input rates, + 2 learned)
    cells_per_task = 3 * ((5 + 4 + 2 + 2) + (6 + 2 * (4 + 2) + 2))
    assert len(table) == cells_per_task * 2 and set(table["status"]) == {"ok"}
    cells = pd.read_csv(out / "cells.csv")
    assert len(cells) == cells_per_task and (cells["n_total"] == 8).all()
    assert ((cells["ci_low"] <= cells["success_rate"]) & (cells["success_rate"] <= cells["ci_high"])).all()
    seed_rows = cells.dropna(subset=["seed_notebook_rate"])
    assert len(seed_rows) == 3 and set(seed_rows["rule"]) == {"seed_supervised"}
    assert set(cells.loc[cells["rule"] == "learned", "transfer"]) == {"in-task", "transfer"}
    assert set(cells.loc[cells["rule"] == "evolved", "transfer"]) == {"in-task", "transfer"}
    assert set(pd.read_csv(out / "vs_seed_rule.csv")["n_units"]) == {2}
    paired = pd.read_csv(out / "spiking_vs_rate.csv")
    # every rule variant on both kinds: designed, with a bias at two spiking input rates, learned, evolved at two
    assert set(paired["n_pairs"]) == {2} and len(paired) == 3 * (5 + 2 * 4 + 2 + 2 * 2)
    transfer = pd.read_csv(out / "transfer.csv")
    assert set(transfer["meta_trained_on"]) == {"polynomial/separable", "polynomial/xor"} and "xor" in transfer
    for name in ("hebbian_rate.png", "hebbian_spiking.png", "learned_rule_and.png", "learned_rule_xor.png",
                 "transfer.png"):
        assert (out / name).stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "Success rate per cell" in printed and "transfer" in printed and "dw/eta (onto output) =" in printed
    evolved = json.loads((out / "evolved_rules.json").read_text())
    assert set(evolved) == {"polynomial/separable", "polynomial/xor"}
    # a resumed study reuses the evolved rules instead of evolving them again
    study.main(["--out", str(out), "--executor", "inline", "--quiet"])
    assert "reused from" in capsys.readouterr().out
    assert pd.read_csv(out / "runs.csv").equals(table)


def test_bad_setting_fails_before_any_work(study, monkeypatch, tmp_path):
    monkeypatch.setitem(study.PRESETS["quick"], "settings", dict(lr=-1.0))
    out = tmp_path / "never"
    with pytest.raises(ValueError, match="lr"):
        study.main(["--out", str(out), "--quiet"])
    assert not out.exists()
