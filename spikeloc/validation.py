"""Validation where values enter spikeloc: one clear error naming the field (or argument) and what is allowed.

Config fields (checked in a frozen dataclass's ``__post_init__``) and data (tensors checked once where they
enter the library, never per batch) raise :class:`InvalidValue`, a ``ValueError``; a value of the wrong type
raises :class:`InvalidType`, which is both a ``TypeError`` and an :class:`InvalidValue` (so a command line that
reports config errors catches it too). Numbers are checked for their type before any comparison, so a string
or ``None`` is refused by name instead of failing inside ``<``; integers are ``int`` (or numpy integers), never
``bool``; reals are finite unless said otherwise.

This module imports torch only inside the tensor checks, so a command line may import it before torch.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


class InvalidValue(ValueError):
    """A config field holds a value it does not allow; ``field`` names it (a command line reports the
    option that set it, see :func:`spikeloc.options.option_error`)."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        super().__init__(f"{field} = {value!r} is invalid: must be {allowed}")
        self.field = field


class InvalidType(InvalidValue, TypeError):
    """A field holds a value of the wrong type (a ``TypeError``, and an :class:`InvalidValue` naming it)."""


#: Field metadata of a config field added after results were recorded: while it holds its default it is left
#: out of a study's run identity and columns (:func:`spikeloc.study.runner.recorded_fields`), so those results
#: keep their run ids. Defined here, beside the other config helpers, so configs below the study machinery can
#: mark their fields without importing it.
OMIT_IF_DEFAULT = "omit_if_default"


def added_field(default: object) -> Any:
    """A config field added after results were recorded (``name: type = added_field(default)``): see
    :data:`OMIT_IF_DEFAULT`."""
    return dataclasses.field(default=default, metadata={OMIT_IF_DEFAULT: True})


def require(condition: bool, field: str, value: object, allowed: str) -> None:
    """Raise :class:`InvalidValue` (a ``ValueError``) naming ``field`` unless ``condition`` holds."""
    if not condition:
        raise InvalidValue(field, value, allowed)


def require_type(condition: bool, field: str, value: object, allowed: str) -> None:
    """Raise :class:`InvalidType` (a ``TypeError`` and ``ValueError``) naming ``field`` unless ``condition``."""
    if not condition:
        raise InvalidType(field, value, allowed)


def require_instance(value: object, field: str, kind: type, allowed: str | None = None) -> None:
    """Raise :class:`InvalidType` naming ``field`` unless ``value`` is a ``kind`` (``allowed`` says what, by
    default ``"a <kind's name>"``)."""
    require_type(isinstance(value, kind), field, describe(value), allowed or f"a {kind.__name__}")


def require_choice(value: object, field: str, choices: Iterable[object]) -> None:
    """Raise :class:`InvalidValue` naming ``field`` unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    require(value in choices, field, value, "one of " + ", ".join(repr(c) for c in choices))


# --------------------------------------------------------------------------
# Numbers


def describe_bounds(minimum: float | None = None, maximum: float | None = None, below: float | None = None,
                    above: float | None = None) -> str:
    """``">= 1 and < 5"``: the bounds given (``below``/``above`` strict), in words."""
    parts = [f">= {minimum:g}" if minimum is not None else "", f"> {above:g}" if above is not None else "",
             f"<= {maximum:g}" if maximum is not None else "", f"< {below:g}" if below is not None else ""]
    return " and ".join(part for part in parts if part)


def within_bounds(value: float, minimum: float | None = None, maximum: float | None = None,
                  below: float | None = None, above: float | None = None) -> bool:
    """Whether ``value`` lies within the bounds given (``below``/``above`` strict)."""
    return ((minimum is None or value >= minimum) and (maximum is None or value <= maximum)
            and (below is None or value < below) and (above is None or value > above))


def is_integer(value: object) -> bool:
    """An ``int`` or numpy integer, not a ``bool``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """A real number (``int``, ``float``, numpy scalar), not a ``bool``."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def require_integer(value: object, field: str, minimum: int | None = None, maximum: int | None = None,
                    note: str = "") -> None:
    """:class:`InvalidType` unless ``value`` is an integer; :class:`InvalidValue` unless it lies in
    [``minimum``, ``maximum``]. ``note`` is added to the message (e.g. a unit)."""
    allowed = " ".join(filter(None, ["an integer", describe_bounds(minimum, maximum), note]))
    require_type(is_integer(value), field, value, allowed)
    require(within_bounds(value, minimum, maximum), field, value, allowed)


def require_number(value: object, field: str, minimum: float | None = None, maximum: float | None = None, *,
                   below: float | None = None, above: float | None = None, note: str = "") -> None:
    """:class:`InvalidType` unless ``value`` is a real number; :class:`InvalidValue` unless it is finite
    and within the bounds (``below``/``above`` strict). ``note`` is added to the message (e.g. a unit)."""
    allowed = " ".join(filter(None, ["a finite number", describe_bounds(minimum, maximum, below, above), note]))
    require_type(is_real(value), field, value, allowed)
    require(math.isfinite(value) and within_bounds(value, minimum, maximum, below, above), field, value, allowed)


def require_flag(value: object, field: str) -> None:
    """:class:`InvalidType` unless ``value`` is ``True`` or ``False``."""
    require_type(isinstance(value, bool), field, value, "True or False")


# --------------------------------------------------------------------------
# Tensors (checked once where data enter, each in at most one pass over the values)


def describe(value: object) -> str:
    """``"float32 tensor (2, 3)"`` for a tensor, else the type's name: how a message names a wrong value."""
    import torch

    if isinstance(value, torch.Tensor):
        return f"{str(value.dtype).removeprefix('torch.')} tensor {tuple(value.shape)}"
    return type(value).__name__


