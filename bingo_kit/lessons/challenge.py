"""Lesson 8 — the challenge: the best clothes reader that fits an Uno, entered in a class results table and
saved as one file per student for the teacher's leaderboard (bingo_kit.leaderboard).

Why clothes and not digits: on the digits a 12-neuron network that is not pruned at all already fits an Uno and
reads 96 %, so pruning could not decide the challenge. On 8×8 pictures of clothes a wide network reads far more
than a narrow one, and only pruning makes a wide one fit (benchmarks/challenge.py measures by how much).
"""
from __future__ import annotations

import binascii
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np

from bingo_kit import methods
from bingo_kit.arguments import fraction as fraction_argument
from bingo_kit.arguments import whole_number
from bingo_kit.errors import KitError
from bingo_kit.leaderboard import (CHALLENGE_BOARD, challenge_budget, challenge_data, entry_record,  # noqa: F401
                                   widest_layer, write_entry)
from bingo_kit.lessons.feedback import Feedback, correct, exercise, not_yet

# Every method that ranks the weights of one trained network: the paper's BINGO rules and the kit's variant too.
CHALLENGE_METHODS = methods.method_ids(ranks_trained_model=True)
# Training in the challenge: 15 epochs, the cut, then 5 epochs of practice for the survivors; 128 pictures a step
# keeps one entry to about 10 s of one core on the 54 000 training pictures. Every entry gets the same 20 epochs,
# pruned or not: benchmarks/challenge.py compares them at this budget.
CHALLENGE_EPOCHS = 15
CHALLENGE_PRACTICE_EPOCHS = 5
CHALLENGE_BATCH_SIZE = 128
TOO_BIG_ADVICE = "Make your entry again with a bigger fraction or fewer hidden neurons, then flash it."


def seed_for(name: str) -> int:
    """Each name trains from its own (fixed) random start: two students who choose the same settings still get
    two different models, so the leaderboard's copy check never mistakes one for a copy of the other."""
    return binascii.crc32(name.strip().casefold().encode("utf-8")) % 100_000


@dataclass
class ChallengeEntry:
    name: str
    hidden: int
    method: str
    fraction: float
    size: int
    accuracy: float                   # int8 accuracy on the lesson's test pictures (what the table ranks by)
    blob: bytes = field(default=b"", repr=False)  # the model exactly as the board stores it
    correct: int = 0                  # test pictures read right, of `total`
    total: int = 0
    settings: dict = field(default_factory=dict, repr=False)

    @property
    def fits(self) -> bool:
        return self.size <= challenge_budget()

    def __repr__(self) -> str:  # what a lesson cell shows: the entry in one sentence
        how = f"{self.method}, {self.fraction:.0%} pruned" if self.pruned else "not pruned"
        fit = "fits an Uno" if self.fits else f"{self.size - challenge_budget()} bytes too many for an Uno"
        return (f"{self.name}: {self.hidden} hidden, {how} → {self.size} bytes ({fit}), "
                f"{self.accuracy:.1%} of the test pictures right")

    @property
    def pruned(self) -> bool:
        return self.fraction > 0

    def save(self, folder) -> "Path":  # noqa: F821
        """Write this entry into `folder` as your one file for the class leaderboard; returns its path. Saving
        again replaces it. The file holds the blob, the settings, the accuracy you claim and hashes."""
        if not self.blob or not self.total:
            raise KitError("Save an entry that challenge_entry(...) made: it carries its model and its accuracy.")
        claim = {"split": "test", "correct": self.correct, "total": self.total}
        return write_entry(folder, entry_record(self.name, self.blob, self.settings, claim))

    # what a FlashButton asks for: this entry's own blob, so the board gets exactly what the table measured
    too_big_advice = TOO_BIG_ADVICE

    def export_for(self, board, capacity: int | None = None):
        from bingo_kit.export import report_for_blob

        if not self.blob:
            raise KitError("This entry has no model to flash: make it with challenge_entry(...).")
        return report_for_blob(self.blob, board, capacity=capacity)


