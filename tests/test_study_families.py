"""Every study's comparison tables carry p_adjusted: Holm over the study's family, every comparison table it writes
in one run (spikeloc.study.stats.family_verdicts). Checked on each study's pure comparison function over synthetic
runs, without training."""

from __future__ import annotations

import importlib
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spikeloc.study.stats import holm

ROOT = Path(__file__).resolve().parents[1]
SEEDS = range(6)


def study(name: str):
    """A study's module (spikeloc.studies)."""
    return importlib.import_module(f"spikeloc.studies.{name}")


def runs(conditions: list[dict], metrics: list[str], seed: int = 0) -> pd.DataFrame:
    """One successful run per condition and seed, each metric drawn at random (some effects, some none)."""
    rng = np.random.default_rng(seed)
    rows = [{**condition, "seed": unit, "status": "ok", **{m: rng.normal(0.5 + 0.01 * i, 0.02) for m in metrics}}
            for i, condition in enumerate(conditions) for unit in SEEDS]
    return pd.DataFrame(rows)


def grid(**values) -> list[dict]:
    return [dict(zip(values, combination)) for combination in itertools.product(*values.values())]


def neuromodulation():
    module = study("neuromodulation")
    headline = "acc_relative_0.3"
    table = runs(grid(task=["ipd", "digits"], variant=["base", "fresh"], training=["none", "learned", "fixed"]),
                 ["clean_acc", headline, "kept_at_noise_scale"])
    return [module.compare(table, headline)]


def bio_plasticity():
    module = study("bio_plasticity")
    table = runs(grid(task=["ipd", "digits"], mechanism=["none", "rejuvenation", "homeostasis"]), module.METRICS)
    return [module.comparisons_with_none(table)]


def robustness():
    module = study("robustness")
    table = runs(grid(phase_offset=["per_dataset"], dropout=[0.0, 0.1, 0.3], phase_noise_rad=[0.0, 0.3]),
                 ["test_acc", "test_error_deg", "generalisation_gap"])
    return [module.dropout_vs_none(table, (0.0, 0.1, 0.3))]


def dales_law():
    module = study("dales_law")
    table = runs([dict(phase_offset="per_sample", dale_layers="none", ie_ratio=0.5)]
                 + grid(phase_offset=["per_sample"], dale_layers=["hidden", "both"], ie_ratio=[0.25, 0.5]),
                 ["test_acc"])
    return [module.dale_vs_none(table)]


def ipd_beyond():
    module = study("ipd_beyond")
    table = runs(grid(phase_offset=["per_sample"], dale=["none", "dale_ie0.5"],
                      option=["seed", "cosine", "fresh_stimuli", "fresh_combined"]), ["test_acc"])
    return [module.compare_options(table)]


def competing_units():
    module = study("competing_units")
    cell = dict(hidden_units=100, p=3.0, k=7, delta=0.4)
    features = [dict(cell, stack=stack, readout_name=name, readout="krotov" if name == "krotov" else "spiking")
                for stack in ("1 layer", "2 layers, identity, divisive, n=3")
                for name in ("krotov", "spiking", "spiking-population", "spiking-chosen")]
    pixels = [dict(cell, stack="pixels", readout_name="pixels-mlp", readout="pixels-mlp")]
    return [module.comparisons(runs(features + pixels, ["test_acc"]))]


def hebbian_logic():
    module = study("hebbian_logic")
    common = dict(rule_family="", meta_task="", bias=False, clamp=1.0, learn_first_layer=False, lr=0.01,
                  n_updates=400)
    conditions = [dict(common, task=task, hidden_sizes=sizes, rule=rule, network=network, input_rate=rate)
                  for task, sizes, rule in itertools.product(("and", "xor"), ("[10]",), ("seed_supervised", "oja"))
                  for network, rate in (("rate", 1.0), ("spiking", 0.8))]
    return module.comparison_tables(runs(conditions, ["success_rate"]))


STUDIES = [neuromodulation, bio_plasticity, robustness, dales_law, ipd_beyond, competing_units, hebbian_logic]


@pytest.mark.parametrize("tables", STUDIES, ids=lambda f: f.__name__)
def test_every_comparison_table_of_a_study_has_holm_p_over_the_study(tables):
    judged = tables()
    together = pd.concat(judged, ignore_index=True)
    assert len(together) > 1 and together["p_signflip"].notna().all()
    np.testing.assert_allclose(together["p_adjusted"], holm(together["p_signflip"]))
    assert (together["family_size"] == len(together)).all()
    assert (together["p_adjusted"] >= together["p_signflip"]).all()
    assert not together.loc[together["p_adjusted"] >= 0.05, "verdict"].isin(["better", "worse"]).any()
