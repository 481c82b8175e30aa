"""Datasets the kit trains on, as plain float tensors in [0, 1].

- ``digits``: scikit-learn's bundled 8×8 digits — offline, 64 inputs, small enough for an Uno. The default.
- ``mnist`` / ``fashion-mnist``: read through torchvision's own dataset classes from a local folder, never
  downloaded at run time. Debian's ``dataset-fashion-mnist`` package is found automatically.
  ``downsample=True`` averages 28×28 images down to 8×8 so the model fits a board.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bingo_kit import paths
from bingo_kit.errors import KitError

DATASETS = ("digits", "fashion-mnist", "mnist")
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist"}

# Where Debian's dataset-fashion-mnist package puts its (gzipped) IDX files.
DEBIAN_FASHION_MNIST_DIRS = [Path("/usr/share/datasets/fashion-mnist")]

_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# torchvision reads <root>/<ClassName>/raw/<file>
_TORCHVISION_CLASS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}


class DatasetMissingError(KitError, FileNotFoundError):
    """The dataset's files are not on this machine; the message says how to get them."""


@dataclass
class Dataset:
    name: str
    x_train: torch.Tensor  # float32 (N, n_features) in [0, 1]
    y_train: torch.Tensor  # int64 (N,)
    x_test: torch.Tensor
    y_test: torch.Tensor
    image_shape: tuple[int, int]
    class_names: list[str] = field(default_factory=list)
    # a validation split carved out of the training set (see with_validation); None when there is none
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def has_validation(self) -> bool:
        return self.y_val is not None and len(self.y_val) > 0

    def __repr__(self) -> str:
        val = f", validation={len(self.y_val)}" if self.has_validation else ""
        return (
            f"Dataset({self.name!r}, train={len(self.y_train)}{val}, test={len(self.y_test)}, "
            f"features={self.n_features}, classes={self.n_classes}, image={self.image_shape})"
        )


def cache_dir() -> Path:
    """Where the kit keeps unpacked dataset files (see bingo_kit.paths.cache_dir)."""
    return paths.cache_dir("datasets")


