"""What every lesson starts with: seeds, plot defaults, and the small helpers the pictures share.

Imports nothing heavy at module level: lesson 0 must start even when a package is missing.
"""
from __future__ import annotations

import random
import sys

from bingo_kit.errors import KitError

# Pictures are read on a projector from the back of a room: about 700 px wide, labels of 13 px or more.
FIGURE_DPI = 110
PLOT_STYLE = {"figure.figsize": (6.5, 3.2), "figure.dpi": FIGURE_DPI, "savefig.dpi": FIGURE_DPI, "font.size": 12,
              "axes.titlesize": 12, "axes.labelsize": 12, "legend.fontsize": 11,
              "axes.spines.top": False, "axes.spines.right": False}


def start_lesson(seed: int = 0) -> None:
    """Make a lesson give the same numbers on every run (same machine, same software), draw its pictures large
    enough for a projector, and show the kit's errors as one friendly line instead of a traceback.

    One CPU thread: the networks are tiny (threads would only add overhead), two notebooks can share a
    2-core laptop, and float sums come out in the same order every time. Every import is optional here, so
    lesson 0 still starts (and reports) when a package is missing.
    """
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    try:
        import torch

        torch.manual_seed(seed)
        torch.set_num_threads(1)
    except ImportError:
        pass
    try:
        import matplotlib

        matplotlib.rcParams.update(PLOT_STYLE)
    except ImportError:
        pass
    show_kit_errors_as_one_line()


def show_kit_errors_as_one_line() -> None:
    """In a notebook, a KitError (a mistake a student can fix) prints its sentence, not 15 lines of library code.

    Any other exception keeps its full traceback: that one is a bug in the kit and the details help fix it.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:  # not in a notebook (a script, a test): errors stay ordinary exceptions
        return

    def one_line(shell, kind, error, traceback, tb_offset=None):
        print(f"❌ {error}", file=sys.stderr)  # stderr: JupyterLab shows it on a red background
        return None

    shell.set_custom_exc((KitError,), one_line)


def as_numpy(values):
    """A tensor or array as a numpy array (matplotlib wants numpy)."""
    import numpy as np

    return values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)


def figure_png(figure) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return buffer.getvalue()
