"""Wobbled copies (bingo_kit.augment): seeded, on the data's scale, still the same digits, but new handwriting."""
import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from bingo_kit.augment import with_wobbled_copies
from bingo_kit.data import Dataset, load_dataset
from bingo_kit.errors import KitError


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def practice(digits):
    return with_wobbled_copies(digits, copies=2, seed=0)


def test_copies_follow_the_originals_with_their_labels(digits, practice):
    n = len(digits.y_train)
    assert practice.x_train.shape == (3 * n, 64) and practice.x_train.dtype == torch.float32
    assert torch.equal(practice.x_train[:n], digits.x_train)
    assert torch.equal(practice.y_train, digits.y_train.repeat(3))
    assert practice.x_test is digits.x_test and practice.y_test is digits.y_test  # the test digits stay unseen


def test_copies_are_ink_counts_on_the_datas_scale(digits, practice):
    counts = practice.x_train[len(digits.y_train):].numpy() * 16
    assert np.array_equal(counts, np.round(counts))
    assert counts.min() == 0 and counts.max() == 16


def test_same_seed_same_copies_other_seed_other_copies(digits, practice):
    again = with_wobbled_copies(digits, copies=2, seed=0)
    other = with_wobbled_copies(digits, copies=2, seed=1)
    assert torch.equal(again.x_train, practice.x_train)
    assert not torch.equal(other.x_train, practice.x_train)


def test_copies_are_new_handwriting_of_the_same_digit(digits, practice):
    n = len(digits.y_train)
    copies, labels = practice.x_train[n:].numpy(), practice.y_train[n:].numpy()
    first_copy_change = np.abs(copies[:n] - digits.x_train.numpy()).mean()
    assert first_copy_change > 0.05  # about 2 ink pixels of 16 per block: not the originals again
    # a nearest-neighbour reader that knows only the unseen test digits still names most copies right
    reader = KNeighborsClassifier(n_neighbors=1).fit(digits.x_test.numpy(), digits.y_test.numpy())
    assert reader.score(copies, labels) > 0.7
    assert reader.score(digits.x_train.numpy(), digits.y_train.numpy()) > 0.95


def test_copies_keep_the_validation_split(digits):
    from bingo_kit.data import with_validation

    split = with_validation(digits, seed=0)
    practice = with_wobbled_copies(split, copies=1, seed=0)
    assert practice.x_val is split.x_val and practice.y_val is split.y_val


@pytest.mark.parametrize("copies", [0, -1, 1.5, True, "3"])
def test_wrong_number_of_copies_is_one_clear_error(digits, copies):
    with pytest.raises(KitError, match="copies must be a whole number"):
        with_wobbled_copies(digits, copies=copies)


def test_only_8x8_digits_can_be_wobbled():
    images = Dataset("fashion-mnist", torch.zeros(4, 196), torch.zeros(4, dtype=torch.int64), torch.zeros(2, 196),
                     torch.zeros(2, dtype=torch.int64), (14, 14), [str(c) for c in range(10)])
    with pytest.raises(KitError, match="8×8 digits"):
        with_wobbled_copies(images)
