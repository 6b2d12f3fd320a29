"""Readers for the standard on-disk image formats: idx (MNIST, Fashion-MNIST) and CIFAR-10 python batches.

Every failure to read a file is one ``ValueError`` naming the file and what is wrong with it.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
import zlib
from math import prod
from pathlib import Path

import numpy as np

from spikeloc.memory import available_bytes, size_text

try:
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct
    from numpy.core.numeric import _frombuffer

GZIP_MAGIC = b"\x1f\x8b"
#: deflate's largest inflation: about 1032 bytes out per byte in (258-byte matches coded in under 2 bits), so a
#: gzip file of n bytes holds at most this many times n bytes of data
DEFLATE_MAX_RATIO = 1032
IDX_UNSIGNED_BYTE = 0x08
CIFAR_IMAGE_SHAPE = (3, 32, 32)


def sha256(path: Path) -> str:
    """Hex SHA-256 digest of the file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_idx(path: Path, dimensions: int, sizes: tuple[int, ...] | None = None) -> np.ndarray:
    """An idx file of unsigned bytes with ``dimensions`` axes, gzip-compressed or raw (told by its first bytes).

    Layout (big-endian): two zero bytes, the type code 0x08 (unsigned byte), the number of axes d, d uint32
    sizes, then prod(sizes) bytes in C order. Read as one int32 the first four bytes are the "magic number":
    2049 for MNIST labels (d = 1), 2051 for images (d = 3).

    The header is read and checked first, from the (decompressing) stream: its sizes must be ``sizes`` where
    given, and the data they announce must fit in what the file can hold (a raw file's remaining bytes, at most
    :data:`DEFLATE_MAX_RATIO` times a gzip file's size) and in the memory available (:mod:`spikeloc.memory`).
    Then exactly that many bytes are read, and one more must not follow: a small gzip file that inflates to
    gigabytes is refused after its header, never decompressed whole.
    """
    with path.open("rb") as file:
        compressed = file.read(2) == GZIP_MAGIC
    try:
        with (gzip.open(path, "rb") if compressed else path.open("rb")) as stream:
            return _read_idx_stream(path, stream, dimensions, sizes, compressed)
    except (OSError, EOFError, zlib.error) as error:
        if not compressed:
            raise
        raise ValueError(f"{path}: corrupt gzip data ({error})") from None


def _read_idx_stream(path: Path, stream, dimensions: int, expected: tuple[int, ...] | None,
                     compressed: bool) -> np.ndarray:
    magic = (IDX_UNSIGNED_BYTE << 8) + dimensions
    header_length = 4 + 4 * dimensions
    header = stream.read(header_length)
    found = int.from_bytes(header[:4], "big")
    if len(header) < header_length or found != magic:
        raise ValueError(f"{path}: magic number {found} is not {magic} (idx file of unsigned bytes with "
                         f"{dimensions} axes); is it the right file?")
    sizes = struct.unpack(f">{dimensions}I", header[4:])
    if expected is not None and sizes != tuple(expected):
        raise ValueError(f"{path}: the header announces sizes {sizes}, expected {tuple(expected)}; "
                         "not the standard file")
    announced = prod(sizes)
    file_size = path.stat().st_size
    room = DEFLATE_MAX_RATIO * file_size if compressed else file_size - header_length
    if announced > room or (not compressed and announced < room):
        holds = f"a {file_size}-byte gzip file inflates to at most {room}" if compressed else f"{room} follow"
        raise ValueError(f"{path}: the header announces sizes {sizes} = {announced} bytes but {holds}; "
                         "the file is truncated or corrupt")
    available = available_bytes()
    if available is not None and announced > available:
        raise ValueError(f"{path}: the header announces sizes {sizes} = {size_text(announced)}, more than the "
                         f"{size_text(available)} of memory available")
    content = stream.read(announced)
    if len(content) != announced or stream.read(1):
        raise ValueError(f"{path}: the header announces sizes {sizes} = {announced} bytes but "
                         f"{'fewer' if len(content) < announced else 'more'} follow; the file is truncated or corrupt")
    return np.frombuffer(content, dtype=np.uint8).reshape(sizes).copy()


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """Stands in for ``_codecs.encode``, which Python 3 pickles of protocol <= 2 call to rebuild bytes
    (always as ``encode(text, "latin1")``); any other use is refused."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError(f"refused _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode("latin1")


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that can build only plain data: the pickle machine's own bytes, strings, numbers, lists,
    tuples and dicts, plus numpy arrays. The only globals it resolves are numpy's array rebuilders
    (``_reconstruct`` and, for protocol 5, ``_frombuffer``, under their numpy 1 and numpy 2 module names),
    ``numpy.ndarray``, ``numpy.dtype``, and a latin-1-only stand-in for ``_codecs.encode``. Any other global a
    pickle names (``os.system``, ``builtins.open``, a class with a custom ``__reduce__``, ...) is refused, so
    reading a file never executes arbitrary code.
    """

    _ALLOWED = {
        **{(f"numpy.{core}.multiarray", "_reconstruct"): _reconstruct for core in ("core", "_core")},
        **{(f"numpy.{core}.numeric", "_frombuffer"): _frombuffer for core in ("core", "_core")},
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_bytes,
    }

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load global {module}.{name}: only plain data and numpy "
                                         "arrays are allowed") from None

    def persistent_load(self, pid: object) -> object:
        raise pickle.UnpicklingError("refused a persistent id: only plain data and numpy arrays are allowed")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: images uint8 ``(N, 3, 32, 32)`` and labels int64 ``(N,)``.

    The file is a pickled dict with ``b"data"`` (uint8 ``(N, 3072)``: the red, green then blue 32 x 32 planes
    of each image) and ``b"labels"`` (N ints in 0..9). It is read with a restricted unpickler that builds only
    plain data and numpy arrays: loading never executes code from the file.
    """
    try:
        with path.open("rb") as file:
            batch = _ArrayUnpickler(file, encoding="bytes").load()
    except Exception as error:  # a corrupt pickle can fail in many ways; each is a bad file
        raise ValueError(f"{path}: not a readable CIFAR-10 python batch ({type(error).__name__}: {error})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path}: not a CIFAR-10 python batch (expected a dict with b'data' and b'labels')")
    data, labels = batch[b"data"], batch[b"labels"]
    features = prod(CIFAR_IMAGE_SHAPE)
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == features):
        shape = data.shape if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path}: b'data' is {shape}, expected a uint8 array (N, {features})")
    if not (isinstance(labels, list) and len(labels) == len(data) and all(type(label) is int for label in labels)):
        raise ValueError(f"{path}: b'labels' must be a list of {len(data)} ints, one per image")
    return data.reshape(len(data), *CIFAR_IMAGE_SHAPE).copy(), np.asarray(labels, dtype=np.int64)
