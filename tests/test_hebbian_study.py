"""The Hebbian logic study end to end on a tiny grid: tables, pooled cells, figures, bad input."""

import importlib
import json
import re

import pandas as pd
import pytest



@pytest.fixture
def study(monkeypatch):
    module = importlib.import_module("spikeloc.studies.hebbian_logic")
    monkeypatch.setitem(module.PRESETS, "quick", dict(
        tasks=("xor",), seeds=(0, 1), long_updates=(), meta=dict(meta_steps=2, n_updates=3, n_replications=2),
        evolution="short", families=("polynomial",), drives=(0.8, 1.0), bias_rules=module.BIAS_RULES,
        settings=dict(n_replications=4, n_updates=5), meta_seeds=(0, 1), learned_meta_seeds=(0,)))
    return module


def test_study_writes_tables_and_figures(study, tmp_path, capsys):
    out = tmp_path / "hebbian"
    study.main(["--out", str(out), "--executor", "inline", "--quiet"])
    table = pd.read_csv(out / "runs.csv")
    # sizes x (rate: 5 designed + 4 with a bias + 2 learned + 2 evolved per meta seed (2); spiking: 6 designed,
    # and the 4 rules on units with a bias and the 2 evolved per meta seed at two input rates, + 2 learned)
    cells_per_task = 3 * ((5 + 4 + 2 + 2 * 2) + (6 + 2 * (4 + 2 * 2) + 2))
    assert len(table) == cells_per_task * 2 and set(table["status"]) == {"ok"}
    cells = pd.read_csv(out / "cells.csv")  # per meta seed
    assert len(cells) == cells_per_task and (cells["n_total"] == 8).all()
    assert sorted(set(cells.loc[cells["rule"] == "evolved", "meta_seed"])) == [0, 1]
    assert ((cells["ci_low"] <= cells["success_rate"]) & (cells["success_rate"] <= cells["ci_high"])).all()
    seed_rows = cells.dropna(subset=["seed_notebook_rate"])
    assert len(seed_rows) == 3 and set(seed_rows["rule"]) == {"seed_supervised"}
    assert set(cells.loc[cells["rule"] == "learned", "transfer"]) == {"in-task", "transfer"}
    assert set(cells.loc[cells["rule"] == "evolved", "transfer"]) == {"in-task", "transfer"}
    # the unit: the seed for designed rules, the meta seed for meta-learned ones (evolved from meta seeds 0 and
    # 1, each tested on seeds 0 and 1; the rule network from meta seed 0 only)
    versus = pd.read_csv(out / "vs_seed_rule.csv")
    evolved = versus["rule_label"].str.startswith("polynomial")
    learned = versus["rule_label"].str.startswith("learned")
    assert set(versus.loc[~evolved & ~learned, "unit"]) == {"seed"} and set(versus.loc[~evolved, "n_units"]) <= {1, 2}
    assert set(versus.loc[~evolved & ~learned, "n_units"]) == {2}
    assert set(versus.loc[evolved | learned, "unit"]) == {"meta_seed"}
    assert set(versus.loc[evolved, "n_units"]) == {2} and set(versus.loc[evolved, "n_pairs"]) == {4}
    assert set(versus.loc[learned, "n_units"]) == {1}
    paired = pd.read_csv(out / "spiking_vs_rate.csv")
    # every rule variant on both kinds: designed, with a bias at two spiking input rates, learned, evolved at two
    assert len(paired) == 3 * (5 + 2 * 4 + 2 + 2 * 2)
    evolved = paired["rule"] == "evolved"
    assert set(paired.loc[~evolved, "n_pairs"]) == {2} and set(paired.loc[evolved, "n_pairs"]) == {4}
    assert set(paired.loc[evolved, "unit"]) == {"meta_seed"} and set(paired.loc[evolved, "n_units"]) == {2}
    over = pd.read_csv(out / "meta_seeds.csv")
    assert set(over.loc[over["rule"] == "evolved", "n_units"]) == {2} and set(over["unit"]) == {"meta_seed"}
    transfer = pd.read_csv(out / "transfer.csv")
    assert set(transfer["meta_trained_on"]) == {"polynomial/separable", "polynomial/xor"} and "xor" in transfer
    for name in ("hebbian_rate.png", "hebbian_spiking.png", "learned_rule_and.png", "learned_rule_xor.png",
                 "transfer.png"):
        assert (out / name).stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "Success rate per cell" in printed and "transfer" in printed and "dw/eta (onto output) =" in printed
    # n_units printed beside the p-values of the evolved rules: their meta seeds
    assert re.search(r"polynomial\S*\s+success_rate\s+meta_seed\s+2\s", printed)
    assert "undecided: 1 meta_seed" in printed
    evolved = json.loads((out / "evolved_rules.json").read_text())
    assert set(evolved) == {"0", "1"} and set(evolved["1"]) == {"polynomial/separable", "polynomial/xor"}
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


