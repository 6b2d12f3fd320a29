"""Memory estimates: what a run needs is checked against what the machine has before anything is allocated."""

import dataclasses

import pytest

from spikeloc import memory
from spikeloc.experiments.digits import DigitsRun
from spikeloc.experiments import ipd
from spikeloc.experiments.ipd import IPDRun
from spikeloc.networks.classifier import SpikingClassifier
from spikeloc.networks.saved import read_record
from spikeloc.study.runner import run_study
from spikeloc.validation import InvalidValue


def test_available_memory_is_linuxs_estimate_lowered_to_a_cgroup_limit(tmp_path, monkeypatch):
    meminfo, limit, usage = tmp_path / "meminfo", tmp_path / "memory.max", tmp_path / "memory.current"
    meminfo.write_text("MemTotal:       24684000 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n")
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    monkeypatch.setattr(memory, "CGROUP_LIMIT", limit)
    monkeypatch.setattr(memory, "CGROUP_USAGE", usage)
    assert memory.available_bytes() == 20_000_000 * 1024  # no cgroup files: the machine's
    limit.write_text("max\n")
    usage.write_text("123\n")
    assert memory.available_bytes() == 20_000_000 * 1024
    limit.write_text("8000000000\n")
    usage.write_text("3000000000\n")
    assert memory.available_bytes() == 5_000_000_000


def test_a_need_beyond_what_is_available_names_the_largest_field(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 10**9)
    needs = [memory.Need("n_test_samples", 7, 6e8), memory.Need("n_hidden", 3, 5e8)]
    with pytest.raises(InvalidValue, match=r"n_test_samples = 7 is invalid: must be small enough for the run to fit "
                                           r"in memory: it needs at least 1.1 GB \(600 MB for this value\), 1 GB is "
                                           "available") as refused:
        memory.require_fits(needs)
    assert refused.value.field == "n_test_samples"
    memory.require_fits(needs[:1])
    monkeypatch.setattr(memory, "available_bytes", lambda: None)  # unknown: not checked
    memory.require_fits(needs)


def test_a_product_of_sizes_is_blamed_on_the_size_that_grew_most():
    assert memory.need(IPDRun(n_hidden=300, batch_size=128), 1, "batch_size", "n_hidden") == \
        memory.Need("n_hidden", 300, 1)
    assert memory.need(DigitsRun(steps=1000, hidden=(400,)), 1, "batch_size", "steps", "hidden").field == "steps"
    assert memory.need(DigitsRun(steps=50, hidden=(200, 200, 400)), 1, "batch_size", "steps", "hidden").field == \
        "hidden"


def test_the_ipd_estimate_counts_the_stimuli_and_weights_it_allocates():
    run = IPDRun(n_hidden=20, n_test_samples=300)
    needs = {need.field: need.bytes for need in run.memory_needs()[:4]}
    assert needs["n_test_samples"] == ipd.test_dataset(run, 0).spikes.nbytes
    network = SpikingClassifier(run.network_config(), [run.member(0)])
    weights = sum(p.numel() * p.element_size() for p in network.parameters())
    assert needs["n_hidden"] == memory.TRAINED_WEIGHT_COPIES * weights


def test_default_runs_fit_and_absurd_sizes_are_refused_by_field(monkeypatch):
    IPDRun().check_memory()
    DigitsRun().check_memory()
    for run, field in [(IPDRun(n_hidden=10**9), "n_hidden"), (IPDRun(n_val_samples=10**10), "n_val_samples"),
                       (DigitsRun(steps=10**9), "steps"), (DigitsRun(hidden=(100, 10**9)), "hidden")]:
        with pytest.raises(InvalidValue, match="fit in memory") as refused:
            run.check_memory()
        assert refused.value.field == field
    monkeypatch.setattr(memory, "available_bytes", lambda: 10**8)  # 100 MB: the default IPD stimuli need 205 MB
    with pytest.raises(InvalidValue, match=r"needs at least 2\d\d MB"):
        IPDRun().check_memory()


def test_a_config_is_valid_on_every_machine_and_refused_where_it_would_train(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 10**8)  # a small machine: the default run needs more
    run = IPDRun(n_test_samples=16)  # built, compared, read from a record: no memory is asked
    assert read_record(IPDRun, dataclasses.asdict(run), "config", None) == run
    with pytest.raises(InvalidValue, match="fit in memory"):
        ipd.train_ipd_ensemble([(run, 0)])
    study = ipd.ipd_study("too-big", [run], [0])
    with pytest.raises(InvalidValue, match="fit in memory"):
        run_study(study, tmp_path / "out", executor="inline", quiet=True)
    assert not (tmp_path / "out").exists()  # refused before anything was written