class NewestEntry:
    """Lesson 8's flash button sends this: whichever entry challenge_entry(...) made last in this notebook,
    looked up when Flash is pressed. A student who fixes their entry flashes the fixed one without running the
    button's cell again."""

    too_big_advice = TOO_BIG_ADVICE

    def __init__(self):
        self.entry: ChallengeEntry | None = None

    def export_for(self, board, capacity: int | None = None):
        if self.entry is None:
            raise KitError("Make your entry first (the challenge_entry cell above), then flash it.")
        return self.entry.export_for(board, capacity)

    def __repr__(self) -> str:
        return f"newest_entry: {self.entry!r}" if self.entry else "newest_entry: none yet"


newest_entry = NewestEntry()


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
        """Every entry as a dot: bytes across, int8 accuracy up; pruned entries filled, the budget as a line."""
        fig, ax = plt.subplots(figsize=(6.5, 3.4))
        for entry in self.entries:
            colour = "tab:green" if entry.fits else "tab:red"
            ax.scatter(entry.size, 100 * entry.accuracy, s=60, color=colour if entry.pruned else "white",
                       edgecolors=colour, linewidths=2, zorder=3)
            ax.annotate(entry.name, (entry.size, 100 * entry.accuracy), textcoords="offset points", xytext=(6, 4),
                        fontsize=11)
        budget = challenge_budget()
        ax.axvline(budget, color="black", linestyle="--", linewidth=1)
        ax.text(budget, ax.get_ylim()[0], f" Uno: {budget} bytes", fontsize=11, va="bottom")
        ax.set_xlabel("blob size (bytes)")
        ax.set_ylabel("test accuracy, int8 (%)")
        ax.set_title("Up and to the left of the line wins (filled dot = pruned)")
        plt.show()

    def __repr__(self) -> str:
        header = f"{'':3} {'name':<16} {'hidden':>6} {'method':<10} {'pruned':>6} {'bytes':>6} {'int8 acc':>8}"
        lines = [header, "-" * len(header)]
        for place, entry in enumerate(self.ranked(), start=1):
            badge = f"{place}." if entry.fits else "✗"
            method = entry.method if entry.pruned else "-"
            lines.append(f"{badge:3} {entry.name[:16]:<16} {entry.hidden:>6} {method:<10} {entry.fraction:>6.0%} "
                         f"{entry.size:>6} {entry.accuracy:>8.1%}")
        return "\n".join(lines)


def challenge_entry(name: str, data, *, hidden: int, method: str = "magnitude", fraction: float = 0.0,
                    epochs: int = CHALLENGE_EPOCHS, practice_epochs: int = CHALLENGE_PRACTICE_EPOCHS,
                    seed: int | None = None) -> ChallengeEntry:
    """Lesson 8 in one call: train a 64-`hidden`-10 network (scored while it trains, for the BINGO methods),
    prune `fraction` of its weights with `method` (0: no pruning), let the survivors practise `practice_epochs`
    more epochs (a network that is not pruned trains those epochs too), turn it into the Uno's int8 blob and
    measure that blob on the test pictures. The seed comes from the name unless given."""
    # every argument is checked before the training, so a typo costs nothing
    if not isinstance(name, str) or not name.strip():
        raise KitError(f"Give your entry a name in quotes, like \"Ada\"; you wrote {name!r}.")
    method = _challenge_method(method)
    hidden = whole_number(hidden, "hidden", low=1, high=widest_layer(), example="24")  # the Uno runs ≤ 64 per layer
    fraction = fraction_argument(fraction)
    epochs = whole_number(epochs, "epochs", low=1, high=500, example=str(CHALLENGE_EPOCHS))
    practice_epochs = whole_number(practice_epochs, "practice_epochs", low=0, high=500,
                                   example=str(CHALLENGE_PRACTICE_EPOCHS))
    seed = seed_for(name) if seed is None else whole_number(seed, "seed", low=0, high=2**31 - 1)
    if not fraction:  # not pruned: the same 20 epochs, all of them whole
        model, scores = trained_network(data, hidden, None, epochs + practice_epochs, seed)
    else:
        model, scores = trained_network(data, hidden, method, epochs, seed)
    entry = finished_entry(name, data, model, scores, method=method, fraction=fraction, epochs=epochs,
                           practice_epochs=practice_epochs, seed=seed)
    newest_entry.entry = entry
    return entry


