"""Settings of the plasticity transforms: one frozen record per mechanism, and :class:`BioConfig` that switches
each on (a record) or off (``None``). Every field is checked when the record is made: a bad value raises one
``ValueError`` naming the field (the seed's ``assert`` statements vanish under ``python -O``).

The equations are in the modules of the mechanisms (:mod:`.fuzzy`, :mod:`.crystallisation`, :mod:`.volume`,
:mod:`.rejuvenation`, :mod:`.regularisation`, :mod:`.splitting`; Dale's law: :mod:`spikeloc.substrate.synapses`).
Defaults are the seed's (``BioConfig`` of bio_transformations) except where a docstring says why not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from spikeloc.validation import require, require_choice

FUZZY_DISTRIBUTIONS = ("uniform", "lognormal")
#: Where the per-synapse factors act: on the optimiser's update (default) or on the gradient (the seed's).
SCALE_TARGETS = ("update", "gradient")
#: Rejuvenation rules: the seed's (``"legacy"``) and bio_transformations 0.0.5's (``"package"``).
REJUVENATION_RULES = ("legacy", "package")


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class FuzzyRates:
    """Fixed per-synapse learning-rate factors: ``"uniform"`` in [1 - spread, 1 + spread] (the seed's, its
    ``fuzzy_learning_rate_factor_nu`` = 0.16), or ``"lognormal"`` with mean 1 and ``spread`` the std of the log.

    ``clamp``: ``(low, high)`` bounds every factor is clipped to when drawn, or ``None`` (default: the
    distribution as drawn). pytorch-bio-transformations 0.0.5 clamps to its ``fuzzy_lr_min``, ``fuzzy_lr_max``
    = (0.5, 2); ``clamp=(0.5, 2)`` reproduces it (a log-normal spread of 0.3 puts ~2 % of factors outside;
    uniform factors with spread <= 0.5 never reach the bounds). ``low`` must be > 0: a factor <= 0 is a synapse
    that does not learn or learns against its gradient.

    Without a clamp a uniform spread must be < 1: the seed only asks for nu > 0, so nu >= 1 gives factors <= 0;
    with one (``low`` > 0) any spread > 0 is allowed, as in the package."""

    distribution: str = "uniform"
    spread: float = 0.16
    clamp: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        require_choice(self.distribution, "fuzzy.distribution", FUZZY_DISTRIBUTIONS)
        if self.clamp is not None:
            bounds = tuple(self.clamp) if isinstance(self.clamp, (tuple, list)) else ()
            require(len(bounds) == 2 and all(_finite(b) for b in bounds) and 0 < bounds[0] <= 1 <= bounds[1],
                    "fuzzy.clamp", self.clamp, "None or (low, high) with 0 < low <= 1 <= high, finite")
            object.__setattr__(self, "clamp", (float(bounds[0]), float(bounds[1])))
        bounded = self.distribution != "uniform" or self.clamp is not None
        limit = "finite" if bounded else "< 1 (factors must stay positive; or set fuzzy.clamp)"
        require(_finite(self.spread) and self.spread > 0 and (bounded or self.spread < 1),
                "fuzzy.spread", self.spread, f"> 0 and {limit}")


@dataclass(frozen=True)
class Crystallisation:
    """Damp the learning-rate factor of stable synapses: by ``dampening`` (in (0, 1)) at every step where the
    relative gradient ``|g| / |w|`` is below ``threshold`` (the seed's 0.6 and 4.5e-5)."""

    threshold: float = 4.5e-5
    dampening: float = 0.6

    def __post_init__(self) -> None:
        require(_finite(self.threshold) and self.threshold > 0, "crystallisation.threshold", self.threshold,
                "a finite number > 0")
        require(_finite(self.dampening) and 0 < self.dampening < 1, "crystallisation.dampening", self.dampening,
                "in (0, 1)")


@dataclass(frozen=True)
class VolumeRates:
    """Volume-dependent learning rate: mean factor ``base * exp(-stability * |w| / (|w| + 1))``, drawn per
    synapse and step with relative spread ``variability``.

    ``base`` defaults to 1, not the seed's 0.1: the seed multiplies gradients, which Adam's normalisation
    undoes, so its 0.1 changed nothing but the per-synapse variation; on the update it would divide the
    learning rate by 10 and the ablation would measure a smaller learning rate, not the volume dependence."""

    base: float = 1.0
    stability: float = 2.0
    variability: float = 0.2

    def __post_init__(self) -> None:
        require(_finite(self.base) and 0 < self.base <= 1, "volume.base", self.base, "in (0, 1]")
        require(_finite(self.stability) and self.stability > 0, "volume.stability", self.stability,
                "a finite number > 0")
        require(_finite(self.variability) and self.variability > 0, "volume.variability", self.variability,
                "a finite number > 0")


@dataclass(frozen=True)
class Rejuvenation:
    """Every ``interval_steps`` optimiser steps, replace weak weights (the seed's dre = 8; the seed leaves the
    interval to the user) by ``rule`` (:data:`REJUVENATION_RULES`, equations in :mod:`.rejuvenation`):
    ``"legacy"``, the seed's (weights below a random threshold of scale ``max|w| / dre`` replaced by
    U(-max|w|, max|w|)), or ``"package"``, bio_transformations 0.0.5's current rule (weight replaced with
    probability exp(-dre |w| / std) by a tiny positive value, in effect pruned; weights clamped to [-1, 1])."""

    dre: float = 8.0
    interval_steps: int = 100
    rule: str = "legacy"

    def __post_init__(self) -> None:
        require(_finite(self.dre) and self.dre > 0, "rejuvenation.dre", self.dre, "a finite number > 0")
        require_choice(self.rule, "rejuvenation.rule", REJUVENATION_RULES)
        require(isinstance(self.interval_steps, int) and self.interval_steps >= 1, "rejuvenation.interval_steps",
                self.interval_steps, "an integer >= 1")


@dataclass(frozen=True)
class L1Penalty:
    """``strength * sum |w|`` over the connection weights of each network, added to its loss."""

    strength: float = 1e-5

    def __post_init__(self) -> None:
        require(_finite(self.strength) and self.strength > 0, "l1.strength", self.strength, "a finite number > 0")


@dataclass(frozen=True)
class Splitting:
    """Each connection made of ``sub_synapses`` (the seed's Gamma, >= 2) synapses whose mean is its weight,
    started at the weight times ``1 + jitter * (e - mean(e))``, ``e ~ N(0, 1)`` (``jitter`` in [0, 1))."""

    sub_synapses: int = 2
    jitter: float = 0.1

    def __post_init__(self) -> None:
        require(isinstance(self.sub_synapses, int) and self.sub_synapses >= 2, "splitting.sub_synapses",
                self.sub_synapses, "an integer >= 2")
        require(_finite(self.jitter) and 0 <= self.jitter < 1, "splitting.jitter", self.jitter, "in [0, 1)")


@dataclass(frozen=True)
class DalePrinciple:
    """One fixed sign per presynaptic unit, ``round(inhibitory_fraction * n)`` of them inhibitory (the seed
    draws each sign with probability 1/2, per *output* row: not Dale's principle)."""

    inhibitory_fraction: float = 0.5

    def __post_init__(self) -> None:
        require(_finite(self.inhibitory_fraction) and 0 <= self.inhibitory_fraction <= 1,
                "dale.inhibitory_fraction", self.inhibitory_fraction, "in [0, 1]")


@dataclass(frozen=True)
class BioConfig:
    """Which plasticity transforms act (a record: on, with its settings; ``None``: off) and where the
    learning-rate factors act (``scale``: ``"update"`` or the seed's ``"gradient"``; see :mod:`spikeloc.learning.bio`)."""

    fuzzy: FuzzyRates | None = None
    crystallisation: Crystallisation | None = None
    volume: VolumeRates | None = None
    rejuvenation: Rejuvenation | None = None
    l1: L1Penalty | None = None
    splitting: Splitting | None = None
    dale: DalePrinciple | None = None
    scale: str = "update"

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "scale":
                value = getattr(self, f.name)
                kind = _MECHANISM_TYPES[f.name]
                require(value is None or isinstance(value, kind), f.name, value, f"None or a {kind.__name__}")
        require_choice(self.scale, "scale", SCALE_TARGETS)

    @property
    def mechanisms(self) -> tuple[str, ...]:
        """Names of the mechanisms that are on."""
        return tuple(name for name in _MECHANISM_TYPES if getattr(self, name) is not None)

    @property
    def scales_rates(self) -> bool:
        """Whether any per-synapse learning-rate factor acts."""
        return any(getattr(self, name) is not None for name in ("fuzzy", "crystallisation", "volume"))


_MECHANISM_TYPES = {"fuzzy": FuzzyRates, "crystallisation": Crystallisation, "volume": VolumeRates,
                    "rejuvenation": Rejuvenation, "l1": L1Penalty, "splitting": Splitting, "dale": DalePrinciple}
