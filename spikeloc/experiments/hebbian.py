"""One cell of the local-learning table as a flat config -> one flat row: R replications in one tensor batch.

A run is one (task, rule, hidden sizes, network kind) cell and one seed; its ``n_replications`` networks
(100 in the seed) are a batch dimension, trained together (see :mod:`spikeloc.learning.local.training`
for the protocol and the random streams: one generator per stream of the run's seed draws all
replications at once). The row holds the success rate (fraction of replications right on all four
patterns), its Wilson 95 % interval and the counts. Defaults are the seed's (lr 0.01, 400 updates,
weights clipped to [-1, 1]).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from spikeloc.devices import check_device, device_field, resolve_device
from spikeloc.files import atomic_write
from spikeloc.learning.local import rules
from spikeloc.learning.local.evolution import FAMILIES, SIGNALS, Evolution, EvolvedRule, build_family, evolve
from spikeloc.learning.local.learned import LearnedRule
from spikeloc.learning.local.networks import RateNetwork, SpikingNetwork
from spikeloc.learning.local.stdp import PairSTDP
from spikeloc.learning.local.training import run_replications
from spikeloc.study.runner import Study
from spikeloc.study.stats import wilson_interval
from spikeloc.substrate.neurons import LIFParameters
from spikeloc.tasks.logic import LINEARLY_SEPARABLE, TASKS, THREE_INPUT_TASKS
from spikeloc.validation import added_field, require, require_choice, require_integer

NETWORKS = ("rate", "spiking")
RULES = ("seed_supervised", "forward_bounded", "oja", "reward", "contrastive", "feedback_alignment", "stdp", "learned",
         "evolved")
#: The task families a rule is meta-trained on before it is tested on held-out XOR: the twelve linearly separable
#: two-input functions (solvable by the readout alone), or those and four three-input functions that need hidden
#: units (so that meta-training rewards hidden-layer learning; two-input XOR stays held out).
META_FAMILIES = {"separable": LINEARLY_SEPARABLE, "needs_hidden": LINEARLY_SEPARABLE + THREE_INPUT_TASKS}
#: What a meta-trained rule may have been meta-trained on: one task, or one of :data:`META_FAMILIES`.
META_TASKS = ("", *TASKS, *META_FAMILIES)
SPIKING_ONLY_RULES = frozenset({"stdp"})
#: The meta-learned rules: found by a meta-training run (its seed the run's ``meta_seed``).
META_LEARNED = ("learned", "evolved")


@dataclass(frozen=True)
class HebbianRun:
    """Every setting of one cell (seconds for time constants; rule parameters unused by a rule are ignored).

    ``learned_parameters``: the flat parameter vector of a meta-learned rule: the rule network
    (``rule == "learned"``, from :func:`spikeloc.learning.local.learned.meta_train`) or an evolved rule
    (``rule == "evolved"``, from :func:`spikeloc.learning.local.evolution.evolve`: family ``rule_family``
    with ``degree`` / ``rule_hidden``, third factor ``signal``); ``meta_task`` names what it was
    meta-trained on (a task, or ``"separable"`` for the linearly separable family; a label for the tables);
    ``meta_seed`` the seed of the meta-training run that found it (0 for designed rules). One meta-training run
    finds one rule, so every replication and test seed of a meta seed describes that run: statistics about the
    method take the meta seed as their unit (:func:`over_meta_seeds`).
    ``bias``: a constant input fibre onto every unit; ``learn_first_layer``: the seed's rule also changes W_1.
    """

    task: str = "xor"
    rule: str = "seed_supervised"
    hidden_sizes: tuple[int, ...] = (10,)
    network: str = "rate"
    n_replications: int = 100
    n_updates: int = 400
    lr: float = 0.01
    weight_bound: float = 1.0
    max_weight: float = 1.0
    feedback: float = 0.5
    clamp: float = 1.0
    bias: bool = False
    learn_first_layer: bool = False
    a_plus: float = 0.005
    a_minus: float = 0.00525
    tau_plus_s: float = 20e-3
    tau_minus_s: float = 20e-3
    n_steps: int = 20
    input_rate: float = 0.8
    gain: float = 3.0
    tau_s: float = 5e-3
    dt_s: float = 1e-3
    learned_parameters: tuple[float, ...] = ()
    rule_family: str = ""
    degree: int = 1
    rule_hidden: int = 2
    signal: str = "error"
    meta_task: str = ""
    device: str = device_field()
    meta_seed: int = added_field(0)  # added after results were recorded: while 0, run ids are unchanged

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        object.__setattr__(self, "learned_parameters", tuple(self.learned_parameters))
        require_choice(self.task, "task", TASKS)
        require_choice(self.rule, "rule", RULES)
        require_choice(self.network, "network", NETWORKS)
        require(len(self.hidden_sizes) >= 1 and all(isinstance(n, int) and n >= 1 for n in self.hidden_sizes),
                "hidden_sizes", self.hidden_sizes, "a non-empty sequence of integers >= 1")
        require(isinstance(self.n_replications, int) and self.n_replications >= 1, "n_replications",
                self.n_replications, "an integer >= 1")
        require(isinstance(self.n_updates, int) and self.n_updates >= 0, "n_updates", self.n_updates,
                "an integer >= 0")
        require(self.rule not in SPIKING_ONLY_RULES or self.network == "spiking", "rule", self.rule,
                "used with network='spiking' (STDP needs spike times)")
        require(self.rule not in META_LEARNED or len(self.learned_parameters) > 0, "learned_parameters",
                self.learned_parameters, "the meta-trained rule's parameters when rule is 'learned' or 'evolved'")
        require_choice(self.meta_task, "meta_task", META_TASKS)
        require_choice(self.rule_family, "rule_family", FAMILIES if self.rule == "evolved" else ("", *FAMILIES))
        require_choice(self.signal, "signal", SIGNALS)
        require_integer(self.meta_seed, "meta_seed", minimum=0)
        require(self.meta_seed == 0 or self.rule in META_LEARNED, "meta_seed", self.meta_seed,
                "0 unless rule is 'learned' or 'evolved' (a designed rule has no meta-training)")
        check_device(self.device)
        self.build_network()
        self.build_rule()

    def build_network(self) -> RateNetwork | SpikingNetwork:
        if self.network == "rate":
            return RateNetwork(bias=self.bias)
        return SpikingNetwork(n_steps=self.n_steps, input_rate=self.input_rate, gain=self.gain,
                              lif=LIFParameters(tau_s=self.tau_s, dt_s=self.dt_s), bias=self.bias)

    def build_rule(self, device: str = "cpu") -> rules.LocalRule:
        """The cell's rule; a meta-learned rule's parameters on ``device``."""
        common = dict(lr=self.lr, weight_bound=self.weight_bound)
        if self.rule == "seed_supervised":
            return rules.SeedSupervised(**common, learn_first_layer=self.learn_first_layer)
        if self.rule == "forward_bounded":
            return rules.ForwardBounded(**common, max_weight=self.max_weight)
        if self.rule == "oja":
            return rules.Oja(**common)
        if self.rule == "reward":
            return rules.RewardModulated(**common)
        if self.rule == "contrastive":
            return rules.Contrastive(**common, feedback=self.feedback, clamp=self.clamp)
        if self.rule == "feedback_alignment":
            return rules.FeedbackAlignment(**common)
        if self.rule == "stdp":
            return PairSTDP(**common, a_plus=self.a_plus, a_minus=self.a_minus, tau_plus_s=self.tau_plus_s,
                            tau_minus_s=self.tau_minus_s)
        if self.rule == "evolved":
            return EvolvedRule(**common, family=build_family(self.rule_family, self.degree, self.rule_hidden),
                               theta=torch.tensor(self.learned_parameters, dtype=torch.float32, device=device),
                               signal=self.signal)
        return LearnedRule.from_parameters(self.learned_parameters, device=device, **common)


def run_hebbian(run: HebbianRun, seed: int) -> dict:
    """Train and test the cell's replications; a flat row (success rate, Wilson 95 % interval, counts)."""
    device = resolve_device(run.device)
    outcome = run_replications(run.build_network(), run.build_rule(device), run.task, run.hidden_sizes,
                               run.n_replications, run.n_updates, seed, device)
    n_solved = int(outcome.solved.sum())
    low, high = wilson_interval(n_solved, run.n_replications)
    return {"success_rate": n_solved / run.n_replications, "success_ci_low": low, "success_ci_high": high,
            "n_solved": n_solved, "n_total": run.n_replications}


