"""bingo_kit.drawing: strokes → the 64 features the digits were made of, and the stroke-drawn digit set."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from bingo_kit.drawing import DrawingError, normalise, render_strokes, strokes_to_features
from bingo_kit.errors import KitError

DATA = Path(__file__).parent / "data"
STICK = [[(16, 4), (16, 28)]]  # a plain "1": one vertical stroke


@pytest.fixture(scope="module")
def stroke_set():
    return json.loads((DATA / "stroke_digits.json").read_text())


# --- bad input: one clear sentence each ---------------------------------------------------------------

@pytest.mark.parametrize("strokes, words", [
    ([], "Nothing is drawn yet"),
    ([[]], "Nothing is drawn yet"),
    (None, "list of strokes"),
    ("a 7", "list of strokes"),
    ([[(32, 5)]], "Point (32, 5) of stroke 1 is outside the 32×32 canvas"),
    ([[(3, 3)], [(4, 4), (5, -0.5)]], "Point (5, -0.5) of stroke 2 is outside"),
    ([[(3, float("nan"))]], "Stroke 1 has a point that is not a number"),
    ([[(3, 3), (math.inf, 3)]], "not a number"),
    ([[(1, 2, 3)]], "Stroke 1 must be a list of (x, y) points, but its shape is (1, 3)"),
    ([[1, 2]], "shape is (2,)"),
    ([[("a", "b")]], "Stroke 1 is not a list of (x, y) number pairs"),
])
def test_bad_drawings_raise_a_kit_error_that_says_what_is_wrong(strokes, words):
    with pytest.raises(KitError) as caught:
        strokes_to_features(strokes)
    assert isinstance(caught.value, DrawingError)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_canvas_and_pen_are_refused():
    with pytest.raises(KitError, match="canvas size"):
        strokes_to_features(STICK, canvas=0)
    with pytest.raises(KitError, match="pen width"):
        strokes_to_features(STICK, pen_width=float("nan"))
    with pytest.raises(KitError, match="outside the 16×16 canvas"):
        strokes_to_features(STICK, canvas=16)  # (16, 28) is off a 16-pixel canvas


# --- a known stroke → known features --------------------------------------------------------------------

def test_a_vertical_stroke_becomes_the_datasets_kind_of_1():
    """Worked out by hand from NIST's steps: the stroke's box is stretched to 20×32 at columns 6..25, so
    it is all ink (640 pixels > 560): two erosions leave columns 8..23 and rows 2..29. That is block columns
    2..5 full in block rows 1..6 and half (2 of 4 rows) in rows 0 and 7 — minus the round pen's corners."""
    features = strokes_to_features(STICK)
    assert features.dtype == np.float32 and features.shape == (64,)
    blocks = features.reshape(8, 8) * 16
    assert np.array_equal(blocks[1:7, 2:6], np.full((6, 4), 16))
    assert not blocks[:, [0, 1, 6, 7]].any()
    assert np.array_equal(blocks[0], blocks[7]) and np.array_equal(blocks[0], blocks[0][::-1])  # symmetric
    assert np.array_equal(blocks[0, 3:5], [8, 8]) and 6 <= blocks[0, 2] <= 8  # the cap rounds the corner


def test_position_and_size_do_not_matter_like_in_the_scans():
    """NIST cropped each digit to its box and stretched it: moved or resized, a drawing gives one picture."""
    seven = [[(6, 5), (20, 5), (11, 25)]]
    moved = [[(x + 7, y + 3) for x, y in seven[0]]]
    assert np.array_equal(strokes_to_features(seven), strokes_to_features(moved))
    smaller = [[(6 + (x - 6) * 0.6, 5 + (y - 5) * 0.6) for x, y in seven[0]]]
    difference = np.abs(strokes_to_features(seven) - strokes_to_features(smaller, pen_width=3.0 * 0.6))
    assert difference.sum() < 0.1 * strokes_to_features(seven).sum()


def test_a_slanted_stroke_is_straightened():
    """A "/" is stretched into its 20-pixel box (a wide diagonal), then sheared upright, as shear_mis did."""
    bitmap = normalise(render_strokes([[(20, 4), (12, 28)]]))
    body = bitmap[4:28]  # between the pen's round ends
    lefts = [int(np.argmax(row)) for row in body]
    rights = [len(row) - 1 - int(np.argmax(row[::-1])) for row in body]
    assert max(lefts) - min(lefts) <= 2 and max(rights) - min(rights) <= 2  # upright: no diagonal left
    assert 6 <= np.median(np.subtract(rights, lefts)) + 1 <= 12  # the slant's width went into the box


def test_the_pen_width_is_evened_out_like_in_the_scans():
    """The stroke-width step keeps the ink count of thin and thick pens near the data's (256..412 pixels)."""
    thin, thick = (render_strokes(STICK, pen_width=w) for w in (1.0, 6.0))
    ink = [int(normalise(image).sum()) for image in (thin, thick)]
    assert all(200 <= count <= 560 for count in ink), ink


# --- the dataset's scale ---------------------------------------------------------------------------------

def test_features_are_on_the_dataset_scale(digits):
    features = strokes_to_features([[(8, 6), (24, 6), (14, 28)], [(10, 16), (22, 16)]])
    counts = features * 16
    assert np.allclose(counts, np.round(counts)) and counts.min() >= 0 and counts.max() <= 16
    data_counts = digits.x_train.numpy() * 16  # load_dataset("digits") divides the 0..16 counts by 16
    assert np.allclose(data_counts, np.round(data_counts)) and data_counts.max() == 16
    assert features.max() == 1.0  # a fully inked block is 1, as in the data


def test_drawn_digits_land_in_the_datas_range(stroke_set, digits):
    """Drawn digits carry as much ink as the scanned ones (the stroke-width step at work), whatever the pen."""
    data_ink = digits.x_train.numpy().sum(axis=1) * 16
    drawn = np.stack([strokes_to_features(s["strokes"], stroke_set["canvas"], pen_width=s["pen_width"])
                      for s in stroke_set["digits"]])
    assert drawn.min() >= 0.0 and drawn.max() <= 1.0
    ink = drawn.sum(axis=1) * 16
    assert np.mean((ink >= data_ink.min()) & (ink <= data_ink.max())) >= 0.95
    low, high = np.percentile(data_ink, [25, 75])
    assert low <= np.median(ink) <= high
    # the box sits where the data's does: the outer columns stay (almost) empty in both
    outer = [0, 7, 8, 15, 16, 23, 24, 31, 32, 39, 40, 47, 48, 55, 56, 63]
    assert drawn[:, outer].mean() < 0.05 and digits.x_train.numpy()[:, outer].mean() < 0.05


# --- the stroke-drawn set ----------------------------------------------------------------------------------

def test_the_stroke_set_is_what_its_seeded_generator_writes(stroke_set):
    sys.path.insert(0, str(DATA))
    try:
        import make_stroke_digits
    finally:
        sys.path.remove(str(DATA))
    regenerated = json.loads(json.dumps(make_stroke_digits.make_set()))
    assert regenerated == stroke_set  # nobody hand-edited the shipped file
    assert len(stroke_set["digits"]) >= 200
    for digit in range(10):
        samples = [s for s in stroke_set["digits"] if s["label"] == digit]
        assert len(samples) >= 20 and len({s["style"] for s in samples}) >= 2
        assert len({s["pen_width"] for s in samples}) > 10  # jittered pens
