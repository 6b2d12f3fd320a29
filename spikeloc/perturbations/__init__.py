"""Perturbations of trained spiking networks, their dose-response curves and robustness scores (issue 32).

Seeded, composable perturbations applied at evaluation through the weight-noise machinery (nothing stored is
mutated; leaving the context restores the network exactly): weights (:mod:`.weights`), neurons
(:mod:`.neurons`), spikes (:mod:`.spikes`) and the task's data (:mod:`.task`); suites of them
(:mod:`.suite`); curves and scores for any network (:mod:`.curves`), on the test data of a model file
(:mod:`.data`); robust training as trainer hooks (:mod:`.training`); the ``spikeloc perturb`` command
(:mod:`.cli`). The names below are imported on first use, so the command line can be built without torch.
"""

import importlib

_HOMES = {
    "Perturbation": "base", "all_applied": "base",
    "perturbation_curves": "curves", "robustness_scores": "curves", "score_summary": "curves", "summary": "curves",
    "EvaluationData": "data", "image_data": "data", "ipd_data": "data", "model_data": "data",
    "PERTURBATIONS": "suite", "SUITES": "suite", "check_suite": "suite", "parse_suite": "suite",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