def select_lr(runs: Sequence[HebbianRun], candidates: Sequence[float], seeds: Sequence[int],
              log=print) -> tuple[float, dict[float, float]]:
    """The learning rate among ``candidates`` whose ``runs`` (the selection cells, each run with its ``lr``
    replaced) solve the most replications over ``seeds``; ties go to the candidate listed first.

    ``seeds`` must be seeds no reported table uses (the logic tasks have no held-out split: a rate chosen on
    the reported seeds would be chosen on the test). Logs each candidate's pooled success rate and the choice;
    returns ``(chosen lr, {lr: pooled success rate})``.
    """
    require(len(candidates) > 0 and all(lr > 0 for lr in candidates), "candidates", candidates,
            "a non-empty sequence of learning rates > 0")
    require(len(seeds) > 0, "seeds", seeds, "a non-empty sequence of seeds")
    rates = {}
    for lr in candidates:
        rows = [run_hebbian(replace(run, lr=lr), seed) for run in runs for seed in seeds]
        solved, total = sum(row["n_solved"] for row in rows), sum(row["n_total"] for row in rows)
        rates[lr] = solved / total
        log(f"  lr {lr:g}: {rates[lr]:.3f} ({solved}/{total}) on {len(runs)} cells x seeds {list(seeds)}")
    chosen = max(candidates, key=lambda lr: (rates[lr], -candidates.index(lr)))
    log(f"  chosen lr {chosen:g}")
    return chosen, rates


