"""How well does the board read drawn digits? Lesson 7's model on the stroke-drawn set, before and after.

  python benchmarks/digit_pad.py            # a table
  python benchmarks/digit_pad.py --json     # {"n", "host_accuracy", "board_agreement", "per_digit", ...}

The model is lesson 7's (flash it): 64-16-10, trained on the digits plus 3 wobbled copies of each
(bingo_kit.augment) for 30 epochs while bingo_grad scores it, 70 % pruned, 10 more epochs, int8, Uno-sized.
"without_copies" is the same recipe trained on the digits alone, and "seeds" repeats both for seeds 0, 1, 2
(the lesson uses seed 0). The drawings are tests/data/stroke_digits.json (tests/data/make_stroke_digits.py).

- after:  the free-hand pad — bingo_kit.drawing.strokes_to_features (NIST's normalisation, 4×4 ink counts).
- before: the old pad of 8×8 on/off squares, clicked the way a student would copy a drawing onto it: every
          square the pen's path crosses is inked (the path scaled from 32×32 down to the 8×8 grid).
host_accuracy is the laptop's int8 model (the exact arithmetic the board does); float_accuracy the float
model the pad also shows. board_agreement: share of drawings whose ten board logits equal the laptop's int8
logits bit for bit, on the Simulated Uno (the real sketch in simavr). "pen" is the measurement behind the
pad's brush width (see bingo_kit/drawing.py).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
STROKE_SET = REPO / "tests" / "data" / "stroke_digits.json"
# Choices (such as bingo_kit.augment's settings) are made on this other draw of the same generator, so the
# shipped stroke set stays an honest test.
DEVELOPMENT_SEED, DEVELOPMENT_PER_DIGIT = 777, 50


def lesson_model(data, *, wobbled_copies: int = 3, seed: int = 0):
    """The model of lesson 7 (flash it), made the way the lesson makes it (same seeds → the same weights).

    seed 0 is the lesson's; other seeds change the copies and the network's start together.
    """
    import torch

    from bingo_kit.augment import with_wobbled_copies
    from bingo_kit.methods import train_scored
    from bingo_kit.models import make_mlp
    from bingo_kit.pruning import prune_fraction
    from bingo_kit.training import train

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    practice = with_wobbled_copies(data, copies=wobbled_copies, seed=seed) if wobbled_copies else data
    model = make_mlp((64, 16, 10), seed=seed)
    _, scores = train_scored(model, practice, "bingo_grad", epochs=30, seed=seed, progress=False)
    prune_fraction(model, 0.7, method="bingo_grad", scores=scores)
    train(model, practice, epochs=10, seed=seed + 1, progress=False)
    return model


def load_stroke_set(path: Path = STROKE_SET) -> dict:
    return json.loads(Path(path).read_text())


def development_stroke_set() -> dict:
    """500 digits from tests/data/make_stroke_digits.py with another seed: for choosing, never for reporting."""
    sys.path.insert(0, str(STROKE_SET.parent))
    from make_stroke_digits import make_set

    return make_set(seed=DEVELOPMENT_SEED, per_digit=DEVELOPMENT_PER_DIGIT)


def old_pad_pixels(strokes, canvas: int) -> np.ndarray:
    """The 8×8 on/off squares a student clicks to copy this drawing onto the old pad (64 values 0 or 1)."""
    from PIL import Image, ImageDraw

    grid = Image.new("L", (8, 8), 0)
    pen = ImageDraw.Draw(grid)
    scale = 8 / canvas
    for stroke in strokes:
        # square (i, j) covers [i, i+1): the path's points in square units, shifted to pixel centres
        xy = [(x * scale - 0.5, y * scale - 0.5) for x, y in stroke]
        if len(xy) > 1:
            pen.line(xy, fill=255, width=1)
        else:
            pen.point(xy, fill=255)
    return (np.asarray(grid) > 0).astype(np.float32).reshape(-1)


def pen_measurement(stroke_set: dict, data) -> dict:
    """The digits' stroke width: their ink per class over the length of the drawn path in the 20×32 box.

    The path length is measured on this set's drawings, stretched to 20×32 as NIST stretched each digit.
    "1" is left out: stretching a stick to 20 pixels wide fattens it far beyond the pen.
    """
    from bingo_kit.drawing import BOX_HEIGHT, BOX_WIDTH, CANVAS

    ink = (data.x_train.numpy() * 16).sum(axis=1)
    labels = data.y_train.numpy()
    lengths: dict[int, list[float]] = {}
    heights = []
    for sample in stroke_set["digits"]:
        points = np.concatenate([np.asarray(s, dtype=float) for s in sample["strokes"]])
        low, high = points.min(axis=0), points.max(axis=0)
        size = np.maximum(high - low, 1e-6)
        heights.append(size[1])
        scale = np.array([BOX_WIDTH, BOX_HEIGHT]) / size
        length = sum(float(np.hypot(*np.diff(np.asarray(s, dtype=float) * scale, axis=0).T).sum())
                     for s in sample["strokes"] if len(s) > 1)
        lengths.setdefault(sample["label"], []).append(length)
    widths = {d: float(ink[labels == d].mean() / np.mean(lengths[d])) for d in range(10) if d != 1}
    width = float(np.median(list(widths.values())))
    typical_height = float(np.median(heights))
    return {"data_ink_pixels": round(float(ink.mean()), 1),
            "stroke_width_in_32px_digit": round(width, 2),
            "share_of_height": round(width / BOX_HEIGHT, 3),
            "median_drawing_height": round(typical_height, 1),
            "brush_for_that_height": round(width / BOX_HEIGHT * typical_height, 2),
            "per_digit_width": {str(d): round(w, 2) for d, w in widths.items()},
            "canvas": CANVAS}


def per_digit(predicted: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {str(d): round(float(np.mean(predicted[labels == d] == d)), 3) for d in range(10)}


def drawn_accuracy(model, data, x_u8: np.ndarray, labels: np.ndarray) -> dict:
    """A model's int8 accuracy on the drawn digits, all and per digit, with its size."""
    from bingo_kit.export import export_model

    report = export_model(model, data, board="uno")
    guesses = report.quantized.predict(x_u8)
    return {"host_accuracy": round(float(np.mean(guesses == labels)), 3), "per_digit": per_digit(guesses, labels),
            "blob_bytes": report.size, "test_accuracy_int8": round(report.accuracy_int8, 3)}


