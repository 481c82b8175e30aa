"""Lesson glue: exercise checks with friendly feedback, the seeded start of a lesson, the setup report, and
the one picture per concept the lessons show.

A lesson cell should read like a sentence (`check_weight_count(my_answer)`, `show_sizes(model)`); the
arithmetic behind an answer, the wording of the hints and the plotting live here, where they are tested
(tests/test_lessons_checks.py). Every `check_...()` returns a `Feedback`: it shows as one line in a notebook
and is truthy when correct. Heavy imports happen inside functions, so lesson 0 can report a missing package
instead of failing to import this module.
"""
from __future__ import annotations

import importlib
import math
import random
import sys
from dataclasses import dataclass, field
from typing import Iterable, Sequence

# The exercise in lesson 2: a made-up row of six weights that students prune by hand.
HAND_WEIGHTS = (0.8, -0.05, 0.3, -0.9, 0.02, -0.4)

# A classic AVR board (Uno, Nano, Mega) runs at 16 MHz: 16 000 clock cycles per millisecond.
AVR_CLOCK_HZ = 16_000_000

# The challenge in lesson 7: the whole model blob must fit in an Uno's EEPROM. That is 1 KB minus the 4-byte
# record header (length + CRC): the board's own `model_capacity`, the number IDENTIFY reports and export checks.
CHALLENGE_BOARD = "uno"


def challenge_budget() -> int:
    """Bytes of model an Uno holds (1020): the challenge's budget, straight from the board table."""
    from bingo_kit.boards import get_board

    return get_board(CHALLENGE_BOARD).model_capacity


CHALLENGE_METHODS = ("magnitude", "random", "bingo")


# --- feedback ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Feedback:
    """The answer to a `check_...()` call: `ok` says whether it was right, `message` says it kindly."""

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:  # a notebook shows this one line
        return self.message

    __str__ = __repr__


def _right(message: str) -> Feedback:
    return Feedback(True, f"✅ {message}")


def _hint(message: str) -> Feedback:
    return Feedback(False, f"🤔 Not yet. {message}")


def _not_filled_in(answer) -> bool:
    return answer is Ellipsis or answer is None


_EMPTY = _hint("Replace the ... with your answer, then run the cell again.")


def _as_number(answer):
    """The answer as a float, or None if a student typed something that is not a number."""
    if isinstance(answer, bool):
        return None
    try:
        return float(answer)
    except (TypeError, ValueError):
        return None


def _check_number(answer, expected: float, *, right: str, hint: str, rel_tol: float = 0.0,
                  abs_tol: float = 1e-9) -> Feedback:
    if _not_filled_in(answer):
        return _EMPTY
    value = _as_number(answer)
    if value is None:
        return _hint(f"Your answer should be a number, not {answer!r}. {hint}")
    if math.isclose(value, expected, rel_tol=rel_tol, abs_tol=abs_tol):
        return _right(right)
    direction = "too big" if value > expected else "too small"
    return _hint(f"{_short(value)} is {direction}. {hint}")


def _short(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


# --- the start of every lesson ---------------------------------------------------------------------

def start_lesson(seed: int = 0) -> None:
    """Make a lesson give the same numbers on every run (same machine, same software), and keep its plots small.

    One CPU thread: the networks are tiny (threads would only add overhead), two notebooks can share a
    2-core laptop, and float sums come out in the same order every time.
    """
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    try:
        import matplotlib

        matplotlib.rcParams.update({"figure.figsize": (6, 3), "figure.dpi": 72, "font.size": 10,
                                    "axes.spines.top": False, "axes.spines.right": False})
    except ImportError:  # the setup check reports a missing matplotlib; the lesson should still start
        pass


# --- pictures (one per concept; the lessons call these so a cell stays one sentence) -----------------

def _np(values):
    """A tensor or array as a numpy array (matplotlib wants numpy)."""
    import numpy as np

    return values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)


def show_boards() -> None:
    """How many bytes each board keeps when the power is off (its EEPROM: where the model lives)."""
    import matplotlib.pyplot as plt

    from bingo_kit.boards import BOARDS

    fig, ax = plt.subplots(figsize=(6, 2.2))
    names = [board.name for board in BOARDS.values()]
    ax.barh(names, [board.eeprom_bytes for board in BOARDS.values()], color=["tab:blue", "tab:cyan", "tab:purple"])
    for y, board in enumerate(BOARDS.values()):
        ax.text(board.eeprom_bytes, y, f" {board.eeprom_bytes} bytes", va="center", fontsize=9)
    ax.set_xlim(0, 5000)
    ax.invert_yaxis()
    ax.set_xlabel("EEPROM: bytes that survive power-off")
    ax.set_title("Room for a model on each board")
    plt.show()


