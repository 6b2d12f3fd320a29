"""``device`` through the package: names checked in the configs, resolved once, ``--device`` on every command line
(a GPU asked for where there is none is a usage error, exit 2, before any work), studies packed into large
ensembles on a GPU, CPU results unchanged. The CUDA tests skip without a GPU."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import sys
import time

import pytest
import torch

from spikeloc import cli
from spikeloc.devices import check_device, is_gpu, resolve_device
from spikeloc.experiments.competing import CompetingRun, competing_study
from spikeloc.experiments.digits import DigitsRun
from spikeloc.experiments.hebbian import HebbianRun, hebbian_study
from spikeloc.experiments.ipd import MAX_ENSEMBLE_CPU, MAX_ENSEMBLE_GPU, IPDRun, ipd_study
from spikeloc.experiments.neuromodulation import NeuromodulationRun
from spikeloc.learning.local.families import Polynomial, Recurrent
from spikeloc.learning.local.learned import n_parameters
from spikeloc.options import UsageError
from spikeloc.study.cli import _check_scheduler_answers, executor_options, run_settings
from spikeloc.study.runner import NoGPUWorkers, Study, _plan_tasks, make_run_id, run_study
from spikeloc.substrate.fused import lif_spikes

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
no_cuda = pytest.mark.skipif(CUDA, reason="checks the refusal on a machine without a GPU")
TINY = dict(epochs=1, n_train_batches=2, batch_size=16, n_val_samples=32, n_test_samples=32, n_hidden=8,
            fibres_per_ear=10)
CONFIGS = (IPDRun, DigitsRun, NeuromodulationRun, HebbianRun, CompetingRun)


@pytest.mark.parametrize("name", ["cpu", "cuda", "cuda:0", "cuda:12", "auto"])
def test_device_names_are_accepted_by_every_run_config(name):
    check_device(name)
    assert all(config(device=name).device == name for config in CONFIGS)


@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:", "cuda:x", "cpu:0", "", 0])
def test_misspelled_devices_are_errors_naming_the_field(name):
    for config in CONFIGS:
        with pytest.raises(ValueError, match=r"^device = .* is invalid: must be 'cpu', 'cuda', 'cuda:N' or 'auto'"):
            config(device=name)


def test_auto_resolves_to_what_the_machine_has():
    assert resolve_device("auto") == ("cuda" if CUDA else "cpu")
    assert resolve_device("cpu") == "cpu"
    assert is_gpu("auto") == CUDA and not is_gpu("cpu") and is_gpu("cuda:3")


@no_cuda
def test_a_missing_gpu_is_an_error_naming_the_field():
    with pytest.raises(ValueError, match="^device = 'cuda:1' is invalid: .*no CUDA device is available"):
        resolve_device("cuda:1")


def test_the_mlp_reference_runs_on_the_cpu_only():
    with pytest.raises(ValueError, match="^device = 'cuda' is invalid: must be 'cpu' for task 'mlp'"):
        NeuromodulationRun(task="mlp", training="none", device="cuda")


def load_study(name):
    return importlib.import_module(f"spikeloc.studies.{name}")


@no_cuda
@pytest.mark.parametrize("main, argv", [
    (cli.main, ["train-ipd", "--device", "cuda"]),
    (cli.main, ["eval-ipd", "--device", "cuda", "--model", "missing.pt"]),
    (cli.main, ["train-digits", "--device", "cuda:0"]),
    ("robustness", ["--device", "cuda"]),
    ("hebbian_logic", ["--device", "cuda"]),
    ("competing_units", ["--device", "cuda:0"]),
])
def test_device_cuda_without_a_gpu_is_a_usage_error_before_any_work(main, argv, capsys, tmp_path):
    if main is cli.main:  # the spikeloc command returns its exit status; a study script exits with it
        status = main(argv)
    else:
        with pytest.raises(SystemExit) as stop:
            load_study(main).main([*argv, "--out", str(tmp_path / "out")])
        status = stop.value.code
    assert status == 2
    captured = capsys.readouterr()
    assert len(captured.err.splitlines()) == 1 and "argument --device: 'cuda" in captured.err
    assert captured.out == "" and not (tmp_path / "out").exists()


def test_the_local_learning_studies_pass_the_device_to_every_run():
    """``--device`` reaches every cell of both grids (meta-learned and evolved rules too); a CUDA device is checked
    as spelled here and resolved only when a run starts."""
    hebbian, competing = load_study("hebbian_logic"), load_study("competing_units")
    args = argparse.Namespace(device="cuda")
    preset = {**hebbian.PRESETS["quick"], "settings": run_settings(args, hebbian.PRESETS["quick"]["settings"])}
    evolved = {"family": "polynomial", "meta_task": "xor", "parameters": [0.0] * Polynomial(1, 1).n_parameters,
               "lr": 0.05}
    runs = hebbian.grid(preset, {0: {"xor": (0.1,) * n_parameters(8)}}, {0: {"polynomial/xor": evolved}})
    assert {run.rule for run in runs} >= {"learned", "evolved", "stdp"} and {run.device for run in runs} == {"cuda"}
    preset = competing.PRESETS["quick"]
    runs = competing.grid(preset, run_settings(args, preset["sizes"]))
    assert {run.device for run in runs} == {"cuda"} and {r.spiking_config().device for r in runs} == {"cuda"}


def test_auto_on_cpu_stays_numba_and_does_not_import_triton():
    """CPU behaviour is unchanged by the CUDA kernel: ``auto`` runs numba on CPU and never imports triton."""
    if "spikeloc.substrate.kernels.triton_gpu" in sys.modules:
        pytest.skip("another test in this process imported the Triton backend already")
    g = torch.Generator().manual_seed(4)
    currents = 0.7 * torch.randn(3, 20, 5, generator=g) + 0.3
    assert torch.equal(lif_spikes(currents, 0.8, backend="auto"), lif_spikes(currents, 0.8, backend="numba"))
    assert "spikeloc.substrate.kernels.triton_gpu" not in sys.modules


@pytest.mark.parametrize("run, make_study", [(IPDRun(**TINY), ipd_study), (HebbianRun(), hebbian_study),
                                             (CompetingRun(), competing_study)])
def test_cpu_runs_keep_the_run_ids_and_columns_they_had_before_configs_had_a_device(run, make_study):
    """A result directory written before ``device`` existed resumes: a CPU run's id and columns are as they were
    (``device="cpu"`` is the default: the same run); a GPU run is another run."""
    ipd_added_later = {"readout", "population", "tie_break", "logit_scale", "more_hidden", "test_stream", "neuron",
                       "reset", "tau_syn_s", "mismatch_training", "qat_bits", "tau_adapt_s", "adaptation"}
    added_later = {"device"} | (ipd_added_later if isinstance(run, IPDRun) else set()) | (
        {"meta_seed"} if isinstance(run, HebbianRun) else set())
    before = {name: value for name, value in dataclasses.asdict(run).items() if name not in added_later}
    assert dataclasses.replace(run, device="cpu") == run
    study = make_study("ids", [run, dataclasses.replace(run, device="cuda")], [0])
    assert study.runs[0].run_id == make_run_id(before, 0)
    assert study.runs[1].run_id == make_run_id({**before, "device": "cuda"}, 0)
    assert "device" not in study.description()["configs"][0] and study.description()["configs"][1]["device"] == "cuda"


def test_a_gpu_study_is_packed_into_large_ensembles():
    """54 IPD networks (the robustness seed preset's size): 6 ensembles of 9 on CPU, one of 54 on a GPU."""
    configs = [IPDRun(dropout=d, phase_noise_rad=s, **TINY) for d in (0.0, 0.2, 0.5) for s in (0.0, 0.1, 0.2)]
    seeds = range(6)
    cpu_tasks = _plan_tasks(study := ipd_study("cpu", configs, seeds), study.runs, workers=1)
    gpu_configs = [dataclasses.replace(c, device="cuda") for c in configs]
    gpu_tasks = _plan_tasks(study := ipd_study("gpu", gpu_configs, seeds), study.runs, workers=1)
    assert [len(t.runs) for t in cpu_tasks] == [MAX_ENSEMBLE_CPU] * 6
    assert [len(t.runs) for t in gpu_tasks] == [54] and MAX_ENSEMBLE_GPU >= 54


@dataclasses.dataclass(frozen=True)
class Cell:
    index: int
    device: str = "cpu"


def visible_gpu(cell: Cell, seed: int) -> dict:
    """A run function for worker processes: which GPUs the worker was shown."""
    return {"visible": os.environ.get("CUDA_VISIBLE_DEVICES", "all")}


def test_one_worker_per_gpu_each_seeing_its_own(tmp_path):
    """The mechanism needs no GPU: worker i is started with CUDA_VISIBLE_DEVICES = gpus[i]."""
    study = Study("gpus", tuple(Cell(i) for i in range(6)), (0,), visible_gpu)
    table = run_study(study, tmp_path, executor="processes", gpus=(0, 1), quiet=True)
    assert set(table["visible"].astype(str)) == {"0", "1"} and (table["status"] == "ok").all()
    with pytest.raises(ValueError, match="gpus .* needs executor='processes' and workers unset"):
        run_study(study, tmp_path / "other", executor="processes", workers=3, gpus=(0, 1))


def worker_name(cell: Cell, seed: int) -> dict:
    """A run function for Dask workers: which worker ran the run."""
    import distributed

    time.sleep(0.05)  # long enough that every idle worker is offered runs
    return {"worker": distributed.get_worker().name}


def test_dask_tasks_of_runs_on_a_gpu_ask_for_one_gpu_and_only_those():
    cells = [Cell(0, "cuda"), Cell(1, "cuda:1"), Cell(2, "cpu"), Cell(3, "auto")]
    study = Study("plan", tuple(cells), (0,), worker_name)
    tasks = _plan_tasks(study, study.runs, workers=1)
    assert [task.resources for task in tasks] == [{"GPU": 1}, {"GPU": 1}, None, None]


@pytest.fixture
def gpu_and_cpu_workers():
    """A Dask cluster of two single-threaded workers (threads of this process): "gpu" declares GPU=1."""
    distributed = pytest.importorskip("distributed")
    spec = {"gpu": {"cls": distributed.Worker, "options": {"nthreads": 1, "resources": {"GPU": 1}}},
            "cpu": {"cls": distributed.Worker, "options": {"nthreads": 1}}}
    with distributed.SpecCluster(workers=spec, scheduler={"cls": distributed.Scheduler,
                                                          "options": {"dashboard_address": None}}) as cluster:
        yield cluster


def test_dask_runs_on_a_gpu_go_only_to_workers_that_declare_one(gpu_and_cpu_workers, tmp_path):
    """The runs on "cuda" all run on the worker that declares a GPU; the CPU runs may run on either."""
    cells = tuple(Cell(i, device) for i in range(6) for device in ("cuda", "cpu"))
    table = run_study(Study("resources", cells, (0,), worker_name), tmp_path, executor="dask",
                      scheduler=gpu_and_cpu_workers.scheduler_address, quiet=True)
    assert (table["status"] == "ok").all() and len(table) == 12
    on_gpu = table["device"] == "cuda"
    assert set(table.loc[on_gpu, "worker"]) == {"gpu"}
    assert set(table.loc[~on_gpu, "worker"]) <= {"gpu", "cpu"}


def test_dask_cluster_without_a_gpu_worker_is_refused_before_any_run(tmp_path):
    """Tasks asking for a GPU would wait for ever on such a cluster: run_study refuses it up front, and a study's
    command line names --scheduler (exit status 2) before it writes anything."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        study = Study("no-gpu", (Cell(0, "cuda"),), (0,), worker_name)
        with pytest.raises(NoGPUWorkers, match=r"none of the 1 workers .* declares a GPU resource.*--resources GPU=1"):
            run_study(study, tmp_path / "out", executor="dask", scheduler=cluster.scheduler_address, quiet=True)
        assert not (tmp_path / "out" / "runs.csv").exists()
        args = argparse.Namespace(scheduler=cluster.scheduler_address, device="cuda")
        with pytest.raises(UsageError, match="declares a GPU resource") as refused:
            _check_scheduler_answers(args)
        assert refused.value.option == "--scheduler"
        _check_scheduler_answers(argparse.Namespace(scheduler=cluster.scheduler_address, device="cpu"))


def test_dask_local_cluster_declares_a_gpu_per_worker_for_runs_on_a_gpu(tmp_path):
    pytest.importorskip("distributed")
    study = Study("local-gpu", (Cell(0, "cuda"), Cell(1, "cpu")), (0,), visible_gpu)
    table = run_study(study, tmp_path, executor="dask", scheduler="local", workers=1, quiet=True)
    assert (table["status"] == "ok").all() and len(table) == 2


def test_gpu_studies_run_one_worker_per_gpu_unless_told():
    args = lambda **given: argparse.Namespace(**{"executor": "processes", "scheduler": None,  # noqa: E731
                                                 "workers": None, "device": "cpu", "overwrite": False, "extend": False,
                                                 "retry_failed": False, "repair": False, "quiet": True, **given})
    chosen = lambda options: {k: options[k] for k in ("executor", "workers", "scheduler", "gpus")}  # noqa: E731
    assert chosen(executor_options(args())) == {"executor": "processes", "workers": None, "scheduler": None,
                                                "gpus": ()}
    assert executor_options(args(device="cuda:1"))["workers"] == 1
    assert executor_options(args(device="cuda", workers=4))["workers"] == 4
    assert chosen(executor_options(args(device="cuda", executor="inline"))) == {
        "executor": "inline", "workers": 1, "scheduler": None, "gpus": ()}
    assert executor_options(args(device="cuda"))["gpus"] == tuple(range(torch.cuda.device_count()))
    # Dask: a local cluster of one worker, or an existing cluster's GPU workers (counted when it connects)
    assert executor_options(args(device="cuda", executor="dask"))["workers"] == 1
    assert executor_options(args(device="cuda", executor="dask", scheduler="tcp://host:8786"))["workers"] is None


@needs_cuda
def test_ipd_trains_on_cuda_and_its_saved_model_loads_on_the_cpu(tmp_path):
    from spikeloc.experiments.ipd import evaluate_saved, model_metadata, train_ipd_ensemble
    from spikeloc.networks.saved import load, save

    runs = [(IPDRun(device="cuda", **TINY), 0), (IPDRun(device="cuda", dropout=0.2, **TINY), 1)]
    network, rows = train_ipd_ensemble(runs)
    assert next(network.parameters()).is_cuda and all(row["status"] == "ok" for row in rows)
    again = train_ipd_ensemble(runs)[1]  # the same seed gives the same table run to run
    for a, b in zip(rows, again):
        a.pop("seconds_per_epoch"), b.pop("seconds_per_epoch")
        assert a == b
    save(network, tmp_path / "model.pt", model_metadata(runs))
    on_cpu = load(tmp_path / "model.pt", "cpu")
    assert next(on_cpu.network.parameters()).device.type == "cpu"
    on_gpu_rows = evaluate_saved(load(tmp_path / "model.pt", "cuda"))
    assert [r["test_acc"] for r in on_gpu_rows] == [r["test_acc"] for r in rows]
    assert len(evaluate_saved(on_cpu)) == 2


@needs_cuda
@pytest.mark.parametrize("task", ["ipd", "digits"])
def test_neuromodulation_and_bio_plasticity_run_on_cuda(task):
    """Every random draw of these runs (weight noise, plasticity, Dale signs, sub-synapses, encodings) is made
    on the run's device; a run on CUDA finishes with a row of numbers."""
    from spikeloc.experiments.bio_plasticity import BioPlasticityRun, run_bio_plasticity
    from spikeloc.experiments.neuromodulation import run_neuromodulation

    sizes = dict(epochs=1, n_train_batches=2, n_val_samples=64, n_test_samples=64, hidden=(16,), n_train=256,
                 device="cuda")
    row = run_neuromodulation(NeuromodulationRun(task=task, training="learned", n_draws=2, **sizes), 0)
    assert row["status"] == "ok" and 0 <= row["clean_acc"] <= 1
    row = run_bio_plasticity(BioPlasticityRun(task=task, mechanism="all", n_draws=2, **sizes), 0)
    assert row["status"] == "ok"


@needs_cuda
def test_digits_train_on_cuda():
    from spikeloc.experiments.digits import run_digits

    row = run_digits(DigitsRun(hidden=(32,), epochs=1, n_train=256, device="cuda"), 0)
    assert row["status"] == "ok" and 0 <= row["test_acc"] <= 1


@needs_cuda
@pytest.mark.parametrize("settings", [
    dict(rule="seed_supervised", hidden_sizes=(10, 10)),
    dict(rule="stdp", network="spiking"),
    dict(rule="contrastive", network="spiking", bias=True),
    dict(rule="learned", learned_parameters=(0.1,) * n_parameters(8)),
    dict(rule="evolved", rule_family="recurrent", bias=True, learned_parameters=(0.01,) * Recurrent(2).n_parameters),
])
def test_hebbian_cells_train_on_cuda(settings):
    """Every draw of a cell (order, input spikes) and a meta-learned rule's parameters are on the run's device;
    the same seed gives the same row run to run."""
    from spikeloc.experiments.hebbian import run_hebbian

    run = HebbianRun(n_replications=20, n_updates=50, device="cuda", **settings)
    row = run_hebbian(run, 0)
    assert row["n_total"] == 20 and 0 <= row["success_rate"] <= 1
    assert run_hebbian(run, 0) == row


@needs_cuda
def test_competing_readouts_train_on_cuda():
    from spikeloc.experiments.competing import run_competing_batch

    base = CompetingRun(hidden_units=20, k=2, rule_epochs=1, epochs=1, device="cuda")
    runs = [(dataclasses.replace(base, readout=readout, layers=layers), 0)
            for readout in ("spiking", "krotov", "pixels-mlp") for layers in (1, 2)]
    rows = run_competing_batch(runs)
    assert all(row["status"] == "ok" and 0 <= row["test_acc"] <= 1 for row in rows)
