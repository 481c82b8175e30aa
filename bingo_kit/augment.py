"""Wobbled copies of the training digits, so a model also reads digits drawn with a mouse (data augmentation).

The digits dataset holds 1797 digits by 13 people. A model trained on them knows those 13 hands; a class
draws in styles the 13 never used. The classic fix for handwriting (Simard, Steinkraus & Platt, "Best
practices for convolutional neural networks applied to visual document analysis", ICDAR 2003) is to train on
copies bent by a random smooth *elastic* distortion and a small rotation — new handwriting made from old.

A copy is made where the digits live: each 8×8 digit is enlarged to its 32×32 normalised bitmap (bilinear),
bent and turned, cut back to on/off pixels at half ink, and counted again in 4×4 blocks, exactly as
`drawing.bitmap_to_features` counts a drawing. The drawing is not normalised again: the copies keep their new
slant and shape, which is the point.

The settings are Simard's (displacement 34 pixels × a random field smoothed with σ = 4 pixels, so the digit
bends but does not tear) and ±15° of rotation, with 3 copies per digit. They were checked on a development set
of 500 stroke-drawn digits (tests/data/make_stroke_digits.py with seed 777), never on the stroke set that
benchmarks/digit_pad.py reports: lesson 7's model read 82.1 % of them without copies and 85–87 % with
(3 seeds each). Normalising the copies again (82.5 %), no rotation (85.4 %) and 7 copies (85.7 %) were no better.
"""
from __future__ import annotations

import numpy as np
import torch

from bingo_kit.data import Dataset
from bingo_kit.drawing import BLOCK, CANVAS, SIDE
from bingo_kit.errors import KitError

COPIES = 3
ROTATION_DEGREES = 15.0
ELASTIC_PIXELS = 34.0     # Simard's α: how far (in 32×32 pixels) the smoothed random field moves the ink
ELASTIC_SMOOTHING = 4.0   # Simard's σ: the field's smoothness, in pixels
MARGIN = 8                # empty border while bending, so ink moved outward is not cut off at the edge


def wobble(features: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """One bent and turned copy of each digit: (N, 64) features on the 0–1 scale → (N, 64) on the same scale."""
    from scipy import ndimage  # scikit-learn's own dependency
    from torch.nn import functional

    count, side = len(features), CANVAS + 2 * MARGIN
    grey = functional.interpolate(features.reshape(-1, 1, SIDE, SIDE).float(), scale_factor=BLOCK,
                                  mode="bilinear", align_corners=False)
    grey = functional.pad(grey, (MARGIN,) * 4)
    # torchvision's RandomRotation and ElasticTransform bend a whole batch with one angle and one field, so
    # 4000 digits would take 4000 calls (~8 s); the same two steps for every digit at once are one grid_sample.
    angles = torch.deg2rad(torch.from_numpy(rng.uniform(-ROTATION_DEGREES, ROTATION_DEGREES, count)).float())
    cos, sin, zero = torch.cos(angles), torch.sin(angles), torch.zeros(count)
    turn = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = functional.affine_grid(turn, [count, 1, side, side], align_corners=False)
    # Simard's field: uniform noise smoothed by a Gaussian (separable in scipy: 20× faster than a 2-D blur)
    noise = rng.uniform(-1.0, 1.0, (count, side, side, 2))
    field = ndimage.gaussian_filter(noise, sigma=(0, ELASTIC_SMOOTHING, ELASTIC_SMOOTHING, 0)) * ELASTIC_PIXELS
    grid = grid + torch.from_numpy(field).float() * (2 / side)  # pixels → grid units ([-1, 1] spans the image)
    bent = functional.grid_sample(grey, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    bent = bent[:, :, MARGIN:MARGIN + CANVAS, MARGIN:MARGIN + CANVAS]
    ink = (bent > 0.5).float()  # on/off pixels, as the scanned bitmaps were
    return functional.avg_pool2d(ink, BLOCK).reshape(count, SIDE * SIDE)  # ink count / 16, as the data


def with_wobbled_copies(data: Dataset, copies: int = COPIES, seed: int = 0) -> Dataset:
    """`data` with `copies` wobbled copies of every training digit added (test and validation digits untouched).

    Seeded: the same `seed` gives the same copies on every run.
    """
    if data.image_shape != (SIDE, SIDE):
        raise KitError(f"Wobbled copies are made for the 8×8 digits; {data.name!r} has {data.image_shape} images.")
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise KitError(f"copies must be a whole number of at least 1, not {copies!r}.")
    rng = np.random.default_rng(seed)
    x = [data.x_train] + [wobble(data.x_train, rng) for _ in range(copies)]
    return Dataset(data.name, torch.cat(x), data.y_train.repeat(copies + 1), data.x_test, data.y_test,
                   data.image_shape, list(data.class_names), data.x_val, data.y_val)
