"""Two-input Boolean tasks with +-1 coding (the seed's AND / XOR, plus OR and NAND, and every other
non-constant two-input function: the family a local rule is meta-trained on), and four three-input functions
that no single unit can compute (for meta-training a rule on tasks that need hidden units).

Inputs are the four patterns ``(-1,-1), (-1,+1), (+1,-1), (+1,+1)`` (shape ``(4, 2)``; three-input tasks: the
eight patterns in the same order, the first input slowest, ``(8, 3)``); a target is ``+1`` for true and ``-1``
for false (shape ``(4, 1)`` or ``(8, 1)``). A network solves a task when the sign of its
output is right on every pattern (an output of exactly 0 counts as -1, as in the seed's ``out > 0``).
"""

from __future__ import annotations

import itertools

import torch

from spikeloc.validation import describe, require, require_choice, require_integer, require_tensor

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
_THREE = list(itertools.product((False, True), repeat=3))
#: Three-input functions of all three inputs that are not linearly separable: parity, the multiplexer (a ? b :
#: c), exactly one true, not all equal.
THREE_INPUT_TABLES = {
    "parity3": tuple(a ^ b ^ c for a, b, c in _THREE),
    "multiplexer3": tuple(b if a else c for a, b, c in _THREE),
    "one_of_three": tuple(a + b + c == 1 for a, b, c in _THREE),
    "not_all_equal3": tuple(not a == b == c for a, b, c in _THREE),
}
THREE_INPUT_TASKS = tuple(THREE_INPUT_TABLES)
ALL_TASKS = TASKS + THREE_INPUT_TASKS


def n_inputs(task: str) -> int:
    """2 for the two-input tasks, 3 for :data:`THREE_INPUT_TASKS`."""
    require_choice(task, "task", ALL_TASKS)
    return 3 if task in THREE_INPUT_TABLES else 2


def patterns(inputs: int = 2, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The ``2^inputs`` +-1 input patterns, the first input slowest: ``(4, 2)`` or ``(8, 3)``."""
    require_integer(inputs, "inputs", minimum=1, maximum=16, note="(2^inputs patterns)")
    return torch.tensor(list(itertools.product((-1.0, 1.0), repeat=inputs)), dtype=dtype)


def targets(task: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The task's +-1 targets for :func:`patterns` of its :func:`n_inputs`, ``(4, 1)`` or ``(8, 1)``."""
    require_choice(task, "task", ALL_TASKS)
    truth = THREE_INPUT_TABLES[task] if task in THREE_INPUT_TABLES else TRUTH_TABLES[task]
    return torch.tensor([[1.0 if value else -1.0] for value in truth], dtype=dtype)


def check_inputs(inputs: torch.Tensor, n_inputs: int = 2) -> None:
    """ValueError naming ``inputs`` unless it is ``(..., n_inputs)`` with every entry -1 or +1."""
    require_tensor(inputs, "inputs", ("integer", "floating"), None, f"(..., {n_inputs})")
    require(inputs.shape[-1] == n_inputs, "inputs", describe(inputs), f"a tensor of shape (..., {n_inputs})")
    require(bool(((inputs == 1) | (inputs == -1)).all()), "inputs", inputs.unique().tolist(),
            "+-1 everywhere (rate-coded +-1 inputs)")


def check_targets(target: torch.Tensor, inputs: torch.Tensor, n_outputs: int = 1) -> None:
    """ValueError naming ``target`` unless it is ``inputs.shape[:-1] + (n_outputs,)`` and +-1 everywhere."""
    expected = (*inputs.shape[:-1], n_outputs)
    require_tensor(target, "target", ("integer", "floating"), None, str(expected))
    require(tuple(target.shape) == expected, "target", describe(target),
            f"of shape {expected} (one +-1 value per input pattern)")
    require(bool(((target == 1) | (target == -1)).all()), "target", target.unique().tolist(), "+-1 everywhere")


def solved(outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Whether each network got every pattern right: ``outputs`` ``(..., 4, 1)`` -> bool ``(...)``.

    Prediction = +1 where output > 0, else -1 (the seed's rule).
    """
    predictions = torch.where(outputs > 0, 1.0, -1.0).to(target.dtype)
    return (predictions == target).all(dim=-1).all(dim=-1)