def hebbian_study(name: str, configs, seeds) -> Study:
    """A study of local-learning cells, one run per (cell, seed); each run is already a batch of replications."""
    return Study(name=name, configs=tuple(configs), seeds=tuple(seeds), run_fn=run_hebbian)


#: CMA-ES budgets per run: "short" fits the study's quick preset, "meta" is the full meta-training run (aim:
#: all four runs under 5 minutes on 2 cores). The XOR runs get as many networks per candidate as the family runs.
EVOLUTION_BUDGETS = {
    "short": dict(population=8, generations=6, n_replications=2, n_updates=100),
    "meta": dict(population=16, generations=50, n_replications=4, n_updates=200),
}


def evolution_settings(budget: str, families: Sequence[str], meta_family: str = "separable",
                       signal: str = "error", also_xor: bool = True) -> dict[str, Evolution]:
    """The CMA-ES runs, ``family/meta_task`` -> settings: each family on ``META_FAMILIES[meta_family]`` (XOR
    held out), then (``also_xor``) on XOR alone, starting there from the family's rule (``initial`` is filled
    in by :func:`evolve_rules`) with a smaller step size; third factor ``signal``."""
    require_choice(budget, "evolution budget", tuple(EVOLUTION_BUDGETS))
    require_choice(meta_family, "meta_family", tuple(META_FAMILIES))
    settings = dict(EVOLUTION_BUDGETS[budget], signal=signal)
    per_task = settings.pop("n_replications")
    runs = {}
    for family in families:
        runs[f"{family}/{meta_family}"] = Evolution(family=family, tasks=META_FAMILIES[meta_family],
                                                    n_replications=per_task, **settings)
        if also_xor:
            runs[f"{family}/xor"] = Evolution(family=family, tasks=("xor",), sigma0=0.1,
                                              n_replications=per_task * len(LINEARLY_SEPARABLE), **settings)
    return runs


def stored_rules(cache: Path | None) -> dict[str, dict[str, dict]]:
    """The evolved rules in the JSON file ``cache``: meta seed (text) -> rule name -> rule. A file written before
    rules were kept per meta seed (name -> rule, one meta seed) is read under the seed its rules' keys name."""
    stored = json.loads(cache.read_text()) if cache is not None and cache.exists() else {}
    if stored and not all(name.isdigit() for name in stored):
        return {next(iter(stored.values()))["key"].split(":")[0]: stored}
    return stored


