"""Settings chosen on validation only (spikeloc.study.selection)."""

from __future__ import annotations

import pandas as pd
import pytest

from spikeloc.study.selection import best_on_validation, choose_on_validation


def test_chooses_per_condition_and_seed_on_validation_never_on_test():
    table = pd.DataFrame({
        "readout": ["a", "a", "a", "a", "a", "b", "b"],
        "beta":    [1.0, 2.0, 3.0, 1.0, 2.0, 1.0, 2.0],
        "seed":    [0, 0, 0, 1, 1, 0, 0],
        "val_acc": [0.5, 0.7, 0.7, 0.9, 0.8, 0.6, 0.6],
        "test_acc": [0.99, 0.1, 0.2, 0.3, 0.98, 0.4, 0.97],  # the best test accuracy never decides
        "status": ["ok", "ok", "ok", "ok", "ok", "ok", "ok"],
    })
    chosen = choose_on_validation(table, ["readout"])
    assert chosen[["readout", "seed", "beta"]].values.tolist() == [["a", 0, 2.0], ["a", 1, 1.0], ["b", 0, 1.0]]
    # ties (a/0: 2.0 and 3.0; b/0: 1.0 and 2.0) go to the first candidate in table order
    assert chosen["test_acc"].tolist() == [0.1, 0.3, 0.4]


def test_failed_runs_are_never_chosen_and_missing_columns_are_named():
    table = pd.DataFrame({"readout": ["a", "a"], "seed": [0, 0], "val_acc": [0.9, 0.5], "status": ["failed", "ok"],
                          "test_acc": [0.9, 0.5]})
    assert choose_on_validation(table, ["readout"])["val_acc"].tolist() == [0.5]
    with pytest.raises(ValueError, match=r"^table = .*'hidden'"):
        choose_on_validation(table, ["hidden"])


def test_best_on_validation_averages_units_and_ignores_test():
    table = pd.DataFrame({
        "option": ["a", "a", "a", "b", "b", "c", "c"],
        "seed": [0, 0, 1, 0, 1, 0, 1],
        "best_val_loss": [0.1, 0.5, 0.2, 0.25, 0.25, 0.2, 0.3],  # per seed a: 0.3, 0.2; b: 0.25, 0.25; c: 0.2, 0.3
        "test_acc": [0.1, 0.1, 0.1, 0.2, 0.2, 0.99, 0.99],  # c is best on test: never decides
        "status": ["ok"] * 7,
    })
    # means over seeds a 0.25, b 0.25, c 0.25: tied, the first in table order
    assert best_on_validation(table, "option", "best_val_loss", lower_is_better=True) == "a"
    table.loc[3, "best_val_loss"] = 0.24
    assert best_on_validation(table, "option", "best_val_loss", lower_is_better=True) == "b"
    # the choice is the same with any test accuracies, or none at all
    assert best_on_validation(table.assign(test_acc=-table["test_acc"]), "option", "best_val_loss", True) == "b"
    assert best_on_validation(table.drop(columns="test_acc"), "option", "best_val_loss", True) == "b"
    assert best_on_validation(table.assign(val_acc=[0.9, 0.1, 0.5, 0.4, 0.4, 0.2, 0.2]), "option") == "a"
    with pytest.raises(ValueError, match="^metric = 'test_acc'"):
        best_on_validation(table, "option", "test_acc")
