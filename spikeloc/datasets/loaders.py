"""Datasets by name: the MNIST sample shipped with spikeloc, and the standard files a user already has.

spikeloc never downloads anything. ``"mnist-5k"`` (5000 real MNIST digits, see ``data/README.md``) is installed
with the package and verified against its SHA-256 checksums on every load. The full ``"mnist"``,
``"fashion-mnist"`` and ``"cifar10"`` are read from a directory given as ``root`` or by the environment variable
``SPIKELOC_DATA``, in the standard layouts:

- MNIST / Fashion-MNIST: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte`` (each raw or with ``.gz``) in ROOT itself or in torchvision's ``ROOT/MNIST/raw``
  (``ROOT/FashionMNIST/raw`` for Fashion-MNIST);
- CIFAR-10: the python batches ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` in
  ``ROOT/cifar-10-batches-py`` (the unpacked ``cifar-10-python.tar.gz``) or in ROOT itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spikeloc.datasets.formats import read_cifar_batch, read_idx, sha256
from spikeloc.datasets.splits import ImageDataset, ImageSplit
from spikeloc.validation import require_choice

NAMES = ("mnist-5k", "mnist", "fashion-mnist", "cifar10")
DATA_ENVIRONMENT_VARIABLE = "SPIKELOC_DATA"
SHIPPED_DATA = Path(__file__).resolve().parent / "data"  # the repository's data/, installed with the package

IDX_FILES = {  # split -> (images, labels), standard MNIST names without ".gz"
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_5K_SHA256 = {  # as listed in data/README.md
    "train-images-idx3-ubyte.gz": "4a496ad662386ec447324fef88e60ee7a6b76c6746ed731ad8002492f94a45dd",
    "train-labels-idx1-ubyte.gz": "1f46df5020b8a06f7f1766e329d1353e093623fe1002d49124cc51acd9cef6f3",
    "t10k-images-idx3-ubyte.gz": "d0469232e73dd8a4d9dcb828a921471510d0d945ba9c1c6f825190174f33d14d",
    "t10k-labels-idx1-ubyte.gz": "d829b9c6a33e45f2421e73f25328c89c1570399d327fa55a0ab436b430098c55",
}
CIFAR_FILES = {"train": tuple(f"data_batch_{index}" for index in range(1, 6)), "test": ("test_batch",)}
CIFAR_FOLDER = "cifar-10-batches-py"


@dataclass(frozen=True)
class _Source:
    """What a dataset name stands for: class names, examples per split, image shape (C, H, W), and
    torchvision's folder name for its idx files."""

    classes: tuple[str, ...]
    sizes: dict[str, int]
    image_shape: tuple[int, int, int]
    torchvision_folder: str = ""


DIGITS = tuple(str(digit) for digit in range(10))
MNIST_SHAPE = (1, 28, 28)
SOURCES = {
    "mnist-5k": _Source(DIGITS, {"train": 4000, "test": 1000}, MNIST_SHAPE),
    "mnist": _Source(DIGITS, {"train": 60000, "test": 10000}, MNIST_SHAPE, "MNIST"),
    "fashion-mnist": _Source(
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        {"train": 60000, "test": 10000}, MNIST_SHAPE, "FashionMNIST",
    ),
    "cifar10": _Source(
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        {"train": 50000, "test": 10000}, (3, 32, 32),
    ),
}


def load(name: str, root: str | os.PathLike | None = None) -> ImageDataset:
    """The dataset ``name`` (one of :data:`NAMES`) as uint8 images in memory.

    ``root``: for ``"mnist-5k"``, a directory laid out like the repository's ``data/`` (the files in
    ``ROOT/mnist-5k/``), default the copy installed with spikeloc; for the others, the directory holding the
    standard files (see the module docstring), default ``$SPIKELOC_DATA``. A missing file raises
    ``FileNotFoundError`` and an unreadable one ``ValueError``, each naming the file and where it belongs.
    """
    require_choice(name, "name", NAMES)
    if name == "mnist-5k":
        directory = (SHIPPED_DATA if root is None else Path(root)) / "mnist-5k"
        _verify_mnist_5k(directory)
        paths = {split: tuple(directory / f"{stem}.gz" for stem in stems) for split, stems in IDX_FILES.items()}
    elif name == "cifar10":
        base = _data_root(name, root)
        paths = {split: tuple(_find_cifar(base, file_name) for file_name in files)
                 for split, files in CIFAR_FILES.items()}
    else:
        base = _data_root(name, root)
        paths = {split: tuple(_find_idx(name, base, stem) for stem in stems) for split, stems in IDX_FILES.items()}
    read = _read_cifar_split if name == "cifar10" else _read_idx_split
    train, test = (read(name, split, paths[split]) for split in ("train", "test"))
    return ImageDataset(name, train, test, SOURCES[name].classes)


