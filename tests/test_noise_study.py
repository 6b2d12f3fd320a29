"""The neuromodulation study end to end on a tiny grid: tables, paired comparisons, figures, bad input."""

import importlib
import json

import pandas as pd
import pytest
import torch

from spikeloc.experiments.neuromodulation import NeuromodulationRun, run_neuromodulation
from spikeloc.experiments.spiking_tasks import spiking_setup

SCALES = dict(test_scales=(0.0, 0.3))
TINY_TASKS = {"ipd": dict(epochs=2, n_train_batches=4, n_val_samples=64, n_test_samples=64, **SCALES),
              "digits": dict(epochs=1, n_train=128, hidden=(16,), **SCALES),
              "mlp": dict(epochs=1, n_train=128, **SCALES)}


@pytest.fixture
def study(monkeypatch):
    module = importlib.import_module("spikeloc.studies.neuromodulation")
    monkeypatch.setitem(module.PRESETS, "quick", dict(seeds=(0, 1), n_draws=2, tasks=TINY_TASKS))
    monkeypatch.setattr(module, "SPIKING", ("none", "learned"))
    return module


def test_neuromodulation_study_writes_tables_comparisons_and_figures(study, tmp_path, capsys):
    out = tmp_path / "neuromodulation"
    study.main(["--out", str(out), "--executor", "inline", "--quiet"])
    table = pd.read_csv(out / "runs.csv")
    assert len(table) == (2 + 2 + 2) * 2 and set(table["status"]) == {"ok"}
    assert set(table.loc[table["task"] == "mlp", "training"]) == {"none", "seed_model"}
    for column in ("clean_acc", "noisy_acc", "robustness_ratio", "kept_at_noise_scale", "acc_relative_0.3",
                   "acc_absolute_0.3_sd"):
        assert table[column].notna().all(), column
    learned = table[table["training"].isin(["learned", "seed_model"])]
    assert learned["std_history"].notna().all() and table.loc[table["training"] == "none", "std_history"].isna().all()
    epochs = {"ipd": 2, "digits": 1, "mlp": 1}
    for _, row in learned.iterrows():
        assert len(json.loads(row["std_history"])) == epochs[row["task"]] + 1
    summary = pd.read_csv(out / "summary.csv")
    assert {"mean", "sem", "ci_low", "ci_high", "unit", "n_units"} <= set(summary.columns)
    comparison = pd.read_csv(out / "noise_vs_none.csv")
    assert len(comparison) == (1 + 1 + 1) * 3 and set(comparison["n_units"]) == {2}
    assert len(pd.read_csv(out / "curve_summary.csv")) == 6 * 4
    assert (out / "robustness_curve.png").stat().st_size > 10_000
    assert (out / "variance_history.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "Noise training vs none" in printed and "x weight std" in printed


def test_conditions_of_one_seed_share_data_weights_and_evaluation_noise(monkeypatch):
    from spikeloc.experiments import neuromodulation
    from spikeloc.substrate.noise import WeightNoise

    setups, draws = [], []

    def recording_setup(run, seed):
        network, splits, config = spiking_setup(run, seed)
        setups.append(([p.detach().clone() for p in network.parameters()],
                       [tensor for data in splits for tensor in (data.inputs, data.labels)]))
        draws.append([])
        return network, splits, config

    def recording_resample(self, generators):
        resample(self, generators)
        if self.config.at_eval:  # evaluation noise (the robustness curve and the noisy accuracy), not training's
            draws[-1].append([eps.clone() for eps in self._eps.values()])

    resample = WeightNoise.resample
    monkeypatch.setattr(neuromodulation, "spiking_setup", recording_setup)
    monkeypatch.setattr(WeightNoise, "resample", recording_resample)
    tiny = dict(task="ipd", n_draws=2, **TINY_TASKS["ipd"])
    rows = [run_neuromodulation(NeuromodulationRun(training=training, **tiny), 3) for training in ("none", "fixed")]
    # two conditions that did train differently ...
    assert rows[0]["clean_acc"] != rows[1]["clean_acc"] or rows[0]["noisy_acc"] != rows[1]["noisy_acc"]
    (weights, data), (fixed_weights, fixed_data) = setups
    assert all(torch.equal(a, b) for a, b in zip(weights, fixed_weights))  # the same initial weights
    assert all(torch.equal(a, b) for a, b in zip(data, fixed_data))  # the same train, validation and test sets
    assert len(draws[0]) == len(draws[1]) == 2 + 2 * 2 + 1 * 2 + 2 * 2  # noisy accuracy, the curve, each layer alone
    assert all(torch.equal(a, b) for one, other in zip(*draws) for a, b in zip(one, other))  # the same noise
    other_network, (other_train, _, _), _ = spiking_setup(NeuromodulationRun(training="none", **tiny), 4)
    assert not torch.equal(other_train.inputs, data[0])  # another seed: other data (so the checks can fail)
    assert not torch.equal(next(other_network.parameters()).detach(), weights[0])


@pytest.mark.parametrize("kwargs, field", [
    (dict(task="cifar"), "task"), (dict(training="dropout"), "training"), (dict(noise_scale=-0.3), "scale"),
    (dict(noise_scale=0.4), "test_scales"), (dict(noise_scale=float("nan")), "scale"),
    (dict(test_scales=(0.0, float("nan"))), "test_scales"),
    (dict(n_draws=0), "n_draws"), (dict(reference="percent"), "reference"),
    (dict(training="learned", min_std=0.5, max_std=0.1), "max_std"),
])
def test_bad_runs_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field} ="):
        NeuromodulationRun(**kwargs)


