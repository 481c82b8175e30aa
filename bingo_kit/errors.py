"""One base class for every error a student or teacher can cause.

The CLI prints these as one sentence and the widgets show them in their status line; anything else is a bug
and keeps its traceback.
"""


class KitError(Exception):
    """An error whose message tells a person what happened and what to do next."""
