"""Lesson 3 — lottery tickets and BINGO: the lottery ticket, the fake pass, the significance formula by hand, and how
little one fake pass can tell about a single weight.
"""
from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap
import numpy as np
import torch

from bingo_kit import bingo
from bingo_kit.bingo import BingoScorer
from bingo_kit.lessons.common import as_numpy
from bingo_kit.lessons.feedback import Feedback, check_number, exercise


def show_lottery_ticket(sizes: Sequence[int] = (8, 6, 4), *, keep: float = 0.25, seed: int = 0) -> None:
    """The lottery-ticket idea in one picture: a big network (grey lines) hides a small one (orange) that
    trains just as well — and the BINGO score every weight carries, as the formula the lesson works by hand."""
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
    left.set_title("a big network hides\na winning ticket (orange)", fontsize=11)  # two lines: the titles meet
    left.axis("off")
    right.axis("off")
    right.text(0.5, 0.75, r"$S_{new} = \dfrac{S_{old} + \dfrac{|A_b - A_a|}{A_b}}{2}$", ha="center", va="center",
               fontsize=15)
    right.text(0.5, 0.3, "A_b: accuracy before the fake reset\nA_a: accuracy after it\n"
               "big drop → the weights in the ticket mattered", ha="center", va="center", fontsize=11)
    right.set_title("every weight's significance score S\n(starts at 0.5)", fontsize=11)
    plt.show()


def show_fake_pass(model, data, *, p: float = 0.2, seed: int = 0) -> tuple[float, float]:
    """One BINGO fake pass on the trained model: draw a ticket, reset it, measure. Shows the ticket (which
    first-layer weights were reset) and the accuracy before and after. Returns (A_b, A_a)."""
    # accuracy on a batch, said explicitly: the picture's bars are labelled "accuracy", whatever the defaults become
    scorer = BingoScorer(model, p=p, seed=seed, metric="accuracy", probe="batch")
    tickets = scorer.draw_tickets()
    before, after = scorer.score_step(data.x_test, data.y_test, tickets=tickets)
    before, after = float(before), float(after[0])
    first = _ticket_mask(tickets[0], model)[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 2.8), gridspec_kw={"width_ratios": [3, 1]})
    left.imshow(as_numpy(first).astype(float), cmap=ListedColormap(["whitesmoke", "tab:orange"]), aspect="auto",
                interpolation="nearest")
    left.set_title(f"the ticket: {int(first.sum())} of {first.numel()} first-layer weights reset (orange)")
    left.set_xlabel("input pixel")
    left.set_ylabel("hidden neuron")
    right.bar(["A_b\nbefore", "A_a\nafter"], [100 * before, 100 * after], color=["tab:green", "tab:red"])
    right.set_ylim(0, 100)
    right.set_title("accuracy (%)")
    plt.show()
    return before, after


def _ticket_mask(ticket, model) -> list:
    """One ticket (flat indices of the weights it resets, as the scorer draws them) as a bool mask per layer."""
    shapes = [tuple(layer.weight.shape) for _, layer in model.weight_layers()]
    flat = torch.zeros(sum(math.prod(shape) for shape in shapes), dtype=torch.bool)
    flat[ticket.reshape(-1)] = True
    masks, offset = [], 0
    for shape in shapes:
        size = math.prod(shape)
        masks.append(flat[offset: offset + size].view(shape))
        offset += size
    return masks


def bingo_update(previous: float, accuracy_before: float, accuracy_after: float, rule: str = "prose") -> float:
    """One BINGO score update for a weight that was in a fake-pass ticket — the library's own formula:

        prose: S = (S_prev + |A_b - A_a| / A_b) / 2        paper: S = (S_prev + 1 - |A_b - A_a| / A_b) / 2
    """
    return float(bingo.bingo_update(previous, accuracy_before, accuracy_after, rule))


@exercise
def check_significance(answer, *, previous: float, before: float, after: float, rule: str = "prose") -> Feedback:
    """Lesson 3: the significance formula worked by hand on one example."""
    expected = bingo_update(previous, before, after, rule)
    relative = abs(before - after) / before
    if rule == "paper":  # the printed formula averages with 1 - drop instead of the drop
        sum_text, hint_step = f"({previous} + 1 - {relative:.3f}) / 2", "subtract that from 1; add the old score"
    else:
        sum_text, hint_step = f"({previous} + {relative:.3f}) / 2", "add the old score"
    return check_number(
        answer, expected, abs_tol=0.006,
        right=f"|{before} - {after}| / {before} = {relative:.3f}, and {sum_text} = "
              f"{expected:.3f}. Exactly what BINGO's '{rule}' rule computes for every weight in that ticket."
        if rule == "paper" else
        f"|{before} - {after}| / {before} = {relative:.3f}, and {sum_text} = "
        f"{expected:.3f}. Exactly what BINGO computes for every weight in that ticket.",
        hint=f"Step by step: the change |A_b - A_a|, divided by A_b; {hint_step}; halve it. "
             "Keep 3 decimals.")


@exercise
def check_shared_weights(answer, *, p: float, weights: int) -> Feedback:
    """Lesson 3: one fake pass resets about p × weights weights, and all of them share its one measured drop."""
    expected = round(p * weights)
    return check_number(
        answer, expected, abs_tol=1,
        right=f"{p:.0%} of {weights} ≈ {expected} weights share ONE number. BINGO can only tell them apart by "
              "repeating the fake pass many times with different tickets.",
        hint=f"Multiply the share of weights in a ticket ({p}) by the number of weights ({weights}).")