def seed_spread(data, x_u8: np.ndarray, labels: np.ndarray, seeds: int, seed_0: dict[int, float]) -> dict:
    """Drawn-digit accuracy with and without the wobbled copies for seeds 0..seeds-1: mean ± standard deviation.

    seed_0: the seed-0 accuracies measure() already has, by number of copies (the same models: not retrained).
    """
    spread = {}
    for copies in (3, 0):
        accuracies = [seed_0[copies]] + [
            drawn_accuracy(lesson_model(data, wobbled_copies=copies, seed=seed), data, x_u8, labels)["host_accuracy"]
            for seed in range(1, seeds)]
        spread[f"wobbled_copies_{copies}"] = {"host_accuracy": accuracies,
                                             "mean": round(float(np.mean(accuracies)), 3),
                                             "std": round(float(np.std(accuracies)), 3)}
    return spread


def measure(board: bool = True, seeds: int = 0, development: bool = False) -> dict:
    import torch

    from bingo_kit.data import load_dataset
    from bingo_kit.drawing import strokes_to_features
    from bingo_kit.export import export_model, inputs_to_bytes

    stroke_set = development_stroke_set() if development else load_stroke_set()
    canvas = stroke_set["canvas"]
    samples = stroke_set["digits"]
    labels = np.array([s["label"] for s in samples])
    data = load_dataset("digits")
    model = lesson_model(data)
    report = export_model(model, data, board="uno")
    q = report.quantized

    after = np.stack([strokes_to_features(s["strokes"], canvas, pen_width=s["pen_width"]) for s in samples])
    before = np.stack([old_pad_pixels(s["strokes"], canvas) for s in samples])
    after_u8, before_u8 = inputs_to_bytes(after), inputs_to_bytes(before)
    host_after, host_before = q.predict(after_u8), q.predict(before_u8)
    with torch.no_grad():
        float_after = model(torch.from_numpy(after)).argmax(dim=1).numpy()
        float_before = model(torch.from_numpy(before)).argmax(dim=1).numpy()

    styles: dict[str, list[bool]] = {}
    for sample, guess in zip(samples, host_after):
        styles.setdefault(f"{sample['label']} {sample['style']}", []).append(bool(guess == sample["label"]))
    result = {
        "n": len(samples),
        "stroke_set": "development" if development else "test",
        "host_accuracy": round(float(np.mean(host_after == labels)), 3),
        "board_agreement": None,
        "per_digit": per_digit(host_after, labels),
        "float_accuracy": round(float(np.mean(float_after == labels)), 3),
        "before": {"host_accuracy": round(float(np.mean(host_before == labels)), 3),
                   "float_accuracy": round(float(np.mean(float_before == labels)), 3),
                   "per_digit": per_digit(host_before, labels)},
        "per_style": {name: round(float(np.mean(hits)), 2) for name, hits in sorted(styles.items())},
        "model": {"blob_bytes": report.size, "fits_uno": report.fits,
                  "test_accuracy_int8": round(report.accuracy_int8, 3)},
        "without_copies": drawn_accuracy(lesson_model(data, wobbled_copies=0), data, after_u8, labels),
        "pen": pen_measurement(stroke_set, data),
    }
    if seeds:
        seed_0 = {3: result["host_accuracy"], 0: result["without_copies"]["host_accuracy"]}
        result["seeds"] = seed_spread(data, after_u8, labels, seeds, seed_0)
    if board:
        result.update(board_agreement(report.blob, after_u8, host_after))
    return result