def _verify_mnist_5k(directory: Path) -> None:
    """Each mnist-5k file exists and has the SHA-256 digest listed in data/README.md."""
    for file_name, expected in MNIST_5K_SHA256.items():
        path = directory / file_name
        if not path.is_file():
            raise FileNotFoundError(f"mnist-5k: {path} is missing; the four mnist-5k files ship with spikeloc in "
                                    "data/mnist-5k/ (reinstall the package, or restore the file from the repository)")
        found = sha256(path)
        if found != expected:
            raise ValueError(f"mnist-5k: {path} is corrupt: its sha256 is {found}, expected {expected} (listed in "
                             "data/README.md); restore the file from the repository")


def _data_root(name: str, root: str | os.PathLike | None) -> Path:
    """``root``, else ``$SPIKELOC_DATA``: the directory holding the user's copy of ``name``."""
    origin = "root"
    if root is None:
        root, origin = os.environ.get(DATA_ENVIRONMENT_VARIABLE) or None, DATA_ENVIRONMENT_VARIABLE
    if root is None:
        raise FileNotFoundError(
            f"{name} is not shipped with spikeloc and is never downloaded: put its standard files in a directory "
            f"and pass it as root= or set {DATA_ENVIRONMENT_VARIABLE} (expected there: {_expected_files(name)})")
    base = Path(root).expanduser()
    if not base.is_dir():
        raise FileNotFoundError(f"{name}: {origin} = {str(base)!r} is not a directory; it should hold "
                                f"{_expected_files(name)}")
    return base


def _expected_files(name: str) -> str:
    if name == "cifar10":
        return f"{CIFAR_FOLDER}/ with data_batch_1..5 and test_batch (the unpacked cifar-10-python.tar.gz)"
    folder = SOURCES[name].torchvision_folder
    stems = [stem for pair in IDX_FILES.values() for stem in pair]
    return f"{', '.join(stems)} (raw or .gz), directly or in {folder}/raw/"


def _find_idx(name: str, base: Path, stem: str) -> Path:
    folders = (base, base / SOURCES[name].torchvision_folder / "raw")
    for folder in folders:
        for file_name in (stem, f"{stem}.gz"):
            if (folder / file_name).is_file():
                return folder / file_name
    raise FileNotFoundError(f"{name}: {stem}[.gz] not found; put {stem}.gz (or the unpacked {stem}) in {folders[0]} "
                            f"or {folders[1]}, or point root= / {DATA_ENVIRONMENT_VARIABLE} at the directory that "
                            "holds it (spikeloc never downloads data)")


def _find_cifar(base: Path, file_name: str) -> Path:
    for folder in (base / CIFAR_FOLDER, base):
        if (folder / file_name).is_file():
            return folder / file_name
    raise FileNotFoundError(f"cifar10: {file_name} not found; put the unpacked cifar-10-python.tar.gz "
                            f"({CIFAR_FOLDER}/) in {base}, or point root= / {DATA_ENVIRONMENT_VARIABLE} at the "
                            "directory that holds it (spikeloc never downloads data)")


def _read_idx_split(name: str, split: str, paths: tuple[Path, Path]) -> ImageSplit:
    images_path, labels_path = paths
    count, (_, height, width) = SOURCES[name].sizes[split], SOURCES[name].image_shape  # idx datasets: 1 channel
    images, labels = read_idx(images_path, 3, (count, height, width)), read_idx(labels_path, 1, (count,))
    return _checked_split(name, split, images[:, np.newaxis], labels.astype(np.int64), images_path, labels_path)


def _read_cifar_split(name: str, split: str, paths: tuple[Path, ...]) -> ImageSplit:
    images, labels = zip(*(read_cifar_batch(path) for path in paths))
    folder = paths[0].parent
    return _checked_split(name, split, np.concatenate(images), np.concatenate(labels), folder, folder)


def _checked_split(
    name: str, split: str, images: np.ndarray, labels: np.ndarray, images_from: Path, labels_from: Path
) -> ImageSplit:
    """The split, once its size, image shape and label range are those of the standard ``name``."""
    source = SOURCES[name]
    expected = (source.sizes[split], *source.image_shape)
    if images.shape != expected:
        raise ValueError(f"{name}: the {split} images in {images_from} are shaped {images.shape}, expected {expected}; "
                         f"these are not the standard {name} files")
    if labels.min() < 0 or labels.max() >= len(source.classes):
        raise ValueError(f"{name}: the {split} labels in {labels_from} span [{labels.min()}, {labels.max()}], expected "
                         f"class indices in [0, {len(source.classes) - 1}]")
    return ImageSplit(torch.from_numpy(images), torch.from_numpy(labels))
