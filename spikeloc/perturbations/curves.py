"""Dose-response curves of any spiking classifier under a suite of perturbations, and robustness scores.

:func:`perturbation_curves` scores every member of a network on its test data, clean and under each
perturbation at each level, ``draws`` independent draws per level. The draws are batched as an ensemble: the
network is replicated to ``members x draws`` members (:meth:`~spikeloc.networks.classifier.SpikingClassifier.restrict`),
replica (m, d) perturbed with the generator of stream ``f"{perturbation.stream(level)}/{d}/member{m}"`` of
``seed``, and all replicas are scored in one pass (members never interact, so a replica computes what the
member would alone). The clean score is one draw at the perturbation's clean level.

The tidy table has one row per (model, member, perturbation, level, draw): ``acc`` (fraction correct),
``severity`` and the ``chance`` level ``1 / classes``.

Robustness scores (:func:`robustness_scores`, per network and perturbation), from the mean accuracy over draws
``a(l)`` normalised as ``r(l) = (a(l) - chance) / (a_clean - chance)`` (1 = clean, 0 = chance):

* ``auc``: the area under ``r`` against severity (trapezoids from the clean point at severity 0 to the most
  severe level), divided by the most severe level's severity: 1 = unharmed over the tested range, 0 = at chance
  throughout;
* ``half_level``: the level at which ``r`` first falls to 0.5 (accuracy half-way from clean to chance),
  interpolated linearly in severity between the tested levels; NaN when it stays above 0.5 over the range.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import torch

from spikeloc import seeding
from spikeloc.learning.surrogate import evaluate
from spikeloc.perturbations.data import EvaluationData
from spikeloc.perturbations.suite import PERTURBATIONS, check_suite
from spikeloc.study.stats import summarise
from spikeloc.validation import require

COLUMNS = ("model", "member", "member_seed", "perturbation", "kind", "level", "severity", "draw", "acc", "chance")


def applicable(suite, data: EvaluationData):
    """The suite without the task perturbations of another task than ``data``'s (a named suite holds both)."""
    return tuple((name, levels) for name, levels in suite if PERTURBATIONS[name].applies_to(data))


def check_applicable(network, suite, data: EvaluationData) -> None:
    """``ValueError`` naming the perturbation unless every level of ``suite`` can act on ``network`` scored on
    ``data``: all checks of :func:`perturbation_curves`, before any work."""
    for name, levels in check_suite(suite):
        perturbation = PERTURBATIONS[name]
        require(perturbation.applies_to(data), "perturbation", name, "a perturbation of the network's task")
        for level in levels:
            perturbation.check_network(network, level)


def perturbation_curves(network, data: EvaluationData, suite, draws: int = 10, seed: int = 0,
                        model: str = "model") -> pd.DataFrame:
    """The tidy table of ``network``'s accuracy under ``suite`` (see the module docstring)."""
    suite = check_suite(suite)
    require(isinstance(draws, int) and draws >= 1, "draws", draws, "an integer >= 1")
    check_applicable(network, suite, data)
    network.eval()
    members = network.n_members
    seeds = [m.seed for m in network.members]
    chance = 1 / network.config.n_classes
    clean = [metrics["acc"] for metrics in evaluate(network, data.member_data, split="test")]
    rows = [(model, m, seeds[m], name, PERTURBATIONS[name].kind, PERTURBATIONS[name].clean_level, 0.0, 0, clean[m],
             chance) for name, _ in suite for m in range(members)]
    indices = [m for m in range(members) for _ in range(draws)]
    replicas = network.restrict(indices).eval()
    replica_data = data.replicated(indices)
    device = network.dropout.device
    for name, levels in suite:
        perturbation = PERTURBATIONS[name]
        for level in levels:
            stream = perturbation.stream(level)
            generators = [seeding.generator(seed, f"{stream}/{d}/member{m}", device)
                          for m in range(members) for d in range(draws)]
            with torch.no_grad(), perturbation.applied(replicas, level, generators):
                scores = evaluate(replicas, perturbation.perturbed_data(replica_data, level, generators),
                                  split="test")
            rows += [(model, m, seeds[m], name, perturbation.kind, float(level), perturbation.severity(level), d,
                      scores[m * draws + d]["acc"], chance) for m in range(members) for d in range(draws)]
    return pd.DataFrame(rows, columns=COLUMNS)