def show_digits(data, count: int = 10, *, title: str | None = None) -> None:
    """The first `count` training images with their labels."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, count, figsize=(1.1 * count, 1.6))
    for ax, image, label in zip(axes, data.x_train[:count], data.y_train[:count]):
        ax.imshow(_np(image).reshape(data.image_shape), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(data.class_names[int(label)])
        ax.axis("off")
    if title:
        fig.suptitle(title)
    plt.show()


def show_pixels(image, shape=(8, 8)) -> None:
    """One image twice: as a picture and as the numbers the network really sees."""
    import matplotlib.pyplot as plt

    grid = _np(image).reshape(shape)
    fig, (left, right) = plt.subplots(1, 2, figsize=(7, 3.3))
    left.imshow(grid, cmap="gray_r", vmin=0, vmax=1)
    left.set_title("what you see")
    left.axis("off")
    right.imshow(grid, cmap="gray_r", vmin=0, vmax=3)  # lighter, so the numbers stay readable
    for (row, col), value in _enumerate_grid(grid):
        right.text(col, row, f"{value:.1f}".lstrip("0") if value else "0", ha="center", va="center", fontsize=8)
    right.set_title("what the network sees")
    right.axis("off")
    plt.show()


def _enumerate_grid(grid):
    rows, cols = grid.shape
    for row in range(rows):
        for col in range(cols):
            yield (row, col), float(grid[row, col])


def draw_network(sizes: Sequence[int] = (64, 16, 10), *, max_drawn: int = 16, model=None) -> None:
    """Neurons as dots, weights as lines. With a (pruned) `model`, pruned weights are not drawn and line
    strength follows |weight|. Big layers show only `max_drawn` neurons so the picture stays readable."""
    import matplotlib.pyplot as plt
    import numpy as np

    sizes = tuple(model.sizes) if model is not None else tuple(sizes)
    shown = [min(n, max_drawn) for n in sizes]
    positions = [np.linspace(-1, 1, n) * (n / max(shown)) for n in shown]
    weights = [w.detach().abs().numpy() for w in model.current_weights()] if model is not None else None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i in range(len(sizes) - 1):
        strength = None
        if weights is not None:
            w = weights[i][: shown[i + 1], : shown[i]]
            strength = w / (w.max() or 1.0)
        for a, ya in enumerate(positions[i]):
            for b, yb in enumerate(positions[i + 1]):
                alpha = 0.15 if strength is None else float(strength[b, a]) * 0.8
                if alpha > 0:
                    ax.plot([i, i + 1], [ya, yb], color="tab:blue", alpha=alpha, linewidth=0.6)
    for i, ys in enumerate(positions):
        ax.scatter([i] * len(ys), ys, s=40, color="tab:orange", zorder=3)
        more = f" (showing {shown[i]})" if shown[i] < sizes[i] else ""
        ax.text(i, 1.15, f"{sizes[i]} neurons{more}", ha="center", fontsize=9)
    labels = ["input: pixels"] + ["hidden"] * (len(sizes) - 2) + ["output: digits"]
    for i, label in enumerate(labels):
        ax.text(i, -1.25, label, ha="center", fontsize=9)
    ax.set_xlim(-0.5, len(sizes) - 0.5)
    ax.set_ylim(-1.4, 1.3)
    ax.axis("off")
    plt.show()


def show_first_layer(model, shape=(8, 8), *, title: str = "What each hidden neuron looks for") -> None:
    """Each hidden neuron's 64 input weights drawn as an 8×8 picture: red = pushes up, blue = pushes down."""
    import matplotlib.pyplot as plt

    weight = _np(model.current_weights()[0])
    count = weight.shape[0]
    columns = min(count, 8)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.1 * columns, 1.2 * rows + 0.4), squeeze=False)
    limit = float(abs(weight).max()) or 1.0
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < count:
            ax.imshow(weight[index].reshape(shape), cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.suptitle(title)
    plt.show()


def live_accuracy_plot(epochs: int):
    """A training callback that redraws the accuracy curve after every epoch, in place in the notebook."""
    from IPython.display import Image, display
    import matplotlib

    from bingo_kit.training import Callback
    from matplotlib.figure import Figure

    class LiveAccuracy(Callback):
        def __init__(self):
            self.accuracies: list[float] = []
            self.handle = None

        def on_epoch_end(self, model, epoch, test_accuracy):
            self.accuracies.append(test_accuracy)
            # a fresh Figure (not pyplot) each time: nothing leaks, and the cell shows exactly one picture
            figure = Figure(figsize=matplotlib.rcParams["figure.figsize"])
            ax = figure.subplots()
            ax.plot(range(1, len(self.accuracies) + 1), [100 * a for a in self.accuracies], marker=".")
            ax.set_xlim(0.5, epochs + 0.5)
            ax.set_ylim(0, 100)
            ax.set_xlabel("epoch")
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(f"epoch {epoch + 1}/{epochs}: {test_accuracy:.1%} of test digits right")
            png = _figure_png(figure)
            if self.handle is None:
                self.handle = display(Image(png), display_id=True)
            else:
                self.handle.update(Image(png))

    return LiveAccuracy()


def _figure_png(figure) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    return buffer.getvalue()


def show_hand_weights(weights: Sequence[float] = HAND_WEIGHTS) -> None:
    """The six weights of lesson 2's exercise as bars: height = value, so size is the bar's length."""
    import matplotlib.pyplot as plt

    labels = [f"w{i + 1}" for i in range(len(weights))]
    colours = ["tab:red" if w > 0 else "tab:blue" for w in weights]
    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.bar(labels, weights, color=colours)
    ax.axhline(0, color="black", linewidth=0.8)
    for x, w in enumerate(weights):
        ax.text(x, w + (0.04 if w > 0 else -0.1), f"{w:+.2f}", ha="center", fontsize=9)
    ax.set_ylim(-1.1, 1.1)
    ax.set_title("six weights of one neuron: which three would you keep?")
    plt.show()


def pruning_curve(model, data, *, methods: Sequence[str] = ("magnitude", "random"), scores=None,
                  scores_by_method: dict | None = None,
                  fractions: Sequence[float] = tuple(i / 20 for i in range(20)), seed: int = 0,
                  labels: dict | None = None, title: str = "How much can we cut?") -> dict[str, list[float]]:
    """Prune the model to each fraction with each method, measure test accuracy, plot it, and put the
    model back to dense. Returns {method: [accuracy per fraction]}.

    BINGO scores come in one of two ways: `scores` is one set ({layer name: tensor}) that every score-based
    method uses; `scores_by_method` gives each method its own set ({"prose": {...}, "paper": {...}}). The
    methods "prose" and "paper" prune like "bingo" with their own scores.
    """
    import matplotlib.pyplot as plt

    from bingo_kit.pruning import prune_fraction, remove_pruning
    from bingo_kit.training import accuracy

    from bingo_kit.errors import KitError

    if scores is not None and scores_by_method is not None:
        raise KitError("Give either scores= (one set for every method) or scores_by_method=, not both.")
    curves: dict[str, list[float]] = {}
    for method in methods:
        method_scores = (scores_by_method or {}).get(method, scores)
        prune_method = "bingo" if method in ("prose", "paper") else method
        curve = []
        for fraction in fractions:
            prune_fraction(model, fraction, method=prune_method, scores=method_scores, seed=seed)
            curve.append(accuracy(model, data.x_test, data.y_test))
        curves[method] = curve
    remove_pruning(model)
    fig, ax = plt.subplots()
    for method, curve in curves.items():
        ax.plot([100 * f for f in fractions], [100 * a for a in curve], marker=".",
                label=(labels or {}).get(method, method))
    ax.set_xlabel("weights pruned (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(loc="lower left")
    plt.show()
    return curves


def show_lottery_ticket(sizes: Sequence[int] = (8, 6, 4), *, keep: float = 0.25, seed: int = 0) -> None:
    """The lottery-ticket idea in one picture: a big network (grey lines) hides a small one (orange) that
    trains just as well — and the BINGO score every weight carries, as the formula the lesson works by hand."""
    import matplotlib.pyplot as plt
    import numpy as np

    rng = np.random.default_rng(seed)
    positions = [np.linspace(-1, 1, n) for n in sizes]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 2.8), gridspec_kw={"width_ratios": [1, 1.3]})
    for i in range(len(sizes) - 1):
        for ya in positions[i]:
            for yb in positions[i + 1]:
                winner = rng.random() < keep
                left.plot([i, i + 1], [ya, yb], color="tab:orange" if winner else "lightgrey",
                          linewidth=1.6 if winner else 0.6, zorder=2 if winner else 1)
    for i, ys in enumerate(positions):
        left.scatter([i] * len(ys), ys, s=30, color="tab:blue", zorder=3)
    left.set_title("a big network hides a winning ticket (orange)", fontsize=9)
    left.axis("off")
    right.axis("off")
    right.text(0.5, 0.75, r"$S_{new} = \dfrac{S_{old} + \dfrac{|A_b - A_a|}{A_b}}{2}$", ha="center", va="center",
               fontsize=15)
    right.text(0.5, 0.3, "A_b: accuracy before the fake reset\nA_a: accuracy after it\n"
               "big drop → the weights in the ticket mattered", ha="center", va="center", fontsize=9)
    right.set_title("every weight's significance score S (starts at 0.5)", fontsize=9)
    plt.show()


