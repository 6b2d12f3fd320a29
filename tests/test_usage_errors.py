"""A bad command line of a study script is one line on stderr naming the option as typed and what is allowed,
exit status 2, before any work and with no file written.

Each script's ``main`` runs here in this process with every row (the shared parser is what answers, so
this is fast).  The slow suite also runs every script as a user does, in subprocesses: a missing directory
inside a read-only one (as root, without ``CAP_DAC_OVERRIDE``, see tests/test_study_faults.py), dask
missing, and two more rows; the default suite does that for the shared parser only, in
tests/test_study_faults.py.  The `spikeloc` command's rows are in tests/test_experiment.py, tests/test_digits.py
and tests/test_cli.py (`spikeloc study NAME` answers with the study's own parser).
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_studies import ROOT, load_study
from test_study_faults import drop_write_override

from spikeloc.study.cli import run_script, study_parser
from spikeloc.study.runner import Study, make_run_id

STUDIES = ("bio_plasticity", "competing_units", "dales_law", "hebbian_logic", "ipd_beyond", "neuromodulation",
           "robustness")
INTEGER = "must be an integer >= 1, got"
#: (arguments, option named, what the message says is allowed); FILE is an existing file
COMMON = [
    (["--workers", "0"], "--workers", INTEGER),
    (["--workers", "-3"], "--workers", INTEGER),
    (["--workers", "two"], "--workers", INTEGER),
    (["--workers"], "--workers", "expected one argument"),
    (["--out", "FILE"], "--out", "exists and is not a directory"),
    (["--out", "FILE/inside"], "--out", "is not a directory"),
    (["--preset", "nope"], "--preset", "choose from"),
    (["--executor", "nope"], "--executor", "choose from"),
    (["--executor", "inline", "--workers", "2"], "--workers", "leave --workers unset"),
    (["--executor", "processes", "--scheduler", "local"], "--scheduler", "only used with --executor dask"),
    (["--scheduler", "nowhere"], "--scheduler", "must be 'local' or a scheduler address"),
    (["--overwrite", "--extend"], "--extend", "not allowed with argument --overwrite"),
    (["--no-such-option"], "--no-such-option", "unrecognized arguments"),
    (["--out", ""], "--out", "must be a path, got an empty string"),
    (["--out", "x" * 300], "--out", "has a component of 300 bytes, more than the 255"),
    (["--out", f"a/{'x' * 300}/b"], "--out", "has a component of 300 bytes, more than the 255"),
    (["--workers", "1000000000000"], "--workers", "must be at most"),
    (["--executor", "dask", "--workers", "100000"], "--workers", "must be at most"),
    (["--finished-only"], "--out", "holds no study.json: no run of a study has finished there"),
    (["--finished-only", "--out", "FILE"], "--out", "exists and is not a directory"),
    (["--finished-only", "--overwrite"], "--overwrite", "not allowed with --finished-only"),
    (["--finished-only", "--retry-failed"], "--retry-failed", "not allowed with --finished-only"),
]
EPOCHS = [(["--epochs", "0"], "--epochs", INTEGER),
          (["--epochs", "-1"], "--epochs", INTEGER),
          (["--epochs", "1.5"], "--epochs", INTEGER)]
OWN = {"hebbian_logic": [(["--epochs", "3"], "--epochs", "unrecognized arguments")],  # its rules have no epochs
       "robustness": [(["--protocol", "nope"], "--protocol", "choose from")],
       "dales_law": [(["--protocol", "robustt"], "--protocol", "choose from")],
       "ipd_beyond": [(["--protocol", "nope"], "--protocol", "choose from"),
                      (["--options", "nope"], "--options", "choose from")]}
CASES = [pytest.param(name, *row, id=f"{name} {' '.join(row[0])}") for name in STUDIES
         for row in COMMON + ([] if name == "hebbian_logic" else EPOCHS) + OWN.get(name, [])]
HAS_DASK = importlib.util.find_spec("distributed") is not None


@pytest.fixture(scope="module")
def studies():
    return {name: load_study(name) for name in STUDIES}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working directory (where the default --out would go) holding one file, FILE."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("not a directory\n")
    return tmp_path


def refused(main, argv: list[str], capsys) -> str:
    """The stderr of ``main(argv)``, which must end with exit status 2 and write nothing to stdout."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and out == ""
    return err