def _networks(table: pd.DataFrame) -> pd.Series:
    return table["model"].astype(str) + "/" + table["member"].astype(str)


def summary(table: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean accuracy, SEM and t interval per (perturbation, level): over draws when the table holds one network,
    over networks (each first averaged over its draws) when it holds several: the network is then the unit."""
    frame = table.assign(network=_networks(table), status="ok")
    unit = "network" if frame["network"].nunique() > 1 else "draw"
    return summarise(frame, ["perturbation", "level", "severity"], ["acc"], confidence, unit=unit)


def robustness_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Per (model, member, perturbation): ``clean_acc``, ``auc`` and ``half_level`` (see the module docstring)."""
    rows = []
    means = table.groupby(["model", "member", "perturbation", "level", "severity"], sort=False)["acc"].mean()
    for (model, member, name), curve in means.groupby(level=[0, 1, 2], sort=False):
        curve = curve.reset_index().sort_values("severity")
        chance = float(table["chance"].iloc[0])
        clean = float(curve["acc"].iloc[0])
        severity = curve["severity"].to_numpy(dtype=float)
        relative = (curve["acc"].to_numpy(dtype=float) - chance) / (clean - chance) if clean > chance else \
            np.full(len(curve), np.nan)
        auc = float(np.trapezoid(relative, severity) / severity[-1]) if len(curve) > 1 and severity[-1] > 0 \
            else float("nan")
        half = float("nan")
        below = np.flatnonzero(relative <= 0.5)
        if below.size and below[0] > 0:
            i = below[0]
            fraction = (relative[i - 1] - 0.5) / (relative[i - 1] - relative[i])
            target = severity[i - 1] + fraction * (severity[i] - severity[i - 1])
            half = float(PERTURBATIONS[name].level_at(target))
        rows.append({"model": model, "member": member, "perturbation": name, "clean_acc": clean, "auc": auc,
                     "half_level": half})
    return pd.DataFrame(rows)


def score_summary(scores: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean robustness scores per perturbation over networks (the unit), with SEM and t intervals."""
    frame = scores.assign(network=_networks(scores), status="ok")
    return summarise(frame, ["perturbation"], ["clean_acc", "auc", "half_level"], confidence, unit="network")


def curve_figure(table: pd.DataFrame, perturbation: str):
    """Accuracy against level for one perturbation: one line per model (mean over its members and draws), the
    band its 95 % interval (over networks, or over draws for a single network), chance dashed."""
    import matplotlib.pyplot as plt

    part = table[table["perturbation"] == perturbation]
    fig, axis = plt.subplots(figsize=(5, 3.5))
    for model, rows in part.groupby("model", sort=False):
        stats = summary(rows).sort_values("severity")
        stats = stats[np.isfinite(stats["level"])]
        axis.plot(stats["level"], stats["mean"], marker="o", label=str(model))
        axis.fill_between(stats["level"], stats["ci_low"], stats["ci_high"], alpha=0.2)
    axis.axhline(float(part["chance"].iloc[0]), color="grey", linestyle="--", label="chance")
    finite = np.isfinite(part["level"])
    if not finite.all():
        axis.set_title(f"{perturbation} (clean point: float weights, not drawn)")
    else:
        axis.set_title(perturbation)
    axis.set_xlabel(f"level ({PERTURBATIONS[perturbation].unit})")
    axis.set_ylabel("test accuracy")
    axis.legend(fontsize=7)
    fig.tight_layout()
    return fig
