"""Writing result files so that a reader, or a process killed mid-write, never leaves a half-written file."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

#: Permission bits of a new file before the umask takes its share (as ``open`` and ``touch`` create files):
#: under the usual umask 022, -rw-r--r--, so that a shared lab folder's members can read the results.
NEW_FILE_MODE = 0o666


def _new_temporary_file(path: Path) -> tuple[int, Path]:
    """An open descriptor of a new, empty file beside ``path`` (``.NAME.RANDOM.tmp``) and its path. Created
    with :data:`NEW_FILE_MODE` less the umask, as any other new file, not 0600 as ``tempfile``'s are."""
    while True:
        temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, NEW_FILE_MODE), temporary
        except FileExistsError:
            continue


def atomic_write(path: Path, content: str | bytes) -> None:
    """Replace ``path`` by ``content`` so readers see the old or the new file, never a mix. The file gets the
    permissions of any new file (``0666`` less the umask)."""
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    descriptor, temporary = _new_temporary_file(path)
    try:
        with open(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