def assert_one_line(err: str, option: str, allowed: str) -> None:
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert option in err and allowed in err and "error:" in err, err


@pytest.mark.parametrize("name, argv, option, allowed", CASES)
def test_bad_argument_is_one_line_naming_the_option_and_nothing_is_written(studies, workdir, capsys, name, argv,
                                                                        option, allowed):
    err = refused(studies[name].main, argv, capsys)
    assert_one_line(err, option, allowed)
    assert sorted(path.name for path in workdir.iterdir()) == ["FILE"]


@pytest.mark.parametrize("name", STUDIES)
def test_scheduler_without_dask_names_the_option(studies, workdir, capsys, monkeypatch, name):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails as if not installed
    err = refused(studies[name].main, ["--scheduler", "tcp://127.0.0.1:1"], capsys)
    assert_one_line(err, "argument --scheduler", "needs dask.distributed, which is not installed here")
    err = refused(studies[name].main, ["--executor", "dask"], capsys)
    assert_one_line(err, "argument --executor", "needs dask.distributed")
    assert sorted(path.name for path in workdir.iterdir()) == ["FILE"]


@pytest.mark.skipif(not HAS_DASK, reason="dask.distributed is not installed (it is in the test extra)")
def test_unreachable_scheduler_names_the_address_and_how_long_it_waited(workdir, capsys):
    import dask
    import distributed  # noqa: F401  loads its config defaults first: dask.config.set on a missing
    # "distributed" section would, on leaving, delete the whole section that a later import then lacks

    parser = study_parser("any study", ["quick"], "results/any")
    with dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}):
        err = refused(parser.parse_args, ["--scheduler", "tcp://127.0.0.1:1"], capsys)
    assert_one_line(err, "argument --scheduler: no Dask scheduler answered at tcp://127.0.0.1:1", "gave up after")
    assert "0.5s" in err
    assert sorted(path.name for path in workdir.iterdir()) == ["FILE"]


# --------------------------------------------------------------------------
# The scripts as a user runs them

READ_ONLY = "READ_ONLY/missing/out"


def run_scripts(rows: list[tuple[str, list[str]]], workdir: Path, prelude: str = "") -> list[tuple[int, str]]:
    """Run each (script, arguments) row as ``python studies/SCRIPT.py ARGUMENTS`` in ``workdir``, all at
    once, with CAP_DAC_OVERRIDE dropped (as root); their exit statuses and stderr.  ``prelude``: Python run
    first in the same process."""
    read_only = workdir / "READ_ONLY"
    read_only.mkdir(exist_ok=True)
    read_only.chmod(0o555)
    processes = []
    try:
        for name, argv in rows:
            script = str(ROOT / "studies" / f"{name}.py")
            argv = [a.replace("READ_ONLY", str(read_only)) for a in argv]
            command = ([sys.executable, "-c", f"{prelude}; import runpy, sys; sys.argv = {[script, *argv]!r}; "
                        f"runpy.run_path({script!r}, run_name='__main__')"] if prelude
                       else [sys.executable, script, *argv])
            processes.append(subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True, preexec_fn=drop_write_override))
        results = [(process.wait(timeout=300), process.communicate()[1]) for process in processes]
    except subprocess.SubprocessError:
        pytest.skip("this root cannot drop CAP_DAC_OVERRIDE (no CAP_SETPCAP)")
    finally:
        read_only.chmod(0o755)
        for process in processes:
            process.kill()
    assert sorted(path.name for path in workdir.iterdir()) == ["FILE", "READ_ONLY"]
    assert not any(read_only.iterdir())
    return results


