"""Lesson 2 — pruning by hand: six weights to prune with pencil and paper, then a whole network.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import matplotlib.pyplot as plt

from bingo_kit.errors import KitError
from bingo_kit.lessons.feedback import (EMPTY_ANSWER, Feedback, correct, exercise, not_filled_in, not_yet,
                                        read_number)
from bingo_kit.methods import get_method
from bingo_kit.pruning import accuracy_curve, kept_weights

# The exercise in lesson 2: a made-up row of six weights that students prune by hand.
HAND_WEIGHTS = (0.8, -0.05, 0.3, -0.9, 0.02, -0.4)


def show_hand_weights(weights: Sequence[float] = HAND_WEIGHTS) -> None:
    """The six weights of lesson 2's exercise as bars: height = value, so size is the bar's length."""
    labels = [f"w{i + 1}" for i in range(len(weights))]
    colours = ["tab:red" if w > 0 else "tab:blue" for w in weights]
    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.bar(labels, weights, color=colours)
    ax.axhline(0, color="black", linewidth=0.8)
    for x, w in enumerate(weights):
        ax.text(x, w + (0.04 if w > 0 else -0.1), f"{w:+.2f}", ha="center", fontsize=11)
    ax.set_ylim(-1.1, 1.1)
    ax.set_title("six weights of one neuron: which three would you keep?")
    plt.show()


def pruning_curve(model, data, *, methods: Sequence[str] = ("magnitude", "random"), scores=None,
                  scores_by_method: dict | None = None,
                  fractions: Sequence[float] = tuple(i / 20 for i in range(20)), seed: int = 0,
                  labels: dict | None = None, title: str = "How much can we cut?") -> dict[str, list[float]]:
    """Prune the model to each fraction with each method, measure test accuracy, plot it, and put the
    model back to dense. Returns {method: [accuracy per fraction]}.

    Scores for the methods that need them come in one of two ways: `scores` is one set ({layer name: tensor})
    that every score-based method uses; `scores_by_method` gives each method its own set ({"prose": {...},
    "paper": {...}}: any name the method registry knows). Legend labels come from the registry too.
    """
    if scores is not None and scores_by_method is not None:
        raise KitError("Give either scores= (one set for every method) or scores_by_method=, not both.")
    curves = {method: accuracy_curve(model, data, fractions, method=method, seed=seed,
                                     scores=(scores_by_method or {}).get(method, scores))
              for method in methods}
    fig, ax = plt.subplots()
    for method, curve in curves.items():
        ax.plot([100 * f for f in fractions], [100 * a for a in curve], marker=".",
                label=(labels or {}).get(method) or get_method(method).label)
    ax.set_xlabel("weights pruned (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(loc="lower left")
    plt.show()
    return curves


def largest_by_magnitude(weights: Iterable[float], keep: int) -> list[float]:
    """The `keep` weights with the largest size |w|, in their original order."""
    weights = list(weights)
    order = sorted(range(len(weights)), key=lambda i: -abs(weights[i]))[:keep]
    return [weights[i] for i in sorted(order)]


@exercise
def check_kept_by_magnitude(kept, weights: Sequence[float] = HAND_WEIGHTS, keep: int = 3) -> Feedback:
    """Lesson 2: which `keep` weights survive magnitude pruning? (a list of the surviving values)."""
    if not_filled_in(kept) or (isinstance(kept, (list, tuple)) and Ellipsis in kept):
        return EMPTY_ANSWER
    read = [read_number(w) for w in kept] if isinstance(kept, (list, tuple)) else [(None, "")]
    if not read or any(value is None for value, _ in read):
        return not_yet("Write the weights you keep as a list of numbers, for example [0.8, -0.05, 0.3].")
    answer = sorted(value for value, _ in read)
    note = next((f" {note}" for _, note in read if note), "")
    expected = largest_by_magnitude(weights, keep)
    if answer == sorted(expected):
        return correct(f"You kept {expected}. Magnitude pruning keeps the weights with the biggest SIZE — "
                      f"-0.9 is big even though it is negative.{note}")
    if len(answer) != keep:
        return not_yet(f"Keep exactly {keep} of the {len(weights)} weights (you wrote {len(answer)}).")
    if answer == sorted(sorted(weights)[-keep:]):
        return not_yet("Those are the most POSITIVE weights. A weight of -0.9 pushes just as hard as +0.9: "
                     "compare sizes, ignoring the minus sign.")
    return not_yet("Rank the weights by their size, ignoring the minus sign, and keep the biggest ones.")


@exercise
def check_pruned_fraction(model, fraction, tolerance: float = 0.005) -> Feedback:
    """Lesson 2: did the student prune `fraction` of the model's weights?"""
    if not_filled_in(fraction):
        return EMPTY_ANSWER
    fraction, note = read_number(fraction)
    if fraction is None or not 0 <= fraction <= 1:
        return not_yet("The fraction should be a number between 0 and 1 (0.9 for 90%).")
    if not hasattr(model, "weight_layers"):
        return not_yet("Check the network itself: check_pruned_fraction(model, 0.9).")
    note = f" {note}" if note else ""
    kept, total = kept_weights(model)
    pruned = 1 - kept / total
    if abs(pruned - fraction) <= tolerance:
        return correct(f"{total - kept} of {total} weights are now zero ({pruned:.0%} pruned).{note}")
    return not_yet(f"The model has {pruned:.0%} of its weights pruned, not {fraction:.0%}. "
                 f"Prune with prune_fraction(model, {fraction:g}, method=...), then check again.{note}")