def show_fake_pass(model, data, *, p: float = 0.2, seed: int = 0) -> tuple[float, float]:
    """One BINGO fake pass on the trained model: draw a ticket, reset it, measure. Shows the ticket (which
    first-layer weights were reset) and the accuracy before and after. Returns (A_b, A_a)."""
    import matplotlib.pyplot as plt

    from bingo_kit.bingo import BingoScorer

    # accuracy on a batch, said explicitly: the picture's bars are labelled "accuracy", whatever the defaults become
    scorer = BingoScorer(model, p=p, seed=seed, metric="accuracy", probe="batch")
    tickets = scorer.draw_tickets()
    before, after = scorer.score_step(data.x_test, data.y_test, tickets=tickets)
    before, after = float(before), float(after[0])
    first = _ticket_mask(tickets[0], model)[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 2.8), gridspec_kw={"width_ratios": [3, 1]})
    left.imshow(_np(first).astype(float), cmap="Oranges", aspect="auto", interpolation="nearest")
    left.set_title(f"the ticket: {int(first.sum())} of {first.numel()} first-layer weights reset (orange)")
    left.set_xlabel("input pixel")
    left.set_ylabel("hidden neuron")
    right.bar(["A_b\nbefore", "A_a\nafter"], [100 * before, 100 * after], color=["tab:green", "tab:red"])
    right.set_ylim(0, 100)
    right.set_title("accuracy (%)")
    plt.show()
    return before, after


