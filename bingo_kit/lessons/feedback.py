"""The answer every `check_...()` gives: a `Feedback` that shows as one friendly line and is truthy when right.

The wording helpers live here so every lesson says "✅" and "🤔 Not yet." the same way, and reads answers the
same way (one rule for every check, and for the numbers typed into lesson calls, bingo_kit.arguments):

- a **number** counts whether it is typed as a number (1020) or as text that is a number ("1020"); text gets a
  gentle note to leave the quotes out next time. A number too big for the computer (10**400) is simply too big.
- a **word** counts whatever its capitals, spaces or extra quotes ("Prose", " IMP ", "'prose'"). A word typed
  without any quotes is a NameError before a check can see it: start_lesson turns that into "words go in quotes".

And a check never grades an answer the student did not manage to save: when the cell run just before it stopped
with an error (`uno_model_bytes = 1 KB`), the old value is still there, so the check says that instead.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from bingo_kit.arguments import quoted_number_note


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


def correct(message: str) -> Feedback:
    return Feedback(True, f"✅ {message}")


def not_yet(message: str) -> Feedback:
    return Feedback(False, f"🤔 Not yet. {message}")


def not_filled_in(answer) -> bool:
    return answer is Ellipsis or answer is None


EMPTY_ANSWER = not_yet("Replace the ... with your answer, then run the cell again.")
ANSWER_NOT_SAVED = not_yet("The cell you ran last stopped with an error, so your new answer was not saved: "
                           "fix that cell and run it again, then run this check.")

# The cell in which a check last said ANSWER_NOT_SAVED: running the check again straight after must say it again
# (the old answer is still the one in memory), not grade it.
_said_not_saved_in: list = [None]


def answer_not_saved() -> bool:
    """Whether the notebook cell run just before this one stopped with an error (so its answer did not change).

    IPython keeps the result of the last cell it ran; outside a notebook there is none, and nothing is stale.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    last = getattr(shell, "last_execution_result", None)
    current = getattr(getattr(shell, "displayhook", None), "exec_result", None)  # this cell's result
    if last is None or (current is not None and _assigns(current.info.raw_cell)):
        return False  # a cell that sets the answer and checks it has just saved it
    stale = not last.success or last is _said_not_saved_in[0]
    if stale:
        _said_not_saved_in[0] = current
    return stale


def _assigns(source: str) -> bool:
    """Whether a cell assigns a name at its top level (`x = ...`): then it holds its own answer."""
    import ast

    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return any(isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) for node in body)


def exercise(check):
    """Make a `check_...()` refuse to grade an answer whose cell failed to run (see `answer_not_saved`)."""
    @functools.wraps(check)
    def checked(*args, **kwargs) -> Feedback:
        if answer_not_saved():
            return ANSWER_NOT_SAVED
        return check(*args, **kwargs)
    return checked


# --- reading answers ------------------------------------------------------------------------------

def read_number(answer) -> tuple[float | None, str]:
    """(the answer as a float, a note for the student), or (None, "") when it is not a number at all.

    Text that is a number counts, with a note; a whole number too big for a float is ±infinity (too big)."""
    if isinstance(answer, bool):
        return None, ""
    try:
        value = float(answer.strip()) if isinstance(answer, str) else float(answer)
    except OverflowError:  # float(10**400): a huge whole number
        value = math.inf if answer > 0 else -math.inf
    except (TypeError, ValueError):
        return None, ""
    if math.isnan(value):
        return None, ""
    return value, quoted_number_note(answer) if isinstance(answer, str) else ""


def as_number(answer) -> float | None:
    """The answer as a float, or None if a student typed something that is not a number."""
    return read_number(answer)[0]


def read_word(answer) -> str | None:
    """A word answer as the checks compare it: no capitals, no surrounding spaces or quotes; None if not text."""
    if not isinstance(answer, str):
        return None
    return answer.strip().strip("'\"‘’“”").strip().casefold()


def check_number(answer, expected: float, *, right: str, hint: str, rel_tol: float = 0.0,
                 abs_tol: float = 1e-9) -> Feedback:
    if not_filled_in(answer):
        return EMPTY_ANSWER
    value, note = read_number(answer)
    if value is None:
        return not_yet(f"Your answer should be a number, not {answer!r}. {hint}")
    note = f" {note}" if note else ""
    if math.isclose(value, expected, rel_tol=rel_tol, abs_tol=abs_tol):
        return correct(right + note)
    direction = "too big" if value > expected else "too small"
    return not_yet(f"{short_number(value)} is {direction}. {hint}{note}")


def short_number(value: float) -> str:
    """A number as a student would write it: 1020, 0.4167, or words for one too big to print."""
    if math.isinf(value):
        return "That number" if value > 0 else "That negative number"
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"