def test_bias_rule_learning_rates_are_chosen_on_seeds_no_preset_reports(monkeypatch):
    """choose_lrs asks select_lr for every bias rule with an lr, on LR_SELECTION_SEEDS, which no preset (nor the
    check's seeds 0-4) reports, over XOR cells of that rule with a bias."""
    import spikeloc.experiments.hebbian as hebbian
    module = importlib.import_module("spikeloc.studies.hebbian_logic")
    reported = {seed for preset in module.PRESETS.values() for seed in preset["seeds"]} | set(range(5))
    assert module.LR_SELECTION_SEEDS and not reported & set(module.LR_SELECTION_SEEDS)
    asked = []

    def select(runs, candidates, seeds, log):
        asked.append((runs, candidates, seeds))
        return candidates[-1], {}

    monkeypatch.setattr(hebbian, "select_lr", select)
    chosen = module.choose_lrs(log=lambda line: None)
    with_lr = [i for i, (_, settings) in enumerate(module.BIAS_RULES) if "lr" in settings]
    assert sorted(chosen) == with_lr and len(asked) == len(with_lr)
    for index, (runs, candidates, seeds) in zip(with_lr, asked):
        rule, settings = module.BIAS_RULES[index]
        assert seeds == module.LR_SELECTION_SEEDS and candidates == module.LR_CANDIDATES
        assert {(r.task, r.rule, r.bias, r.clamp) for r in runs} == {("xor", rule, True, settings.get("clamp", 1.0))}
        assert {r.network for r in runs} == {"rate", "spiking"}


def test_select_lr_picks_the_most_solved_and_ties_go_to_the_first(monkeypatch):
    import spikeloc.experiments.hebbian as hebbian
    solved = {0.01: 7, 0.03: 9, 0.1: 9}
    monkeypatch.setattr(hebbian, "run_hebbian", lambda run, seed: {"n_solved": solved[run.lr] - seed, "n_total": 10})
    lines = []
    chosen, rates = hebbian.select_lr([hebbian.HebbianRun()], (0.01, 0.03, 0.1), (0, 1), lines.append)
    assert chosen == 0.03 and rates == {0.01: 13 / 20, 0.03: 17 / 20, 0.1: 17 / 20}
    assert lines[-1] == "  chosen lr 0.03" and "0.850 (17/20)" in lines[1]
    solved[0.1] = 10
    assert hebbian.select_lr([hebbian.HebbianRun()], (0.01, 0.03, 0.1), (0,), lines.append)[0] == 0.1
    with pytest.raises(ValueError, match="seeds"):
        hebbian.select_lr([hebbian.HebbianRun()], (0.01,), (), lines.append)


@pytest.mark.slow
def test_bias_rule_learning_rates_are_the_selection_choice():
    """The lrs in BIAS_RULES are what choose_lrs picks (python benchmarks/check_hebbian_aims.py --sections
    lr_selection prints the same)."""
    module = importlib.import_module("spikeloc.studies.hebbian_logic")
    chosen = module.choose_lrs(log=lambda line: None)
    assert chosen == {index: module.BIAS_RULES[index][1]["lr"] for index in chosen}
