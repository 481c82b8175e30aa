"""What every lesson starts with: seeds, plot defaults, and the small helpers the pictures share.

Imports nothing heavy at module level: lesson 0 must start even when a package is missing.
"""
from __future__ import annotations

import functools
import random
import sys
from pathlib import Path

from bingo_kit.errors import KitError

STUDENT_LESSONS = Path(__file__).resolve().parent.parent / "student_lessons"  # classroom.py's, without nbformat

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
    """In a notebook, a mistake a student can fix prints one sentence, not 15 lines of library code.

    That is a KitError (its own sentence), and a NameError raised by the student's own cell: a cell run before
    the one that makes its name, or a word typed without quotes (see `name_error_sentence`). Any other
    exception keeps its full traceback: that one is a bug in the kit and the details help fix it.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:  # not in a notebook (a script, a test): errors stay ordinary exceptions
        return

    def one_line(shell, kind, error, traceback, tb_offset=None):
        sentence = str(error) if isinstance(error, KitError) else None
        if isinstance(error, NameError) and _raised_by_the_cell(traceback, shell.user_ns):
            sentence = name_error_sentence(error, shell.user_ns)
        if sentence is None:  # a NameError inside the kit: a bug, shown in full
            shell.showtraceback((kind, error, traceback), tb_offset=tb_offset)
            return None
        print(f"❌ {sentence}", file=sys.stderr)  # stderr: JupyterLab shows it on a red background
        return None

    shell.set_custom_exc((KitError, NameError), one_line)


def _raised_by_the_cell(traceback, user_namespace: dict) -> bool:
    """Whether the innermost frame ran in the notebook's own namespace (the student's code, not the kit's)."""
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback is not None and traceback.tb_frame.f_globals is user_namespace


def name_error_sentence(error: NameError, user_namespace: dict) -> str:
    """One sentence for a name the notebook does not know: a word that needs quotes, a name a cell further up
    makes, or else a spelling to check (with the closest known name)."""
    import difflib

    name = getattr(error, "name", None)
    if not name:  # a NameError raised by hand carries no name: its own words will do
        return str(error)
    if is_answer_word(name):
        return f"Words go in quotes: write '{name}', not {name}."
    if name in lesson_names():
        return f"{name} is not made yet: run the cells above this one first."
    known = [key for key in user_namespace if not key.startswith("_")] + sorted(lesson_names())
    close = difflib.get_close_matches(name, known, n=1)
    guess = f" (did you mean {close[0]}?)" if close else ""
    return f"{name} is not defined: check its spelling{guess}, or run the cell that makes it first."


def is_answer_word(name: str) -> bool:
    """A word the lessons accept as an answer or a choice in quotes: a pruning method or rule ("prose", "imp"),
    a board ("uno") or the simulated board ("sim")."""
    from bingo_kit.boards import BOARDS

    if name.casefold() in set(BOARDS) | {"sim"}:
        return True
    try:
        from bingo_kit.methods import find_method  # imports torch: absent on a laptop lesson 0 is checking
    except ImportError:
        return False
    return find_method(name) is not None


@functools.lru_cache(maxsize=1)
def lesson_names() -> frozenset[str]:
    """Every name some lesson's code makes (assigns, imports, defines): read from the student lessons."""
    import ast
    import json

    names: set[str] = set()
    for path in sorted(STUDENT_LESSONS.glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            try:
                tree = ast.parse("".join(cell["source"]))
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
                elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    names.add(node.name)
    return frozenset(names)


def as_numpy(values):
    """A tensor or array as a numpy array (matplotlib wants numpy)."""
    import numpy as np

    return values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)


def figure_png(figure) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return buffer.getvalue()
