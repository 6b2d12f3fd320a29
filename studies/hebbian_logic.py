"""Local (Hebbian) learning rules on AND / OR / NAND / XOR: success rate of 100 replications per cell.

Cells: task x rule x hidden sizes {10, 100, [10, 10]} x network (the seed's non-spiking ToyNetwork,
"rate", and LIF networks, "spiking"); each run is one cell and one seed, its 100 replications trained as
one tensor batch. Updates per the seed: 400 single-example updates (1000 for AND with [10, 10]), lr 0.01,
weights clipped to [-1, 1]. The learned rule is meta-trained first (on the rate network, on AND and on
XOR, from the study's meta seed) and then tested on every task: in-task rows (meta_task == task) and
transfer rows (meta_task != task) are reported separately. Conditions share seeds (a run's initial
weights and example order depend only on its seed and size), so rules are compared paired on seed.

Writes to --out: runs.csv, summary.csv (mean, SEM, t-CI over seeds), cells.csv (pooled over seeds:
success rate, Wilson 95 % interval, the seed's published rate where it has one), vs_seed_rule.csv
(paired comparison of each rule with the seed's), hebbian_<network>.png (heat maps),
learned_rule_<task>.png (the learned rule's dw over pre x post), learned_rules.json (their parameters).

    python studies/hebbian_logic.py --preset quick|seed|full [--out DIR] [--executor ...]
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from spikeloc.experiments.hebbian import SPIKING_ONLY_RULES, HebbianRun, hebbian_study, seed_updates
from spikeloc.files import atomic_write
from spikeloc.learning.local.learned import MetaTraining, meta_train, rule_surface
from spikeloc.study.cli import run_and_summarise, run_script, study_parser
from spikeloc.study.plots import plt, rate_heatmap, save_figure
from spikeloc.study.stats import format_comparisons, paired_comparison, wilson_interval, with_verdicts

DESIGNED_RULES = ("seed_supervised", "forward_bounded", "oja", "reward", "contrastive", "stdp")
SIZES = ((10,), (100,), (10, 10))
META_TASKS = ("and", "xor")
#: The seed notebook's printed success rates (100 replications each): the reference column.
SEED_RATES = {("and", "[10]"): 0.73, ("and", "[100]"): 0.98, ("and", "[10,10]"): 0.0,
              ("xor", "[10]"): 0.29, ("xor", "[100]"): 0.99, ("xor", "[10,10]"): 0.0}
PRESETS = {
    "quick": dict(tasks=("and", "xor"), seeds=(0,), long_updates=(),
                  meta=dict(meta_steps=30, n_updates=100, lr=0.02, meta_lr=0.02), settings={}),
    "seed": dict(tasks=("and", "or", "nand", "xor"), seeds=(0, 1, 2), long_updates=(),
                 meta=dict(meta_steps=150, n_updates=100, lr=0.02, meta_lr=0.02), settings={}),
    "full": dict(tasks=("and", "or", "nand", "xor"), seeds=(0, 1, 2, 3, 4), long_updates=(2000,),
                 meta=dict(meta_steps=300, n_updates=100, lr=0.02, meta_lr=0.02), settings={}),
}
META_SEED = 0
BY = ["task", "rule", "meta_task", "hidden_sizes", "network", "n_updates"]


def grid(preset: dict, learned: dict[str, tuple[float, ...]]) -> list[HebbianRun]:
    """Every cell; ``preset["settings"]`` overrides HebbianRun fields of all of them (e.g. n_replications)."""
    runs = []
    for task in preset["tasks"]:
        for sizes in SIZES:
            for network in ("rate", "spiking"):
                common = dict(task=task, hidden_sizes=sizes, network=network, n_updates=seed_updates(task, sizes))
                common.update(preset["settings"])
                for rule in DESIGNED_RULES:
                    if rule in SPIKING_ONLY_RULES and network != "spiking":
                        continue
                    runs.append(HebbianRun(rule=rule, **common))
                runs += [HebbianRun(rule="contrastive", **{**common, "n_updates": n}) for n in preset["long_updates"]]
                # the learned rule runs at the learning rate it was meta-trained with
                runs += [HebbianRun(rule="learned", learned_parameters=theta, meta_task=meta_task,
                                    **{**common, "lr": MetaTraining(**preset["meta"]).lr})
                         for meta_task, theta in learned.items()]
    return runs


def learn_rules(meta_settings: dict) -> tuple[dict[str, tuple[float, ...]], dict[str, list[float]]]:
    """Meta-train one rule per task in :data:`META_TASKS`: (parameters, meta-loss curves)."""
    rules, curves = {}, {}
    for task in META_TASKS:
        rules[task], curves[task] = meta_train(MetaTraining(task=task, **meta_settings), META_SEED)
        print(f"learned rule on {task}: meta-loss {curves[task][0]:.3f} -> {curves[task][-1]:.3f}")
    return rules, curves


def pooled_cells(table: pd.DataFrame) -> pd.DataFrame:
    """Per cell, all seeds pooled: successes / replications with the Wilson 95 % interval, and the seed's rate."""
    ok = table[table["status"] == "ok"]
    cells = ok.groupby(BY, sort=False, dropna=False)[["n_solved", "n_total"]].sum().reset_index()
    intervals = [wilson_interval(int(s), int(n)) for s, n in zip(cells["n_solved"], cells["n_total"])]
    cells["success_rate"] = cells["n_solved"] / cells["n_total"]
    cells["ci_low"], cells["ci_high"] = zip(*intervals)
    is_seed_protocol = (cells["rule"] == "seed_supervised") & (cells["network"] == "rate")
    cells["seed_notebook_rate"] = [SEED_RATES.get((task, sizes), np.nan) if seed_cell else np.nan
                                   for task, sizes, seed_cell in zip(cells["task"], cells["hidden_sizes"],
                                                                     is_seed_protocol)]
    cells["transfer"] = np.where(cells["rule"] != "learned", "", np.where(cells["meta_task"] == cells["task"],
                                                                          "in-task", "transfer"))
    return cells


