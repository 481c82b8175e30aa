"""The answer every `check_...()` gives: a `Feedback` that shows as one friendly line and is truthy when right.

The wording helpers live here so every lesson says "✅" and "🤔 Not yet." the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


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


def as_number(answer):
    """The answer as a float, or None if a student typed something that is not a number."""
    if isinstance(answer, bool):
        return None
    try:
        return float(answer)
    except (TypeError, ValueError):
        return None


def check_number(answer, expected: float, *, right: str, hint: str, rel_tol: float = 0.0,
                  abs_tol: float = 1e-9) -> Feedback:
    if not_filled_in(answer):
        return EMPTY_ANSWER
    value = as_number(answer)
    if value is None:
        return not_yet(f"Your answer should be a number, not {answer!r}. {hint}")
    if math.isclose(value, expected, rel_tol=rel_tol, abs_tol=abs_tol):
        return correct(right)
    direction = "too big" if value > expected else "too small"
    return not_yet(f"{_short(value)} is {direction}. {hint}")


def _short(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"
