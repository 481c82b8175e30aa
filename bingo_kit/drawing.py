"""Free-hand strokes → the 64 numbers the digits dataset is made of.

The bundled digits (scikit-learn's copy of the test set of UCI "optdigits", Alpaydin & Kaynak 1998: 1797
digits by 13 people) were not photographs shrunk to 8×8. People wrote digits on forms; NIST's form-reading software (Garris et al., "NIST Form-Based
Handprint Recognition System", NISTIR 5469, 1994) cut out each digit as a black-and-white bitmap and
*normalised* it to 32×32; then every 4×4 block's on-pixels were counted, giving 64 numbers from 0 to 16.
`strokes_to_features` repeats those steps on a drawing, so the network gets the kind of picture it learned
from. NIST's normalisation, as its source code does it (`norm_2nd_gen2`, then `shear_mis`; the optdigits
description only says "normalized bitmaps", so that these two steps are the ones used is our reading of it):

1. crop the character to its bounding box and stretch it to 20 pixels wide and 32 tall — width and height
   separately, so even a "1" becomes 20 pixels wide — then centre it in the 32×32 square;
2. fix the stroke width by ink count: more than 560 on-pixels → erode twice, 413–560 → erode once,
   108–255 → dilate once, fewer than 108 → dilate twice (4-neighbour erosion/dilation);
3. straighten the slant: shift each row sideways so that the leftmost ink two rows below the top and two
   rows above the bottom line up.

Step 3 is what makes drawn digits look like the data: with it, the stroke-drawn test set's digits lie
closer to their nearest training digit (mean distance 1.29) than without it (1.59); the data's own test
digits lie at 1.08.

The pen: the forms were filled in with ordinary pens and scanned, so strokes have a width. Measured on the
digits themselves (benchmarks/digit_pad.py, "pen"): their ink, ~313 of 1024 pixels, over the length of the
drawn path of each digit (normalised to 20×32) gives a stroke 4.0 pixels wide: 1/8 of the digit's height.
The pad's brush is that share of a digit drawn three quarters of the pad's height (24 of 32 pixels):
3 canvas pixels. Step 2 then evens out drawings much smaller or larger, as it did for the scans.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from bingo_kit.errors import KitError

CANVAS = 32                # the pad and the original bitmaps are 32×32
BLOCK = 4                  # 4×4 blocks → 8×8 features, each 0..16 on-pixels
SIDE = CANVAS // BLOCK     # 8
PEN_WIDTH = 3.0            # brush diameter in pixels of a 32-pixel canvas (see the module docstring)
# NIST's norm_2nd_gen2: the character is stretched into a 20×32 box centred in the 32×32 square.
BOX_WIDTH, BOX_HEIGHT = 20, 32
# NIST's stroke-width rule: on-pixel counts that trigger erosion (above) or dilation (below).
ERODE_TWICE_ABOVE, ERODE_ONCE_ABOVE = 560, 412
DILATE_ONCE_BELOW, DILATE_TWICE_BELOW = 256, 108
RENDER = 128               # strokes are drawn at 128×128 first, the size of NIST's character images


class DrawingError(KitError, ValueError):
    """A drawing the pad cannot turn into features (empty, off the canvas, not numbers)."""


def check_strokes(strokes, canvas: int = CANVAS) -> list[np.ndarray]:
    """The strokes as (n, 2) float arrays, or a DrawingError saying what is wrong in one sentence."""
    if isinstance(canvas, bool) or not isinstance(canvas, (int, np.integer)) or canvas < BLOCK:
        raise DrawingError(f"The canvas size must be a whole number of pixels (at least {BLOCK}), not {canvas!r}.")
    if strokes is None or isinstance(strokes, (str, bytes)) or not isinstance(strokes, (Sequence, np.ndarray)):
        raise DrawingError("A drawing is a list of strokes, each a list of (x, y) points.")
    checked = []
    for number, stroke in enumerate(strokes, start=1):
        try:
            points = np.asarray(stroke, dtype=np.float64)
        except (TypeError, ValueError):
            raise DrawingError(f"Stroke {number} is not a list of (x, y) number pairs.") from None
        if points.size == 0:
            continue  # a click that never moved: nothing drawn
        if points.ndim != 2 or points.shape[1] != 2:
            raise DrawingError(f"Stroke {number} must be a list of (x, y) points, but its shape is "
                               f"{points.shape}.")
        if not np.isfinite(points).all():
            raise DrawingError(f"Stroke {number} has a point that is not a number (NaN or infinity).")
        outside = (points < 0) | (points >= canvas)
        if outside.any():
            x, y = points[int(np.argmax(outside.any(axis=1)))]
            raise DrawingError(f"Point ({x:g}, {y:g}) of stroke {number} is outside the {canvas}×{canvas} "
                               f"canvas (0 ≤ x, y < {canvas}).")
        checked.append(points)
    if not checked:
        raise DrawingError("Nothing is drawn yet: draw a digit first.")
    return checked


def render_strokes(strokes, canvas: int = CANVAS, *, pen_width: float = PEN_WIDTH, size: int = RENDER) -> np.ndarray:
    """The strokes drawn with a round pen into a size×size boolean image (True = ink).

    `pen_width` is in pixels of a 32-pixel canvas, so the brush looks the same on any canvas size.
    """
    from PIL import Image, ImageDraw  # Pillow comes with matplotlib

    checked = check_strokes(strokes, canvas)
    scale = size / canvas
    width = max(1, round(pen_width * canvas / CANVAS * scale))
    image = Image.new("L", (size, size), 0)
    pen = ImageDraw.Draw(image)
    reach = (width - 1) / 2  # an ellipse's box includes both edges: this covers `width` pixels, like the line
    for points in checked:
        # canvas pixel i spans [i, i+1); Pillow puts pixel i's centre at i: hence the half-pixel shift
        xy = [(float(x) * scale - 0.5, float(y) * scale - 0.5) for x, y in points]
        if len(xy) > 1:
            pen.line(xy, fill=255, width=width, joint="curve")
        for x, y in xy:  # round ends, and a dot for a single click
            pen.ellipse((x - reach, y - reach, x + reach, y + reach), fill=255)
    return np.asarray(image) > 127


def normalise(ink: np.ndarray) -> np.ndarray:
    """NIST's size, stroke-width and slant normalisation of a character image → 32×32 boolean bitmap."""
    from PIL import Image
    from scipy import ndimage  # scikit-learn's own dependency

    rows, cols = np.nonzero(ink)
    if len(rows) == 0:
        raise DrawingError("Nothing is drawn yet: draw a digit first.")
    crop = Image.fromarray(ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(np.uint8) * 255)
    # 1. bounding box → 20×32 (each axis on its own, as norm_2nd_gen2 does), centred in 32×32
    box = np.asarray(crop.resize((BOX_WIDTH, BOX_HEIGHT), Image.Resampling.BOX)) >= 128
    bitmap = np.zeros((CANVAS, CANVAS), dtype=bool)
    left, top = (CANVAS - BOX_WIDTH) // 2, (CANVAS - BOX_HEIGHT) // 2
    bitmap[top:top + BOX_HEIGHT, left:left + BOX_WIDTH] = box
    # 2. stroke width by ink count (norm_2nd_gen2's morphology, 4-neighbour)
    cross = ndimage.generate_binary_structure(2, 1)
    on = int(bitmap.sum())
    if on > ERODE_ONCE_ABOVE:
        bitmap = ndimage.binary_erosion(bitmap, cross, iterations=2 if on > ERODE_TWICE_ABOVE else 1)
    elif on < DILATE_ONCE_BELOW:
        bitmap = ndimage.binary_dilation(bitmap, cross, iterations=2 if on < DILATE_TWICE_BELOW else 1)
    # 3. slant (shear_mis): shift rows so the left edges near the top and the bottom line up
    return _straighten(bitmap)


