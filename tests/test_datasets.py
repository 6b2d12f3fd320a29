"""spikeloc.datasets: the shipped MNIST sample (shapes, class balance, checksums, labels that fit the images),
the idx and CIFAR-10 readers on files written here by hand in the standard formats, the errors for missing
or corrupt files, and the stratified validation split.
"""

from __future__ import annotations

import codecs
import dataclasses
import gzip
import hashlib
import importlib.util
import os
import pickle
import re
import shutil
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from spikeloc import datasets
from spikeloc.datasets import ImageDataset, ImageSplit, loaders, validation_split

REPOSITORY = Path(__file__).resolve().parents[1]
IDX_STEMS = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
N_TRAIN, N_TEST = 30, 20  # the fake datasets' sizes


@pytest.fixture(scope="module")
def mnist_5k() -> ImageDataset:
    return datasets.load("mnist-5k")


# ---- the shipped sample -------------------------------------------------------------------------------------

def test_mnist_5k_has_4000_training_and_1000_test_digits_balanced_over_classes(mnist_5k):
    assert mnist_5k.name == "mnist-5k" and mnist_5k.classes == tuple("0123456789")
    assert mnist_5k.image_shape == (1, 28, 28) and mnist_5k.n_features == 784
    assert mnist_5k.train.images.shape == (4000, 1, 28, 28) and mnist_5k.train.images.dtype == torch.uint8
    assert mnist_5k.test.images.shape == (1000, 1, 28, 28) and mnist_5k.test.labels.dtype == torch.int64
    assert mnist_5k.train.labels.bincount().tolist() == [400] * 10
    assert mnist_5k.test.labels.bincount().tolist() == [100] * 10


def test_features_are_flattened_pixels_over_255(mnist_5k):
    features = mnist_5k.test.features()
    assert features.shape == (1000, 784) and features.dtype == torch.float32
    assert features.min() == 0 and features.max() == 1
    assert features[7, 28 * 14 + 10] == mnist_5k.test.images[7, 0, 14, 10].item() / 255


def test_mnist_5k_labels_fit_the_images(mnist_5k):
    """A nearest-class-mean classifier fitted on the training digits scores ~0.8 on the test digits; labels
    shifted against the images would give chance (0.1)."""
    features, labels = mnist_5k.train.features(), mnist_5k.train.labels
    class_means = torch.stack([features[labels == digit].mean(dim=0) for digit in range(10)])
    predicted = torch.cdist(mnist_5k.test.features(), class_means).argmin(dim=1)
    assert (predicted == mnist_5k.test.labels).float().mean() > 0.7


def test_checksums_in_code_are_the_ones_in_the_data_readme():
    readme = (REPOSITORY / "data" / "README.md").read_text()
    listed = dict((name, digest) for digest, name in re.findall(r"([0-9a-f]{64})\s+(\S+\.gz)", readme))
    assert listed == loaders.MNIST_5K_SHA256


def copy_of_mnist_5k(tmp_path: Path) -> Path:
    shutil.copytree(loaders.SHIPPED_DATA / "mnist-5k", tmp_path / "mnist-5k")
    return tmp_path


def test_an_intact_copy_loads_the_same_digits(tmp_path, mnist_5k):
    copy = datasets.load("mnist-5k", root=copy_of_mnist_5k(tmp_path))
    assert torch.equal(copy.train.images, mnist_5k.train.images)
    assert torch.equal(copy.test.labels, mnist_5k.test.labels)