def evolve_rules(budget: str, families: Sequence[str], seed: int, cache: Path | None = None,
                 log=print, meta_family: str = "separable", signal: str = "error",
                 also_xor: bool = True, stored_only: bool = False) -> dict[str, dict]:
    """Evolve every rule of :func:`evolution_settings` from meta seed ``seed``, reusing those stored in the JSON
    file ``cache`` for this meta seed under the same settings (and storing new ones there, atomically, as each
    finishes; the file keeps each meta seed's rules under it: meta seed -> name -> rule, see
    :func:`stored_rules`). A stored rule of other settings or another meta seed is never reused. With
    ``stored_only``, nothing is evolved or written: a rule not stored is a ``LookupError`` naming it and the meta
    seed. Returns ``name -> {family, meta_task, parameters, lr, signal, seconds, cpu_seconds, history, equation,
    key}``."""
    every_seed = stored_rules(cache)
    stored = every_seed.get(str(seed), {})
    rules = {}
    for name, settings in evolution_settings(budget, families, meta_family, signal, also_xor).items():
        family, meta_task = name.split("/")
        if meta_task == "xor":
            settings = replace(settings, initial=tuple(rules[f"{family}/{meta_family}"]["parameters"]))
        key = f"{seed}:{settings!r}"
        if stored.get(name, {}).get("key") == key:
            rules[name] = stored[name]
            log(f"evolved rule {name} (meta seed {seed}): reused from {cache}")
            continue
        if stored_only:
            raise LookupError(f"evolved rule {name} of meta seed {seed} and these settings is not stored in {cache}")
        result = evolve(settings, seed)
        equation = settings.build_family().equation(result.parameters) if family == "polynomial" else ""
        rules[name] = {"key": key, "family": family, "meta_task": meta_task, "parameters": result.parameters,
                       "lr": settings.lr, "signal": signal, "seconds": result.seconds,
                       "cpu_seconds": result.cpu_seconds, "history": result.history, "equation": equation}
        first, last = result.history[0], result.history[-1]
        log(f"evolved rule {name} (meta seed {seed}): {len(result.history)} generations x {settings.population} "
            f"candidates x {len(settings.tasks) * settings.n_replications} networks in {result.seconds:.0f} s "
            f"({result.cpu_seconds:.0f} s of CPU); mean success of "
            f"the population {first['mean_success']:.2f} -> {last['mean_success']:.2f}")
        if cache is not None:
            atomic_write(cache, json.dumps({**every_seed, str(seed): {**stored, **rules}}) + "\n")
    for name, rule in rules.items():
        if rule["equation"]:
            feedback = ", hidden units get B_l (t - y)" if rule.get("signal") == "feedback" else ""
            log(f"\nevolved rule {name}, meta seed {seed} (eta = {rule['lr']}, r = t - y{feedback}):\n"
                f"{rule['equation']}")
    return rules


def evolved_run(rule: dict, **settings) -> HebbianRun:
    """The cell of an evolved rule (from :func:`evolve_rules`) on units with a bias, at its meta-training lr."""
    return HebbianRun(rule="evolved", learned_parameters=tuple(rule["parameters"]), rule_family=rule["family"],
                      meta_task=rule["meta_task"], bias=True, **{**settings, "lr": rule["lr"],
                                                                 "signal": rule.get("signal", "error")})


def over_meta_seeds(table, claim: str, baselines: Sequence[str] = (), confidence: float = 0.95):
    """Held-out success of meta-learned rules with the meta seed as the unit: ``(summary, comparisons)``.

    ``table`` holds one row per meta seed, test ``seed``, meta-training variant (``meta_training``), ``network``
    and ``hidden_sizes``. Every replication of one meta seed tests the one rule its CMA-ES run found, so they
    describe that run, not the method: a meta seed's test seeds are averaged into one value, and a claim about
    the method needs the spread over meta seeds. ``summary``: mean, SEM and t interval of ``success_rate`` over
    meta seeds per variant and cell (:func:`spikeloc.study.stats.summarise` with ``unit="meta_seed"``);
    ``comparisons``: ``claim - baseline`` for each of ``baselines``, paired on meta seed per network and sizes
    (:func:`spikeloc.study.stats.paired_comparison`), their verdicts judged as one family (None without
    baselines).
    """
    import pandas as pd

    from spikeloc.study.stats import paired_comparison, summarise, with_verdicts

    cell = ["network", "hidden_sizes"]
    summary = summarise(table, ["meta_training", *cell], ["success_rate"], confidence, unit="meta_seed")
    comparisons = [paired_comparison(group, "meta_training", baseline, claim, ["success_rate"],
                                     pair_on=["meta_seed", "seed"], unit="meta_seed", confidence=confidence)
                   .assign(**dict(zip(cell, keys)), baseline=baseline, other=claim)
                   for baseline in baselines for keys, group in table.groupby(cell, sort=False)]
    return summary, with_verdicts(pd.concat(comparisons, ignore_index=True)) if comparisons else None


def seed_updates(task: str, hidden_sizes: tuple[int, ...]) -> int:
    """The seed's number of updates: 1000 for AND with [10, 10], else 400."""
    return 1000 if task == "and" and tuple(hidden_sizes) == (10, 10) else 400
