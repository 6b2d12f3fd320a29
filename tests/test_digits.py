"""Image classification on the shipped MNIST-5k sample: short runs learn, are deterministic, members are
independent, the command line prints its keys and refuses bad input with one line."""

import dataclasses
import json
import math

import pytest

from spikeloc import datasets
from spikeloc.cli import main as cli_main
from spikeloc.experiments.digits import DigitsRun, run_digits, run_digits_ensemble, run_mlp_baseline, split

SHORT = DigitsRun(hidden=(24,), steps=8, epochs=3, lr=5e-3, n_train=500, n_validation=100, batch_size=50)


def test_split_is_stratified_seeded_and_disjoint():
    dataset = datasets.load("mnist-5k")
    train, validation, test = split(dataset, 200, seed=3, n_train=800)
    assert (len(train), len(validation), len(test)) == (800, 200, 1000)
    assert train.labels.bincount().tolist() == [80] * 10 and validation.labels.bincount().tolist() == [20] * 10
    again, _, _ = split(dataset, 200, seed=3, n_train=800)
    other, _, _ = split(dataset, 200, seed=4, n_train=800)
    assert (again.images == train.images).all() and not (other.images == train.images).all()
    pixels = {bytes(image.numpy()) for image in train.images}
    assert not any(bytes(image.numpy()) in pixels for image in validation.images)


@pytest.mark.parametrize("readout", ["spikes", "membrane"])
def test_one_short_epoch_beats_chance_by_a_wide_margin(readout):
    loss = "mse_count" if readout == "spikes" else "cross_entropy"
    row = run_digits(dataclasses.replace(SHORT, readout=readout, loss=loss), seed=0)
    assert row["status"] == "ok" and row["test_acc"] > 0.4  # chance is 0.1


def test_same_seed_same_row_and_members_do_not_depend_on_their_ensemble():
    short = dataclasses.replace(SHORT, epochs=1)
    runs = [(short, 0), (dataclasses.replace(short, dropout=0.3), 1),
            (dataclasses.replace(short, dale_layers="both", ie_ratio=0.2), 2)]
    together = run_digits_ensemble(runs)
    for (run, seed), row in zip(runs, together):
        alone = run_digits(run, seed)
        for key in ("train_acc", "test_acc", "epochs_run", "best_epoch", "test_confusion"):
            assert alone[key] == row[key], key
        assert math.isclose(alone["best_val_loss"], row["best_val_loss"], rel_tol=1e-5)


def test_mlp_baseline_trains_on_the_same_split():
    row = run_mlp_baseline(SHORT, seed=0)
    again = run_mlp_baseline(SHORT, seed=0)
    assert row["test_acc"] > 0.5 and {**again, "seconds": row["seconds"]} == row


def test_cli_train_digits_prints_json_and_saves(tmp_path, capsys):
    model = tmp_path / "digits.pt"
    assert cli_main(["train-digits", "--hidden", "16", "--steps", "5", "--epochs", "1", "--encoding", "latency",
                     "--json", "--save", str(model)]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("train_acc", "test_acc", "seconds_per_epoch", "epochs_run"):
        assert key in result and math.isfinite(result[key])
    assert model.stat().st_size > 1000


@pytest.mark.parametrize("args,named", [(["--dataset", "imagenet"], "argument --dataset"),
                                        (["--steps", "0"], "argument --steps"), (["--gain", "2"], "argument --gain"),
                                        (["--hidden", "0"], "argument --hidden"),
                                        (["--readout", "membrane", "--loss", "mse_count"], "argument --loss"),
                                        (["--dataset", "cifar10", "--data-dir", "/nonexistent"], "argument --data-dir"),
                                        (["--dataset", "cifar10", "--data-dir", "EMPTY"], "cifar")])
def test_cli_train_digits_bad_input_is_one_clear_error(args, named, capsys, tmp_path):
    args = [str(tmp_path) if a == "EMPTY" else a for a in args]
    assert cli_main(["train-digits", "--epochs", "1", *args]) == 2
    err = capsys.readouterr().err
    assert named in err and err.count("\n") == 1
