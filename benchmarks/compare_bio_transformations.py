"""spikeloc.learning.bio against the published package it re-does, pytorch-bio-transformations 0.0.5 (BioConverter).

Run:  python benchmarks/compare_bio_transformations.py [--epochs 3] [--seeds 5] [--hidden 100]
      python benchmarks/compare_bio_transformations.py --no-training  (parts 0 and 1 only, seconds)
(needs the benchmark-only extra: pip install -e ".[bio]")

Part 0: the defaults of spikeloc.learning.bio that differ from the package's, and the settings that reproduce the
package where one does (:data:`DEFAULTS_THAT_DIFFER`).

Part 1, same behaviour where spikeloc means the same: on the same weights and gradients and the same random
stream (the package draws from torch's global generator, seeded here as spikeloc's generator), the largest
difference between the two for fuzzy factors, volume factors and the package's rejuvenation rule; and, where
spikeloc means something else, how many synapses the two act on differently (crystallisation).

Part 2 (skipped with ``--no-training``), the measured effect of each mechanism as each implements it: an MLP (784-H-10, plain ``nn.Linear``) trained
on the MNIST-5k training images with Adam (lr 1e-3, batches of 64) for ``--epochs`` epochs, per seed, once with
the package's transform (its defaults; its calls in the order of its README: ``volume_dependent_lr``,
``crystallize``, ``fuzzy_learning_rates`` on the gradient before the step; ``enforce_dales_principle`` after it;
``rejuvenate_weights`` once per epoch) and once with spikeloc's (``attach`` + ``PlasticOptimizer``, defaults; the
same once-per-epoch rejuvenation). Printed per mechanism: test accuracy of each (mean over seeds), the paired
difference spikeloc - package (mean ± SEM over seeds, paired t-test p, n = seeds: the independent unit), and
milliseconds per training step of each (median over seeds; same process, same data order, the arms interleaved
seed by seed; the ratio package / spikeloc). On a shared machine the step times move with its load: compare the
ratio, not the milliseconds across rows.
Weight splitting is not trained: the package's splitting sums groups of Gamma *inputs* in the forward pass
(another architecture), spikeloc splits each connection into Gamma sub-synapses (the same function at the
start); there is no common network to compare.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from scipy import stats
from torch import nn

from spikeloc import datasets, seeding
from spikeloc.learning.bio import (
    BioConfig,
    Crystallisation,
    DalePrinciple,
    FuzzyRates,
    L1Penalty,
    PlasticOptimizer,
    Rejuvenation,
    VolumeRates,
    attach,
)
from spikeloc.learning.bio.crystallisation import stable_synapses
from spikeloc.learning.bio.fuzzy import fuzzy_factors
from spikeloc.learning.bio.rejuvenation import rejuvenate
from spikeloc.learning.bio.volume import volume_factors

try:
    from bio_transformations import BioConverter
    from bio_transformations.bio_config import BioConfig as PackageConfig
    from bio_transformations.bio_config import Distribution
    from bio_transformations.bio_module import BioModule
except ImportError as missing:  # a benchmark-only extra
    raise SystemExit('needs pytorch-bio-transformations 0.0.5: pip install -e ".[bio]"') from missing

BATCH, LR = 64, 1e-3

#: (what, spikeloc's default, the package's, spikeloc's setting that reproduces the package or why none does)
DEFAULTS_THAT_DIFFER = [
    ("where the factors act", "on the update: BioConfig(scale='update')", "on the gradient",
     "BioConfig(scale='gradient') (under Adam a fixed factor on the gradient cancels out)"),
    ("fuzzy factors' bounds", "none: FuzzyRates(clamp=None)", "clamped to [0.5, 2]",
     "FuzzyRates(..., clamp=(0.5, 2)) (inactive for uniform spreads <= 0.5)"),
    ("volume base rate", "VolumeRates(base=1.0)", "base_lr 0.1",
     "VolumeRates(base=0.1) with scale='gradient' (on the update, 0.1 divides the learning rate by 10)"),
    ("rejuvenation rule", "Rejuvenation(rule='legacy') (the seed's)", "prune to ~0, clamp to [-1, 1]",
     "Rejuvenation(rule='package')"),
    ("rejuvenation interval", "every 100 optimiser steps", "whenever rejuvenate_weights() is called",
     "Rejuvenation(interval_steps=<steps between the package's calls>)"),
    ("crystallisation", "silent synapses (g = 0) not damped", "damped; also the 'gradient above mean weight' clause",
     "none (spikeloc's rule differs by design)"),
    ("L1 penalty", "strength * sum abs(w), with a gradient", "l1_reg() under no_grad: no gradient",
     "none (the package's penalty does not train)"),
    ("Dale's principle", "one sign per presynaptic unit, round(f n) inhibitory",
     "a random sign per output row, ReLU-clipped, output layer exempt", "none (the package's is not Dale's)"),
    ("weight splitting", "Gamma sub-synapses per connection", "sums groups of Gamma inputs (another architecture)",
     "none"),
    ("fuzzy distributions", "uniform, lognormal", "also baseline, normal, gamma, beta, adaptive, temporal, ...",
     "FuzzyRates('uniform' or 'lognormal') only"),
]

#: Per mechanism: the package's settings and per-step calls, spikeloc's config, and what differs.
MECHANISMS = {
    "none (plain Adam, reference)": dict(
        package=dict(), spikeloc=BioConfig(), differs="nothing: both arms train the same network the same way"),
    "fuzzy (uniform 0.16)": dict(
        package=dict(), grad_calls=("fuzzy_learning_rates",),
        spikeloc=BioConfig(fuzzy=FuzzyRates()),
        differs="factors on the update (spikeloc) vs the gradient, which Adam's normalisation cancels"),
    "crystallisation": dict(
        package=dict(fuzzy_lr_distribution=Distribution.BASELINE), grad_calls=("crystallize", "fuzzy_learning_rates"),
        spikeloc=BioConfig(crystallisation=Crystallisation()),
        differs="spikeloc skips silent synapses (g = 0) and the 'gradient above the mean weight' clause; "
                "update vs gradient"),
    "volume": dict(
        package=dict(), grad_calls=("volume_dependent_lr",),
        spikeloc=BioConfig(volume=VolumeRates()),
        differs="base 1 on the update (spikeloc) vs 0.1 on the gradient"),
    "rejuvenation (spikeloc legacy rule)": dict(
        package=dict(), epoch_calls=("rejuvenate_weights",),
        spikeloc=BioConfig(rejuvenation=Rejuvenation(rule="legacy")),
        differs="the seed's rule: weak synapses rewired to U(-max, max) vs pruned to ~0 and clamped to [-1, 1]"),
    "rejuvenation (spikeloc package rule)": dict(
        package=dict(), epoch_calls=("rejuvenate_weights",),
        spikeloc=BioConfig(rejuvenation=Rejuvenation(rule="package")),
        differs="none in the rule (same arithmetic); draws from other streams"),
    "L1 (1e-5)": dict(
        package=dict(), l1=1e-5,
        spikeloc=BioConfig(l1=L1Penalty(1e-5)),
        differs="the package's l1_reg() runs under no_grad: added to the loss it has no gradient"),
    "Dale (half inhibitory)": dict(
        package=dict(apply_dales_principle=True), step_calls=("enforce_dales_principle",),
        spikeloc=BioConfig(dale=DalePrinciple(0.5)),
        differs="one sign per presynaptic unit via abs(w) * sign (spikeloc) vs per output row, clipped by ReLU, "
                "output layer exempt"),
}


# ----------------------------------------------------------------------------------------------- part 1
def same_behaviour(seed: int = 0) -> list[tuple[str, str]]:
    """(check, result) rows: the two implementations on the same weights, gradients and random stream."""
    weight = (2 * torch.rand(100, 784, generator=torch.Generator().manual_seed(seed)) - 1) / 28
    grad = torch.randn(100, 784, generator=torch.Generator().manual_seed(seed + 1)) * 1e-4
    grad[:, :100] = 0.0  # silent inputs (a blank pixel border: zero gradient)
    draws = seed + 2  # the transforms' stream: not the one that drew the weights (that would correlate them)
    rows = []

    def package_module() -> tuple[nn.Linear, BioModule]:
        layer = nn.Linear(784, 100)
        with torch.no_grad():
            layer.weight.copy_(weight)
        layer.weight.grad = grad.clone()
        return layer, BioModule(lambda: layer, PackageConfig(fuzzy_lr_distribution=Distribution.BASELINE))

    layer, module = package_module()
    torch.manual_seed(draws)
    theirs = 1.0 + (2.0 * torch.rand_like(weight) * 0.16 - 0.16)  # the package's uniform initialisation
    ours = fuzzy_factors(weight.shape, FuzzyRates(), torch.Generator().manual_seed(draws))
    rows.append(("fuzzy factors, uniform 0.16", f"max |difference| {float((ours - theirs).abs().max()):.1e} "
                                                "(the package also clamps to [0.5, 2], inactive at 0.16)"))
    layer = nn.Linear(784, 100)
    torch.manual_seed(draws)
    theirs = BioModule(lambda: layer, PackageConfig(fuzzy_lr_distribution=Distribution.LOGNORMAL,
                                                    fuzzy_learning_rate_factor_nu=0.3)).fuzzy_learning_rate_parameters
    for clamp in (None, (0.5, 2.0)):
        ours = fuzzy_factors(weight.shape, FuzzyRates("lognormal", 0.3, clamp), torch.Generator().manual_seed(draws))
        difference = (ours - theirs.detach()).abs()
        rows.append((f"fuzzy factors, lognormal 0.3, clamp={clamp}",
                     f"{int((difference > 1e-6).sum())} of {difference.numel()} differ by > 1e-6; max |difference| "
                     f"{float(difference.max()):.1e}"))

    layer, module = package_module()
    torch.manual_seed(draws)
    module.volume_dependent_lr()
    used = grad != 0  # the package's factors are read back from the scaled gradient
    theirs = layer.weight.grad[used] / grad[used]
    ours = volume_factors(weight, VolumeRates(base=0.1), torch.Generator().manual_seed(draws))[used]
    rows.append(("volume factors (base 0.1 both)",
                 f"max |difference| {float((ours - theirs).abs().max()):.1e} (factors of mean "
                 f"{float(ours.mean()):.3f})"))

    layer, module = package_module()
    torch.manual_seed(draws)
    module.rejuvenate_weights()
    ours = weight.clone()
    replaced = rejuvenate(ours, Rejuvenation(rule="package"), torch.Generator().manual_seed(draws))
    rows.append(("rejuvenation, rule='package'",
                 f"max |difference| {float((ours - layer.weight.detach()).abs().max()):.1e}; "
                 f"{100 * float(replaced.float().mean()):.1f} % replaced"))
    legacy = weight.clone()
    replaced = rejuvenate(legacy, Rejuvenation(rule="legacy"), torch.Generator().manual_seed(draws))
    rows.append(("rejuvenation, rule='legacy' (the seed's)",
                 f"{100 * float(replaced.float().mean()):.1f} % replaced, new |w| mean "
                 f"{float(legacy[replaced].abs().mean()):.2e} vs package rule's "
                 f"{float(layer.weight.detach()[layer.weight.detach() != weight.clamp(-1, 1)].abs().mean()):.2e}"))

    layer, module = package_module()
    module.fuzzy_learning_rate_parameters.data.fill_(1.0)
    module.crystallize()
    theirs = module.fuzzy_learning_rate_parameters.detach() < 1
    ours = stable_synapses(weight, grad, Crystallisation())
    silent = grad == 0
    rows.append(("crystallisation masks", f"{int(theirs.sum())} (package) vs {int(ours.sum())} (spikeloc) of "
                                          f"{weight.numel()} damped; differ on {int((theirs != ours).sum())}, "
                                          f"of which {int((theirs & ~ours & silent).sum())} silent synapses"))
    return rows


# ----------------------------------------------------------------------------------------------- part 2
def mlp(hidden: int, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def train(model: nn.Module, data, epochs: int, seed: int, step: Callable, end_epoch: Callable,
          penalty: Callable[[], torch.Tensor]) -> tuple[float, float]:
    """Train; (test accuracy, seconds per step). ``step(loss)`` runs backward and the optimiser step."""
    (x, y), (x_test, y_test) = data
    order_generator = torch.Generator().manual_seed(seed)
    seconds, steps = 0.0, 0
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=order_generator)
        for start in range(0, len(y) - BATCH + 1, BATCH):
            batch = order[start:start + BATCH]
            begin = time.perf_counter()
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch]) + penalty()
            step(loss)
            seconds += time.perf_counter() - begin
            steps += 1
        end_epoch()
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(1) == y_test).float().mean())
    return accuracy, seconds / steps


def run_package(spec: dict, data, hidden: int, epochs: int, seed: int) -> tuple[float, float]:
    model = BioConverter(PackageConfig(**spec["package"])).convert(mlp(hidden, seed))
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    bio_modules = [m.bio_mod for m in model.modules() if hasattr(m, "bio_mod")]

    def step(loss):
        optimiser.zero_grad()
        loss.backward()
        for call in spec.get("grad_calls", ()):
            getattr(model, call)()
        optimiser.step()
        for call in spec.get("step_calls", ()):
            for bio in bio_modules:
                if not hasattr(bio.get_parent(), "last_module_token"):
                    getattr(bio, call)()

    def end_epoch():
        for call in spec.get("epoch_calls", ()):
            getattr(model, call)()

    def penalty():  # the package's L1: computed under no_grad, so it adds a number without a gradient
        if "l1" not in spec:
            return torch.zeros(())
        return spec["l1"] * sum(bio.l1_reg() for bio in bio_modules)

    return train(model, data, epochs, seed, step, end_epoch, penalty)


def run_spikeloc(spec: dict, data, hidden: int, epochs: int, seed: int) -> tuple[float, float]:
    model = mlp(hidden, seed)
    config = spec["spikeloc"]
    steps_per_epoch = len(data[0][1]) // BATCH
    if config.rejuvenation is not None:  # once per epoch, as the package's arm
        config = BioConfig(rejuvenation=Rejuvenation(config.rejuvenation.dre, steps_per_epoch,
                                                     config.rejuvenation.rule))
    plasticity = attach(model, config, [seeding.generator(seed, "plasticity")])
    optimiser = PlasticOptimizer(torch.optim.Adam(model.parameters(), lr=LR), plasticity)

    def step(loss):
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    return train(model, data, epochs, seed, step, lambda: None, lambda: plasticity.penalty().sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--no-training", action="store_true", help="print parts 0 and 1 only")
    args = parser.parse_args()
    torch.set_num_threads(1)

    print("Part 0: spikeloc's defaults that differ from pytorch-bio-transformations 0.0.5")
    print("| what | spikeloc default | package | to reproduce the package |")
    print("|---|---|---|---|")
    for row in DEFAULTS_THAT_DIFFER:
        print("| " + " | ".join(row) + " |")

    print("\nPart 1: same weights, gradients and random stream")
    for check, result in same_behaviour():
        print(f"  {check:<48} {result}")
    if args.no_training:
        return
    mnist = datasets.load("mnist-5k")
    data = ((mnist.train.features(), mnist.train.labels), (mnist.test.features(), mnist.test.labels))

    print(f"\nPart 2: MLP 784-{args.hidden}-10 on MNIST-5k ({len(data[0][1])} training, {len(data[1][1])} test "
          f"images), Adam lr {LR}, {args.epochs} epochs, {args.seeds} seeds (paired; n = seeds), 1 thread")
    header = ("| mechanism | package acc (%) | spikeloc acc (%) | spikeloc − package (points, ± SEM) | p (n) "
              f"| package ms/step | spikeloc ms/step | time package / spikeloc | what differs |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for name, spec in MECHANISMS.items():
        theirs, ours = [], []
        for seed in range(args.seeds):  # interleaved, so a change in the machine's load hits both arms alike
            theirs.append(run_package(spec, data, args.hidden, args.epochs, seed))
            ours.append(run_spikeloc(spec, data, args.hidden, args.epochs, seed))
        acc_p, acc_s = [100 * a for a, _ in theirs], [100 * a for a, _ in ours]
        differences = [s - p for s, p in zip(acc_s, acc_p)]
        sem = statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else float("nan")
        p = stats.ttest_rel(acc_s, acc_p).pvalue if len(differences) > 1 and sem > 0 else float("nan")
        ms_p = 1000 * statistics.median(t for _, t in theirs)
        ms_s = 1000 * statistics.median(t for _, t in ours)
        print(f"| {name} | {statistics.mean(acc_p):.2f} | {statistics.mean(acc_s):.2f} | "
              f"{statistics.mean(differences):+.2f} ± {sem:.2f} | {p:.2g} ({len(differences)}) | {ms_p:.2f} | "
              f"{ms_s:.2f} | {ms_p / ms_s:.2f} | {spec['differs']} |", flush=True)


if __name__ == "__main__":
    main()