def trained_network(data, hidden: int, method: str | None, epochs: int, seed: int):
    """(model, scores): a 64-`hidden`-10 network trained `epochs` epochs, scored by `method` while it trains
    when that method needs it (scores None otherwise)."""
    from bingo_kit.models import make_mlp
    from bingo_kit.training import train

    model = make_mlp((data.n_features, hidden, data.n_classes), seed=seed)
    options = dict(seed=seed, progress=False, batch_size=CHALLENGE_BATCH_SIZE)
    if method is not None and methods.get_method(method).scored_while_training:
        _, scores = methods.train_scored(model, data, method, epochs=epochs, **options)
        return model, scores
    train(model, data, epochs=epochs, **options)
    return model, None


def finished_entry(name: str, data, model, scores, *, method: str, fraction: float, epochs: int,
                   practice_epochs: int, seed: int) -> ChallengeEntry:
    """Prune a trained `model` (in place), let the survivors practise, export it for the Uno and measure the
    blob on the test pictures exactly as the leaderboard will: decoded, with the board's integer arithmetic."""
    from bingo_kit.export import decode_blob, export_model, inputs_to_bytes
    from bingo_kit.pruning import prune_fraction
    from bingo_kit.training import train

    if fraction:
        prune_fraction(model, fraction, method=method, scores=scores, seed=seed)
        if practice_epochs:
            # the survivors make up for the cut weights; pruned weights stay exactly zero (their masks stay)
            train(model, data, epochs=practice_epochs, seed=seed + 1, progress=False,
                  batch_size=CHALLENGE_BATCH_SIZE)
    blob = export_model(model, board=CHALLENGE_BOARD, calibration_x=data.x_train).blob
    answers = np.argmax(decode_blob(blob).logits(inputs_to_bytes(data.x_test)), axis=-1)
    right = int(np.sum(answers == np.asarray(data.y_test)))
    hidden = model.sizes[1]
    settings = {"hidden": hidden, "method": method if fraction else "none", "fraction": fraction,
                "epochs": epochs, "practice_epochs": practice_epochs, "seed": seed}
    return ChallengeEntry(name=name.strip(), hidden=hidden, method=method, fraction=fraction, size=len(blob),
                          accuracy=right / len(answers), blob=blob, correct=right, total=len(answers),
                          settings=settings)


def _challenge_method(method) -> str:
    """The student's method name, matched leniently ("BINGO", " Magnitude ", the label a slider shows)."""
    found = methods.find_method(method)
    if found is None or found.id not in CHALLENGE_METHODS:
        raise KitError(f"method should be one of {', '.join(map(repr, CHALLENGE_METHODS))}; you wrote {method!r}.")
    return found.id


def show_clothes(data, per_class: int = 2) -> None:
    """A few training pictures of each kind of clothes, 8×8 as the network and the board see them."""
    labels = np.asarray(data.y_train)
    fig, axes = plt.subplots(per_class, data.n_classes, figsize=(9, 1.2 * per_class + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for kind in range(data.n_classes):
        for row, index in enumerate(np.flatnonzero(labels == kind)[:per_class]):
            ax = axes[row, kind]
            ax.imshow(np.asarray(data.x_train[index]).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            if row == 0:
                ax.set_title(data.class_names[kind].replace("/", "/\n").replace(" ", "\n"), fontsize=11)
    fig.suptitle("8 × 8 pictures of clothes: what the network (and the Uno) reads", fontsize=12)
    plt.tight_layout()
    plt.show()


@exercise
def check_challenge(entry: ChallengeEntry) -> Feedback:
    """Lesson 8: does the entry fit on an Uno (1020 bytes of model), and how good is it?"""
    if not isinstance(entry, ChallengeEntry):
        return not_yet("Check the entry that challenge_entry(...) gave you: check_challenge(entry).")
    budget = challenge_budget()
    if entry.fits:
        return correct(f"{entry.size} bytes ≤ {budget}: it fits on an Uno! Now try to beat the network that is "
                       "not pruned: another hidden size, method or fraction.")
    over = entry.size - budget
    return not_yet(f"{entry.size} bytes is {over} bytes over the Uno's {budget}-byte budget. Prune a "
                   "bigger fraction or use fewer hidden neurons.")