def require_tensor(value: object, field: str, kinds: tuple[str, ...], dims: tuple[int, ...] | None, shape: str,
                   ) -> None:
    """:class:`InvalidType` unless ``value`` is a tensor whose dtype is one of ``kinds`` (``"bool"``,
    ``"integer"``, ``"floating"`` or ``"int64"``); :class:`InvalidValue` unless it has one of ``dims`` axes (any
    number >= 1 when None), each of size >= 1 (``shape`` describes them, e.g. ``"(samples, features)"``)."""
    import torch

    kind_names = {"bool": "bool", "integer": "integer", "floating": "floating-point", "int64": "int64"}
    names = " or ".join(kind_names[kind] for kind in kinds)
    allowed = f"{'an' if names[0] in 'aeiou' else 'a'} {names} tensor shaped {shape}"
    require_type(isinstance(value, torch.Tensor) and any(_is_kind(value.dtype, kind) for kind in kinds), field,
                 describe(value), allowed)
    axes_allowed = value.dim() >= 1 if dims is None else value.dim() in dims
    require(axes_allowed and all(size >= 1 for size in value.shape), field, describe(value),
            allowed + " with every size >= 1")


def _is_kind(dtype: torch.dtype, kind: str) -> bool:
    import torch

    if kind == "int64":
        return dtype == torch.int64
    if kind == "integer":
        return dtype != torch.bool and not dtype.is_floating_point and not dtype.is_complex
    return dtype == torch.bool if kind == "bool" else dtype.is_floating_point


def require_finite(values: torch.Tensor, field: str) -> None:
    """:class:`InvalidValue` naming the first NaN or Inf of a floating-point ``values`` by its index (nothing to do
    for bool or integer tensors). One pass: the smallest and largest values are finite exactly when all are
    (``aminmax`` propagates NaN); on the CPU it is many times faster than ``isfinite(values).all()``."""
    import torch

    if not values.dtype.is_floating_point:
        return
    if not bool(torch.isfinite(torch.stack(torch.aminmax(values))).all()):
        finite = torch.isfinite(values)
        index = tuple(int(i) for i in (~finite).nonzero()[0])
        require(False, field, f"{values[index].item()} at index {list(index)}, {int((~finite).sum())} of "
                f"{values.numel()} entries not finite", "finite (no NaN or Inf)")


def require_labels(labels: torch.Tensor, field: str, n_classes: int | None = None) -> None:
    """:class:`InvalidValue` naming the first label of ``labels`` (an integer tensor) below 0 or, when
    ``n_classes`` is given, above ``n_classes - 1``, by its value and index."""
    import torch

    allowed = "class indices >= 0" if n_classes is None else f"class indices in [0, {n_classes - 1}]"
    low, high = torch.aminmax(labels)
    if low < 0 or (n_classes is not None and high >= n_classes):
        outside = (labels < 0) if n_classes is None else (labels < 0) | (labels >= n_classes)
        index = tuple(int(i) for i in outside.nonzero()[0])
        require(False, field, f"{int(labels[index])} at index {list(index)}", allowed)
