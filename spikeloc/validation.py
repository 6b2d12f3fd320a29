"""Config validation: one clear ``ValueError`` naming the field and the allowed values."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any


class InvalidValue(ValueError):
    """A config field holds a value it does not allow; ``field`` names it (a command line reports the
    option that set it, see :func:`spikeloc.options.option_error`)."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        super().__init__(f"{field} = {value!r} is invalid: must be {allowed}")
        self.field = field


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


def require_choice(value: object, field: str, choices: Iterable[object]) -> None:
    """Raise :class:`InvalidValue` naming ``field`` unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    require(value in choices, field, value, "one of " + ", ".join(repr(c) for c in choices))
