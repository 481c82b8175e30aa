"""Checks for the numbers students type into lesson calls, done before any work starts.

A lesson call that trains for a minute and then fails on `fraction=80` wastes the minute and hides the
mistake; these turn each slip into one sentence that says what to write instead. (argparse does this for the
CLI; function calls from a notebook have no such library.) A number typed as text ("0.8") counts, with a
one-line note: the same rule as the lesson checks (bingo_kit.lessons.feedback).
"""
from __future__ import annotations

import math
import numbers

from bingo_kit.errors import KitError


def quoted_number_note(text: str) -> str:
    """The gentle note for a number typed as text: it counts, and needs no quotes next time."""
    return f"(Next time leave out the quotes: {text.strip()} is a number.)"


def _unquoted(value, name: str, example: str):
    """A number typed as text ("0.8") counts as that number, with a printed note, as in the lesson checks
    (bingo_kit.lessons.feedback); other text gets one sentence with an example."""
    if not isinstance(value, str):
        return value
    try:
        number = float(value.strip())
    except ValueError:
        raise KitError(f"{name} should be a number like {example}; you wrote {value!r}.") from None
    print(f"{name}: {quoted_number_note(value)}")
    return number


def whole_number(value, name: str, *, low: int, high: int, example: str | None = None) -> int:
    """`value` as an int in [low, high], or a KitError that says what to write."""
    example = example or str(low)
    value = _unquoted(value, name, example)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise KitError(f"{name} should be a whole number like {example}; you wrote {value!r}.")
    if not isinstance(value, numbers.Integral) and (not math.isfinite(value) or value != int(value)):
        raise KitError(f"{name} should be a whole number like {example}, not {value}.")
    if not low <= int(value) <= high:
        raise KitError(f"{name} should be a whole number from {low} to {high}; you wrote {_shown(int(value))}.")
    return int(value)


def _shown(number: int) -> str:
    """A whole number as typed, or its length when printing it would fill the screen (10**400)."""
    digits = str(abs(number))
    return digits if len(digits) <= 15 else f"a {len(digits)}-digit number"


def fraction(value, name: str = "fraction", *, below_one: bool = True) -> float:
    """`value` as a float share in [0, 1) (or [0, 1]), or a KitError; 80 gets "did you mean 0.8?"."""
    value = _unquoted(value, name, "0.8")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise KitError(f"{name} should be a number between 0 and 1, like 0.8; you wrote {value!r}.")
    try:
        value = float(value)
    except OverflowError:  # 10**400
        value = math.inf if value > 0 else -math.inf
    if value != value:  # NaN
        raise KitError(f"{name} should be a number between 0 and 1, like 0.8; you wrote nan.")
    top_ok = value < 1 if below_one else value <= 1
    if value >= 0 and top_ok:
        return value
    hint = f" Did you mean {value / 100:g}?" if 2 <= value <= 100 else ""  # 80 meant 80 %
    upper = ", less than 1" if below_one else ""
    raise KitError(f"{name} should be a share between 0 and 1{upper} (0.8 means 80%); you wrote {value:g}.{hint}")
