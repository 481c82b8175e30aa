"""Small shared fixtures for the core tests: a tiny synthetic dataset and a trained tiny model."""
import torch

from bingo_kit.data import Dataset


def blobs(n_train=120, n_test=60, n_features=4, n_classes=3, seed=0) -> Dataset:
    """Gaussian blobs in [0, 1]: learnable in a few epochs by a 4-x-3 network."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(n_classes, n_features, generator=g)

    def sample(n):
        y = torch.arange(n) % n_classes
        x = (centres[y] + 0.12 * torch.randn(n, n_features, generator=g)).clamp(0, 1)
        return x, y

    x_train, y_train = sample(n_train)
    x_test, y_test = sample(n_test)
    return Dataset("blobs", x_train, y_train, x_test, y_test, (2, 2), [str(c) for c in range(n_classes)])
