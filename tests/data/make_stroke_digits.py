"""Write tests/data/stroke_digits.json: hand-drawn-like digits as pen strokes on a 32×32 canvas.

    python tests/data/make_stroke_digits.py            # rewrites the JSON (seeded: same file every run)
    python tests/data/make_stroke_digits.py --sheet x.png   # also a contact sheet to look at

Each digit comes in the ways people really write it (an open and a closed 4, a 7 with and without a bar,
a 1 with and without a flag and a foot, a one-stroke and a two-loop 8, ...), drawn in the order a hand
would draw it. Every sample then gets its own size, width, slant, small rotation, position, wobble and
pen width. The styles describe handwriting, not the model: this set is how benchmarks/digit_pad.py
measures the pad, so it must not be tuned to make any model look good.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

SEED = 20251
PER_DIGIT = 25
CANVAS = 32
OUT = Path(__file__).with_name("stroke_digits.json")


# --- pieces of strokes, in a unit box: x 0..1 left→right, y 0..1 top→bottom ----------------------

def arc(cx, cy, rx, ry, start, end, n=None):
    """Points on an ellipse from angle `start` to `end` (degrees; 0 = right, 90 = down, as on a screen)."""
    n = n or max(6, int(abs(end - start) / 10))
    angles = np.radians(np.linspace(start, end, n))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


def line(*points):
    return [tuple(p) for p in points]


def u(rng, low, high):
    return float(rng.uniform(low, high))


# Each style returns a list of strokes (lists of (x, y) in the unit box) and gets the rng for its own
# proportions (a loop's size, where a bar crosses, ...).

def zero_oval(rng):
    start = u(rng, -110, -70)  # start near the top, go round anticlockwise (the usual way)
    return [arc(0.5, 0.5, u(rng, 0.42, 0.5), 0.5, start, start - 360 - u(rng, 0, 25))]


def zero_clockwise(rng):
    start = u(rng, -100, -60)
    return [arc(0.5, 0.5, u(rng, 0.4, 0.5), 0.5, start, start + 355)]


def zero_narrow(rng):
    return [arc(0.5, 0.5, u(rng, 0.28, 0.36), 0.5, -90, -90 - 350)]


def one_stick(rng):
    return [line((0.5, 0.0), (0.5 + u(rng, -0.05, 0.05), 1.0))]


def one_flag(rng):
    return [line((0.5 - u(rng, 0.25, 0.45), u(rng, 0.15, 0.3)), (0.5, 0.0), (0.5, 1.0))]


def one_flag_foot(rng):
    foot = u(rng, 0.3, 0.45)
    return [line((0.5 - u(rng, 0.25, 0.4), u(rng, 0.15, 0.25)), (0.5, 0.0), (0.5, 1.0)),
            line((0.5 - foot, 1.0), (0.5 + foot, 1.0))]


def two_curved(rng):
    top = arc(0.5, 0.28, 0.45, 0.28, 200, 360 + u(rng, 20, 40))
    return [top + line((0.0, 1.0), (1.0, 1.0 - u(rng, 0, 0.05)))]


def two_loop(rng):
    top = arc(0.5, 0.28, 0.45, 0.28, 200, 380)
    loop = arc(0.18, 0.88, 0.14, 0.1, 280, 20)  # the little curl at the bottom-left, then the base
    return [top + [(0.1, 0.85)] + loop + line((1.0, 0.97))]


def two_z(rng):
    return [arc(0.5, 0.25, 0.42, 0.25, 190, 350) + line((0.05, 1.0), (1.0, 1.0))]


def three_round(rng):
    middle = u(rng, 0.45, 0.52)
    return [arc(0.5, middle / 2, 0.45, middle / 2, 200, 450) + arc(0.5, (1 + middle) / 2, 0.5, (1 - middle) / 2,
                                                                    270, 520)]


def three_flat_top(rng):
    return [line((0.05, 0.0), (0.95, 0.0), (0.4, u(rng, 0.35, 0.45))) + arc(0.5, 0.7, 0.48, 0.3, 270, 520)]


def three_pointed(rng):
    middle = u(rng, 0.42, 0.5)
    upper = arc(0.5, middle / 2, 0.45, middle / 2, 200, 400)
    lower = arc(0.5, (1 + middle) / 2, 0.5, (1 - middle) / 2, 250, 520)
    return [upper + [(0.3, middle)] + lower]


def four_open(rng):
    bar = u(rng, 0.55, 0.68)
    stem_x = u(rng, 0.65, 0.8)
    return [line((0.15, 0.0), (0.0, bar), (1.0, bar)), line((stem_x, 0.0), (stem_x, 1.0))]


def four_closed(rng):
    bar = u(rng, 0.6, 0.7)
    stem_x = u(rng, 0.65, 0.75)
    return [line((stem_x, 0.0), (0.0, bar), (1.0, bar)), line((stem_x, 0.0), (stem_x, 1.0))]


def four_one_stroke(rng):
    bar = u(rng, 0.55, 0.65)
    return [line((0.2, 0.0), (0.0, bar), (0.85, bar), (0.7, 0.0), (0.7, 1.0))]


def five_two_strokes(rng):
    knee = u(rng, 0.38, 0.48)
    body = line((0.1, 0.0), (0.05, knee)) + arc(0.45, 0.7, 0.5, 0.3, 235, 500)
    return [body, line((0.1, 0.0), (1.0, 0.0))]


def five_one_stroke(rng):
    knee = u(rng, 0.38, 0.48)
    return [line((1.0, 0.0), (0.1, 0.0), (0.05, knee)) + arc(0.45, 0.7, 0.5, 0.3, 235, 500)]


def five_round(rng):
    return [arc(0.45, 0.69, 0.5, 0.31, 215, 500), line((0.12, 0.0), (0.12, 0.45)), line((0.12, 0.0), (0.95, 0.0))]


def six_loop(rng):
    loop = u(rng, 0.3, 0.4)
    return [arc(0.85, 0.65, 0.85, 0.65, 255, 180)
            + arc(0.5, 1 - loop, 0.48, loop, 180, 180 + 350)]


def six_straight(rng):
    loop = u(rng, 0.28, 0.36)
    return [line((0.75, 0.0), (0.05, 1 - loop)) + arc(0.5, 1 - loop, 0.46, loop, 180, 535)]


def seven_plain(rng):
    return [line((0.0, 0.0), (1.0, 0.0), (0.35 + u(rng, -0.1, 0.1), 1.0))]


def seven_bar(rng):
    foot = u(rng, 0.3, 0.45)
    return [line((0.0, 0.1), (0.0, 0.0), (1.0, 0.0), (foot, 1.0)),
            line((foot + 0.2, 0.5), (foot + 0.75, 0.5))]


def seven_curved(rng):
    stem = [(1.0 - 0.6 * t - 0.15 * math.sin(math.pi * t), t) for t in np.linspace(0, 1, 10)]
    return [line((0.0, 0.0)) + stem]


def eight_one_stroke(rng):
    """From the top right, over the top, down through the waist, round the bottom and back up."""
    waist = u(rng, 0.42, 0.5)
    points = []
    for theta in np.linspace(-0.35, 2 * math.pi, 60):
        x = 0.5 - 0.5 * math.sin(2 * theta)
        drop = (1 - math.cos(theta)) / 2  # 0 at the top, 1 at the bottom
        y = drop / 0.5 * waist if drop < 0.5 else waist + (drop - 0.5) / 0.5 * (1 - waist)
        points.append((x, y))
    return [points]


def eight_two_loops(rng):
    waist = u(rng, 0.4, 0.48)
    return [arc(0.5, waist / 2, 0.38, waist / 2, -90, 270),
            arc(0.5, (1 + waist) / 2, 0.5, (1 - waist) / 2, -90, 270)]


def eight_snowman(rng):
    waist = u(rng, 0.42, 0.5)
    upper = arc(0.5, waist / 2, 0.4, waist / 2, 0, -360)
    return [upper + arc(0.5, (1 + waist) / 2, 0.48, (1 - waist) / 2, 270 - 360, 270)]


def nine_straight(rng):
    loop = u(rng, 0.38, 0.48)
    return [arc(0.5, loop / 2, 0.48, loop / 2, 0, -360) + line((0.98, loop / 2), (0.9, 1.0))]


def nine_hook(rng):
    loop = u(rng, 0.38, 0.48)
    tail = [(0.95 - 0.6 * t ** 2, loop / 2 + (1 - loop / 2) * t) for t in np.linspace(0, 1, 10)]
    return [arc(0.5, loop / 2, 0.45, loop / 2, 0, -360) + tail]


def nine_stick(rng):
    loop = u(rng, 0.4, 0.5)
    return [arc(0.5, loop / 2, 0.48, loop / 2, 330, 330 - 360), line((0.95, 0.05), (0.95, 1.0))]


STYLES = {
    0: [zero_oval, zero_clockwise, zero_narrow],
    1: [one_stick, one_flag, one_flag_foot],
    2: [two_curved, two_loop, two_z],
    3: [three_round, three_flat_top, three_pointed],
    4: [four_open, four_closed, four_one_stroke],
    5: [five_two_strokes, five_one_stroke, five_round],
    6: [six_loop, six_straight],
    7: [seven_plain, seven_bar, seven_curved],
    8: [eight_one_stroke, eight_two_loops, eight_snowman],
    9: [nine_straight, nine_hook, nine_stick],
}
# how wide each digit is compared with its height, as people write them (for a 1: its flag and foot)
ASPECT = {0: (0.6, 0.85), 1: (0.25, 0.5), 2: (0.55, 0.8), 3: (0.5, 0.75), 4: (0.6, 0.85), 5: (0.55, 0.8),
          6: (0.5, 0.75), 7: (0.55, 0.8), 8: (0.5, 0.75), 9: (0.5, 0.75)}


def _densify(points, step):
    """Points every `step` units along the polyline, like a mouse sending moves as it goes."""
    points = np.asarray(points, dtype=float)
    if len(points) < 2:
        return points
    lengths = np.hypot(*np.diff(points, axis=0).T)
    along = np.concatenate([[0], np.cumsum(lengths)])
    samples = np.linspace(0, along[-1], max(2, int(along[-1] / step) + 1))
    return np.column_stack([np.interp(samples, along, points[:, 0]), np.interp(samples, along, points[:, 1])])


def _wobble(points, rng, amount):
    """A hand is not a ruler: a slow sideways drift along each stroke."""
    t = np.linspace(0, 1, len(points))
    drift = np.zeros_like(points)
    for axis in (0, 1):
        for frequency in (1, 2):
            drift[:, axis] += amount / frequency * np.sin(2 * math.pi * frequency * t + rng.uniform(0, 2 * math.pi))
    return points + drift


def make_sample(digit: int, rng) -> dict:
    style = STYLES[digit][int(rng.integers(len(STYLES[digit])))]
    strokes = style(rng)
    height = u(rng, 14, 28)                                     # pixels of the 32-pixel canvas
    width = height * u(rng, *ASPECT[digit])
    slant = u(rng, -0.15, 0.35)                                # most people lean right
    angle = math.radians(float(rng.uniform(-6, 6)))
    pen = float(rng.uniform(2.0, 4.5))
    shaped = []
    for stroke in strokes:
        points = np.asarray(stroke, dtype=float)
        x = (points[:, 0] - 0.5) * width
        y = (points[:, 1] - 0.5) * height
        x = x - slant * y                                       # lean: the top goes right
        x, y = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
        shaped.append(np.column_stack([x, y]))
    everything = np.concatenate(shaped)
    margin = pen / 2 + 0.5
    low, high = everything.min(axis=0), everything.max(axis=0)
    room_low = margin - low
    room_high = CANVAS - margin - high
    centre = np.array([rng.uniform(room_low[0], max(room_low[0], room_high[0])),
                       rng.uniform(room_low[1], max(room_low[1], room_high[1]))])
    out = []
    for points in shaped:
        points = _densify(points + centre, step=0.8)
        points = _wobble(points, rng, amount=0.25 + 0.01 * height)
        points = np.clip(points, 0.0, CANVAS - 0.01)
        out.append([[round(float(x), 2), round(float(y), 2)] for x, y in points])
    return {"label": digit, "style": style.__name__, "pen_width": round(pen, 2), "strokes": out}


def make_set(seed: int = SEED, per_digit: int = PER_DIGIT) -> dict:
    rng = np.random.default_rng(seed)
    digits = [make_sample(digit, rng) for _ in range(per_digit) for digit in range(10)]
    return {"about": "hand-drawn-like digits as pen strokes; written by tests/data/make_stroke_digits.py",
            "canvas": CANVAS, "seed": seed, "digits": digits}


def contact_sheet(data: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    from bingo_kit.drawing import render_strokes

    samples = data["digits"][:100]
    figure = Figure(figsize=(10, 10), dpi=80)
    for i, sample in enumerate(samples):
        axis = figure.add_subplot(10, 10, i + 1)
        axis.imshow(render_strokes(sample["strokes"], data["canvas"], pen_width=sample["pen_width"]), cmap="gray_r")
        axis.set_title(f"{sample['label']} {sample['style']}", fontsize=6)
        axis.axis("off")
    figure.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheet", type=Path, help="also save a contact sheet of the first 100 digits")
    args = parser.parse_args()
    data = make_set()
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {len(data['digits'])} digits to {OUT}")
    if args.sheet:
        contact_sheet(data, args.sheet)


if __name__ == "__main__":
    main()