def check_scripts(rows: list[tuple[str, list[str], str, str]], workdir: Path, prelude: str = "") -> None:
    results = run_scripts([(name, argv) for name, argv, _, _ in rows], workdir, prelude)
    for (name, argv, option, allowed), (status, err) in zip(rows, results):
        assert status == 2, (name, argv, err)
        assert err.startswith(f"{name}.py: error: argument {option}: "), err
        assert_one_line(err, option, allowed)


@pytest.mark.slow
@pytest.mark.parametrize("name", STUDIES)
def test_each_script_refuses_bad_arguments_as_a_user_runs_it(workdir, name):
    check_scripts([(name, ["--out", READ_ONLY], "--out", "is not writable"),
                   (name, ["--workers", "0"], "--workers", INTEGER),
                   (name, ["--preset", "nope"], "--preset", "choose from")], workdir)
    check_scripts([(name, ["--scheduler", "tcp://127.0.0.1:1"], "--scheduler", "needs dask.distributed")], workdir,
                  prelude="import sys; sys.modules['distributed'] = None")


OTHER_STUDY = {"name": "other-study", "config_type": "elsewhere.Config", "configs": [{"a": 1}], "seeds": [0]}


@pytest.fixture
def other_results(workdir):
    """A directory holding another study's results, and a copy of its files' contents."""
    directory = workdir / "other"
    directory.mkdir()
    (directory / "study.json").write_text(json.dumps(OTHER_STUDY))
    (directory / "runs.csv").write_text(f"a,seed,run_id,score,status\n1,0,{make_run_id({'a': 1}, 0)},0.5,ok\n")
    (directory / "summary.csv").write_text("another study's summary\n")
    return directory, {path.name: path.read_bytes() for path in directory.iterdir()}


def run_refused(studies, name: str, argv: list[str], capsys) -> str:
    """The one line a study script writes to stderr when ``main(argv)`` finds --out unusable (exit status 2)."""
    with pytest.raises(SystemExit) as stop:
        run_script(lambda: studies[name].main(argv), name)
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and err.count("\n") == 1, (stop.value.code, out, err)
    return err


# hebbian_logic meta-trains its rules before it builds its grid (minutes): the shared code is the same
DIRECTORY_STUDIES = [name for name in STUDIES if name != "hebbian_logic"]


@pytest.mark.parametrize("name", DIRECTORY_STUDIES)
def test_finished_only_on_another_studys_results_is_refused_and_writes_nothing(studies, other_results, capsys,
                                                                              name):
    """It used to read their runs.csv unchecked, overwrite their summary.csv, then fail."""
    directory, files = other_results
    err = run_refused(studies, name, ["--finished-only", "--out", str(directory)], capsys)
    print(f"\n{err.strip()}")
    assert err.startswith(f"{name}: error: argument --out: {directory} holds results of a different study "
                          f"(config_type differ, configs differ, name differ, seeds differ in {directory}/study.json), "
                          "none of ")
    err = run_refused(studies, name, ["--out", str(directory)], capsys)
    assert "holds results of a different study" in err and "pass --overwrite to replace them" in err
    assert {path.name: path.read_bytes() for path in directory.iterdir() if path.name != ".lock"} == files


@pytest.mark.parametrize("finished_only", [False, True])
def test_a_directory_in_use_is_refused_in_one_line(studies, other_results, capsys, finished_only):
    directory, files = other_results
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        err = run_refused(studies, "dales_law", ["--out", str(directory)] + ["--finished-only"] * finished_only,
                          capsys)
    assert err == (f"dales_law: error: argument --out: {directory} is in use by another run of a study (wait for it "
                   "to end, or choose another directory)\n")
    assert {path.name: path.read_bytes() for path in directory.iterdir() if path.name != ".lock"} == files


def quick_robustness(studies) -> Study:
    """The study that ``robustness.py --preset quick`` runs."""
    built = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(studies["robustness"], "run_and_summarise", lambda study, *_: built.append(study) or sys.exit())
        with pytest.raises(SystemExit):
            studies["robustness"].main(["--out", "unused"])
    return built[0]


