"""The study scripts end to end on tiny grids: tables, summaries, figures, bad input, kill and resume."""

import importlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(fibres_per_ear=10, n_hidden=8, batch_size=16, n_train_batches=4, n_val_samples=64,
            n_test_samples=64, epochs=2)


def load_study(name):
    return importlib.import_module(f"spikeloc.studies.{name}")


@pytest.fixture
def robustness(monkeypatch):
    module = load_study("robustness")
    monkeypatch.setitem(module.PRESETS, "quick", dict(dropouts=(0.0, 0.5), sigmas=(0.0, 0.3), seeds=(0, 1),
                                                       protocol="both", sizes=TINY))
    return module


def test_robustness_study_writes_table_summary_comparison_and_figures(robustness, tmp_path, capsys):
    out = tmp_path / "robustness"
    robustness.main(["--out", str(out), "--executor", "inline", "--quiet"])
    table = pd.read_csv(out / "runs.csv")
    assert len(table) == 2 * 2 * 2 * 2 and set(table["status"]) == {"ok"}
    assert table["run_id"].is_unique
    summary = pd.read_csv(out / "summary.csv")
    assert {"mean", "sem", "ci_low", "ci_high", "unit", "n_units"} <= set(summary.columns)
    comparison = pd.read_csv(out / "dropout_vs_none.csv")
    # per protocol, the 2 sigmas of each seed are averaged: 2 independent units, not 2 x 2 (or 8) pairs
    assert len(comparison) == 2 * 3 and set(comparison["n_units"]) == {2} and set(comparison["n_pairs"]) == {4}
    for protocol in ("seed", "robust"):
        assert (out / f"robustness_{protocol}.png").stat().st_size > 10_000
        assert (out / f"confusion_{protocol}.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "test_acc" in printed and "Dropout vs none" in printed


def test_rerun_recomputes_nothing(robustness, tmp_path):
    out = tmp_path / "robustness"
    robustness.main(["--out", str(out), "--executor", "inline", "--quiet", "--protocol", "seed"])
    before = (out / "runs.csv").read_text()
    robustness.main(["--out", str(out), "--executor", "inline", "--quiet", "--protocol", "seed"])
    assert (out / "runs.csv").read_text() == before


def test_invalid_grid_value_fails_before_any_run(robustness, monkeypatch, tmp_path):
    monkeypatch.setitem(robustness.PRESETS["quick"], "sigmas", (0.0, -0.2))
    out = tmp_path / "never"
    with pytest.raises(ValueError, match="phase_noise_rad"):
        robustness.main(["--out", str(out), "--quiet"])
    assert not out.exists()


def test_dales_law_study(monkeypatch, tmp_path, capsys):
    module = load_study("dales_law")
    monkeypatch.setitem(module.PRESETS, "quick", dict(ie_ratios=(0.0, 0.5), seeds=(0, 1), protocol="robust",
                                                      sizes=TINY))
    out = tmp_path / "dale"
    module.main(["--out", str(out), "--executor", "inline", "--quiet"])
    table = pd.read_csv(out / "runs.csv")
    assert len(table) == (1 + 3 * 2) * 2
    assert set(table["dale_layers"]) == {"none", "input", "readout", "both"}
    comparison = pd.read_csv(out / "dale_vs_none.csv")
    assert len(comparison) == 3 * 2 and set(comparison["n_units"]) == {2}
    assert (out / "dales_law_robust.png").exists()
    assert "Dale's law vs unconstrained" in capsys.readouterr().out


KILLABLE = textwrap.dedent("""
    import sys
    from spikeloc.experiments import ipd as ipd_experiments
    from spikeloc.studies import robustness as module
    module.PRESETS["quick"] = dict(dropouts={dropouts!r}, sigmas={sigmas!r}, seeds={seeds!r}, protocol="seed",
                                   sizes={tiny!r})
    make = ipd_experiments.ipd_study  # the study imports it when it runs: one run per batch
    ipd_experiments.ipd_study = lambda *a: make(*a).__class__(**{{**make(*a).__dict__, "max_batch": 1}})
    if __name__ == "__main__":  # worker processes re-import this file
        module.main(["--out", sys.argv[1], "--quiet", "--workers", sys.argv[2]])
""")


@pytest.mark.parametrize("dropouts, sigmas, seeds, workers", [
    ((0.0, 0.5), (0.0, 0.3), (0, 1), "1"),
    pytest.param((0.0, 0.5, 0.9), (0.0, 0.1, 0.2, 0.3), (0, 1, 2), "2", marks=pytest.mark.slow)])
def test_killed_robustness_study_resumes_with_every_run_once_and_ends_cleanly(tmp_path, dropouts, sigmas, seeds,
                                                                             workers):
    """Killed mid-grid and run again: every run once, the finished ones kept as they were; the run that
    finishes writes nothing to stderr (with --quiet), e.g. no warning of semaphores its workers leaked.
    The default suite runs 8 runs on one worker process (each process imports torch and the study: seconds);
    the slow suite 36 runs on two."""
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE.format(tiny=TINY, dropouts=dropouts, sigmas=sigmas, seeds=seeds))
    total = len(dropouts) * len(sigmas) * len(seeds)
    out = tmp_path / "killed"
    tree = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's spikeloc, wherever the script lies
    process = subprocess.Popen([sys.executable, str(script), str(out), workers], start_new_session=True, env=tree,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs_file = out / "runs.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (runs_file.exists() and len(pd.read_csv(runs_file)) >= 2):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = pd.read_csv(runs_file)
    assert 2 <= len(finished) < total, "the kill should land mid-grid"

    resumed = subprocess.run([sys.executable, str(script), str(out), workers], check=True, env=tree,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert resumed.stderr == ""
    table = pd.read_csv(runs_file)
    assert len(table) == total and table["run_id"].is_unique
    kept = table.set_index("run_id").loc[finished["run_id"]]
    pd.testing.assert_frame_equal(kept.reset_index(), finished, check_like=True)


def test_ipd_beyond_study_compares_fresh_stimuli_and_phase_noise_training(monkeypatch, tmp_path, capsys):
    module = load_study("ipd_beyond")
    monkeypatch.setitem(module.PRESETS, "quick", dict(
        options=("seed", "fresh_stimuli", "phase_noise_0.3", "fresh_phase_noise_0.3"), seeds=(0, 1),
        protocol="robust", sizes=TINY))
    out = tmp_path / "beyond"
    module.main(["--out", str(out), "--executor", "inline", "--quiet"])
    table = pd.read_csv(out / "runs.csv")
    assert len(table) == 4 * 2 * 2 and set(table["status"]) == {"ok"}
    assert set(table["training_data"]) == {"fixed", "per_epoch"}
    comparison = pd.read_csv(out / "options_vs_seed.csv")
    pairs = set(zip(comparison["baseline"], comparison["option"]))
    assert {("seed", "fresh_stimuli"), ("fresh_stimuli", "fresh_phase_noise_0.3"),
            ("phase_noise_0.3", "fresh_phase_noise_0.3")} <= pairs
    assert set(comparison["n_units"]) == {2} and set(comparison["unit"]) == {"seed"}
    assert "n_units" in capsys.readouterr().out
    # a study stopped early: what finished is summarised and nothing runs
    table.iloc[:5].to_csv(out / "runs.csv", index=False)
    module.main(["--out", str(out), "--executor", "inline", "--quiet", "--finished-only"])
    assert "5 of 16 runs finished" in capsys.readouterr().out  # the study CLI's --finished-only
    assert len(pd.read_csv(out / "runs.csv")) == 5
