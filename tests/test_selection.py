"""Settings chosen on validation only (spikeloc.study.selection)."""

from __future__ import annotations

import pandas as pd
import pytest

from spikeloc.study.selection import choose_on_validation


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
