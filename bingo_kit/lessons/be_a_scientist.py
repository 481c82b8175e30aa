"""Lesson 4 — be a scientist: the paper's words and its printed formula disagree; an experiment with a control
decides which one finds the weights that matter, and how firmly.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from bingo_kit.lessons.feedback import EMPTY_ANSWER, Feedback, correct, exercise, not_filled_in, not_yet, read_word


def show_evidence(evidence: dict[str, float], *, title: str) -> None:
    """Bars: test accuracy left after pruning with each rule's scores (and any baselines)."""
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


def mirror_gap(prose_scores: dict, paper_scores: dict) -> float:
    """The largest |S_paper - (1 - S_prose)| over all weights. With the same seed both runs train the same
    network and draw the same tickets, and each paper update is 1 minus the prose one, so from the common start
    of 0.5 the paper scores are the prose scores mirrored: this is 0 up to float rounding."""
    return max(float((paper_scores[name] - (1 - prose_scores[name])).abs().max()) for name in prose_scores)


@exercise
def check_verdict(verdict, evidence: dict[str, float]) -> Feedback:
    """Lesson 4 "be a scientist": which rule did the paper mean? The evidence decides, not the paper.

    `evidence` maps each rule ("paper", "prose") to what the class measured for it — the accuracy left
    after pruning the same fraction with that rule's scores. A rule whose scores keep the network working
    is the one that measures significance. A wrong verdict's hint sends the student back to the bars; it
    names neither rule nor number (that would be the answer).
    """
    if not_filled_in(verdict):
        return EMPTY_ANSWER
    rules = sorted(evidence)
    chosen = next((rule for rule in rules if rule.casefold() == read_word(verdict)), None)
    if chosen is None:
        return not_yet(f"Answer with one of {rules} (in quotes).")
    best = max(evidence, key=evidence.get)
    numbers = ", ".join(f"{rule}: {evidence[rule]:.1%}" for rule in rules)
    if chosen == best:
        return correct(f"That is what this experiment shows: cutting by the '{best}' rule's scores left the most "
                      f"accuracy ({numbers}). One network and one seed is evidence, not proof — other seeds or datasets "
                      "could test it further.")
    return not_yet("Look at the bars again: after the same cut, which rule's network kept MORE of its accuracy? "
                   "Scores that point at the weights that matter leave the network working.")
