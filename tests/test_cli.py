"""The ``spikeloc`` command line as one surface: --version, python -m spikeloc, help and defaults on every option,
one meaning per option name, `spikeloc eval` for every kind of saved model, `spikeloc study`, and parsers that load
no torch. (Bad values per command: tests/test_experiment.py, tests/test_digits.py, tests/test_usage_errors.py.)"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spikeloc import __version__, cli, studies
from spikeloc.cli import main as cli_main
from spikeloc.networks.saved import load

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "pandas", "matplotlib", "scipy", "snntorch")
HAS_NIR = all(importlib.util.find_spec(name) is not None for name in ("nir", "nirtorch"))
#: A train-digits run of about a second: small network, few steps, one epoch.
DIGITS = ["train-digits", "--hidden", "16", "--steps", "5", "--epochs", "1", "--encoding", "latency"]


@pytest.fixture(autouse=True)
def keep_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # a command sets its --threads for this process


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every parser a user meets: spikeloc, each of its commands, each study."""
    top = cli.parser()
    action = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    found = {"spikeloc": top, **{f"spikeloc {name}": p for name, p in action.choices.items()}}
    return {**found, **{f"study {name}": studies.study(name).parser() for name in studies.NAMES}}


def test_version_and_python_m_spikeloc(capsys):
    assert cli_main(["--version"]) == 0
    assert capsys.readouterr().out == f"spikeloc {__version__}\n"
    shown = subprocess.run([sys.executable, "-m", "spikeloc", "--version"], capture_output=True, text=True,
                           cwd=ROOT, check=True).stdout
    assert shown == f"spikeloc {__version__}\n"
    usage = subprocess.run([sys.executable, "-m", "spikeloc", "train-ipd", "--epochs", "0"], capture_output=True,
                           text=True, cwd=ROOT)
    assert usage.returncode == 2 and "argument --epochs" in usage.stderr