def pruned_accuracy(model, data, fraction: float, *, method: str = "bingo", scores=None, seed: int = 0) -> float:
    """Test accuracy of a copy of `model` with `fraction` of its weights cut by `method` (the model itself
    stays as it is). With BINGO scores, the weights with the lowest scores are cut."""
    import copy

    from bingo_kit.pruning import prune_fraction
    from bingo_kit.training import accuracy

    pruned = copy.deepcopy(model)
    prune_fraction(pruned, fraction, method=method, scores=scores, seed=seed)
    return accuracy(pruned, data.x_test, data.y_test)


def _ticket_mask(ticket, model) -> list:
    """One ticket (flat indices of the weights it resets, as the scorer draws them) as a bool mask per layer."""
    import torch

    shapes = [tuple(layer.weight.shape) for _, layer in model.weight_layers()]
    flat = torch.zeros(sum(math.prod(shape) for shape in shapes), dtype=torch.bool)
    flat[ticket.reshape(-1)] = True
    masks, offset = [], 0
    for shape in shapes:
        size = math.prod(shape)
        masks.append(flat[offset: offset + size].view(shape))
        offset += size
    return masks


def show_evidence(evidence: dict[str, float], *, title: str) -> None:
    """Bars: test accuracy left after pruning with each rule's scores (and any baselines)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.8))
    names = list(evidence)
    bars = ax.bar(names, [100 * evidence[n] for n in names],
                  color=["tab:green", "tab:red", "tab:grey", "tab:blue"][: len(names)])
    for bar, name in zip(bars, names):
        ax.text(bar.get_x() + bar.get_width() / 2, 100 * evidence[name] + 2, f"{evidence[name]:.0%}", ha="center")
    ax.set_ylim(0, 105)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    plt.show()


def show_sizes(model, fractions: Sequence[float] = (0.0, 0.5, 0.8, 0.9), *, method: str = "magnitude",
               boards: Sequence[str] = ("uno", "mega")) -> list[tuple[float, int, int, int]]:
    """Bytes of the model at several pruning levels, in three forms (float32, int8 dense, int8 sparse blob),
    against the boards' room for a model. Puts the model back to dense. Returns the rows it drew."""
    import matplotlib.pyplot as plt
    import numpy as np

    from bingo_kit.boards import get_board
    from bingo_kit.export import model_sizes
    from bingo_kit.pruning import prune_fraction, remove_pruning

    rows = []
    for fraction in fractions:
        prune_fraction(model, fraction, method=method)
        sizes = model_sizes(model)
        rows.append((fraction, sizes.float_bytes, sizes.int8_dense_bytes, sizes.blob_bytes))
    remove_pruning(model)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(rows))
    for offset, column, label, colour in ((-0.27, 1, "float32", "tab:grey"), (0, 2, "int8, every weight stored",
                                                                               "tab:orange"),
                                          (0.27, 3, "int8, sparse blob", "tab:green")):
        ax.bar(x + offset, [row[column] for row in rows], width=0.27, label=label, color=colour)
    for key, style in zip(boards, ("--", ":")):
        board = get_board(key)
        ax.axhline(board.model_capacity, color="black", linestyle=style, linewidth=1)
        ax.text(-0.45, board.model_capacity, f"{board.name}: {board.model_capacity} B",
                va="bottom", ha="left", fontsize=8, backgroundcolor="white")
    ax.set_xticks(x, [f"{fraction:.0%} pruned" for fraction, *_ in rows])
    ax.set_ylabel("bytes")
    ax.set_title("How big is the model?")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    plt.show()
    return rows