def rule_label(cells: pd.DataFrame) -> pd.Series:
    long = cells["n_updates"] >= 2000
    label = cells["rule"].where(cells["rule"] != "learned", "learned(" + cells["meta_task"] + ")")
    return label.where(~long, label + "@" + cells["n_updates"].astype(str))


def learned_rule_figure(theta: tuple[float, ...], task: str) -> plt.Figure:
    """dw / lr over pre x post at w = 0, for r = +1 and -1, onto hidden and onto output neurons."""
    pre = np.linspace(-1, 1, 41)
    post = np.linspace(-1, 1, 41)
    fig, axes = plt.subplots(2, 2, figsize=(8, 6.4))
    for row, is_output in zip(axes, (False, True)):
        for ax, reward in zip(row, (1.0, -1.0)):
            surface = rule_surface(theta, pre, post, weight=0.0, reward=reward, is_output=is_output)
            limit = float(np.abs(surface).max()) or 1.0
            image = ax.imshow(surface, origin="lower", extent=(-1, 1, -1, 1), cmap="RdBu_r", vmin=-limit,
                              vmax=limit)
            ax.set_xlabel("presynaptic activity x_j")
            ax.set_ylabel(("output" if is_output else "hidden") + " activity y_i")
            ax.set_title(f"onto {'output' if is_output else 'hidden'} neurons, r = {reward:+.0f}, w = 0", fontsize=9)
            fig.colorbar(image, ax=ax, label="g (dw / lr)")
    fig.suptitle(f"learned local rule, meta-trained on {task.upper()}")
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> None:
    parser = study_parser(__doc__.split("\n")[0], list(PRESETS), "results/hebbian-logic", epochs=False,
                          cpu_only="the local rules update small networks in place, faster on the CPU")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    HebbianRun(**preset["settings"])  # settings checked before any meta-training
    learned, curves = learn_rules(preset["meta"])
    study = hebbian_study(f"hebbian-logic-{args.preset}", grid(preset, learned), preset["seeds"])
    table, summary, out = run_and_summarise(study, args, BY, ["success_rate"])

    cells = pooled_cells(table)
    atomic_write(out / "cells.csv", cells.to_csv(index=False))
    atomic_write(out / "learned_rules.json", json.dumps({"parameters": learned, "meta_loss": curves}) + "\n")
    shown = ["task", "hidden_sizes", "network", "rule", "meta_task", "n_updates", "success_rate", "ci_low",
             "ci_high", "seed_notebook_rate"]
    print("\nSuccess rate per cell (all seeds pooled; Wilson 95 % interval; seed notebook's rate for reference):")
    print(cells[cells["transfer"] != "transfer"][shown].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print("\nLearned rule, transfer (meta-trained on one task, tested on another):")
    print(cells[cells["transfer"] == "transfer"][shown].to_string(index=False, float_format=lambda v: f"{v:.2f}"))

    comparisons = []
    for (task, sizes, network), group in table[table["n_updates"] < 2000].groupby(["task", "hidden_sizes",
                                                                                  "network"]):
        for rule in group["rule"].unique():
            if rule in ("seed_supervised", "learned"):
                continue
            comparisons.append(paired_comparison(group, "rule", "seed_supervised", rule, ["success_rate"], pair_on=["seed"])
                               .assign(task=task, hidden_sizes=sizes, network=network, rule=rule))
    comparisons = with_verdicts(pd.concat(comparisons))
    atomic_write(out / "vs_seed_rule.csv", comparisons.to_csv(index=False))
    print("\nEach rule vs the seed's rule per cell, paired on seed; difference = rule - seed's rule:")
    print(format_comparisons(comparisons, ["task", "hidden_sizes", "network", "rule"]))

    cells = cells.assign(rule_label=rule_label(cells))
    for network, rows in cells.groupby("network"):
        save_figure(rate_heatmap(rows, rows=["task", "hidden_sizes"], columns=["rule_label"], value="success_rate",
                                 low="ci_low", high="ci_high",
                                 title=f"{network} networks: success rate [Wilson 95 % CI], all seeds pooled"),
                    out / f"hebbian_{network}.png")
    for task, theta in learned.items():
        save_figure(learned_rule_figure(theta, task), out / f"learned_rule_{task}.png")
    print(f"\nfigures and tables written to {out}/")


if __name__ == "__main__":
    run_script(main, "hebbian_logic")