def board_agreement(blob: bytes, x_u8: np.ndarray, host_labels: np.ndarray) -> dict:
    """Flash the Simulated Uno and send it every drawing; compare its logits with the laptop's int8 ones."""
    from bingo_kit.export import decode_blob
    from bingo_kit.board.board import BingoBoard

    expected = decode_blob(blob).logits(x_u8)
    with tempfile.TemporaryDirectory() as scratch, \
            BingoBoard("sim", sim_eeprom=Path(scratch) / "eeprom.bin") as board:
        board.upload(blob, progress=False)
        answers = [board.predict(row) for row in x_u8]
    same_logits = [a.logits == list(e) for a, e in zip(answers, expected.tolist())]
    same_label = [a.label == int(h) for a, h in zip(answers, host_labels)]
    return {"board_agreement": round(float(np.mean(same_logits)), 3),
            "board_label_agreement": round(float(np.mean(same_label)), 3),
            "board_mean_ms": round(float(np.mean([a.micros for a in answers])) / 1000, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-board", action="store_true", help="skip the Simulated Uno (host numbers only)")
    parser.add_argument("--seeds", type=int, default=0, metavar="N",
                        help="also train seeds 0..N-1 with and without the wobbled copies (about 10 s per seed)")
    parser.add_argument("--development", action="store_true",
                        help=f"measure on the development draw (seed {DEVELOPMENT_SEED}) instead of the test set")
    args = parser.parse_args(argv)
    result = measure(board=not args.no_board, seeds=args.seeds, development=args.development)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{result['n']} stroke-drawn digits ({result['stroke_set']} set), "
          f"lesson 7's model ({result['model']['blob_bytes']} bytes, "
          f"int8 test accuracy {result['model']['test_accuracy_int8']:.1%})")
    plain = result["without_copies"]
    print(f"{'digit':>6} {'old pad':>8} {'no copies':>10} {'lesson 7':>9}")
    for digit in map(str, range(10)):
        print(f"{digit:>6} {result['before']['per_digit'][digit]:>8.0%} {plain['per_digit'][digit]:>10.0%} "
              f"{result['per_digit'][digit]:>9.0%}")
    print(f"{'all':>6} {result['before']['host_accuracy']:>8.1%} {plain['host_accuracy']:>10.1%} "
          f"{result['host_accuracy']:>9.1%}   (laptop, int8)")
    for name, spread in result.get("seeds", {}).items():
        print(f"{name}: {spread['mean']:.1%} ± {spread['std']:.1%} over seeds {spread['host_accuracy']}")
    if result["board_agreement"] is not None:
        print(f"board agreement (bit-exact logits, Simulated Uno): {result['board_agreement']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
