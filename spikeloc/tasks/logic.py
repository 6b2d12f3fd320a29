"""Two-input Boolean tasks with +-1 coding (the seed's AND / XOR, plus OR and NAND, and every other
non-constant two-input function: the family a local rule is meta-trained on).

Inputs are the four patterns ``(-1,-1), (-1,+1), (+1,-1), (+1,+1)`` (shape ``(4, 2)``); a target is
``+1`` for true and ``-1`` for false (shape ``(4, 1)``). A network solves a task when the sign of its
output is right on all four patterns (an output of exactly 0 counts as -1, as in the seed's ``out > 0``).
"""

from __future__ import annotations

import torch

from spikeloc.validation import require, require_choice

PATTERNS = ((-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0))
TRUTH_TABLES = {
    "and": (False, False, False, True),
    "or": (False, True, True, True),
    "nand": (True, True, True, False),
    "xor": (False, True, True, False),
    "nor": (True, False, False, False),
    "xnor": (True, False, False, True),
    "a": (False, False, True, True),
    "b": (False, True, False, True),
    "not_a": (True, True, False, False),
    "not_b": (True, False, True, False),
    "a_and_not_b": (False, False, True, False),
    "not_a_and_b": (False, True, False, False),
    "a_or_not_b": (True, False, True, True),
    "not_a_or_b": (True, True, False, True),
}
TASKS = tuple(TRUTH_TABLES)
#: The twelve non-constant linearly separable two-input functions (all but XOR and XNOR).
LINEARLY_SEPARABLE = tuple(task for task in TASKS if task not in ("xor", "xnor"))


def patterns(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The four +-1 input patterns, ``(4, 2)``."""
    return torch.tensor(PATTERNS, dtype=dtype)


def targets(task: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The task's +-1 targets for :func:`patterns`, ``(4, 1)``."""
    require_choice(task, "task", TASKS)
    return torch.tensor([[1.0 if truth else -1.0] for truth in TRUTH_TABLES[task]], dtype=dtype)


def check_inputs(inputs: torch.Tensor, n_inputs: int = 2) -> None:
    """ValueError naming ``inputs`` unless it is ``(..., n_inputs)`` with every entry -1 or +1."""
    require(isinstance(inputs, torch.Tensor) and inputs.ndim >= 1 and inputs.shape[-1] == n_inputs,
            "inputs", getattr(inputs, "shape", inputs), f"a tensor of shape (..., {n_inputs})")
    require(bool(((inputs == 1) | (inputs == -1)).all()), "inputs", inputs.unique().tolist(),
            "+-1 everywhere (rate-coded +-1 inputs)")


def check_targets(target: torch.Tensor, inputs: torch.Tensor, n_outputs: int = 1) -> None:
    """ValueError naming ``target`` unless it is ``inputs.shape[:-1] + (n_outputs,)`` and +-1 everywhere."""
    expected = (*inputs.shape[:-1], n_outputs)
    require(isinstance(target, torch.Tensor) and tuple(target.shape) == expected, "target",
            tuple(getattr(target, "shape", ())), f"of shape {expected} (one +-1 value per input pattern)")
    require(bool(((target == 1) | (target == -1)).all()), "target", target.unique().tolist(), "+-1 everywhere")


def solved(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Whether each network got every pattern right: ``outputs`` ``(..., 4, 1)`` -> bool ``(...)``.

    Prediction = +1 where output > 0, else -1 (the seed's rule).
    """
    predictions = torch.where(outputs > 0, 1.0, -1.0).to(target.dtype)
    return (predictions == target).all(dim=-1).all(dim=-1)