@pytest.mark.parametrize("name", list(command_parsers()))
def test_every_option_has_help_and_shows_its_default(name, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option: no words broken at hyphens
    parser = command_parsers()[name]
    shown = " ".join(parser.format_help().split())
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        option = action.option_strings[-1]
        assert action.help, f"{name} {option} has no help"
        if action.default is None or isinstance(action.default, bool) or option in ("-h", "--help", "--version"):
            continue  # a flag, or a help text that says what happens by default
        default = " ".join(map(str, action.default)) if isinstance(action.default, list) else str(action.default)
        expected = " ".join(f"{action.help} (default: {default})".split())
        assert "default" in action.help or expected in shown, (name, option)


def test_options_with_a_fixed_set_of_values_declare_it_and_match_the_library():
    from spikeloc.datasets import NAMES
    from spikeloc.experiments.ipd import TRAINING_DATA
    from spikeloc.learning.losses import LOSSES
    from spikeloc.learning.trainer import LR_SCHEDULES
    from spikeloc.networks.classifier import READOUTS
    from spikeloc.substrate.delays import DELAY_MODES
    from spikeloc.substrate.encoders import KINDS
    from spikeloc.substrate.neurons import BACKENDS, TAU_DISTRIBUTIONS

    assert (cli.TAU_DISTRIBUTIONS, cli.DELAY_MODES, cli.LR_SCHEDULES, cli.TRAINING_DATA, cli.BACKENDS, cli.READOUTS,
            cli.ENCODINGS, cli.LOSSES, cli.DATASETS) == (TAU_DISTRIBUTIONS, DELAY_MODES, LR_SCHEDULES, TRAINING_DATA,
                                                         BACKENDS, READOUTS, KINDS, LOSSES, NAMES)
    parsers = command_parsers()
    for command, options in {"train-ipd": ("--tau-distribution", "--delays", "--lr-schedule", "--training-data",
                                           "--backend", "--phase-offset"),
                             "train-digits": ("--tau-distribution", "--lr-schedule", "--backend", "--readout",
                                              "--encoding", "--loss", "--dataset"),
                             "eval": ("--dataset", "--phase-offset")}.items():
        declared = {a.option_strings[-1]: a.choices for a in parsers[f"spikeloc {command}"]._actions}
        assert all(declared[option] for option in options), command


def test_the_training_commands_share_their_network_and_training_options():
    parsers = command_parsers()

    def options(command: str) -> dict[str, argparse.Action]:
        return {a.option_strings[-1]: a for a in parsers[f"spikeloc {command}"]._actions if a.option_strings}

    ipd, digits = options("train-ipd"), options("train-digits")
    shared = ("--hidden", "--tau-ms", "--tau-distribution", "--tau-spread", "--learn-tau", "--dropout", "--dales-law",
              "--dale-layers", "--ie-ratio", "--backend", "--epochs", "--lr", "--lr-schedule", "--patience", "--save",
              "--seed", "--json", "--device", "--threads")
    for option in shared:
        assert ipd[option].nargs == digits[option].nargs and ipd[option].choices == digits[option].choices, option
    assert ipd["--hidden"].nargs == "+"


def test_train_ipd_takes_several_hidden_sizes_and_says_where_it_saved(tmp_path, capsys):
    model = tmp_path / "deep.pt"
    assert cli_main(["train-ipd", "--hidden", "8", "4", "--epochs", "1", "--save", str(model)]) == 0
    shown = capsys.readouterr().out
    assert f"saved_to: {model}" in shown
    assert not any(line.strip() == "error:" for line in shown.splitlines())  # no empty error field
    assert load(model).network.config.hidden == (8, 4)


def test_train_digits_takes_the_network_options_of_train_ipd(tmp_path, capsys):
    model = tmp_path / "digits.pt"
    assert cli_main([*DIGITS, "--dropout", "0.2", "--dale-layers", "input", "--tau-distribution", "gamma",
                     "--tau-spread", "0.5", "--learn-tau", "--lr-schedule", "cosine", "--patience", "3",
                     "--json", "--save", str(model)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert isinstance(row["hidden_tau_ms"], list) and len(row["hidden_tau_ms"]) == 16  # JSON lists, not text
    assert row["saved_to"] == str(model)
    saved = load(model)
    config = saved.metadata["runs"][0]["config"]
    assert (config["dropout"], config["dale_layers"], config["tau_distribution"], config["learn_tau"],
            config["lr_schedule"], config["patience"]) == (0.2, "input", "gamma", True, "cosine", 3)
    assert saved.network.config.per_neuron_tau


def test_eval_scores_a_saved_image_model_as_it_scored_after_training(tmp_path, capsys):
    model = tmp_path / "digits.pt"
    assert cli_main([*DIGITS, "--json", "--seed", "2", "--save", str(model)]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert cli_main(["eval", "--model", str(model), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["test_acc"] == trained["test_acc"] and scored["dataset"] == "mnist-5k"
    assert cli_main(["eval", "--model", str(model), "--phase-noise", "0.3"]) == 2
    assert "argument --phase-noise: does not apply" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_NIR, reason="the optional nir extra is not installed (pip install -e '.[nir]')")
def test_eval_scores_models_read_from_nir_on_images_and_on_ipd_stimuli(tmp_path, capsys):
    digits_model, graph, imported = tmp_path / "digits.pt", tmp_path / "digits.nir", tmp_path / "imported.pt"
    # an imported model has no training records: eval encodes its images as train-digits does by default
    assert cli_main([*DIGITS, "--encoding", "rate", "--steps", "25", "--json", "--save", str(digits_model)]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert cli_main(["export-nir", "--model", str(digits_model), "--save", str(graph)]) == 0
    assert cli_main(["import-nir", str(graph), "--save", str(imported)]) == 0
    capsys.readouterr()
    assert cli_main(["eval", "--model", str(imported)]) == 2  # an image model needs its dataset
    assert "argument --model" in capsys.readouterr().err
    assert cli_main(["eval", "--model", str(imported), "--dataset", "mnist-5k", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["test_acc"] == trained["test_acc"]  # equal weights and time constants, the same seed's draws

    ipd_model, graph = tmp_path / "ipd.pt", tmp_path / "ipd.nir"
    assert cli_main(["train-ipd", "--hidden", "8", "--epochs", "1", "--save", str(ipd_model)]) == 0
    assert cli_main(["export-nir", "--model", str(ipd_model), str(graph)]) == 0  # the positional alias of --save
    assert cli_main(["import-nir", str(graph), "--save", str(imported)]) == 0
    capsys.readouterr()
    assert cli_main(["eval", "--model", str(imported), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert 0 <= row["test_acc"] <= 1 and math.isfinite(row["test_error_deg"])


def test_a_missing_dataset_names_the_data_dir_option(capsys, monkeypatch):
    monkeypatch.delenv("SPIKELOC_DATA", raising=False)
    assert cli_main(["train-digits", "--dataset", "cifar10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spikeloc train-digits: error: argument --data-dir: ") and "root=" not in err
    assert err.count("\n") == 1


def test_study_lists_and_runs_the_studies_of_the_package(capsys):
    assert cli_main(["study", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == list(studies.NAMES) and len(studies.NAMES) == 8
    assert cli_main(["study", "robustness", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: spikeloc study robustness [-h] [--preset {quick,seed,full}]")
    assert cli_main(["study", "robustness", "--workers", "0"]) == 2
    assert capsys.readouterr().err.startswith("spikeloc study robustness: error: argument --workers: ")
    assert cli_main(["study", "nope"]) == 2
    assert "argument NAME: no study 'nope'" in capsys.readouterr().err


def test_the_scripts_in_studies_are_thin_and_call_the_package():
    for name in studies.NAMES:
        script = (ROOT / "studies" / f"{name}.py").read_text()
        assert f"from spikeloc.studies.{name} import main" in script and len(script.splitlines()) < 20, name
    assert sorted(path.stem for path in (ROOT / "studies").glob("*.py")) == list(studies.NAMES)


HELP_IMPORTS = """
import runpy, sys
sys.argv = {argv!r}
try:
    runpy.{run}
except SystemExit as stop:
    assert stop.code == 0, stop.code
print(sorted(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("argv, run", [
    (["spikeloc", "study", "robustness", "--help"], "run_module('spikeloc', run_name='__main__')"),
    ([str(ROOT / "studies" / "robustness.py"), "--help"], f"run_path({str(ROOT / 'studies' / 'robustness.py')!r}, "
                                                          "run_name='__main__')"),
    (["spikeloc", "train-digits", "--help"], "run_module('spikeloc', run_name='__main__')"),
    (["spikeloc", "study", "--list"], "run_module('spikeloc', run_name='__main__')"),
])
def test_help_and_the_study_list_load_no_torch_pandas_or_matplotlib(argv, run):
    code = HELP_IMPORTS.format(argv=argv, run=run, heavy=HEAVY)
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert loaded.stdout.splitlines()[-1] == "[]", loaded.stdout[-300:]


def test_building_every_parser_loads_no_torch_pandas_or_matplotlib():
    code = ("import sys; from spikeloc import cli, studies; cli.parser(); "
            "[studies.study(name).parser() for name in studies.NAMES]; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert loaded.stdout.strip() == "[]"
