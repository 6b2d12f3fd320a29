"""The perturbations by name, the suites (perturbation -> levels) and their parsing and validation.

A suite is a tuple of ``(perturbation name, levels)``; :data:`SUITES` holds the named ones (``quick``: eight
perturbations at three levels; ``default``: every perturbation at five). On a command line a suite is a named
suite or ``NAME:LEVEL,LEVEL,...`` items (:func:`parse_suite`); every level is checked before any work.
"""

from __future__ import annotations

from collections.abc import Sequence

from spikeloc.perturbations.base import Perturbation
from spikeloc.perturbations.mismatch import ChipMismatch
from spikeloc.perturbations.neurons import NeuronDeletion, TauMismatch, ThresholdDrift, ThresholdMismatch
from spikeloc.perturbations.spikes import Background, InputDeletion, Jitter, Transmission
from spikeloc.perturbations.task import PhaseNoise, PixelNoise
from spikeloc.perturbations.weights import AdditiveNoise, Quantisation, SynapseFailure, WeightMismatch
from spikeloc.validation import require, require_choice

PERTURBATIONS: dict[str, Perturbation] = {p.name: p for p in (
    AdditiveNoise(), WeightMismatch(), ChipMismatch(), SynapseFailure(), Quantisation(), NeuronDeletion(), ThresholdMismatch(),
    ThresholdDrift(), TauMismatch(), InputDeletion(), Jitter(), Background(), Transmission(), PhaseNoise(),
    PixelNoise())}

Suite = tuple[tuple[str, tuple[float, ...]], ...]

DEFAULT: Suite = (
    ("additive_noise", (0.1, 0.2, 0.3, 0.5, 1.0)),
    ("weight_mismatch", (0.05, 0.1, 0.2, 0.3, 0.5)),
    ("chip_mismatch", (0.05, 0.1, 0.2, 0.3, 0.5)),
    ("synapse_failure", (0.1, 0.2, 0.3, 0.5, 0.7)),
    ("quantisation", (8, 6, 4, 3, 2)),
    ("neuron_deletion", (0.1, 0.2, 0.3, 0.5, 0.7)),
    ("threshold_mismatch", (0.05, 0.1, 0.2, 0.3, 0.5)),
    ("threshold_drift", (0.05, 0.1, 0.2, 0.3, 0.5)),
    ("tau_mismatch", (0.05, 0.1, 0.2, 0.3, 0.5)),
    ("input_deletion", (0.1, 0.2, 0.3, 0.5, 0.7)),
    ("jitter", (1, 2, 3, 5, 8)),
    ("background", (5, 10, 20, 50, 100)),
    ("transmission", (0.9, 0.8, 0.7, 0.5, 0.3)),
    ("phase_noise", (0.1, 0.2, 0.3, 0.5, 1.0)),
    ("pixel_noise", (0.1, 0.2, 0.3, 0.5, 1.0)),
)
QUICK_NAMES = ("additive_noise", "weight_mismatch", "synapse_failure", "quantisation", "neuron_deletion",
               "threshold_mismatch", "input_deletion", "jitter")
QUICK: Suite = tuple((name, levels[::2]) for name, levels in DEFAULT if name in QUICK_NAMES)
SUITES: dict[str, Suite] = {"quick": QUICK, "default": DEFAULT}


def check_suite(suite: Sequence[tuple[str, Sequence[float]]]) -> Suite:
    """The suite as a tuple of (name, levels), every name known and every level allowed; else ``ValueError``
    naming the perturbation."""
    checked = []
    for name, levels in suite:
        require_choice(name, "perturbation", PERTURBATIONS)
        levels = tuple(levels)
        require(len(levels) >= 1, f"levels of {name}", levels, "one or more levels")
        for level in levels:
            PERTURBATIONS[name].check(level)
        checked.append((name, levels))
    names = [name for name, _ in checked]
    require(len(set(names)) == len(names), "suite", names, "each perturbation once")
    return tuple(checked)


def parse_suite(items: Sequence[str]) -> Suite:
    """A suite from command-line items: one named suite (``quick``, ``default``), or ``NAME:LEVEL,...`` items;
    ``ValueError`` for anything else (an unknown name, a level that is not a number or not allowed)."""
    if len(items) == 1 and items[0] in SUITES:
        return SUITES[items[0]]
    suite = []
    for item in items:
        name, colon, text = item.partition(":")
        require(bool(colon) and name in PERTURBATIONS, "suite", item,
                f"'quick', 'default' or NAME:LEVEL,LEVEL,... with NAME among {', '.join(PERTURBATIONS)}")
        try:
            levels = tuple(float(value) for value in text.split(","))
        except ValueError:
            require(False, f"levels of {name}", text, "numbers separated by commas")
        suite.append((name, levels))
    return check_suite(suite)
