"""The competing-units experiment (readouts on learned features, pixel baselines) and its study end to end."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import itertools
from pathlib import Path

import pandas as pd
import pytest
import torch

from spikeloc.experiments import competing
from spikeloc.experiments.competing import CompetingRun, run_competing, run_competing_batch, spiking_inputs

ROOT = Path(__file__).resolve().parents[1]

#: 100 units learned for 2 epochs: features that a readout separates well in a few epochs
SMALL = CompetingRun(hidden_units=100, rule_epochs=2, epochs=3)
# (tests run on one torch thread: tests/conftest.py)


def without_timings(row: dict) -> dict:
    return {key: value for key, value in row.items() if not key.endswith("_seconds")}


def test_spiking_readout_learns_learned_features_and_is_deterministic():
    row = run_competing(SMALL, seed=0)
    assert row["status"] == "ok" and row["feature_seconds"] > 0
    assert row["test_acc"] > 0.5 and row["val_acc"] > 0.5  # ten classes: chance is 0.1
    assert without_timings(run_competing(SMALL, seed=0)) == without_timings(row)
    assert without_timings(run_competing(SMALL, seed=1)) != without_timings(row)


def test_batched_runs_share_features_and_equal_single_runs():
    krotov = dataclasses.replace(SMALL, readout="krotov")
    rows = run_competing_batch([(SMALL, 0), (krotov, 0)])
    assert rows[0]["feature_seconds"] == rows[1]["feature_seconds"]  # learned once, for both readouts
    assert without_timings(rows[1]) == without_timings(run_competing(krotov, seed=0))
    assert rows[1]["test_acc"] > 0.5


def test_tie_breaks_share_one_trained_readout_and_equal_single_runs(monkeypatch):
    """Runs differing only in the tie-break are trained once in a batch and decoded by each tie-break: every row
    equals the run alone (trained for itself), and only the accuracies may differ between tie-breaks."""
    runs = [dataclasses.replace(SMALL, tie_break=tie) for tie in ("first_spike", "first", "membrane")]
    trainings = []
    train = competing.train_ensemble_on
    monkeypatch.setattr(competing, "train_ensemble_on", lambda *a, **k: trainings.append(a) or train(*a, **k))
    rows = run_competing_batch([(run, 0) for run in runs])
    assert len(trainings) == 1
    for run, row in zip(runs, rows):
        assert without_timings(row) == without_timings(run_competing(run, seed=0)), run.tie_break
    assert len(trainings) == 4  # and once for each run alone


def test_pixel_baselines_learn_without_features():
    for readout in ("pixels-linear", "pixels-mlp"):
        row = run_competing(dataclasses.replace(SMALL, readout=readout, hidden_units=16), seed=0)
        assert row["feature_seconds"] == 0 and row["test_acc"] > 0.7, (readout, row)


def test_spiking_inputs_are_scaled_by_the_training_maximum():
    train, test = torch.tensor([[0.0, 2.0], [1.0, 4.0]]), torch.tensor([[8.0, 2.0]])
    scaled_train, scaled_test = spiking_inputs([train, test], power=2.0)
    torch.testing.assert_close(scaled_train, torch.tensor([[0.0, 0.25], [1 / 16, 1.0]]))
    torch.testing.assert_close(scaled_test, torch.tensor([[1.0, 0.25]]))  # above the training maximum: clipped


@pytest.mark.parametrize("field, value", [
    ("readout", "softmax"), ("p", 0.5), ("k", 1), ("k", 101), ("delta", -0.1), ("layers", 0),
    ("feature_power", 0.5), ("spiking_hidden", -1), ("encoding", "latency"), ("gain", 0.0), ("krotov_beta", 0.0),
    ("krotov_power", 0.5), ("rule_lr", 0.0), ("rule_epochs", 0), ("baseline_lr", -1.0), ("lr", 0.0), ("tau_s", 0.0),
    ("dataset", "mnist-6k"), ("population", 0), ("tie_break", "last"), ("connection", "random"),
    ("normalisation", "l2"),
])
def test_bad_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^{field} = "):
        dataclasses.replace(SMALL, **{field: value})


def load_study():
    return importlib.import_module("spikeloc.studies.competing_units")


def test_competing_units_study_writes_tables_comparisons_and_figures(monkeypatch, tmp_path, capsys):
    module = load_study()
    stacks = (dict(layers=1), module.STACKED)
    monkeypatch.setitem(module.PRESETS, "quick", dict(hidden_sizes=(10,), seeds=(0, 1), stacks=stacks,
                                                      variations=dict(k=(2,)), sizes=dict(rule_epochs=1, epochs=1),
                                                      rule_lrs={10: 0.4}))
    monkeypatch.setitem(module.READOUTS, "spiking-population", dict(readout="spiking", population=2,
                                                                    tie_break="first_spike"))
    out = tmp_path / "competing"
    module.main(["--out", str(out), "--executor", "inline", "--quiet"])
    table = pd.read_csv(out / "runs.csv")
    betas = len(module.CANDIDATES["krotov"]["krotov_beta"])
    per_cell = 4 + betas  # four spiking readouts, Krotov's with each beta
    # softmax regression once, the MLP, readouts x 2 stacks, 2 readouts x 1 variation
    assert len(table) == (1 + 1 + per_cell * 2 + (1 + betas)) * 2 and set(table["status"]) == {"ok"}
    assert set(table["population"]) == {1, 2} and set(table["tie_break"]) == {"first", "first_spike", "membrane"}
    chosen = pd.read_csv(out / "chosen.csv")
    assert len(chosen) == (1 + 1 + 6 * 2 + 3) * 2  # one run per condition and seed (spiking-chosen included)
    spiking = chosen[chosen["readout"] == "spiking"]
    best = spiking[spiking["readout_name"] == "spiking-chosen"]
    others = spiking[spiking["readout_name"] != "spiking-chosen"]
    assert best["val_acc"].tolist() == [others[(others["stack"] == row["stack"]) & (others["k"] == row["k"])
                                               & (others["seed"] == row["seed"])]["val_acc"].max()
                                        for _, row in best.iterrows()]
    krotov = table[table["readout"] == "krotov"]
    for (size, layers, k, seed), runs in krotov.groupby(["hidden_units", "layers", "k", "seed"]):
        pick = chosen[(chosen["readout"] == "krotov") & (chosen["hidden_units"] == size)
                      & (chosen["layers"] == layers) & (chosen["k"] == k) & (chosen["seed"] == seed)]
        assert pick["val_acc"].item() == runs["val_acc"].max()  # chosen on validation, never on test
    summary = pd.read_csv(out / "chosen_summary.csv")
    assert {"mean", "sem", "ci_low", "ci_high", "n_units"} <= set(summary.columns) and set(summary["n_units"]) == {2}
    paired = pd.read_csv(out / "comparisons.csv")
    assert set(paired["n_units"]) == {2} and set(paired["unit"]) == {"seed"}  # paired on the seed only, one cell at a time
    versus_krotov = paired[paired["baseline"] == "krotov"]
    assert len(versus_krotov) == 5 * 2 + 2  # 5 spiking readouts x 2 stacks; population and chosen in the variation
    assert len(paired[paired["baseline"] == "pixels-mlp"]) == 6 * 2
    assert len(paired[paired["baseline"] == "1 layer"]) == 6
    for figure in ("accuracy_vs_hidden.png", "weights.png"):
        assert (out / figure).stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "Paired on the seed;" in printed and "n_units" in printed and "verdict" in printed


def test_study_refuses_a_bad_grid_before_running(monkeypatch, tmp_path):
    module = load_study()
    monkeypatch.setitem(module.PRESETS, "quick", dict(hidden_sizes=(10,), seeds=(0,), stacks=(dict(layers=1),),
                                                      variations=dict(k=(11,)), sizes={}, rule_lrs={10: 0.4}))
    with pytest.raises(ValueError, match="^k = "):
        module.main(["--out", str(tmp_path / "never"), "--quiet"])
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("name", ["small", "readouts", "readouts-2000", "seed", "full"])
def test_presets_learn_features_at_the_rule_lr_chosen_per_size_on_validation(name):
    """Every feature run learns at RULE_LR_BY_UNITS's lr for its size and rule epochs (the quick preset, 3 epochs
    of smoke test, keeps the default lr 0.4: no lr was chosen for 3 epochs)."""
    module = load_study()
    preset = module.PRESETS[name]
    feature_runs = [run for run in module.grid(preset, preset["sizes"]) if not run.readout.startswith("pixels")]
    assert {(run.hidden_units, run.rule_lr) for run in feature_runs} == {
        (run.hidden_units, module.RULE_LR_BY_UNITS[run.hidden_units, run.rule_epochs]) for run in feature_runs}
    assert {run.hidden_units for run in feature_runs} == set(preset["hidden_sizes"])


def test_rule_lr_option_sets_every_sizes_lr_and_reproduces_the_old_grid():
    """--rule-lr 0.4 on readouts-2000 is the grid its documented numbers were printed with (same configs)."""
    module = load_study()
    args = module.parser().parse_args(["--preset", "readouts-2000", "--rule-lr", "0.4", "--out", "unused"])
    preset = module.with_rule_lr(module.PRESETS["readouts-2000"], args.rule_lr)
    assert {run.rule_lr for run in module.grid(preset, preset["sizes"])} == {0.4}
    assert module.with_rule_lr(module.PRESETS["seed"], None) is module.PRESETS["seed"]


def test_rule_lr_mapping_refuses_a_size_not_chosen():
    module = load_study()
    with pytest.raises(ValueError, match="hidden sizes = \\[300\\]"):
        module.chosen_rule_lrs((400, 300))


class UnreadableAccuracy:
    """A test accuracy that fails whatever reads it: compared, formatted, converted, hashed or added."""

    def refuse(self, *args):
        raise AssertionError("the rule lr chooser read a test accuracy")

    __float__ = __format__ = __str__ = __repr__ = __hash__ = __bool__ = refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __add__ = __radd__ = __mul__ = __rmul__ = refuse


def test_rule_lr_is_chosen_on_validation_never_on_test(monkeypatch):
    """choose_rule_lr runs Krotov's readout at each beta per lr and seed, keeps the best validation accuracy per
    seed and the lr with the best mean (ties to the smaller); the test accuracies it is handed all raise when read.
    The seeds it chooses on are reported by no preset and by neither accuracy check."""
    module = load_study()
    # validation digits right of 400, per lr (beta 30 / 10 / 100), minus the seed: 0.2 and 0.05 tie, 0.4 is best
    # on test (which must not count)
    correct = {0.05: (300, 340, 320), 0.2: (340, 310, 300), 0.4: (200, 210, 220)}
    asked = []

    def batch(runs):
        asked.append(runs)
        return [{"val_acc": (correct[run.rule_lr][module.KROTOV_BETAS.index(run.krotov_beta)] - seed) / 400,
                 "test_acc": UnreadableAccuracy(), "train_acc": 0.5} for run, seed in runs]

    monkeypatch.setattr(competing, "run_competing_batch", batch)
    lines = []
    chosen, means = module.choose_rule_lr(400, 30, (0.4, 0.2, 0.05), (10, 11), log=lines.append)
    assert chosen == 0.05 and means == {0.05: 659 / 800, 0.2: 659 / 800, 0.4: 419 / 800}
    assert len(asked) == 3 * 2 and all(len(runs) == len(module.KROTOV_BETAS) for runs in asked)
    assert {(run.hidden_units, run.rule_epochs, run.readout) for runs in asked for run, _ in runs} == {
        (400, 30, "krotov")}
    assert lines[-1] == "  400 units, 30 epochs: chosen rule lr 0.05"
    assert "rule lr 0.05: validation seed 10 82.50 (beta 10), seed 11 82.25 (beta 10); mean 82." in lines[2]
    reported = {seed for preset in module.PRESETS.values() for seed in preset["seeds"]} | {0, 1, 2}
    assert module.RULE_LR_SELECTION_SEEDS and not reported & set(module.RULE_LR_SELECTION_SEEDS)
    assert set(module.RULE_LR_CANDIDATES) >= set(module.RULE_LR_BY_UNITS.values())


def test_readouts_preset_runs_every_readout_on_one_layer_without_pixel_baselines():
    module = load_study()
    preset = module.PRESETS["readouts"]
    runs = module.grid(preset, preset["sizes"])
    names = [module.readout_name(pd.Series(dataclasses.asdict(run))) for run in runs]
    krotov = [run for run, name in zip(runs, names) if name == "krotov"]
    assert sorted(set(names)) == sorted([*module.SPIKING, "krotov"])
    lrs = module.LEARNING_RATES
    assert sorted((run.krotov_beta, run.krotov_lr) for run in krotov) == sorted(
        itertools.product(module.CANDIDATES["krotov"]["krotov_beta"], lrs))  # beta and lr chosen on validation
    for name in module.SPIKING:
        assert sorted((run.lr, run.steps) for run, n in zip(runs, names) if n == name) == sorted(
            itertools.product(lrs, (25, 50)))
    assert {(run.hidden_units, run.layers, run.rule_epochs, run.rule_lr, run.epochs) for run in runs} == {
        (400, 1, 30, module.RULE_LR_BY_UNITS[400, 30], 300)}
    assert module.candidate_fields(preset) == ["krotov_beta", "krotov_lr", "lr", "steps"]


def test_readouts_table_states_each_readouts_budget_and_selection():
    module = load_study()
    preset = module.PRESETS["readouts"]
    protocols = module.readout_protocols(preset, preset["sizes"]).set_index("readout_name")
    assert list(protocols.index) == list(module.READOUTS)  # no pixel baselines in this preset
    assert protocols.loc["krotov", "weights kept"].startswith("last epoch's")
    assert protocols.loc["krotov", "candidates per seed"] == "6 (krotov_beta x krotov_lr)"
    assert protocols.loc["spiking-population", "epochs"] == "up to 300, stop after 30 without a lower validation loss"
    assert protocols.loc["spiking", "candidates per seed"] == "4 (lr x steps)"


def test_krotovs_beta_grid_is_defined_once_with_one_tie_order():
    from spikeloc.studies.competing_units import KROTOV_BETAS

    def script(name):
        spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return loaded

    module = load_study()
    assert KROTOV_BETAS[0] == CompetingRun().krotov_beta  # the default first: it wins ties
    assert module.CANDIDATES["krotov"]["krotov_beta"] is KROTOV_BETAS
    assert all(grid["krotov"]["krotov_beta"] is KROTOV_BETAS for grid in (module.LR_CANDIDATES,
                                                                         module.READOUT_CANDIDATES))
    assert script("check_competing_accuracy").GRIDS["krotov"]["krotov_beta"] is KROTOV_BETAS
    assert script("check_competing_stacking").KROTOV_BETAS is KROTOV_BETAS