def _straighten(bitmap: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    inked_rows = np.nonzero(bitmap.any(axis=1))[0]
    if len(inked_rows) == 0 or inked_rows[-1] - inked_rows[0] + 1 <= 5:
        return bitmap
    top, bottom = inked_rows[0] + 2, inked_rows[-1] - 2  # skip possibly noisy edge rows, as NIST did
    top_ink, bottom_ink = np.nonzero(bitmap[top])[0], np.nonzero(bitmap[bottom])[0]
    if len(top_ink) == 0 or len(bottom_ink) == 0 or top_ink[0] == bottom_ink[0]:
        return bitmap
    slant = (top_ink[0] - bottom_ink[0]) / (bottom - top)
    middle = CANVAS // 2
    # output (row, col) reads input (row, col - slant·(row - middle)): each row moves by its own amount
    matrix = np.array([[1.0, 0.0], [-slant, 1.0]])
    moved = ndimage.affine_transform(bitmap.astype(np.uint8), matrix, offset=(0.0, slant * middle),
                                     order=0, mode="constant", cval=0)
    return moved.astype(bool)


def bitmap_to_features(bitmap: np.ndarray) -> np.ndarray:
    """Count the on-pixels of each 4×4 block of a 32×32 bitmap → 64 features on the dataset's 0–1 scale.

    A stack of bitmaps (..., 32, 32) gives a stack of features (..., 64).
    """
    bitmap = np.asarray(bitmap, dtype=np.float32)
    lead = bitmap.shape[:-2]
    counts = bitmap.reshape(*lead, SIDE, BLOCK, SIDE, BLOCK).sum(axis=(-3, -1))
    return (counts / (BLOCK * BLOCK)).reshape(*lead, SIDE * SIDE).astype(np.float32)  # 0..16 → 0..1, as load_dataset


def strokes_to_features(strokes, canvas: int = CANVAS, *, pen_width: float = PEN_WIDTH) -> np.ndarray:
    """A drawing → the 64 features a digits model takes: float32 (64,), values k/16 in [0, 1].

    strokes: a list of strokes, each a list of (x, y) points in canvas pixels (0 ≤ x, y < canvas, y down).
    Drawn with a round pen `pen_width` pixels wide (of a 32-pixel canvas), normalised as NIST did
    (see the module docstring), then each 4×4 block's on-pixels counted and divided by 16.
    Raises DrawingError (a KitError) for an empty drawing, points off the canvas, NaN, or a wrong shape.
    """
    if not (isinstance(pen_width, (int, float)) and math.isfinite(pen_width) and pen_width > 0):
        raise DrawingError(f"The pen width must be a positive number of pixels, not {pen_width!r}.")
    return bitmap_to_features(normalise(render_strokes(strokes, canvas, pen_width=pen_width)))
