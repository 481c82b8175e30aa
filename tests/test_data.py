"""Datasets: the bundled digits, torchvision's MNIST reader on IDX files written here, the missing-data message."""
import gzip
import struct

import numpy as np
import pytest
import torch

from bingo_kit import data as data_module
from bingo_kit.data import DatasetMissingError, load_dataset
from bingo_kit.errors import KitError

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def write_idx_images(path, images: np.ndarray, packed=False):
    # IDX: magic 0x00000803 (unsigned byte, 3 dims), then big-endian dims, then the raw bytes
    payload = struct.pack(">IIII", 0x803, *images.shape) + images.astype(np.uint8).tobytes()
    (gzip.open if packed else open)(path, "wb").write(payload)


def write_idx_labels(path, labels: np.ndarray, packed=False):
    payload = struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes()
    (gzip.open if packed else open)(path, "wb").write(payload)


def write_fake_mnist(folder, n_train=20, n_test=10, packed=False, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        suffix = ".gz" if packed else ""
        write_idx_images(folder / f"{split}-images-idx3-ubyte{suffix}", images, packed)
        write_idx_labels(folder / f"{split}-labels-idx1-ubyte{suffix}", labels, packed)
        arrays[split] = (images, labels)
    return arrays


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No real dataset anywhere: an empty cache, no BINGO_KIT_DATA, no Debian folder."""
    monkeypatch.setenv("BINGO_KIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BINGO_KIT_DATA", raising=False)
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST_DIRS", [tmp_path / "no-debian-package"])
    return tmp_path


def test_digits_is_a_deterministic_stratified_split():
    a, b, other = load_dataset("digits", seed=0), load_dataset("digits", seed=0), load_dataset("digits", seed=1)
    assert (a.n_features, a.n_classes, a.image_shape) == (64, 10, (8, 8))
    assert len(a.y_train) + len(a.y_test) == 1797 and abs(len(a.y_test) / 1797 - 0.25) < 0.01
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert 0.0 <= float(a.x_train.min()) and float(a.x_train.max()) == 1.0
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_train, other.y_train)
    small = load_dataset("digits", train_limit=100, test_limit=50)
    assert small.x_train.shape == (100, 64) and len(small.y_test) == 50
    # stratified: each class's share of the test set matches its share overall within one sample
    overall = torch.bincount(torch.cat([a.y_train, a.y_test])) / 1797
    assert torch.allclose(torch.bincount(a.y_test) / len(a.y_test), overall, atol=1 / len(a.y_test) + 1e-6)


def test_mnist_loader_reads_idx_files_through_torchvision(isolated):
    arrays = write_fake_mnist(isolated / "mine" / "MNIST" / "raw")
    ds = load_dataset("mnist", root=isolated / "mine")
    train_images, train_labels = arrays["train"]
    assert ds.x_train.shape == (20, 784) and ds.x_test.shape == (10, 784) and ds.image_shape == (28, 28)
    assert torch.allclose(ds.x_train, torch.from_numpy(train_images.reshape(20, -1) / 255.0).float())
    assert torch.equal(ds.y_train, torch.from_numpy(train_labels.astype(np.int64)))
    assert ds.class_names[0].startswith("0")


def test_gzipped_files_in_a_flat_folder_are_unpacked_into_the_cache_and_downsampled(isolated):
    arrays = write_fake_mnist(isolated / "flat", packed=True)
    ds = load_dataset("mnist", root=isolated / "flat", downsample=True, train_limit=5)
    assert list((isolated / "cache" / "datasets" / "unpacked").glob("*/MNIST/raw/train-images-idx3-ubyte"))
    assert ds.x_train.shape == (5, 64) and ds.image_shape == (8, 8)
    # an 8x8 cell is the mean of its pixels: the overall brightness is preserved within pooling error
    assert float(ds.x_test.mean()) == pytest.approx(arrays["t10k"][0].mean() / 255.0, abs=0.02)


@pytest.mark.parametrize("packed", [False, True])
def test_two_roots_give_two_datasets_not_the_first_ones_cache(isolated, packed):
    # flat folders (not laid out as <root>/MNIST/raw) go through the cache: it must be keyed on the source
    first = write_fake_mnist(isolated / "a", packed=packed, seed=1)
    second = write_fake_mnist(isolated / "b", n_train=12, packed=packed, seed=2)
    a = load_dataset("mnist", root=isolated / "a")
    b = load_dataset("mnist", root=isolated / "b")
    assert a.x_train.shape == (20, 784) and b.x_train.shape == (12, 784)
    assert torch.equal(a.y_train, torch.from_numpy(first["train"][1].astype(np.int64)))
    assert torch.equal(b.y_train, torch.from_numpy(second["train"][1].astype(np.int64)))
    assert not torch.equal(a.x_test, b.x_test)
    # and back to the first root: still its own data
    assert torch.equal(load_dataset("mnist", root=isolated / "a").x_test, a.x_test)


def test_fashion_mnist_is_found_in_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setenv("BINGO_KIT_CACHE", str(tmp_path))
    ds = load_dataset("fashion-mnist", downsample=True, train_limit=300, test_limit=100)
    assert ds.x_train.shape == (300, 64) and ds.x_test.shape == (100, 64)
    assert ds.n_classes == 10 and "Sneaker" in ds.class_names
    full = load_dataset("fashion_mnist", test_limit=10)  # the alias works; the whole set is there
    assert full.x_train.shape == (60000, 784) and full.x_test.shape == (10, 784) and full.image_shape == (28, 28)


@pytest.mark.parametrize(
    "name, advice",
    [
        ("fashion-mnist", "apt-get install dataset-fashion-mnist"),
        ("mnist", "torchvision.datasets.MNIST('DIR', download=True)"),
    ],
)
def test_missing_dataset_says_how_to_get_it(isolated, name, advice):
    with pytest.raises(DatasetMissingError) as caught:
        load_dataset(name)
    message = str(caught.value)
    assert isinstance(caught.value, KitError) and isinstance(caught.value, FileNotFoundError)
    assert advice in message and "train-images-idx3-ubyte" in message
    # every way to get the files, in words a command-line user can follow too
    cls_name = "FashionMNIST" if name == "fashion-mnist" else "MNIST"
    assert str(isolated / "cache" / "datasets" / cls_name / "raw") in message
    assert "BINGO_KIT_DATA" in message and "--dataset digits" in message
    assert "root=" not in message and "name=" not in message


def test_unknown_dataset_name_lists_the_choices():
    with pytest.raises(KitError, match="digits, fashion-mnist, mnist"):
        load_dataset("cifar")