def test_finished_only_with_another_preset_is_refused(studies, workdir, capsys):
    """robustness --preset seed --finished-only on the quick preset's results labelled them the seed preset."""
    quick = quick_robustness(studies)
    (workdir / "quick").mkdir()
    (workdir / "quick" / "study.json").write_text(json.dumps(quick.description()))
    (workdir / "quick" / "runs.csv").write_text("run_id,seed,status\n")
    err = run_refused(studies, "robustness", ["--preset", "seed", "--finished-only", "--out", "quick"], capsys)
    print(f"\n{err.strip()}")
    assert err.startswith("robustness: error: argument --out: quick holds results of a different study (configs "
                          "differ, name differ, seeds differ in quick/study.json), none of robustness-seed's")
    assert not (workdir / "quick" / "summary.csv").exists()


def test_a_damaged_runs_file_names_the_repair_flag(studies, workdir, capsys):
    quick = quick_robustness(studies)
    (workdir / "quick").mkdir()
    (workdir / "quick" / "study.json").write_text(json.dumps(quick.description()))
    (workdir / "quick" / "runs.csv").write_text(f"run_id,seed,status\n{quick.runs[0].run_id},0,o")
    for argv in (["--out", "quick"], ["--finished-only", "--out", "quick"]):
        err = run_refused(studies, "robustness", argv, capsys)
        assert err == ("robustness: error: argument --out: quick/runs.csv is corrupt: line 2: status must be one of "
                       "('ok', 'failed'), got 'o'; pass --repair to keep its 0 intact rows (the file is first copied "
                       "aside) and run the other runs again\n")


def test_default_output_directory_is_checked_too(studies, workdir, capsys):
    (workdir / "results").write_text("a file where the default output directory's parent should be\n")
    err = refused(studies["robustness"].main, [], capsys)
    assert_one_line(err, "argument --out: (default results/robustness-quick)", "is not a directory")
    assert os.path.isfile(workdir / "results")


def test_command_lines_and_the_runner_do_not_import_torch():
    """Parsing (and the study runner with its workers) stays light: a bad `spikeloc` command line is answered
    before torch loads, and a runner whose run functions need no torch does not load it (each load is a
    second or more per process)."""
    code = ("import sys, spikeloc.cli, spikeloc.options, spikeloc.study.cli, spikeloc.study.runner; "
            "print(sorted(m for m in ('torch', 'snntorch', 'matplotlib') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


@pytest.mark.parametrize("argv, option", [
    (["train-ipd", "--hidden", "1000000000"], "--hidden"),
    (["eval-ipd", "--model", "MODEL", "--n-samples", "10000000000"], "--n-samples"),
    (["train-digits", "--steps", "1000000000"], "--steps"),
    (["train-digits", "--hidden", "100", "1000000000"], "--hidden"),
], ids=["train-ipd --hidden", "eval-ipd --n-samples", "train-digits --steps", "train-digits --hidden"])
def test_sizes_that_cannot_fit_in_memory_are_refused_by_option_before_allocating(tmp_path, capsys, argv, option):
    from spikeloc.cli import main
    from spikeloc.experiments.ipd import IPDRun, model_metadata
    from spikeloc.networks.classifier import SpikingClassifier
    from spikeloc.networks.saved import save

    run = IPDRun(n_hidden=4, n_test_samples=8)
    save(SpikingClassifier(run.network_config(), [run.member(0)]), tmp_path / "model.pt", model_metadata([(run, 0)]))
    status = main([str(tmp_path / "model.pt") if arg == "MODEL" else arg for arg in argv])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and f"error: argument {option}: " in err and "to fit in memory" in err, err


def test_hebbian_finished_only_on_another_studys_results_evolves_and_writes_nothing(studies, other_results, capsys):
    """hebbian_logic used to meta-train its rules and write evolved_rules.json into --out before the grid check."""
    directory, files = other_results
    err = run_refused(studies, "hebbian_logic", ["--preset", "quick", "--finished-only", "--out", str(directory)],
                      capsys)
    assert err.startswith("hebbian_logic: error: argument --out: evolved rule ") and "is not stored in" in err
    assert {path.name: path.read_bytes() for path in directory.iterdir() if path.name != ".lock"} == files
