"""Lesson 5 — the race: the paper's Table 1 re-run, drawn and read.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from bingo_kit.lessons.feedback import EMPTY_ANSWER, Feedback, correct, exercise, not_filled_in, not_yet, read_word
from bingo_kit.methods import find_method, get_method
from bingo_kit.race import race_label

def _colour(name: str) -> str:
    """The paper's BINGO green, the kit's own variants blue, IMP purple, the plain baselines grey."""
    method = get_method(name)
    if method.kit_variant:
        return "tab:blue"
    if method.scored_while_training:
        return "tab:green"
    return "tab:purple" if method.id == "imp" else "tab:grey"


def plot_race(result) -> None:
    """The race side by side: how much each method pruned at the floor, and how long it took."""
    names = [name for name in result.methods if name != "dense"]
    labels = [race_label(name) for name in names]
    colours = [_colour(name) for name in names]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.45 * len(names) + 1.4))
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


def show_race_table(result) -> None:
    """The race as a student reads it: each runner's name, how much it pruned, its accuracy, its time."""
    print(f"Every runner had to stay at or above {result.floor:.1%} accuracy "
          f"(the whole network's {result.dense_accuracy:.1%} minus {100 * result.drop:.0f} points).")
    width = max(len(race_label(name)) for name in result.methods)
    print(f"{'method':<{width}}  {'pruned':>7}  {'accuracy':>8}  {'seconds':>7}")
    for name, run in result.methods.items():
        print(f"{race_label(name):<{width}}  {run.pruned_fraction:>7.1%}  {run.accuracy:>8.1%}  {run.seconds:>7.1f}")


def race_column(result, column: str) -> dict[str, float]:
    """One column of the race table for the pruning methods: {"bingo": ..., "imp": ..., ...}."""
    return {name: getattr(r, column) for name, r in result.methods.items() if name != "dense"}


@exercise
def check_race_winner(answer, results: dict[str, float], *, question: str = "fastest") -> Feedback:
    """Lesson 5: read the race table. `results` maps method -> the measured number for the question.

    question "fastest": smallest number (seconds) wins; "most pruned": largest number (fraction) wins.
    """
    if not_filled_in(answer):
        return EMPTY_ANSWER
    method = find_method(answer)  # "IMP", "'Bingo'" or the label in the picture all name the same runner
    answer = method.id if method is not None else read_word(answer)
    if answer not in results:
        return not_yet(f"Answer with one of {sorted(results)} (in quotes).")
    pick = min if question == "fastest" else max
    winner = pick(results, key=results.get)
    if answer == winner or results[answer] == results[winner]:
        verb = "was the fastest" if question == "fastest" else "pruned the most"
        return correct(f"'{winner}' {verb} in our race ({_fmt_result(results[winner], question)}).")
    return not_yet(f"'{answer}' got {_fmt_result(results[answer], question)}; look for the "
                 f"{'smallest time' if question == 'fastest' else 'biggest pruned fraction'} in the table.")


def _fmt_result(value: float, question: str) -> str:
    return f"{value:.2f} s" if question == "fastest" else f"{value:.0%} pruned"
