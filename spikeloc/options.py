"""Command lines that answer a usage error with one line naming the option, and exit status 2.

Every ``spikeloc`` command and every study script builds its parser from :class:`Parser`, so that

* argparse's own errors (an unknown option, a missing value, a value outside ``choices``, a value that its
  ``type`` refuses) are one line, ``PROG: error: argument --OPTION: what is allowed``, and exit status 2,
  instead of the usage text followed by the error;
* values are checked by their ``type`` while the command line is parsed, before any work and before any
  file is written: :func:`integer`, :func:`number`, :func:`output_directory`, :func:`output_file` and
  :func:`input_file` say in the message what is allowed and what was given;
* checks that need several options or the machine (is dask installed? does the scheduler answer?) raise
  :class:`UsageError` naming the option; :meth:`Parser.parse_args` runs the parser's ``checks`` after
  parsing and reports them the same way;
* a config refusing a value (``spikeloc.validation.InvalidValue``, which names its field) is reported as
  the option that set the field (:func:`option_error`).

This module imports nothing heavy, so a bad command line is answered before torch is loaded where the
command imports it lazily.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from spikeloc.validation import describe_bounds, within_bounds

#: Exit status of a usage error (as argparse and most Unix tools); failures during the work exit with 1.
USAGE_EXIT_STATUS = 2


class UsageError(Exception):
    """A command-line value that cannot be used, found by a check after parsing: ``option`` as the user
    types it (``--scheduler``) and the problem."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"argument {option}: {problem}")
        self.option = option


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """``--help`` that shows each option's default after its help text, ``(default: 30)``, unless the help
    already says what the default is, the default is None (the help says what happens then) or the option is
    a flag (off unless given)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = (action.default is not None and action.default is not False and action.default != argparse.SUPPRESS
                 and action.option_strings and "default" not in text)
        if not shown:
            return text
        default = " ".join(map(str, action.default)) if isinstance(action.default, list) else "%(default)s"
        return f"{text} (default: {default})"


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr and exit status 2, and whose ``--help``
    shows every option's default (:class:`DefaultsHelpFormatter`).

    ``checks`` run in order on the parsed arguments (after argparse's own checks); the first
    :class:`UsageError` one raises ends the program like any other usage error.  Sub-command parsers are
    made of this class too.
    """

    def __init__(self, *args, checks: Sequence[Callable[[argparse.Namespace], None]] = (), **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)
        self.checks = list(checks)

    def error(self, message: str) -> None:  # argparse's hook for every usage error
        self.exit(USAGE_EXIT_STATUS, f"{self.prog}: error: {message}\n")

    def parse_args(self, args=None, namespace=None) -> argparse.Namespace:
        parsed = super().parse_args(args, namespace)
        try:
            for check in self.checks:
                check(parsed)
        except UsageError as error:
            self.error(str(error))
        return parsed


# --------------------------------------------------------------------------
# Value types: argparse calls them on the text given; ArgumentTypeError becomes "argument --OPTION: message"


def integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """The type of an integer option within [``minimum``, ``maximum``]."""
    allowed = " ".join(filter(None, ["an integer", describe_bounds(minimum, maximum)]))

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not within_bounds(value, minimum, maximum):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def number(minimum: float | None = None, maximum: float | None = None, *, below: float | None = None,
           above: float | None = None) -> Callable[[str], float]:
    """The type of a finite real option within the given bounds (``below``/``above``: strict)."""
    allowed = " ".join(filter(None, ["a finite number", describe_bounds(minimum, maximum, below, above)]))

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not within_bounds(value, minimum, maximum, below, above):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def _path(text: str) -> Path:
    """``text`` as a path, refused (ArgumentTypeError) if it is empty (which ``Path`` takes as the current
    directory) or has a component longer than its file system allows (every use would fail with an OSError)."""
    if not text:
        raise argparse.ArgumentTypeError("must be a path, got an empty string")
    path = Path(text)
    existing = path.absolute()
    while not os.path.exists(existing):  # os.path: a name too long is not there, not an error
        existing = existing.parent
    try:
        longest = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        longest = 255
    for part in path.parts:
        if len(os.fsencode(part)) > longest:
            raise argparse.ArgumentTypeError(f"has a component of {len(os.fsencode(part))} bytes, more than the "
                                             f"{longest} its file system allows: {part[:24]}...")
    return path


def _creatable(path: Path) -> None:
    """Raise ArgumentTypeError unless ``path`` (missing) could be created: its nearest existing ancestor
    is a directory this process may write into."""
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise argparse.ArgumentTypeError(f"cannot create {path}: {ancestor} is not a directory")
    if not _writable(ancestor):
        raise argparse.ArgumentTypeError(f"cannot create {path}: {ancestor} is not writable")


def _writable(directory: Path) -> bool:
    effective = os.access in os.supports_effective_ids
    return os.access(directory, os.W_OK | os.X_OK, effective_ids=effective)


def _path_type(check: Callable[[Path], None]) -> Callable[[str], Path]:
    """The type of a path option: :func:`_path`, then ``check`` (which raises ArgumentTypeError); an OSError
    on the way (a path too long as a whole, say) becomes one line too."""
    def parse(text: str) -> Path:
        path = _path(text)
        try:
            check(path)
        except OSError as error:
            raise argparse.ArgumentTypeError(f"cannot use {text[:60]!r}: {error.strerror or error}") from None
        return path

    parse.__name__ = check.__name__
    parse.__doc__ = check.__doc__
    return parse


@_path_type
def output_directory(path: Path) -> None:
    """The type of an output directory: an existing writable directory, or one that can be created."""
    if path.exists():
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{path} exists and is not a directory")
        if not _writable(path):
            raise argparse.ArgumentTypeError(f"{path} is not writable")
    else:
        _creatable(path)


@_path_type
def output_file(path: Path) -> None:
    """The type of a file to write: a new file in a directory that exists or can be created, or an existing
    file (replaced)."""
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a directory, not a file")
    if path.exists():
        if not _writable(path.absolute().parent):
            raise argparse.ArgumentTypeError(f"cannot replace {path}: {path.absolute().parent} is not writable")
    else:
        _creatable(path)


@_path_type
def input_file(path: Path) -> None:
    """The type of a file to read: it must exist and be a file."""
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{path} {'is not a file' if path.exists() else 'does not exist'}")


@_path_type
def input_directory(path: Path) -> None:
    """The type of a directory to read: it must exist and be a directory."""
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} {'is not a directory' if path.exists() else 'does not exist'}")


# --------------------------------------------------------------------------
# Config errors named by the option that set the field


def option_error(error: ValueError, parser: argparse.ArgumentParser, fields: Mapping[str, str] | None = None) -> str:
    """The one-line usage message of a config ``error``: when it names a field
    (``spikeloc.validation.InvalidValue``) that an option of ``parser`` sets, ``argument --OPTION: ...``.

    ``fields`` maps config fields to options where the names differ (``{"tau_s": "--tau-ms"}``); otherwise
    the field ``n_hidden`` is set by ``--n-hidden`` if ``parser`` has that option.
    """
    field = getattr(error, "field", None)
    option = (fields or {}).get(field) if field else None
    if field and option is None:
        candidate = "--" + field.replace("_", "-")
        option = candidate if candidate in parser._option_string_actions else None
    return f"argument {option}: {error}" if option else str(error)