def show_quantisation(model, layer: int = 0) -> None:
    """Every weight of one layer: its float value against the int8 step it is stored as."""
    import matplotlib.pyplot as plt
    import numpy as np

    from bingo_kit.export import quantize_weight  # the export's own quantiser: the picture shows what it writes

    weights = model.current_weights()[layer].detach().numpy().reshape(-1)
    stored, scale = quantize_weight(weights)
    stored = stored.astype(float)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 2.8))
    order = np.argsort(weights)
    left.plot(weights[order], label="float32 (4 bytes each)", linewidth=2)
    left.step(np.arange(len(order)), stored[order] * scale, label="int8 (1 byte each)", linewidth=1)
    left.set_xlabel("weights, smallest to largest")
    left.set_ylabel("value")
    left.legend(fontsize=8)
    left.set_title(f"layer {layer + 1}: {len(weights)} weights")
    zoom = order[len(order) // 2 - 15: len(order) // 2 + 15]
    right.plot(weights[zoom], marker=".", label="float32")
    right.step(np.arange(len(zoom)), stored[zoom] * scale, where="mid", label="int8")
    right.set_title("zoom: int8 rounds to the nearest step")
    right.legend(fontsize=8)
    plt.show()


RACE_LABELS = {"dense": "dense", "bingo": "BINGO", "bingo_paper": "BINGO (printed formula)",
               "magnitude": "magnitude", "random": "random", "imp": "IMP"}


def plot_race(result) -> None:
    """The race side by side: how much each method pruned at the floor, and how long it took."""
    import matplotlib.pyplot as plt

    names = [name for name in result.methods if name != "dense"]
    labels = [RACE_LABELS.get(name, name) for name in names]
    colours = ["tab:green" if name.startswith("bingo") else "tab:purple" if name == "imp" else "tab:grey"
               for name in names]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.barh(labels, [100 * result.methods[n].pruned_fraction for n in names], color=colours)
    left.set_xlim(0, 100)
    left.set_xlabel("weights pruned (%) — more is better")
    left.set_title(f"pruned while staying above {result.floor:.1%}")
    left.invert_yaxis()
    right.barh(labels, [result.methods[n].seconds for n in names], color=colours)
    right.set_xlabel("seconds (training + pruning) — less is better")
    right.set_title("time on this laptop")
    right.invert_yaxis()
    right.set_yticklabels([])
    plt.show()


def race_column(result, column: str) -> dict[str, float]:
    """One column of the race table for the pruning methods: {"bingo": ..., "imp": ..., ...}."""
    return {name: getattr(r, column) for name, r in result.methods.items() if name != "dense"}


# --- lesson 0: setup check -------------------------------------------------------------------------

from bingo_kit.doctor import SetupItem, SetupReport, setup_report


def check_capacity(answer, board: str = "uno") -> Feedback:
    """Lesson 0: how many bytes of model fit on the board? (EEPROM minus the 4-byte record header)."""
    from bingo_kit.boards import get_board

    found = get_board(board)
    return _check_number(
        answer, found.model_capacity,
        right=f"The {found.name} keeps {found.model_capacity} bytes of model: its {found.eeprom_bytes}-byte EEPROM "
              "minus 4 bytes that remember the model's length and checksum.",
        hint="Look for the number of model bytes in the setup report's 'simulated Uno' line.")


# --- lesson 1: meet the network --------------------------------------------------------------------

def weight_count(sizes: Sequence[int]) -> int:
    """Weights (not biases) of a fully connected network: in × out for every layer."""
    return sum(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def check_weight_count(answer, sizes: Sequence[int] = (64, 16, 10)) -> Feedback:
    """Lesson 1: how many weights (connections) does a network with these layer sizes have?"""
    sizes = tuple(sizes)
    products = " + ".join(f"{a}×{b}" for a, b in zip(sizes[:-1], sizes[1:]))
    return _check_number(
        answer, weight_count(sizes),
        right=f"{products} = {weight_count(sizes)} weights. Every one of them is a number the training adjusts.",
        hint="Every neuron in one layer connects to every neuron in the next: multiply the sizes of "
             f"neighbouring layers ({' then '.join(f'{a} and {b}' for a, b in zip(sizes[:-1], sizes[1:]))}) "
             "and add the results. Biases don't count here.")


# --- lesson 2: pruning by hand ---------------------------------------------------------------------

def largest_by_magnitude(weights: Iterable[float], keep: int) -> list[float]:
    """The `keep` weights with the largest size |w|, in their original order."""
    weights = list(weights)
    order = sorted(range(len(weights)), key=lambda i: -abs(weights[i]))[:keep]
    return [weights[i] for i in sorted(order)]


def check_kept_by_magnitude(kept, weights: Sequence[float] = HAND_WEIGHTS, keep: int = 3) -> Feedback:
    """Lesson 2: which `keep` weights survive magnitude pruning? (a list of the surviving values)."""
    if _not_filled_in(kept) or (isinstance(kept, (list, tuple)) and Ellipsis in kept):
        return _EMPTY
    try:
        answer = sorted(float(w) for w in kept)
    except (TypeError, ValueError):
        return _hint("Write the weights you keep as a list of numbers, for example [0.8, -0.05, 0.3].")
    expected = largest_by_magnitude(weights, keep)
    if answer == sorted(expected):
        return _right(f"You kept {expected}. Magnitude pruning keeps the weights with the biggest SIZE — "
                      "-0.9 is big even though it is negative.")
    if len(answer) != keep:
        return _hint(f"Keep exactly {keep} of the {len(weights)} weights (you wrote {len(answer)}).")
    if answer == sorted(sorted(weights)[-keep:]):
        return _hint("Those are the most POSITIVE weights. A weight of -0.9 pushes just as hard as +0.9: "
                     "compare sizes, ignoring the minus sign.")
    return _hint("Rank the weights by their size, ignoring the minus sign, and keep the biggest ones.")


def check_pruned_fraction(model, fraction, tolerance: float = 0.005) -> Feedback:
    """Lesson 2: did the student prune `fraction` of the model's weights?"""
    from bingo_kit.pruning import kept_weights

    if _not_filled_in(fraction):
        return _EMPTY
    if _as_number(fraction) is None:
        return _hint(f"The fraction should be a number between 0 and 1 (0.9 for 90%), not {fraction!r}.")
    kept, total = kept_weights(model)
    pruned = 1 - kept / total
    if abs(pruned - float(fraction)) <= tolerance:
        return _right(f"{total - kept} of {total} weights are now zero ({pruned:.0%} pruned).")
    return _hint(f"The model has {pruned:.0%} of its weights pruned, not {float(fraction):.0%}. "
                 f"Prune with prune_fraction(model, {float(fraction)}, method=...), then check again.")


# --- lesson 3: lottery tickets and BINGO -----------------------------------------------------------

def bingo_update(previous: float, accuracy_before: float, accuracy_after: float, rule: str = "prose") -> float:
    """One BINGO score update for a weight that was in a fake-pass ticket — the library's own formula:

        prose: S = (S_prev + |A_b - A_a| / A_b) / 2        paper: S = (S_prev + 1 - |A_b - A_a| / A_b) / 2
    """
    from bingo_kit import bingo

    return float(bingo.bingo_update(previous, accuracy_before, accuracy_after, rule))


def check_significance(answer, *, previous: float, before: float, after: float, rule: str = "prose") -> Feedback:
    """Lesson 3: the significance formula worked by hand on one example."""
    expected = bingo_update(previous, before, after, rule)
    relative = abs(before - after) / before
    if rule == "paper":  # the printed formula averages with 1 - drop instead of the drop
        sum_text, hint_step = f"({previous} + 1 - {relative:.3f}) / 2", "subtract that from 1; add the old score"
    else:
        sum_text, hint_step = f"({previous} + {relative:.3f}) / 2", "add the old score"
    return _check_number(
        answer, expected, abs_tol=0.006,
        right=f"|{before} - {after}| / {before} = {relative:.3f}, and {sum_text} = "
              f"{expected:.3f}. Exactly what BINGO's '{rule}' rule computes for every weight in that ticket."
        if rule == "paper" else
        f"|{before} - {after}| / {before} = {relative:.3f}, and {sum_text} = "
        f"{expected:.3f}. Exactly what BINGO computes for every weight in that ticket.",
        hint=f"Step by step: the change |A_b - A_a|, divided by A_b; {hint_step}; halve it. "
             "Keep 3 decimals.")


def mirror_gap(prose_scores: dict, paper_scores: dict) -> float:
    """The largest |S_paper - (1 - S_prose)| over all weights. With the same seed both runs train the same
    network and draw the same tickets, and each paper update is 1 minus the prose one, so from the common start
    of 0.5 the paper scores are the prose scores mirrored: this is 0 up to float rounding."""
    return max(float((paper_scores[name] - (1 - prose_scores[name])).abs().max()) for name in prose_scores)


def check_verdict(verdict, evidence: dict[str, float]) -> Feedback:
    """Lesson 3 "be a scientist": which rule did the paper mean? The evidence decides, not the paper.

    `evidence` maps each rule ("paper", "prose") to what the class measured for it — the accuracy left
    after pruning the same fraction with that rule's scores. A rule whose scores keep the network working
    is the one that measures significance.
    """
    if _not_filled_in(verdict):
        return _EMPTY
    rules = sorted(evidence)
    if verdict not in evidence:
        return _hint(f"Answer with one of {rules} (in quotes).")
    best = max(evidence, key=evidence.get)
    other = min(evidence, key=evidence.get)
    numbers = ", ".join(f"{rule}: {evidence[rule]:.1%}" for rule in rules)
    if verdict == best:
        return _right(f"That is what this experiment shows: cutting by the '{best}' rule's scores left the most "
                      f"accuracy ({numbers}). One network and one seed is evidence, not proof — other seeds or datasets "
                      "could test it further.")
    return _hint(f"Look at the evidence again ({numbers}): the network pruned with the '{other}' scores does "
                 "worse. Which rule found the weights that matter?")


# --- lesson 4: the race ----------------------------------------------------------------------------

def check_race_winner(answer, results: dict[str, float], *, question: str = "fastest") -> Feedback:
    """Lesson 4: read the race table. `results` maps method -> the measured number for the question.

    question "fastest": smallest number (seconds) wins; "most pruned": largest number (fraction) wins.
    """
    if _not_filled_in(answer):
        return _EMPTY
    if answer not in results:
        return _hint(f"Answer with one of {sorted(results)} (in quotes).")
    pick = min if question == "fastest" else max
    winner = pick(results, key=results.get)
    if answer == winner or results[answer] == results[winner]:
        verb = "was the fastest" if question == "fastest" else "pruned the most"
        return _right(f"'{winner}' {verb} in our race ({_fmt_result(results[winner], question)}).")
    return _hint(f"'{answer}' got {_fmt_result(results[answer], question)}; look for the "
                 f"{'smallest time' if question == 'fastest' else 'biggest pruned fraction'} in the table.")


def _fmt_result(value: float, question: str) -> str:
    return f"{value:.2f} s" if question == "fastest" else f"{value:.0%} pruned"


# --- lesson 5: will it fit? ------------------------------------------------------------------------

def float_bytes(sizes: Sequence[int]) -> int:
    """Bytes of a float32 network: 4 bytes for every weight and every bias — what export.model_sizes reports."""
    from bingo_kit.export import model_sizes
    from bingo_kit.models import make_mlp

    return model_sizes(make_mlp(tuple(sizes), seed=0)).float_bytes


def check_float_bytes(answer, sizes: Sequence[int] = (64, 16, 10)) -> Feedback:
    """Lesson 5: how many bytes does the float32 model take?"""
    sizes = tuple(sizes)
    n_weights, n_biases = weight_count(sizes), sum(sizes[1:])
    return _check_number(
        answer, float_bytes(sizes),
        right=f"({n_weights} weights + {n_biases} biases) × 4 bytes = {float_bytes(sizes)} bytes — "
              + (f"far more than the {challenge_budget()} bytes an Uno has for a model." if
                 float_bytes(sizes) > challenge_budget() else
                 f"that would fit in the {challenge_budget()} bytes an Uno has for a model."),
        hint=f"Count weights AND biases ({n_weights} weights; one bias per neuron after the input layer), "
             "then remember that one float32 number takes 4 bytes.")


def index_list_bytes(out: int, nnz: int) -> int:
    """Weight section of a layer in the index-list encoding (PROTOCOL.md §2.2): a count per row,
    then a column index and a value for every kept weight. The export's own size table decides this."""
    from bingo_kit.export import encoded_sizes

    return encoded_sizes(n_weights=nnz, n_rows=out, nnz=nnz)["index"]  # the index size ignores the width


def show_sparse_formats(row: Sequence[int] = (0, 0, 37, 0, 0, 0, -12, 0, 0, 0, 0, 90, 0, 0, 0, 0)) -> None:
    """One row of int8 weights stored three ways (hardware/PROTOCOL.md §2.2): dense (every byte), bitmap (one
    bit per weight saying "kept?", then the kept values) and index list (a count, then column + value pairs)."""
    import matplotlib.pyplot as plt

    kept = [(column, value) for column, value in enumerate(row) if value]
    n_bitmap = -(-len(row) // 8)
    bitmap_bits = "".join("1" if value else "0" for value in row)
    layouts = [
        ("dense", [(str(v), "tab:orange" if v else "whitesmoke") for v in row]),
        ("bitmap", [(bitmap_bits[8 * i: 8 * i + 8], "tab:cyan") for i in range(n_bitmap)]
         + [(str(v), "tab:orange") for _, v in kept]),
        ("index list", [(f"n={len(kept)}", "tab:green")]
         + [cell for c, v in kept for cell in ((f"@{c}", "tab:purple"), (str(v), "tab:orange"))]),
    ]
    fig, ax = plt.subplots(figsize=(9, 2.6))
    for y, (name, cells) in enumerate(layouts):
        width = 1.0 if name == "dense" else 1.6
        for x, (text, colour) in enumerate(cells):
            ax.add_patch(plt.Rectangle((x * width, -y), width * 0.95, 0.8, color=colour, alpha=0.6))
            ax.text(x * width + width * 0.47, -y + 0.4, text, ha="center", va="center", fontsize=7)
        ax.text(-0.3, -y + 0.4, f"{name}: {len(cells)} bytes", ha="right", va="center", fontsize=9)
    ax.set_xlim(-4.5, len(row) + 0.5)
    ax.set_ylim(-len(layouts) + 0.7, 1.2)
    ax.axis("off")
    ax.set_title(f"one row of {len(row)} int8 weights, {len(kept)} kept: three ways to store it "
                 "(orange = values, cyan = kept? bits, purple = column numbers)", fontsize=9)
    plt.show()


def check_index_list_bytes(answer, out: int, nnz: int) -> Feedback:
    """Lesson 5: bytes of a layer's weights stored as an index list."""
    return _check_number(
        answer, index_list_bytes(out, nnz),
        right=f"{out} row counts + {nnz} indices + {nnz} values = {index_list_bytes(out, nnz)} bytes.",
        hint="One byte per row (how many weights it keeps), then for every kept weight TWO bytes: "
             "where it is (its column) and its int8 value.")


# --- lesson 6: flash it ----------------------------------------------------------------------------

def show_flash_pipeline() -> None:
    """The journey of a model in lesson 6: laptop → USB cable → board → EEPROM → a prediction."""
    import matplotlib.pyplot as plt

    steps = [("laptop", "train, prune,\nexport the blob", "tab:blue"),
             ("USB cable", "blob sent in\nsmall chunks", "tab:grey"),
             ("board", "checks length\nand checksum", "tab:green"),
             ("EEPROM", "keeps the model\nwith power off", "tab:purple"),
             ("predict", "8×8 pixels in,\na digit out (~1 ms)", "tab:orange")]
    fig, ax = plt.subplots(figsize=(9, 1.8))
    for x, (name, detail, colour) in enumerate(steps):
        ax.add_patch(plt.Rectangle((2 * x, 0), 1.5, 1, color=colour, alpha=0.25))
        ax.text(2 * x + 0.75, 0.68, name, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(2 * x + 0.75, 0.3, detail, ha="center", va="center", fontsize=7)
        if x < len(steps) - 1:
            ax.annotate("", xy=(2 * x + 2, 0.5), xytext=(2 * x + 1.5, 0.5),
                        arrowprops={"arrowstyle": "->", "linewidth": 1.5})
    ax.set_xlim(-0.1, 2 * len(steps) - 0.4)
    ax.set_ylim(-0.1, 1.1)
    ax.axis("off")
    ax.set_title("what the flash button does", fontsize=10)
    plt.show()


def check_inference_time(answer_ms, cycles: int, clock_hz: int = AVR_CLOCK_HZ) -> Feedback:
    """Lesson 6: turn the board's cycle count into milliseconds."""
    expected = cycles / clock_hz * 1000
    per_ms = clock_hz // 1000
    # the right-answer message has no cycle count in it: on a board, timer interrupts shift it a little
    return _check_number(
        answer_ms, expected, rel_tol=0.01,
        right=f"Cycles ÷ {per_ms} cycles per millisecond: the board reads a digit in about a millisecond.",
        hint=f"The chip does {clock_hz // 1_000_000} million cycles per second, so {per_ms} cycles per "
             "millisecond. Divide the cycles by that.")


# --- lesson 7: challenge ---------------------------------------------------------------------------

@dataclass
class ChallengeEntry:
    name: str
    hidden: int
    method: str
    fraction: float
    size: int
    accuracy: float

    @property
    def fits(self) -> bool:
        return self.size <= challenge_budget()


@dataclass
class ResultsTable:
    """The class's challenge results, best fitting accuracy first."""

    entries: list[ChallengeEntry] = field(default_factory=list)

    def add(self, entry: ChallengeEntry) -> ChallengeEntry:
        self.entries.append(entry)
        return entry

    def ranked(self) -> list[ChallengeEntry]:
        return sorted(self.entries, key=lambda e: (not e.fits, -e.accuracy, e.size))

    def plot(self) -> None:
        """Every entry as a dot: bytes across, int8 accuracy up; the 1 KB budget as a line."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.2))
        for entry in self.entries:
            ax.scatter(entry.size, 100 * entry.accuracy, color="tab:green" if entry.fits else "tab:red")
            ax.annotate(entry.name, (entry.size, 100 * entry.accuracy), textcoords="offset points", xytext=(4, 4),
                        fontsize=8)
        budget = challenge_budget()
        ax.axvline(budget, color="black", linestyle="--", linewidth=1)
        ax.text(budget, ax.get_ylim()[0], f" Uno budget: {budget} bytes", fontsize=8, va="bottom")
        ax.set_xlabel("blob size (bytes)")
        ax.set_ylabel("int8 test accuracy (%)")
        ax.set_title("The challenge: up and to the left of the line")
        plt.show()

    def __repr__(self) -> str:
        header = f"{'':3} {'name':<16} {'hidden':>6} {'method':<10} {'pruned':>6} {'bytes':>6} {'int8 acc':>8}"
        lines = [header, "-" * len(header)]
        for place, entry in enumerate(self.ranked(), start=1):
            badge = f"{place}." if entry.fits else "✗"
            lines.append(f"{badge:3} {entry.name:<16} {entry.hidden:>6} {entry.method:<10} {entry.fraction:>6.0%} "
                         f"{entry.size:>6} {entry.accuracy:>8.1%}")
        return "\n".join(lines)


def challenge_entry(name: str, data, *, hidden: int, method: str = "magnitude", fraction: float = 0.8,
                    epochs: int = 30, practice_epochs: int = 10, seed: int = 0) -> tuple[ChallengeEntry, object]:
    """Lesson 7 in one call: train a 64-`hidden`-10 network (with BINGO scores if method is "bingo"), prune
    `fraction` of its weights with `method`, practise `practice_epochs` more epochs with the survivors, then
    export it for an Uno and measure the int8 accuracy. Returns (the table entry, the model)."""
    from bingo_kit.bingo import train_with_bingo
    from bingo_kit.errors import KitError
    from bingo_kit.export import export_model
    from bingo_kit.models import make_mlp
    from bingo_kit.pruning import prune_fraction
    from bingo_kit.training import train

    if method not in CHALLENGE_METHODS:
        raise KitError(f"method must be one of {', '.join(map(repr, CHALLENGE_METHODS))}; got {method!r}.")
    if not 1 <= int(hidden) <= 255:
        raise KitError(f"hidden must be a whole number from 1 to 255 (a board layer holds at most 255); got {hidden}.")
    model = make_mlp((data.n_features, int(hidden), data.n_classes), seed=seed)
    scores = None
    if method == "bingo":
        _, scores = train_with_bingo(model, data, epochs=epochs, seed=seed, progress=False)
    else:
        train(model, data, epochs=epochs, seed=seed, progress=False)
    prune_fraction(model, fraction, method=method, scores=scores, seed=seed)
    if practice_epochs:
        # the survivors make up for the cut weights; pruned weights stay exactly zero (their masks stay)
        train(model, data, epochs=practice_epochs, seed=seed + 1, progress=False)
    report = export_model(model, data, board=CHALLENGE_BOARD)
    entry = ChallengeEntry(name=name, hidden=int(hidden), method=method, fraction=float(fraction),
                           size=report.size, accuracy=float(report.accuracy_int8))
    return entry, model


def check_challenge(entry: ChallengeEntry) -> Feedback:
    """Lesson 7: does the entry fit on an Uno (1020 bytes of model), and how good is it?"""
    budget = challenge_budget()
    if entry.fits:
        return _right(f"{entry.size} bytes ≤ {budget}: it fits on an Uno! Put it in the table — then try "
                      "another hidden size or method to beat it.")
    over = entry.size - budget
    return _hint(f"{entry.size} bytes is {over} bytes over the Uno's {budget}-byte budget. Prune a "
                 "bigger fraction or use fewer hidden neurons.")

