"""What every lesson starts with: seeds, plot defaults, and the small helpers the pictures share.

Imports nothing heavy at module level: lesson 0 must start even when a package is missing.
"""
from __future__ import annotations

import random


def start_lesson(seed: int = 0) -> None:
    """Make a lesson give the same numbers on every run (same machine, same software), and keep its plots small.

    One CPU thread: the networks are tiny (threads would only add overhead), two notebooks can share a
    2-core laptop, and float sums come out in the same order every time.
    """
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    try:
        import matplotlib

        matplotlib.rcParams.update({"figure.figsize": (6, 3), "figure.dpi": 72, "font.size": 10,
                                    "axes.spines.top": False, "axes.spines.right": False})
    except ImportError:  # the setup check reports a missing matplotlib; the lesson should still start
        pass


def as_numpy(values):
    """A tensor or array as a numpy array (matplotlib wants numpy)."""
    import numpy as np

    return values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)


def figure_png(figure) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    return buffer.getvalue()
