"""What every task's ensemble training shares: which runs may train together, and the columns of a fitted run.

Runs of one ensemble must agree on every config field except the ones their task lets differ between
members (``per_member_fields``). A member whose training diverged gets a row that records why and no metrics:
its weights mean nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import fields
from typing import Any

import torch

from spikeloc.learning.surrogate import FitResult
from spikeloc.networks.classifier import SpikingClassifier
from spikeloc.validation import require


def ensemble_key(run: Any, per_member_fields: Collection[str]) -> tuple:
    """Runs (config dataclasses) with equal keys can be trained together in one ensemble."""
    return tuple((f.name, getattr(run, f.name)) for f in fields(run) if f.name not in per_member_fields)


def one_ensemble(runs: Sequence[tuple[Any, int]], per_member_fields: Collection[str]) -> Any:
    """The first run's config, once checked that the ``(config, seed)`` pairs can be trained together."""
    require(len(runs) >= 1, "runs", len(runs), "at least one (config, seed) pair")
    first = runs[0][0]
    key = ensemble_key(first, per_member_fields)
    require(all(ensemble_key(r, per_member_fields) == key for r, _ in runs), "runs", "mixed settings",
            f"equal in every field except {sorted(per_member_fields)}")
    return first


def diverged_row(fitted: FitResult, k: int) -> dict:
    """The row of member ``k`` whose loss or gradient became non-finite."""
    return {"status": "failed", "error": "non-finite loss or gradient (diverged)", "epochs_run": fitted.epochs_run[k]}


def fit_columns(fitted: FitResult, k: int) -> dict:
    """Member ``k``'s training columns; ``seconds_per_epoch`` is the ensemble's training time per epoch
    (validation included) divided by its size: the time amortised per run."""
    return {"best_val_loss": fitted.best_val_loss[k], "epochs_run": fitted.epochs_run[k],
            "best_epoch": fitted.best_epoch[k],
            "seconds_per_epoch": fitted.seconds / max(fitted.epochs_run) / len(fitted.epochs_run)}


def has_training_records(metadata: dict) -> bool:
    """Whether a saved model's metadata records how it was trained (``task`` and ``runs``, as the training
    commands write them, or what is left of them in a damaged file); a model read from NIR has none."""
    return "task" in metadata or "runs" in metadata


def trained_constants(network: SpikingClassifier, k: int) -> dict:
    """Member k's per-neuron taus (ms) and input delays (steps) as JSON lists, for the options that are on."""
    values = {}
    if network.config.per_neuron_tau:
        hidden = torch.cat([layer.time_constants.tau_s[k] for layer in network.hidden_layers])
        values["hidden_tau_ms"] = json.dumps((1e3 * hidden).tolist())
        values["readout_tau_ms"] = json.dumps((1e3 * network.readout.time_constants.tau_s[k]).tolist())
    if network.input_delays is not None:
        values["input_delay_steps"] = json.dumps(network.input_delays.steps[k].tolist())
    return values
