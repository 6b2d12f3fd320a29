"""Local (Hebbian) learning rules on AND / OR / NAND / XOR: success rate of 100 replications per cell.

Cells: task x rule x hidden sizes {10, 100, [10, 10]} x network (the seed's non-spiking ToyNetwork,
"rate", and LIF networks, "spiking"); each run is one cell and one seed, its 100 replications trained as
one tensor batch. Updates per the seed: 400 single-example updates (1000 for AND with [10, 10]), lr 0.01,
weights clipped to [-1, 1]. Units with a bias (a constant input fibre, "+bias" in the tables): contrastive
Hebbian learning (full clamping, and weak clamping beta = 0.5 as equilibrium propagation), direct feedback
alignment (the output error sent to the hidden layers through fixed random matrices) and the seed's rule
with its first layer learning; spiking cells with a bias run with a constant input drive (input rate 1,
"@drive1"), and in the seed and full presets also with the stochastic rate code (input rate 0.8).

Meta-learned rules, meta-trained first on the rate network and then tested on every task: the
gradient-trained rule network ("learned", on AND and on XOR), and rules found by CMA-ES ("evolved": a
polynomial and a GRU per synapse, each meta-trained on the twelve linearly separable functions -- XOR held
out -- and on XOR itself, starting from the rule found on the family). Each is meta-trained once per meta
seed (the preset's ``meta_seeds`` for the evolved rules, ``learned_meta_seeds`` for the rule network): one
meta-training run finds one rule, so all the replications and test seeds of a meta seed describe that run,
and the meta seed is the unit of every statistic of a meta-learned rule (a meta seed's test seeds averaged
first). In-task rows (meta_task == task) and transfer rows (meta_task != task) are reported separately. The
evolved rules are cached in --out (evolved_rules.json, per meta seed, reused when their settings match), so a
resumed study does not evolve them again. Conditions share seeds (a run's initial weights and example order
depend only on its seed and size, not on the network kind), so designed rules and network kinds are compared
paired on seed; a meta-learned rule against the seed's rule is paired on meta seed (each meta seed's test seeds
against the same seeds of the seed's rule, averaged).

Writes to --out: runs.csv, summary.csv (mean, SEM, t-CI over seeds, per meta seed), cells.csv (pooled over
seeds, per meta seed: success rate, Wilson 95 % interval, the seed's published rate where it has one),
meta_seeds.csv (meta-learned rules: mean, SEM, t-CI over meta seeds), vs_seed_rule.csv (paired comparison of
each rule with the seed's), spiking_vs_rate.csv (paired on seed, or meta seed), transfer.csv (evolved rules:
meta-trained on X, tested on Y, over meta seeds), hebbian_<network>.png (heat maps),
transfer.png, learned_rule_<task>.png (the learned rule's dw over pre x post), learned_rules.json and
evolved_rules.json (parameters, meta-training curves, the polynomial rules as equations, seconds).

    python studies/hebbian_logic.py --preset quick|seed|full [--device cpu|cuda|auto] [--out DIR] [--executor ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from spikeloc.files import atomic_write
from spikeloc.options import Parser, UsageError
from spikeloc.study.cli import run_and_summarise, run_script, run_settings, study_parser

if TYPE_CHECKING:  # annotations only: building the study's parser loads none of these
    import matplotlib.pyplot as plt
    import pandas as pd

    from spikeloc.experiments.hebbian import HebbianRun

DESIGNED_RULES = ("seed_supervised", "forward_bounded", "oja", "reward", "contrastive", "stdp")
SIZES = ((10,), (100,), (10, 10))
META_TASKS = ("and", "xor")
#: The seed notebook's printed success rates (100 replications each): the reference column.
SEED_RATES = {("and", "[10]"): 0.73, ("and", "[100]"): 0.98, ("and", "[10,10]"): 0.0,
              ("xor", "[10]"): 0.29, ("xor", "[100]"): 0.99, ("xor", "[10,10]"): 0.0}
#: Designed rules on units with a bias: (rule, settings). Each rule with an ``lr`` runs at the rate
#: :func:`choose_lrs` picks on seeds no preset reports (``python benchmarks/check_hebbian_aims.py --sections
#: lr_selection`` prints the candidates' success rates and the choice; a slow test checks these are its choice).
BIAS_RULES = (("contrastive", dict(clamp=1.0, lr=0.03)), ("feedback_alignment", dict(lr=0.03)),
              ("contrastive", dict(clamp=0.5, lr=0.03)), ("seed_supervised", dict(learn_first_layer=True)))
#: The learning rates :func:`choose_lrs` tries, and the seeds it chooses on (the logic tasks have no held-out
#: split, so a choice on the reported seeds 0-4 would be a choice on the test).
LR_CANDIDATES = (0.01, 0.03, 0.1)
LR_SELECTION_SEEDS = (10, 11)

#: ``meta_seeds``: the CMA-ES runs per evolved rule (5 in seed and full, the fewest a claim about the method needs);
#: ``learned_meta_seeds``: the gradient meta-training runs of the rule network. The quick preset keeps one of each:
#: its 138 runs took 182 s of CPU for the first 67 on the loaded 2-core machine, and 5 meta seeds would add 96 runs
#: (24 evolved cells per meta seed) and 4 x 28 s of meta-training, past its 3 minutes; its meta-learned rows are
#: undecided (1 meta seed), as they should be.
PRESETS = {
    "quick": dict(tasks=("and", "xor"), seeds=(0,), long_updates=(),
                  meta=dict(meta_steps=30, n_updates=100, lr=0.02, meta_lr=0.02), evolution="short",
                  families=("polynomial",), drives=(1.0,), bias_rules=BIAS_RULES[:2], settings={},
                  meta_seeds=(0,), learned_meta_seeds=(0,)),
    "seed": dict(tasks=("and", "or", "nand", "xor"), seeds=(0, 1, 2), long_updates=(),
                 meta=dict(meta_steps=150, n_updates=100, lr=0.02, meta_lr=0.02), evolution="meta",
                 families=("polynomial", "recurrent"), drives=(0.8, 1.0), bias_rules=BIAS_RULES, settings={},
                 meta_seeds=(0, 1, 2, 3, 4), learned_meta_seeds=(0, 1, 2, 3, 4)),
    "full": dict(tasks=("and", "or", "nand", "xor"), seeds=(0, 1, 2, 3, 4), long_updates=(2000,),
                 meta=dict(meta_steps=300, n_updates=100, lr=0.02, meta_lr=0.02), evolution="meta",
                 families=("polynomial", "recurrent"), drives=(0.8, 1.0), bias_rules=BIAS_RULES, settings={},
                 meta_seeds=(0, 1, 2, 3, 4), learned_meta_seeds=(0, 1, 2, 3, 4)),
}
BY = ["task", "rule", "rule_family", "meta_task", "bias", "clamp", "learn_first_layer", "lr", "input_rate",
      "hidden_sizes", "network", "n_updates", "meta_seed"]
#: A condition of the method: :data:`BY` less the meta seed (a meta-learned rule's conditions pool its meta seeds).
CONDITION = BY[:-1]

def grid(preset: dict, learned: dict[int, dict[str, tuple[float, ...]]],
         evolved: dict[int, dict[str, dict]]) -> list[HebbianRun]:
    """Every cell; ``preset["settings"]`` overrides HebbianRun fields of all of them (e.g. n_replications).
    ``learned`` and ``evolved``: meta seed -> the rules meta-trained from it (:func:`learn_rules`,
    :func:`spikeloc.experiments.hebbian.evolve_rules`), each tested in every cell with its ``meta_seed``."""
    from spikeloc.experiments.hebbian import SPIKING_ONLY_RULES, HebbianRun, evolved_run, seed_updates
    from spikeloc.learning.local.learned import MetaTraining

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
                drives = preset["drives"] if network == "spiking" else (0.8,)
                runs += [HebbianRun(rule=rule, bias=True, input_rate=drive, **settings, **common)
                         for rule, settings in preset["bias_rules"] for drive in drives]
                # meta-learned rules run at the learning rate (and with the units) they were meta-trained with
                runs += [HebbianRun(rule="learned", learned_parameters=theta, meta_task=meta_task, meta_seed=meta_seed,
                                    **{**common, "lr": MetaTraining(**preset["meta"]).lr})
                         for meta_seed, rules in learned.items() for meta_task, theta in rules.items()]
                runs += [evolved_run(rule, input_rate=drive, meta_seed=meta_seed, **common)
                         for meta_seed, rules in evolved.items() for rule in rules.values() for drive in drives]
    return runs


def lr_selection_cells(rule: str, settings: dict) -> list[HebbianRun]:
    """The cells a bias rule's learning rate is chosen on: XOR with hidden [10] and [10, 10], on rate networks
    and on spiking networks with a constant input drive (the aims' cells), units with a bias."""
    from spikeloc.experiments.hebbian import HebbianRun

    return [HebbianRun(task="xor", rule=rule, hidden_sizes=sizes, network=network, bias=True, input_rate=1.0,
                       **settings)
            for sizes in ((10,), (10, 10)) for network in ("rate", "spiking")]


def choose_lrs(log=print) -> dict[int, float]:
    """For each rule of :data:`BIAS_RULES` with an ``lr``, the one of :data:`LR_CANDIDATES` that solves the most
    replications of its :func:`lr_selection_cells` on :data:`LR_SELECTION_SEEDS` (index in BIAS_RULES -> lr)."""
    from spikeloc.experiments.hebbian import select_lr

    chosen = {}
    for index, (rule, settings) in enumerate(BIAS_RULES):
        if "lr" in settings:
            log(f"{rule} {settings}, units with a bias, XOR [10] and [10, 10], rate and spiking (input rate 1):")
            chosen[index], _ = select_lr(lr_selection_cells(rule, settings), LR_CANDIDATES, LR_SELECTION_SEEDS, log)
    return chosen


def learn_rules(meta_settings: dict, meta_seed: int) -> tuple[dict[str, tuple[float, ...]], dict[str, list[float]]]:
    """Meta-train one rule per task in :data:`META_TASKS` from ``meta_seed``: (parameters, meta-loss curves)."""
    from spikeloc.learning.local.learned import MetaTraining, meta_train

    rules, curves = {}, {}
    for task in META_TASKS:
        rules[task], curves[task] = meta_train(MetaTraining(task=task, **meta_settings), meta_seed)
        print(f"learned rule on {task} (meta seed {meta_seed}): meta-loss {curves[task][0]:.3f} -> "
              f"{curves[task][-1]:.3f}")
    return rules, curves


def pooled_cells(table: pd.DataFrame) -> pd.DataFrame:
    """Per cell and meta seed, all seeds pooled: successes / replications with the Wilson 95 % interval, and the
    seed's rate."""
    import numpy as np

    from spikeloc.experiments.hebbian import META_LEARNED
    from spikeloc.study.stats import wilson_interval

    ok = table[table["status"] == "ok"]
    cells = ok.groupby(BY, sort=False, dropna=False)[["n_solved", "n_total"]].sum().reset_index()
    intervals = [wilson_interval(int(s), int(n)) for s, n in zip(cells["n_solved"], cells["n_total"])]
    cells["success_rate"] = cells["n_solved"] / cells["n_total"]
    cells["ci_low"], cells["ci_high"] = zip(*intervals)
    is_seed_protocol = (cells["rule"] == "seed_supervised") & (cells["network"] == "rate") & ~cells["bias"].astype(bool)
    cells["seed_notebook_rate"] = [SEED_RATES.get((task, sizes), np.nan) if seed_cell else np.nan
                                   for task, sizes, seed_cell in zip(cells["task"], cells["hidden_sizes"],
                                                                     is_seed_protocol)]
    meta = cells["rule"].isin(META_LEARNED)
    cells["transfer"] = np.where(~meta, "", np.where(cells["meta_task"] == cells["task"], "in-task", "transfer"))
    return cells


def method_cells(table: pd.DataFrame, cells: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One cell per condition of the method (:data:`CONDITION`), from :func:`pooled_cells`: a designed rule's
    cell as it is; a meta-learned rule's success rate averaged over its meta seeds (each meta seed's test seeds
    first: the unit is the meta seed), with the t 95 % interval over them clipped to [0, 1] and
    ``n_meta_seeds`` (with one meta seed, that meta seed's cell and Wilson interval). Also returns the summary
    over meta seeds of every meta-learned condition (:func:`spikeloc.study.stats.summarise`, unit ``meta_seed``).
    """
    from spikeloc.experiments.hebbian import META_LEARNED
    from spikeloc.study.stats import summarise

    summary = summarise(table[table["rule"].isin(META_LEARNED)], CONDITION, ["success_rate"], unit="meta_seed")
    several = summary.loc[summary["n_units"] >= 2, [*CONDITION, "mean", "ci_low", "ci_high", "n_units"]]
    merged = cells.merge(several.rename(columns={"ci_low": "t_low", "ci_high": "t_high"}), on=CONDITION, how="left")
    counts = merged.groupby(CONDITION, sort=False, dropna=False)[["n_solved", "n_total"]].transform("sum")
    merged[["n_solved", "n_total"]] = counts
    averaged = merged["n_units"].notna()
    merged.loc[averaged, "success_rate"] = merged.loc[averaged, "mean"]
    merged.loc[averaged, "ci_low"] = merged.loc[averaged, "t_low"].clip(0, 1)
    merged.loc[averaged, "ci_high"] = merged.loc[averaged, "t_high"].clip(0, 1)
    merged["n_meta_seeds"] = merged["n_units"].where(averaged, merged["rule"].isin(META_LEARNED).astype(float))
    method = merged[~merged.duplicated(CONDITION)].drop(columns=["meta_seed", "mean", "t_low", "t_high", "n_units"])
    return method.reset_index(drop=True), summary


def rule_label(cells: pd.DataFrame) -> pd.Series:
    """``rule[(meta task)][+bias][:clamp][+W1][:lr][@drive1][@updates]``: one column label per rule variant."""
    from spikeloc.experiments.hebbian import META_LEARNED

    label = cells["rule"].where(cells["rule"] != "learned", "learned(" + cells["meta_task"] + ")")
    label = label.where(cells["rule"] != "evolved", cells["rule_family"] + "(" + cells["meta_task"] + ")")
    label = label.where(~cells["bias"].astype(bool), label + "+bias")
    label = label.where(~((cells["rule"] == "contrastive") & (cells["clamp"] < 1)),
                        label + ":beta" + cells["clamp"].astype(str))
    label = label.where(~cells["learn_first_layer"].astype(bool), label + "+W1")
    designed = ~cells["rule"].isin(META_LEARNED)
    label = label.where(~designed | (cells["lr"] == 0.01), label + ":lr" + cells["lr"].astype(str))
    label = label.where(~((cells["network"] == "spiking") & (cells["input_rate"] == 1)), label + "@drive1")
    return label.where(cells["n_updates"] < 2000, label + "@" + cells["n_updates"].astype(str))


def transfer_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Evolved rules: success rate [95 % interval] per (rule meta-trained on X) x (tested on task Y), from
    :func:`method_cells` (over meta seeds)."""
    rows = cells[cells["rule"] == "evolved"].assign(
        meta_trained_on=lambda c: c["rule_family"] + "/" + c["meta_task"],
        cell=lambda c: [f"{v:.2f} [{lo:.2f}, {hi:.2f}]" for v, lo, hi in zip(c["success_rate"], c["ci_low"],
                                                                           c["ci_high"])])
    return rows.pivot_table(index=["meta_trained_on", "network", "input_rate", "hidden_sizes"], columns="task",
                            values="cell", aggfunc="first").reset_index()


def paired_success(frame: pd.DataFrame, column: str, baseline: object, other: object) -> pd.DataFrame:
    """``other - baseline`` success rate (:func:`spikeloc.study.stats.paired_comparison`) on the independent unit:
    the seed, or the meta seed where ``other`` is a meta-learned rule (one meta-training run finds one rule: the
    pairs of a meta seed, its test seeds, are averaged into one difference). A designed ``baseline`` (no meta
    seed) is paired with each meta seed's runs on the same seeds."""
    import pandas as pd

    from spikeloc.experiments.hebbian import META_LEARNED
    from spikeloc.study.stats import paired_comparison

    others = frame[frame[column] == other]
    if not others["rule"].isin(META_LEARNED).any():
        return paired_comparison(frame, column, baseline, other, ["success_rate"], pair_on=["seed"])
    baselines = frame[frame[column] == baseline]
    if not baselines["rule"].isin(META_LEARNED).any():
        baselines = baselines.drop(columns="meta_seed").merge(others[["meta_seed"]].drop_duplicates(), how="cross")
    return paired_comparison(pd.concat([baselines, others]), column, baseline, other, ["success_rate"],
                             pair_on=["meta_seed", "seed"], unit="meta_seed")


def spiking_vs_rate(table: pd.DataFrame) -> pd.DataFrame:
    """Paired comparison spiking - rate per rule variant, task, size and spiking input rate; pairs = seeds (the
    two networks of a pair share initial weights and example order), and for meta-learned rules the unit is the
    meta seed (:func:`paired_success`)."""
    import pandas as pd

    variant = ["task", "rule", "rule_family", "meta_task", "bias", "clamp", "learn_first_layer", "lr",
               "hidden_sizes", "n_updates"]
    frames = []
    for keys, group in table.groupby(variant, dropna=False):
        rate = group[group["network"] == "rate"]
        for input_rate, spiking in group[group["network"] == "spiking"].groupby("input_rate"):
            if len(rate):
                frames.append(paired_success(pd.concat([rate, spiking]), "network", "rate", "spiking")
                              .assign(**dict(zip(variant, keys)), spiking_input_rate=input_rate))
    return pd.concat(frames, ignore_index=True)


def vs_seed_rule(table: pd.DataFrame) -> pd.DataFrame:
    """Each rule against the seed's rule per task, size and network, paired on seed, a meta-learned rule on meta
    seed (:func:`paired_success`; difference = rule - seed's rule); the long-training runs (2000 updates or more)
    are left out."""
    import pandas as pd

    comparisons = []
    labelled = table[table["n_updates"] < 2000].assign(rule_label=lambda t: rule_label(t))
    for (task, sizes, network), group in labelled.groupby(["task", "hidden_sizes", "network"]):
        for label in group["rule_label"].unique():
            if label == "seed_supervised":
                continue
            comparisons.append(paired_success(group, "rule_label", "seed_supervised", label)
                               .assign(task=task, hidden_sizes=sizes, network=network, rule_label=label))
    return pd.concat(comparisons)


def comparison_tables(table: pd.DataFrame) -> list[pd.DataFrame]:
    """The study's two comparison tables, :func:`spiking_vs_rate` and :func:`vs_seed_rule`, judged as one family
    (Holm over both)."""
    from spikeloc.study.stats import family_verdicts

    return family_verdicts([spiking_vs_rate(table), vs_seed_rule(table)])


def learned_rule_figure(theta: tuple[float, ...], task: str, meta_seed: int) -> plt.Figure:
    """dw / lr over pre x post at w = 0, for r = +1 and -1, onto hidden and onto output neurons."""
    import numpy as np

    from spikeloc.learning.local.learned import rule_surface
    from spikeloc.study.plots import plt

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
    fig.suptitle(f"learned local rule, meta-trained on {task.upper()} (meta seed {meta_seed})")
    fig.tight_layout()
    return fig


def parser() -> Parser:
    """The study's command line; building it loads neither torch nor pandas nor matplotlib."""
    return study_parser(__doc__.split("\n")[0], list(PRESETS), "results/hebbian-logic", epochs=False)


def main(argv: list[str] | None = None) -> None:
    """Run the study with the command line ``argv`` (default: the program's arguments)."""
    run(parser().parse_args(argv))


def run(args: argparse.Namespace) -> None:
    """Run (or resume) the study, then write and print its comparisons and figures."""
    from spikeloc.experiments.hebbian import HebbianRun, evolution_settings, evolve_rules, hebbian_study
    from spikeloc.runtime import configure
    from spikeloc.study.plots import rate_heatmap, save_figure
    from spikeloc.study.stats import format_comparisons

    preset = {**PRESETS[args.preset], "settings": run_settings(args, PRESETS[args.preset]["settings"])}
    HebbianRun(**preset["settings"])  # settings checked before any meta-training
    evolution_settings(preset["evolution"], preset["families"])
    out = Path(args.out or f"{args.default_out}-{args.preset}")
    if not args.finished_only:
        out.mkdir(parents=True, exist_ok=True)
    # meta-training (here, in this process) batches small tensors: a second torch thread only adds spin-waits,
    # which on a loaded 2-core machine made one CMA-ES run take over ten times its single-thread CPU time
    configure(threads=1)
    try:  # --finished-only summarises what is there: it evolves and writes nothing
        evolved = {meta_seed: evolve_rules(preset["evolution"], preset["families"], meta_seed,
                                           out / "evolved_rules.json", stored_only=args.finished_only)
                   for meta_seed in preset["meta_seeds"]}
    except LookupError as error:
        raise UsageError("--out", f"{error}: nothing of this study finished there") from None
    meta_trained = {meta_seed: learn_rules(preset["meta"], meta_seed) for meta_seed in preset["learned_meta_seeds"]}
    learned = {meta_seed: rules for meta_seed, (rules, _) in meta_trained.items()}
    study = hebbian_study(f"hebbian-logic-{args.preset}", grid(preset, learned, evolved), preset["seeds"])
    table, summary, out = run_and_summarise(study, args, BY, ["success_rate"])

    cells = pooled_cells(table)
    cells = cells.assign(rule_label=rule_label(cells))
    atomic_write(out / "cells.csv", cells.to_csv(index=False))
    atomic_write(out / "learned_rules.json", json.dumps(
        {"parameters": learned, "meta_loss": {meta_seed: curves for meta_seed, (_, curves) in meta_trained.items()}})
        + "\n")
    method, over_meta_seeds = method_cells(table, cells)
    atomic_write(out / "meta_seeds.csv", over_meta_seeds.to_csv(index=False))
    shown = ["task", "hidden_sizes", "network", "rule_label", "n_updates", "success_rate", "ci_low", "ci_high",
             "n_meta_seeds", "seed_notebook_rate"]
    print("\nSuccess rate per cell (all seeds pooled, Wilson 95 % interval; a meta-learned rule: mean over its "
          "n_meta_seeds meta seeds, t 95 % interval over them; seed notebook's rate for reference):")
    print(method[method["transfer"] != "transfer"][shown].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print("\nMeta-learned rules, transfer (meta-trained on one task or family, tested on another task):")
    print(method[method["transfer"] == "transfer"][shown].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    transfer = transfer_table(method)
    atomic_write(out / "transfer.csv", transfer.to_csv(index=False))
    print(f"\nEvolved rules, meta-trained on X (rows) and tested on Y (columns): success rate, mean over meta seeds "
          f"{list(preset['meta_seeds'])} [t 95 % interval over them]:")
    print(transfer.to_string(index=False))
    paired, comparisons = comparison_tables(table)
    atomic_write(out / "spiking_vs_rate.csv", paired.to_csv(index=False))
    print("\nSpiking - rate success rate, paired on seed (meta-learned rules: on meta seed, the unit column); "
          "p_adjusted: Holm over this table and the next:")
    print(format_comparisons(paired, ["task", "hidden_sizes", "rule", "rule_family", "meta_task", "bias", "clamp",
                                      "spiking_input_rate"]))

    atomic_write(out / "vs_seed_rule.csv", comparisons.to_csv(index=False))
    print("\nEach rule vs the seed's rule per cell, paired on seed (meta-learned rules: on meta seed); difference = "
          "rule - seed's rule:")
    print(format_comparisons(comparisons, ["task", "hidden_sizes", "network", "rule_label"]))

    for network, rows in method.groupby("network"):
        save_figure(rate_heatmap(rows, rows=["task", "hidden_sizes"], columns=["rule_label"], value="success_rate",
                                 low="ci_low", high="ci_high",
                                 title=f"{network} networks: success rate [Wilson 95 % CI], all seeds pooled; "
                                       f"meta-learned: mean [t 95 % CI] over meta seeds"),
                    out / f"hebbian_{network}.png")
    evolved_cells = method[method["rule"] == "evolved"].assign(
        meta_trained_on=lambda c: c["rule_family"] + "/" + c["meta_task"])
    save_figure(rate_heatmap(evolved_cells, rows=["meta_trained_on", "network", "input_rate"],
                             columns=["task", "hidden_sizes"], value="success_rate", low="ci_low", high="ci_high",
                             title=f"evolved rules: meta-trained on X (rows), tested on Y (columns); mean [t 95 % CI] "
                                   f"over {len(preset['meta_seeds'])} meta seeds"),
                out / "transfer.png")
    first = min(learned)
    for task, theta in learned[first].items():
        save_figure(learned_rule_figure(theta, task, first), out / f"learned_rule_{task}.png")
    print(f"\nfigures and tables written to {out}/")


if __name__ == "__main__":
    run_script(main, "hebbian_logic")