def load_dataset(
    name: str = "digits",
    *,
    root: str | os.PathLike | None = None,
    downsample: bool = False,
    seed: int = 0,
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> Dataset:
    """Load a dataset by name. ``train_limit``/``test_limit`` keep a seeded random subset (for speed)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key == "digits":
        return _load_digits(seed, train_limit, test_limit)
    if key in _TORCHVISION_CLASS:
        return _load_torchvision(key, root, downsample, seed, train_limit, test_limit)
    raise KitError(f"Unknown dataset {name!r}. Choose one of: {', '.join(DATASETS)}.")


def with_validation(data: Dataset, fraction: float = 0.2, seed: int = 0) -> Dataset:
    """A copy of ``data`` whose training set gives up a seeded, stratified ``fraction`` as a validation split.

    Choices made by looking at accuracy (how much to prune) are made on the validation split, so the test
    set stays unseen and its accuracy is an honest estimate.
    """
    from sklearn.model_selection import train_test_split

    if data.has_validation:
        raise KitError("This dataset already has a validation split.")
    if not 0.0 < fraction < 1.0:
        raise KitError(f"The validation fraction must be between 0 and 1, got {fraction}.")
    index = np.arange(len(data.y_train))
    labels = data.y_train.numpy()
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None  # stratifying needs 2 of every class
    train, val = train_test_split(index, test_size=fraction, stratify=stratify, random_state=seed)
    train, val = torch.from_numpy(np.sort(train)), torch.from_numpy(np.sort(val))
    return Dataset(data.name, data.x_train[train], data.y_train[train], data.x_test, data.y_test,
                   data.image_shape, list(data.class_names), data.x_train[val], data.y_train[val])


def _keep(n: int, limit: int | None, generator: torch.Generator) -> torch.Tensor | slice:
    """Indices of a seeded random subset of size ``limit`` (in their original order), or everything."""
    if limit is None or limit >= n:
        return slice(None)
    return torch.randperm(n, generator=generator)[:limit].sort().values


def _load_digits(seed: int, train_limit, test_limit) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.data.astype(np.float32) / 16.0  # pixel intensities are 0..16
    y = digits.target.astype(np.int64)
    # stratified so every class is in both halves in the same proportion, whatever the seed
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, stratify=y, random_state=seed)
    generator = torch.Generator().manual_seed(seed)
    train, test = _keep(len(y_tr), train_limit, generator), _keep(len(y_te), test_limit, generator)
    return Dataset(
        name="digits",
        x_train=torch.from_numpy(x_tr)[train],
        y_train=torch.from_numpy(y_tr)[train],
        x_test=torch.from_numpy(x_te)[test],
        y_test=torch.from_numpy(y_te)[test],
        image_shape=(8, 8),
        class_names=[str(d) for d in range(10)],
    )


def _load_torchvision(key: str, root, downsample: bool, seed: int, train_limit, test_limit) -> Dataset:
    import torchvision.datasets as tvd

    cls = getattr(tvd, _TORCHVISION_CLASS[key])
    tv_root = _prepare_root(key, root)
    # download=False: the kit never fetches data at run time (classrooms are often offline)
    train = cls(str(tv_root), train=True, download=False)
    test = cls(str(tv_root), train=False, download=False)
    # subset the uint8 images before converting: 60 000 float images would be 188 MB
    generator = torch.Generator().manual_seed(seed)
    keep_train, keep_test = _keep(len(train.targets), train_limit, generator), _keep(len(test.targets), test_limit, generator)
    return Dataset(
        name=key,
        x_train=_images_to_features(train.data[keep_train], downsample),
        y_train=train.targets[keep_train].to(torch.int64),
        x_test=_images_to_features(test.data[keep_test], downsample),
        y_test=test.targets[keep_test].to(torch.int64),
        image_shape=(8, 8) if downsample else tuple(train.data.shape[1:]),
        class_names=list(train.classes),
    )


def load_images(name: str, *, root: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor,
                                                                             torch.Tensor, torch.Tensor, list[str]]:
    """A 28×28 dataset's own uint8 images and labels, read offline like :func:`load_dataset`:
    (train images, train labels, test images, test labels, class names)."""
    import torchvision.datasets as tvd

    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _TORCHVISION_CLASS:
        raise KitError(f"load_images reads the 28×28 datasets ({', '.join(_TORCHVISION_CLASS)}); got {name!r}.")
    cls = getattr(tvd, _TORCHVISION_CLASS[key])
    tv_root = str(_prepare_root(key, root))
    train, test = cls(tv_root, train=True, download=False), cls(tv_root, train=False, download=False)
    return train.data, train.targets.to(torch.int64), test.data, test.targets.to(torch.int64), list(train.classes)


def pool_to_8x8(images: torch.Tensor) -> torch.Tensor:
    """uint8 28×28 images -> uint8 8×8, each pixel the rounded mean of the same 4×4 window adaptive average
    pooling uses, counted in whole numbers: the same bytes on every machine (a float mean can round a
    half differently on another processor, and a board's input is a byte)."""
    if images.dtype != torch.uint8 or tuple(images.shape[-2:]) != (28, 28):
        raise KitError("pool_to_8x8 takes uint8 images of 28×28 pixels.")
    window = torch.zeros(8, 28)
    for i in range(8):
        start = (i * 28) // 8  # adaptive pooling's windows: 4 pixels wide, some overlapping
        window[i, start:start + 4] = 1.0
    pooled = []
    for chunk in images.split(10_000):  # 10 000 float images at a time: 31 MB, not 188
        # window · image · windowᵀ adds up each 4×4 window; every partial sum is a whole number below 2²⁴,
        # which float32 holds exactly, so the order of the additions cannot change the result
        sums = window @ chunk.to(torch.float32) @ window.T
        pooled.append(torch.div(sums + 8, 16, rounding_mode="floor").to(torch.uint8))  # mean of 16, half up
    return torch.cat(pooled) if pooled else torch.zeros(0, 8, 8, dtype=torch.uint8)


def _images_to_features(images: torch.Tensor, downsample: bool) -> torch.Tensor:
    x = images.to(torch.float32).div_(255.0).unsqueeze(1)  # (N, 1, 28, 28)
    if downsample:
        x = F.adaptive_avg_pool2d(x, (8, 8))  # area average: 28 is not a multiple of 8
    return x.flatten(1).contiguous()


def _find_idx_dir(directory: Path, cls_name: str, key: str) -> Path | None:
    """The folder under ``directory`` holding all four IDX files (plain or .gz), if any."""
    for candidate in (directory, directory / cls_name / "raw", directory / cls_name, directory / key):
        if all((candidate / f).is_file() or (candidate / f"{f}.gz").is_file() for f in _IDX_FILES):
            return candidate
    return None


def _prepare_root(key: str, root) -> Path:
    """Return a torchvision root (``<root>/<Class>/raw/`` with unpacked IDX files) for this dataset."""
    cls_name = _TORCHVISION_CLASS[key]
    searched: list[Path] = []
    candidates = [Path(root).expanduser()] if root is not None else []
    if os.environ.get("BINGO_KIT_DATA"):
        candidates.append(Path(os.environ["BINGO_KIT_DATA"]).expanduser())
    candidates.append(cache_dir())
    if key == "fashion-mnist":
        candidates += DEBIAN_FASHION_MNIST_DIRS
    for directory in candidates:
        searched.append(directory)
        found = _find_idx_dir(directory, cls_name, key)
        if found is None:
            continue
        if found.name == "raw" and found.parent.name == cls_name and all((found / f).is_file() for f in _IDX_FILES):
            return found.parent.parent  # already laid out the way torchvision reads it
        return _unpack_into_cache(found, cls_name)
    raise DatasetMissingError(_missing_message(key, searched))


def _unpack_into_cache(source: Path, cls_name: str) -> Path:
    """Copy/gunzip ``source``'s IDX files into a cache folder keyed on where they came from.

    The key (resolved path, size and mtime of every file) means a second root, or changed files in the same
    root, get their own folder: an unkeyed cache silently served the first root's data for every later one.
    """
    raw = cache_dir() / "unpacked" / _source_key(source) / cls_name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in _IDX_FILES:
        target = raw / name
        if target.is_file():  # same key: unpacked from these very files before
            continue
        plain, packed = source / name, source / f"{name}.gz"
        # write to a temporary name and rename, so parallel test workers never see half a file
        fd, tmp = tempfile.mkstemp(dir=raw, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as out:
            if plain.is_file():
                with open(plain, "rb") as src:
                    shutil.copyfileobj(src, out)
            else:
                with gzip.open(packed, "rb") as src:
                    shutil.copyfileobj(src, out)
        os.replace(tmp, target)
    return raw.parent.parent


def _source_key(source: Path) -> str:
    """A short stable name for the exact files in ``source`` (path + size + mtime of each one it reads)."""
    digest = hashlib.sha256(str(source.resolve()).encode())
    for name in _IDX_FILES:
        path = source / name if (source / name).is_file() else source / f"{name}.gz"
        stat = path.stat()
        digest.update(f"|{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _missing_message(key: str, searched: list[Path]) -> str:
    """Say where we looked and how to get the files, in words that work for notebook and CLI users alike."""
    where = ", ".join(str(p) for p in searched)
    files = ", ".join(_IDX_FILES)
    cls_name = _TORCHVISION_CLASS[key]
    folder = cache_dir() / cls_name / "raw"
    steps = []
    if key == "fashion-mnist":
        steps.append("install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu)")
    steps += [
        f"on a machine with internet run `python -c \"import torchvision; "
        f"torchvision.datasets.{cls_name}('DIR', download=True)\"`, then copy the four files ({files}; "
        f".gz is fine) from DIR/{cls_name}/raw into {folder}",
        "or set the environment variable BINGO_KIT_DATA to a folder that holds them",
    ]
    return (
        f"The {key} dataset was not found (looked in: {where}). The kit never downloads data itself. To get it: "
        + "; ".join(steps)
        + ". To stay offline use the bundled digits instead (--dataset digits on the command line)."
    )
