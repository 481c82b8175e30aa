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


def write_fake_mnist(folder, n_train=20, n_test=10, packed=False):
    rng = np.random.default_rng(0)
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
    assert (isolated / "cache" / "datasets" / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert ds.x_train.shape == (5, 64) and ds.image_shape == (8, 8)
    # an 8x8 cell is the mean of its pixels: the overall brightness is preserved within pooling error
    assert float(ds.x_test.mean()) == pytest.approx(arrays["t10k"][0].mean() / 255.0, abs=0.02)


def test_fashion_mnist_is_found_in_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setenv("BINGO_KIT_CACHE", str(tmp_path))
    ds = load_dataset("fashion-mnist", downsample=True, train_limit=300, test_limit=100)
    assert ds.x_train.shape == (300, 64) and ds.x_test.shape == (100, 64)
    assert ds.n_classes == 10 and "Sneaker" in ds.class_names
    full = load_dataset("fashion_mnist", test_limit=10)  # the alias works; the whole set is there
    assert full.x_train.shape == (60000, 784) and full.x_test.shape == (10, 784) and full.image_shape == (28, 28)


@pytest.mark.parametrize(
    "name, advice", [("fashion-mnist", "apt-get install dataset-fashion-mnist"), ("mnist", "MNIST/raw")]
)
def test_missing_dataset_says_how_to_get_it(isolated, name, advice):
    with pytest.raises(DatasetMissingError) as caught:
        load_dataset(name)
    assert isinstance(caught.value, KitError) and isinstance(caught.value, FileNotFoundError)
    assert advice in str(caught.value) and "train-images-idx3-ubyte" in str(caught.value)


def test_unknown_dataset_name_lists_the_choices():
    with pytest.raises(KitError, match="digits, fashion-mnist, mnist"):
        load_dataset("cifar")