def test_bad_grid_fails_before_any_run(study, monkeypatch, tmp_path):
    monkeypatch.setitem(study.PRESETS["quick"], "tasks", {"ipd": dict(TINY_TASKS["ipd"], noise_scale=float("nan"))})
    out = tmp_path / "never"
    with pytest.raises(ValueError, match="scale"):
        study.main(["--out", str(out), "--quiet"])
    assert not out.exists()


def test_a_diverged_spiking_network_is_recorded_failed_not_scored(monkeypatch):
    from spikeloc.experiments import neuromodulation
    from spikeloc.learning.surrogate import FitResult

    def diverging_fit(*args, **kwargs):
        return FitResult(epochs_run=[2], best_epoch=[0], best_val_loss=[float("inf")], diverged=[True], seconds=0.0)

    monkeypatch.setattr(neuromodulation, "fit", diverging_fit)
    row = run_neuromodulation(NeuromodulationRun(training="fixed", **TINY_TASKS["ipd"]), 0)
    assert row == {"status": "failed", "error": "non-finite loss or gradient (diverged)", "epochs_run": 2}


def test_ipd_variants_are_labelled_compared_with_base_and_scored_per_layer(study, monkeypatch, tmp_path, capsys):
    tiny = dict(TINY_TASKS["ipd"], protocol="robust")
    monkeypatch.setitem(study.PRESETS, "quick", dict(seeds=(0, 1), n_draws=2, tasks={"ipd": tiny}, variants={
        "base": (("none", "fixed"), {}), "fresh_stimuli": (("none",), dict(training_data="per_epoch")),
        "averaged": (("none",), dict(weight_averaging=True))}))
    out = tmp_path / "variants"
    study.main(["--out", str(out), "--executor", "inline", "--quiet"])
    table = pd.read_csv(out / "runs.csv")
    assert len(table) == 4 * 2 and set(table["protocol"]) == {"robust"}
    assert table["kept_input_only"].between(0, 2).all() and table["kept_readout_only"].between(0, 2).all()
    averaged = table["weight_averaging"]  # 2 epochs: the second averaged (no early stop in 2 epochs)
    assert (table.loc[averaged, "epochs_averaged"] == 1).all() and table.loc[~averaged, "epochs_averaged"].isna().all()
    fresh = table["training_data"] == "per_epoch"  # scored on the best epoch's fresh set
    assert table.loc[fresh, "train_acc_epoch"].between(1, 2).all() and table.loc[~fresh, "train_acc_epoch"].isna().all()
    comparison = pd.read_csv(out / "noise_vs_none.csv")
    assert {("base", "fixed", "none"), ("fresh_stimuli", "none", "base"), ("averaged", "none", "base")} <= set(
        zip(comparison["variant"], comparison["training"], comparison["baseline"]))
    assert set(comparison["n_pairs"]) == {2}
    layers = pd.read_csv(out / "layer_summary.csv")
    assert set(layers["metric"]) == {"kept_input_only", "kept_readout_only"}
    assert "readout only" in capsys.readouterr().out


def test_weight_averaging_scores_the_mean_of_the_late_weights():
    import torch
    from spikeloc.learning.averaging import WeightAverage
    model = torch.nn.Linear(2, 1)
    average = WeightAverage(model.parameters(), n_members=1, start_epoch=2)
    for value in (1.0, 2.0, 4.0):
        with torch.no_grad():
            model.weight.fill_(value)
        average.end_epoch()
    average.apply()
    assert torch.allclose(model.weight, torch.full_like(model.weight, 3.0))  # mean of epochs 2 and 3
