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


def ink_angle_degrees(features: torch.Tensor) -> np.ndarray:
    """How far each 8×8 picture's ink leans from upright (its principal axis, by image moments)."""
    images = features.reshape(-1, 8, 8).numpy()
    rows, cols = np.mgrid[0:8, 0:8]
    angles = []
    for image in images:
        mass = image.sum()
        row, col = (image * rows).sum() / mass, (image * cols).sum() / mass
        across = (image * (cols - col) ** 2).sum()
        along = (image * (rows - row) ** 2).sum()
        mixed = (image * (cols - col) * (rows - row)).sum()
        angles.append(np.degrees(0.5 * np.arctan2(2 * mixed, along - across)))
    return np.array(angles)


def test_each_copy_is_tilted_by_its_own_angle_up_to_15_degrees():
    bar = torch.zeros(8, 8)
    bar[:, 3:5] = 1.0  # an upright stroke, two blocks wide
    bars = Dataset("digits", bar.reshape(1, 64).repeat(400, 1), torch.ones(400, dtype=torch.int64),
                   torch.zeros(1, 64), torch.ones(1, dtype=torch.int64), (8, 8), [str(d) for d in range(10)])
    angles = ink_angle_degrees(with_wobbled_copies(bars, copies=1, seed=0).x_train[400:])
    assert np.abs(angles).max() <= 16  # never more than the promised ±15° (a degree for the 8×8 blocks)
    assert np.abs(angles).max() >= 13 and (angles > 5).any() and (angles < -5).any()  # both ways, all the way
    assert 7 < angles.std() < 10  # spread like a uniform draw in ±15° (sd 8.7°), not one shared angle


def test_copies_are_new_handwriting_of_the_same_digit(digits, practice):
    n = len(digits.y_train)
    copies, labels = practice.x_train[n:].numpy(), practice.y_train[n:].numpy()
    first_copy_change = np.abs(copies[:n] - digits.x_train.numpy()).mean()
    assert first_copy_change > 0.07  # 1.4 ink pixels of 16 per block; an untilted round trip changes 0.05
    # a nearest-neighbour reader that knows only the unseen test digits still names most copies right
    reader = KNeighborsClassifier(n_neighbors=1).fit(digits.x_test.numpy(), digits.y_test.numpy())
    assert reader.score(copies, labels) > 0.7


def test_copies_keep_the_validation_split(digits):
    from bingo_kit.data import with_validation

    split = with_validation(digits, seed=0)
    practice = with_wobbled_copies(split, copies=1, seed=0)
    assert practice.x_val is split.x_val and practice.y_val is split.y_val


@pytest.mark.parametrize("copies", [0, -1, 1.5, True, 21])
def test_wrong_number_of_copies_is_one_clear_error(digits, copies):
    with pytest.raises(KitError, match="copies should be a whole number"):
        with_wobbled_copies(digits, copies=copies)


def test_copies_typed_as_text_count_with_a_note(digits, capsys):
    """The kit's one rule for numbers (bingo_kit/arguments.py): text that is a number counts, with a note."""
    assert len(with_wobbled_copies(digits, copies="1", seed=0).y_train) == 2 * len(digits.y_train)
    assert "copies: (Next time leave out the quotes: 1 is a number.)" in capsys.readouterr().out
    with pytest.raises(KitError, match="copies should be a number like 3; you wrote 'three'"):
        with_wobbled_copies(digits, copies="three")


def test_only_8x8_digits_can_be_wobbled():
    images = Dataset("fashion-mnist", torch.zeros(4, 196), torch.zeros(4, dtype=torch.int64), torch.zeros(2, 196),
                     torch.zeros(2, dtype=torch.int64), (14, 14), [str(c) for c in range(10)])
    with pytest.raises(KitError, match="8×8 digits"):
        with_wobbled_copies(images)
