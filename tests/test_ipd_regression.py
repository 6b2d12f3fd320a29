"""IPD is an instance of the general classifier: the same seed gives the same numbers as before.

The reference rows were printed by ``run_ipd_ensemble`` at commit 6bb95ed, before the substrate was generalised
(an IPD-only network and trainer), for the three runs below trained as one ensemble.
"""

import json
import math
from pathlib import Path

import torch

from spikeloc.experiments.ipd import IPDRun, run_ipd_ensemble

REFERENCE = Path(__file__).parent / "data" / "ipd_rows_before_generalisation.json"
SMALL = dict(epochs=3, n_train_batches=16, n_val_samples=256, n_test_samples=256, n_hidden=16)
RUNS = [(IPDRun(**SMALL), 0), (IPDRun(dropout=0.5, phase_noise_rad=0.3, **SMALL), 1),
        (IPDRun(dale_layers="both", ie_ratio=0.3, phase_offset="per_sample", phase_noise_draw="per_sample",
                **SMALL), 2)]


def test_short_ipd_runs_reproduce_the_rows_from_before_the_generalisation():
    torch.set_num_threads(1)  # the reference was recorded on one thread
    reference = json.loads(REFERENCE.read_text())["rows"]
    rows = run_ipd_ensemble(RUNS)
    for row, expected in zip(rows, reference):
        row.pop("seconds_per_epoch")
        assert row.keys() == expected.keys()
        for key, value in expected.items():
            if isinstance(value, float):
                assert math.isclose(row[key], value, rel_tol=1e-6, abs_tol=1e-9), key
            else:
                assert row[key] == value, key
