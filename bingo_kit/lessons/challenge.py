"""Lesson 8 — the challenge: the best model that fits an Uno, entered in a class results table.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt

from bingo_kit import methods
from bingo_kit.arguments import fraction as fraction_argument
from bingo_kit.arguments import whole_number
from bingo_kit.boards import get_board
from bingo_kit.errors import KitError
from bingo_kit.export import export_model
from bingo_kit.lessons.feedback import Feedback, correct, exercise, not_yet
from bingo_kit.models import make_mlp
from bingo_kit.pruning import prune_fraction
from bingo_kit.training import train

# The challenge in lesson 8: the whole model blob must fit in an Uno's EEPROM. That is 1 KB minus the 4-byte
# record header (length + CRC): the board's own `model_capacity`, the number IDENTIFY reports and export checks.
CHALLENGE_BOARD = "uno"


def challenge_budget() -> int:
    """Bytes of model an Uno holds (1020): the challenge's budget, straight from the board table."""
    return get_board(CHALLENGE_BOARD).model_capacity


# Every method that ranks the weights of one trained network: the paper's BINGO rules and the kit's variant too.
CHALLENGE_METHODS = methods.method_ids(ranks_trained_model=True)


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
        """Add an entry; one with the same name replaces the old one (re-running a cell adds no duplicate)."""
        if not isinstance(entry, ChallengeEntry):
            raise KitError("Add the entry that challenge_entry(...) gave you: table.add(entry).")
        self.entries = [old for old in self.entries if old.name != entry.name] + [entry]
        return entry

    def ranked(self) -> list[ChallengeEntry]:
        return sorted(self.entries, key=lambda e: (not e.fits, -e.accuracy, e.size))

    def plot(self) -> None:
        """Every entry as a dot: bytes across, int8 accuracy up; the 1 KB budget as a line."""
        fig, ax = plt.subplots(figsize=(6, 3.2))
        for entry in self.entries:
            ax.scatter(entry.size, 100 * entry.accuracy, color="tab:green" if entry.fits else "tab:red")
            ax.annotate(entry.name, (entry.size, 100 * entry.accuracy), textcoords="offset points", xytext=(4, 4),
                        fontsize=10)
        budget = challenge_budget()
        ax.axvline(budget, color="black", linestyle="--", linewidth=1)
        ax.text(budget, ax.get_ylim()[0], f" Uno budget: {budget} bytes", fontsize=10, va="bottom")
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
    """Lesson 8 in one call: train a 64-`hidden`-10 network (scored while it trains, for the BINGO methods), prune
    `fraction` of its weights with `method`, practise `practice_epochs` more epochs with the survivors, then
    export it for an Uno and measure the int8 accuracy. Returns (the table entry, the model)."""
    # every argument is checked before the minute of training, so a typo costs nothing
    method = _challenge_method(method)
    hidden = whole_number(hidden, "hidden", low=1, high=255, example="16")  # a board layer holds at most 255
    fraction = fraction_argument(fraction)
    epochs = whole_number(epochs, "epochs", low=1, high=500, example="30")
    practice_epochs = whole_number(practice_epochs, "practice_epochs", low=0, high=500, example="10")
    if not isinstance(name, str) or not name.strip():
        raise KitError(f"Give your entry a name in quotes, like \"Ada\"; you wrote {name!r}.")
    model = make_mlp((data.n_features, hidden, data.n_classes), seed=seed)
    scores = None
    if methods.get_method(method).scored_while_training:
        _, scores = methods.train_scored(model, data, method, epochs=epochs, seed=seed, progress=False)
    else:
        train(model, data, epochs=epochs, seed=seed, progress=False)
    prune_fraction(model, fraction, method=method, scores=scores, seed=seed)
    if practice_epochs:
        # the survivors make up for the cut weights; pruned weights stay exactly zero (their masks stay)
        train(model, data, epochs=practice_epochs, seed=seed + 1, progress=False)
    report = export_model(model, data, board=CHALLENGE_BOARD)
    entry = ChallengeEntry(name=name, hidden=hidden, method=method, fraction=fraction,
                           size=report.size, accuracy=float(report.accuracy_int8))
    return entry, model


def _challenge_method(method) -> str:
    """The student's method name, matched leniently ("BINGO", " Magnitude ", the label a slider shows)."""
    found = methods.find_method(method)
    if found is None or found.id not in CHALLENGE_METHODS:
        raise KitError(f"method should be one of {', '.join(map(repr, CHALLENGE_METHODS))}; you wrote {method!r}.")
    return found.id


@exercise
def check_challenge(entry: ChallengeEntry) -> Feedback:
    """Lesson 8: does the entry fit on an Uno (1020 bytes of model), and how good is it?"""
    if not isinstance(entry, ChallengeEntry):
        return not_yet("Check the entry that challenge_entry(...) gave you: check_challenge(entry).")
    budget = challenge_budget()
    if entry.fits:
        return correct(f"{entry.size} bytes ≤ {budget}: it fits on an Uno! Put it in the table — then try "
                      "another hidden size or method to beat it.")
    over = entry.size - budget
    return not_yet(f"{entry.size} bytes is {over} bytes over the Uno's {budget}-byte budget. Prune a "
                 "bigger fraction or use fewer hidden neurons.")