@pytest.mark.parametrize("file_name", ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
def test_a_corrupted_mnist_5k_file_fails_its_checksum(tmp_path, file_name):
    path = copy_of_mnist_5k(tmp_path) / "mnist-5k" / file_name
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is corrupt: its sha256"):
        datasets.load("mnist-5k", root=tmp_path)


def test_a_missing_mnist_5k_file_is_named(tmp_path):
    path = copy_of_mnist_5k(tmp_path) / "mnist-5k" / "t10k-images-idx3-ubyte.gz"
    path.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        datasets.load("mnist-5k", root=tmp_path)


def test_unknown_names_are_refused_with_the_list():
    with pytest.raises(ValueError, match="^name = 'emnist' is invalid: must be one of 'mnist-5k', 'mnist', "
                                         "'fashion-mnist', 'cifar10'"):
        datasets.load("emnist")


# ---- idx files (MNIST, Fashion-MNIST) written by hand -----------------------------------------------------

def idx_bytes(array: np.ndarray) -> bytes:
    """The idx format: 0, 0, type 0x08 (unsigned byte), number of axes, big-endian uint32 sizes, data."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def fake_idx_arrays(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, N_TRAIN, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, N_TEST, dtype=np.uint8),
    }


def write_idx_files(folder: Path, arrays: dict[str, np.ndarray], compressed: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        content = idx_bytes(array)
        if compressed:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(content))
        else:
            (folder / stem).write_bytes(content)


@pytest.fixture
def small_standard_sizes(monkeypatch):
    """The fake files hold N_TRAIN / N_TEST examples; let the loaders expect that many instead of 60000 / 10000."""
    for name in ("mnist", "fashion-mnist", "cifar10"):
        small = dataclasses.replace(loaders.SOURCES[name], sizes={"train": N_TRAIN, "test": N_TEST})
        monkeypatch.setitem(loaders.SOURCES, name, small)


@pytest.mark.parametrize(
    ("name", "subfolder", "compressed"),
    [("mnist", "", True), ("mnist", "", False), ("mnist", "MNIST/raw", True),
     ("fashion-mnist", "FashionMNIST/raw", False), ("fashion-mnist", "", True)],
)
def test_idx_files_load_from_the_standard_layouts(tmp_path, small_standard_sizes, name, subfolder, compressed):
    arrays = fake_idx_arrays(seed=len(name) + compressed)
    write_idx_files(tmp_path / subfolder, arrays, compressed)
    dataset = datasets.load(name, root=tmp_path)
    assert dataset.name == name and len(dataset.classes) == 10
    assert dataset.train.images.shape == (N_TRAIN, 1, 28, 28)
    np.testing.assert_array_equal(dataset.train.images[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(dataset.train.labels.numpy(), arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(dataset.test.images[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(dataset.test.labels.numpy(), arrays["t10k-labels-idx1-ubyte"])


def test_fashion_mnist_classes_are_named():
    assert loaders.SOURCES["fashion-mnist"].classes[9] == "Ankle boot"


def test_the_root_comes_from_spikeloc_data_unless_given(tmp_path, monkeypatch, small_standard_sizes):
    arrays = fake_idx_arrays(seed=1)
    write_idx_files(tmp_path / "from-env", arrays, compressed=True)
    monkeypatch.setenv("SPIKELOC_DATA", str(tmp_path / "from-env"))
    from_env = datasets.load("mnist")
    np.testing.assert_array_equal(from_env.test.labels.numpy(), arrays["t10k-labels-idx1-ubyte"])
    other = fake_idx_arrays(seed=2)
    write_idx_files(tmp_path / "given", other, compressed=True)
    given = datasets.load("mnist", root=tmp_path / "given")
    np.testing.assert_array_equal(given.test.labels.numpy(), other["t10k-labels-idx1-ubyte"])


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_without_root_or_environment_variable_the_error_says_where_to_put_the_files(monkeypatch, name):
    monkeypatch.delenv("SPIKELOC_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"never downloaded.*SPIKELOC_DATA"):
        datasets.load(name)


def test_a_root_that_is_not_a_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"root = '.*nowhere' is not a directory"):
        datasets.load("mnist", root=tmp_path / "nowhere")


def test_a_missing_idx_file_is_named_with_the_places_it_may_go(tmp_path, small_standard_sizes):
    write_idx_files(tmp_path, fake_idx_arrays(seed=3), compressed=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte\[\.gz\] not found.*FashionMNIST/raw"):
        datasets.load("fashion-mnist", root=tmp_path)


def corrupt_one(folder: Path, stem: str, content: bytes) -> Path:
    path = folder / f"{stem}.gz"
    path.write_bytes(gzip.compress(content))
    return path


@pytest.mark.parametrize(
    ("stem", "make_content", "message"),
    [
        ("train-images-idx3-ubyte", lambda a: idx_bytes(a["train-labels-idx1-ubyte"]), "magic number 2049 is not 2051"),
        ("t10k-labels-idx1-ubyte", lambda a: idx_bytes(a["t10k-images-idx3-ubyte"]), "magic number 2051 is not 2049"),
        ("train-images-idx3-ubyte", lambda a: idx_bytes(a["train-images-idx3-ubyte"])[:-5], "truncated"),
        ("train-labels-idx1-ubyte", lambda a: b"\x00\x00", "magic number"),
        ("train-labels-idx1-ubyte", lambda a: idx_bytes(a["train-labels-idx1-ubyte"][:-1]),
         rf"announces sizes \({N_TRAIN - 1},\), expected \({N_TRAIN},\)"),
        ("t10k-labels-idx1-ubyte", lambda a: idx_bytes(np.full(N_TEST, 10, np.uint8)), r"span \[10, 10\]"),
    ],
)
def test_a_bad_idx_file_is_one_clear_error_naming_it(tmp_path, small_standard_sizes, stem, make_content, message):
    arrays = fake_idx_arrays(seed=4)
    write_idx_files(tmp_path, arrays, compressed=True)
    path = corrupt_one(tmp_path, stem, make_content(arrays))
    with pytest.raises(ValueError, match=message) as error:
        datasets.load("mnist", root=tmp_path)
    assert str(path) in str(error.value)


def test_a_broken_gzip_stream_is_named(tmp_path, small_standard_sizes):
    write_idx_files(tmp_path, fake_idx_arrays(seed=5), compressed=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: corrupt gzip data"):
        datasets.load("mnist", root=tmp_path)


def test_files_that_are_not_the_standard_size_are_refused(tmp_path):
    write_idx_files(tmp_path, fake_idx_arrays(seed=6), compressed=False)  # 30 / 20 digits, not 60000 / 10000
    with pytest.raises(ValueError, match=r"announces sizes \(30, 28, 28\), expected \(60000, 28, 28\); "
                                         "not the standard file"):
        datasets.load("mnist", root=tmp_path)


def test_a_gzip_idx_file_that_inflates_hugely_is_refused_without_inflating_it(tmp_path, small_standard_sizes):
    arrays = fake_idx_arrays(seed=7)
    write_idx_files(tmp_path, arrays, compressed=True)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    with gzip.open(path, "wb") as bomb:  # the right header and labels, then 200 MB of zeros (a 200 kB file)
        bomb.write(idx_bytes(arrays["train-labels-idx1-ubyte"]))
        for _ in range(200):
            bomb.write(bytes(10**6))
    assert path.stat().st_size < 10**6
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: .* but more follow; the file is truncated"):
            datasets.load("mnist", root=tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10**7  # reading it whole would hold 200 MB


def test_an_idx_header_is_checked_against_the_file_and_memory_before_the_data_are_read(tmp_path, monkeypatch):
    from spikeloc.datasets import formats

    huge = tmp_path / "huge-idx1-ubyte.gz"  # announces 4 GB in a file of a few dozen bytes
    huge.write_bytes(gzip.compress(struct.pack(">BBBBI", 0, 0, 8, 1, 2**32 - 1) + bytes(100)))
    with pytest.raises(ValueError, match=r"announces sizes \(4294967295,\) = 4294967295 bytes but a \d+-byte gzip "
                                         "file inflates to at most"):
        formats.read_idx(huge, 1)
    fits = tmp_path / "fits-idx1-ubyte"
    fits.write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 5000) + bytes(5000))
    assert formats.read_idx(fits, 1).shape == (5000,)
    monkeypatch.setattr(formats, "available_bytes", lambda: 4000)
    with pytest.raises(ValueError, match=r"= 5 kB, more than the 4 kB of memory available"):
        formats.read_idx(fits, 1)
    with pytest.raises(ValueError, match=r"announces sizes \(5000,\), expected \(4000,\); not the standard file"):
        formats.read_idx(fits, 1, (4000,))


# ---- CIFAR-10 python batches --------------------------------------------------------------------------------

def cifar_batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"fake batch",
        b"labels": [int(label) for label in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"image_{index}.png".encode() for index in range(n)],
    }


def write_cifar(folder: Path, protocol: int) -> dict[str, dict]:
    """Five training batches of N_TRAIN // 5 images and one test batch of N_TEST, as the CIFAR-10 archive."""
    folder.mkdir(parents=True, exist_ok=True)
    batches = {f"data_batch_{index}": cifar_batch(N_TRAIN // 5, index) for index in range(1, 6)}
    batches["test_batch"] = cifar_batch(N_TEST, 0)
    for file_name, batch in batches.items():
        (folder / file_name).write_bytes(pickle.dumps(batch, protocol=protocol))
    return batches


@pytest.mark.parametrize(("subfolder", "protocol"), [("cifar-10-batches-py", 2), ("", 4), ("", 5)])
def test_cifar_batches_load_as_channel_planes(tmp_path, small_standard_sizes, subfolder, protocol):
    batches = write_cifar(tmp_path / subfolder, protocol)
    dataset = datasets.load("cifar10", root=tmp_path)
    assert dataset.image_shape == (3, 32, 32) and dataset.n_features == 3072 and dataset.classes[0] == "airplane"
    data = np.concatenate([batches[f"data_batch_{index}"][b"data"] for index in range(1, 6)])
    labels = sum((batches[f"data_batch_{index}"][b"labels"] for index in range(1, 6)), [])
    assert dataset.train.labels.tolist() == labels
    for channel in range(3):  # the 3072 bytes are the red, green and blue 32 x 32 planes, rows first
        np.testing.assert_array_equal(dataset.train.images[:, channel].numpy(),
                                      data[:, 1024 * channel:1024 * (channel + 1)].reshape(-1, 32, 32))
    assert torch.equal(dataset.test.features(), torch.from_numpy(batches["test_batch"][b"data"]).float() / 255)


class _Payload:
    """A pickle payload that makes the unpickler call ``function(*arguments)``."""

    def __init__(self, function, *arguments):
        self.function, self.arguments = function, arguments

    def __reduce__(self):
        return self.function, self.arguments


@pytest.mark.parametrize(
    ("payload", "refusal"),
    [
        (lambda marker: _Payload(open, str(marker), "w"), r"refused to load global \S*open"),
        (lambda marker: _Payload(codecs.encode, str(marker), "rot13"), r"refused _codecs\.encode\(str, 'rot13'\)"),
    ],
)
def test_cifar_loading_never_runs_code_from_the_file(tmp_path, small_standard_sizes, payload, refusal):
    batches = write_cifar(tmp_path, protocol=4)
    marker = tmp_path / "code-ran"
    batch = dict(batches["data_batch_3"], payload=payload(marker))
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(ValueError, match=rf"data_batch_3: not a readable CIFAR-10 python batch.*{refusal}"):
        datasets.load("cifar10", root=tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda content, batch: content[: len(content) // 2], "not a readable CIFAR-10 python batch"),
        (lambda content, batch: pickle.dumps({b"data": batch[b"data"]}), "expected a dict with b'data'"),
        (lambda content, batch: pickle.dumps({**batch, b"data": batch[b"data"][:, :100]}), r"expected a uint8 array"),
        (lambda content, batch: pickle.dumps({**batch, b"labels": batch[b"labels"][:-1]}), "list of 20 ints"),
    ],
)
def test_a_bad_cifar_batch_is_one_clear_error_naming_it(tmp_path, small_standard_sizes, damage, message):
    batches = write_cifar(tmp_path / "cifar-10-batches-py", protocol=2)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(damage(path.read_bytes(), batches["test_batch"]))
    with pytest.raises(ValueError, match=message) as error:
        datasets.load("cifar10", root=tmp_path)
    assert str(path) in str(error.value)


def test_a_missing_cifar_batch_is_named(tmp_path, small_standard_sizes):
    write_cifar(tmp_path / "cifar-10-batches-py", protocol=2)
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match=r"data_batch_4 not found.*cifar-10-batches-py"):
        datasets.load("cifar10", root=tmp_path)


# ---- splits -------------------------------------------------------------------------------------------------

def labelled_split(class_counts: list[int]) -> ImageSplit:
    labels = torch.cat([torch.full((count,), label) for label, count in enumerate(class_counts)])
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    images = torch.arange(len(labels), dtype=torch.int64).remainder(256).to(torch.uint8).view(-1, 1, 1, 1)
    return ImageSplit(images.expand(-1, 1, 2, 2).clone(), labels[order])


@pytest.mark.parametrize(("class_counts", "n_validation"),
                         [([50, 30, 20], 10), ([7, 7, 7], 10), ([13, 1, 29, 4], 9), ([400] * 10, 500)])
def test_validation_split_is_stratified_disjoint_and_complete(class_counts, n_validation):
    split = labelled_split(class_counts)
    rest, validation = validation_split(split, n_validation, torch.Generator().manual_seed(1))
    assert len(validation) == n_validation and len(rest) == len(split) - n_validation
    held = validation.labels.bincount(minlength=len(class_counts)).tolist()
    for count, quota in zip(class_counts, held):
        assert abs(quota - n_validation * count / len(split)) < 1  # each class keeps its proportion
    kept = rest.labels.bincount(minlength=len(class_counts)).tolist()
    assert [a + b for a, b in zip(held, kept)] == class_counts


def test_validation_split_keeps_order_and_is_reproducible_per_seed():
    split = ImageSplit(torch.arange(200, dtype=torch.uint8).view(-1, 1, 1, 1), torch.arange(200) % 4)
    rest, validation = validation_split(split, 40, torch.Generator().manual_seed(7))
    ids = torch.cat([rest.images.flatten(), validation.images.flatten()]).long()
    assert sorted(ids.tolist()) == list(range(200))  # disjoint and complete
    assert torch.all(rest.images.flatten()[1:] > rest.images.flatten()[:-1])  # original order
    assert torch.all(validation.labels == split.labels[validation.images.flatten().long()])
    again = validation_split(split, 40, torch.Generator().manual_seed(7))[1]
    other = validation_split(split, 40, torch.Generator().manual_seed(8))[1]
    assert torch.equal(again.images, validation.images)
    assert not torch.equal(other.images, validation.images)


@pytest.mark.parametrize("n_validation", [0, 200, -1, 2.5, True])
def test_validation_split_refuses_bad_sizes(n_validation):
    split = labelled_split([100, 100])
    with pytest.raises(ValueError, match="^n_validation ="):
        validation_split(split, n_validation, torch.Generator().manual_seed(0))


def test_validation_split_needs_a_generator():
    with pytest.raises(ValueError, match="^generator ="):
        validation_split(labelled_split([10, 10]), 4, None)


def test_subset_takes_images_and_labels_together():
    split = labelled_split([3, 4])
    part = split.subset(torch.tensor([5, 0, 2]))
    assert torch.equal(part.images, split.images[[5, 0, 2]]) and torch.equal(part.labels, split.labels[[5, 0, 2]])


@pytest.mark.parametrize(
    ("images", "labels", "field"),
    [
        (torch.zeros(3, 1, 2, 2), torch.zeros(3, dtype=torch.int64), "images"),  # float, not uint8
        (torch.zeros(3, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64), "images"),
        (torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.zeros(3, dtype=torch.int32), "labels"),
        (torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64), "labels"),
    ],
)
def test_image_split_refuses_bad_tensors(images, labels, field):
    with pytest.raises(ValueError, match=f"^{field} ="):
        ImageSplit(images, labels)


def test_image_dataset_refuses_labels_beyond_its_classes():
    split = labelled_split([2, 2, 2])
    with pytest.raises(ValueError, match=r"^train\.labels = 'range \[0, 2\]'"):
        ImageDataset("toy", split, split, classes=("a", "b"))


# ---- packaging ----------------------------------------------------------------------------------------------

def test_a_wheel_carries_the_shipped_sample_and_loads_it_once_installed(tmp_path):
    """Build a wheel from a copy of the source tree (the link spikeloc/datasets/data -> ../../data included),
    install it into a fresh directory and load mnist-5k from there in a new interpreter."""
    if not (REPOSITORY / "pyproject.toml").is_file() or importlib.util.find_spec("setuptools") is None:
        pytest.skip("needs the source tree and setuptools")
    source = tmp_path / "source"
    source.mkdir()
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(REPOSITORY / part, source / part)
    for part in ("spikeloc", "data"):
        shutil.copytree(REPOSITORY / part, source / part, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "wheel"),
                    str(source)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "wheel").glob("spikeloc-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        digests = {Path(name).name: hashlib.sha256(archive.read(name)).hexdigest()
                   for name in archive.namelist() if name.startswith("spikeloc/datasets/data/mnist-5k/")}
        assert "spikeloc/datasets/data/README.md" in archive.namelist()
    assert digests == loaders.MNIST_5K_SHA256
    installed = tmp_path / "installed"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "-q", "--target", str(installed), str(wheel)],
                   check=True, capture_output=True)
    script = ("import spikeloc.datasets as d; s = d.load('mnist-5k'); "
              "print(d.__file__, len(s.train), len(s.test))")
    environment = {**os.environ, "PYTHONPATH": str(installed)}
    result = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True,
                            cwd=tmp_path, env=environment)
    module_file, n_train, n_test = result.stdout.split()
    assert Path(module_file).is_relative_to(installed) and (n_train, n_test) == ("4000", "1000")
