"""studies/ipd_beyond.py's retest: the option is chosen on validation, never on test, and retested on test
stimuli of its own (issue 30)."""

from __future__ import annotations

import dataclasses
import importlib

import pandas as pd
import pytest
import torch

from spikeloc.experiments import ipd
from spikeloc.experiments.ipd import IPDRun



@pytest.fixture(scope="module")
def module():
    return importlib.import_module("spikeloc.studies.ipd_beyond")


def runs_table(test_acc: list[float]) -> pd.DataFrame:
    """Two seeds of four options, unconstrained and with Dale's law: validation prefers "cosine" (lowest loss
    among the options validated at sigma = 0), test accuracy as given (one value per option)."""
    options = {"seed": (0.50, 0.0), "cosine": (0.40, 0.0), "combined": (0.45, 0.0), "phase_noise_0.3": (0.10, 0.3)}
    rows = [{"option": name, "dale": dale, "seed": seed, "phase_noise_rad": noise, "status": "ok",
             "best_val_loss": loss + (0.3 if dale != "none" else 0) + 0.01 * seed, "test_acc": accuracy}
            for (name, (loss, noise)), accuracy in zip(options.items(), test_acc)
            for dale in ("none", "dale_ie0.5") for seed in (0, 1)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("test_acc", [[0.9, 0.8, 0.99, 0.7], [0.1, 0.2, 0.3, 0.99], [0.5, 0.5, 0.5, 0.5]])
def test_the_retested_option_is_chosen_on_validation_whatever_the_test_accuracy(module, test_acc):
    assert module.best_option(runs_table(test_acc)) == "cosine"
    assert module.best_option(runs_table(test_acc).drop(columns="test_acc")) == "cosine"


def test_the_retest_draws_test_stimuli_of_its_own(module):
    tiny = dict(n_train_batches=1, n_val_samples=8, n_test_samples=64, n_hidden=4)
    runs = [IPDRun(**tiny), IPDRun(lr_schedule="cosine", **tiny), IPDRun(input_delays="learned", **tiny)]
    labels = {module.option_key(dataclasses.asdict(run)): name
              for run, name in zip(runs, ("seed", "cosine", "delays_learned"))}
    retest = module.retest_runs(runs, labels, "cosine")
    assert [run.lr_schedule for run in retest] == ["constant", "cosine"]
    assert {(run.test_phase_noise_rad, run.test_stream) for run in retest} == {(0.3, module.RETEST_STREAM)}
    # the same noise on the study's own test stream would reuse the stimuli the options were compared on
    compared_on = ipd.test_dataset(dataclasses.replace(runs[0], test_phase_noise_rad=0.3), seed=0)
    own = ipd.test_dataset(retest[0], seed=0)
    assert not torch.equal(compared_on.ipd_rad, own.ipd_rad)
    assert torch.equal(own.ipd_rad, ipd.test_dataset(retest[1], seed=0).ipd_rad)  # both retested options: the same


def test_a_test_stream_is_never_a_training_or_validation_stream():
    with pytest.raises(ValueError, match="^test_stream = 'data/validation'"):
        IPDRun(test_stream="data/validation")


def test_neuron_kinds_are_options_paired_on_seed_with_the_leaky_seed(module, monkeypatch, tmp_path, capsys):
    """Each kind of NEURON_KINDS is an option (and with fresh stimuli, compared with fresh_stimuli); runs.csv leaves
    ``neuron`` out of the leaky runs (their run ids are as before), and the summary and labels read it as 'leaky'."""
    from test_studies import TINY

    assert {"synaptic", "fresh_synaptic"} <= set(module.PRESETS["seed"]["options"])
    assert "fresh_synaptic" in module.PRESETS["full"]["options"]
    assert not {"synaptic", "fresh_synaptic"} & set(module.PRESETS["quick"]["options"])  # quick stays < 3 min
    monkeypatch.setitem(module.PRESETS, "quick", dict(options=("seed", "fresh_stimuli", "synaptic", "fresh_synaptic"),
                                                      seeds=(0, 1), protocol="robust", sizes=TINY))
    out = tmp_path / "beyond"
    module.main(["--out", str(out), "--executor", "inline", "--quiet"])
    table = pd.read_csv(out / "runs.csv")
    assert len(table) == 4 * 2 * 2 and set(table["status"]) == {"ok"}
    assert table["neuron"].isna().sum() == 8 and set(table["neuron"].dropna()) == {"synaptic"}
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["neuron"]) == {"leaky", "synaptic"} and set(summary["n_units"]) == {2}
    comparison = pd.read_csv(out / "options_vs_seed.csv")
    pairs = set(zip(comparison["baseline"], comparison["option"]))
    assert {("seed", "synaptic"), ("seed", "fresh_synaptic"), ("fresh_stimuli", "fresh_synaptic")} <= pairs
    assert set(comparison["n_units"]) == {2}
    assert (out / "robustness" / "summary.csv").exists()
    # finished runs that are all leaky: runs.csv has no neuron column, and they are summarised as leaky
    table[table["neuron"].isna()].drop(columns="neuron").iloc[:6].to_csv(out / "runs.csv", index=False)
    capsys.readouterr()
    module.main(["--out", str(out), "--executor", "inline", "--quiet", "--finished-only"])
    assert "6 of 16 runs finished" in capsys.readouterr().out
    assert set(pd.read_csv(out / "summary.csv")["neuron"]) == {"leaky"}
