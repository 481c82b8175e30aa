"""'Reset this lesson' from JupyterLab, without a terminal: pick a lesson, get a fresh copy beside your own.

The workspace's "Reset a lesson.ipynb" shows it (bingo_kit.classroom writes that notebook); the work is
classroom.reset_lesson, which never overwrites a notebook.
"""
from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets

from bingo_kit.classroom import STUDENT_LESSONS, reset_lesson
from bingo_kit.widgets.common import KitWidget, StatusLine, reporting


def _title(lesson: Path) -> str:
    """'07 · Flash it ⚡' from the notebook's first heading ('# Lesson 7 — Flash it ⚡')."""
    import nbformat

    heading = next((line for cell in nbformat.read(str(lesson), as_version=4).cells if cell.cell_type == "markdown"
                    for line in cell.source.splitlines() if line.startswith("# ")), "")
    return f"{lesson.stem[:2]} · {heading.split('—', 1)[-1].strip() or lesson.stem[3:].replace('_', ' ')}"


class ResetLesson(KitWidget):
    """A lesson list and a "Fresh copy" button. `folder`: the lesson folder (default: this notebook's own)."""

    kind = "reset_lesson"

    def __init__(self, folder: str | Path = "."):
        super().__init__()
        self.folder = Path(folder)
        self.last_copy: Path | None = None
        lessons = sorted(STUDENT_LESSONS.glob("[0-9][0-9]_*.ipynb"))
        self.lesson = widgets.Dropdown(options=[(_title(path), path.stem) for path in lessons],
                                       description="lesson", layout=widgets.Layout(width="420px"))
        self.lesson.add_class("bingo-reset-lesson")
        self.button = widgets.Button(description="Fresh copy", icon="file", button_style="primary")
        self.button.add_class("bingo-reset-button")
        self.status = StatusLine()
        self.status.add_class("bingo-reset-status")
        self.children = [widgets.HBox([self.lesson, self.button]), self.status]
        self.add_class("bingo-reset")
        self._on_click(self.button, lambda _: self.reset())

    @reporting(lambda self: self.status)
    def reset(self) -> None:
        fresh = reset_lesson(self.folder, self.lesson.value)
        self.last_copy = fresh
        own = self.lesson.value + fresh.suffix
        if fresh.name == own:
            self.status.ok(f"{own} is fresh: open it from the file list on the left.")
        else:
            self.status.ok(f"Your fresh copy is {fresh.name}: open it from the file list on the left. "
                           f"Your own {own} is kept as it was.")
