"""Config validation: one clear ``ValueError`` naming the field and the allowed values."""

from __future__ import annotations

from collections.abc import Iterable


def require(condition: bool, field: str, value: object, allowed: str) -> None:
    """Raise ``ValueError`` naming ``field`` unless ``condition`` holds."""
    if not condition:
        raise ValueError(f"{field} = {value!r} is invalid: must be {allowed}")


def require_choice(value: object, field: str, choices: Iterable[object]) -> None:
    """Raise ``ValueError`` naming ``field`` unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    require(value in choices, field, value, "one of " + ", ".join(repr(c) for c in choices))
