"""Checks for the numbers students type into lesson calls, done before any work starts.

A lesson call that trains for a minute and then fails on `fraction=80` wastes the minute and hides the
mistake; these turn each slip into one sentence that says what to write instead. (argparse does this for the
CLI; function calls from a notebook have no such library.)
"""
from __future__ import annotations

import numbers

from bingo_kit.errors import KitError


def _quoted(name: str, value, example: str):
    """A number typed as text ("0.8") gets "remove the quotes"; any other text gets an example."""
    if not isinstance(value, str):
        return None
    try:
        float(value)
    except ValueError:
        return KitError(f"{name} should be a number like {example}; you wrote {value!r}.")
    return KitError(f"{name} should be a number like {example}, without quotes; you wrote {value!r}.")


def whole_number(value, name: str, *, low: int, high: int, example: str | None = None) -> int:
    """`value` as an int in [low, high], or a KitError that says what to write."""
    example = example or str(low)
    error = _quoted(name, value, example)
    if error:
        raise error
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise KitError(f"{name} should be a whole number like {example}; you wrote {value!r}.")
    if value != int(value):
        raise KitError(f"{name} should be a whole number like {example}, not {value}.")
    if not low <= int(value) <= high:
        raise KitError(f"{name} should be a whole number from {low} to {high}; you wrote {int(value)}.")
    return int(value)


def fraction(value, name: str = "fraction", *, below_one: bool = True) -> float:
    """`value` as a float share in [0, 1) (or [0, 1]), or a KitError; 80 gets "did you mean 0.8?"."""
    error = _quoted(name, value, "0.8")
    if error:
        raise error
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise KitError(f"{name} should be a number between 0 and 1, like 0.8; you wrote {value!r}.")
    value = float(value)
    if value != value:  # NaN
        raise KitError(f"{name} should be a number between 0 and 1, like 0.8; you wrote nan.")
    top_ok = value < 1 if below_one else value <= 1
    if value >= 0 and top_ok:
        return value
    hint = f" Did you mean {value / 100:g}?" if 2 <= value <= 100 else ""  # 80 meant 80 %
    upper = ", less than 1" if below_one else ""
    raise KitError(f"{name} should be a share between 0 and 1{upper} (0.8 means 80%); you wrote {value:g}.{hint}")
