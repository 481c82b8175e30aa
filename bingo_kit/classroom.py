"""The lessons as a class meets them: written once, handed out twice.

Each lesson is written once, in ``lessons/source/``, with its answers and teacher notes in it. Two copies are
generated from that source and committed:

- the **teacher copy** (``lessons/``): every cell, answers filled in, outputs recorded by running it; nbval
  checks it (``make check-lessons``);
- the **student copy** (``bingo_kit/student_lessons/``, shipped inside the package): teacher cells removed,
  each answer back to ``...``, no outputs, no execution counts, no nbval markers.

How a source cell is marked (cell tags, the notebook format's own way to label cells):

- ``teacher``: only in the teacher copy (teacher notes, the teacher banner);
- ``answer``: an exercise cell. In the student copy each top-level ``name = value`` line becomes
  ``name = ...`` (its comment kept), and a line ending in ``# student: TEXT`` becomes ``TEXT``.

A line that is a whole ``assert`` statement is the teacher's check for nbval (a widget's effect really
happened); the student copy leaves it out, so on a laptop without the Simulated Uno the widget's own
one-line message is what a student sees, not an AssertionError.

The student *workspace* (``make classroom``, ``bingo-kit lessons DIR``) is a folder of student copies that is
never overwritten once a student has changed a notebook in it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from bingo_kit.errors import KitError

TEACHER_TAG = "teacher"
ANSWER_TAG = "answer"
STUDENT_MARK = "# student:"
NBVAL_MARK = re.compile(r"^\s*#\s*NBVAL_\w+\s*\n?", re.MULTILINE)
ASSERT_LINE = re.compile(r"^[ \t]*assert\b[^\n]*(?:\n|$)", re.MULTILINE)

PACKAGE_DIR = Path(__file__).resolve().parent
STUDENT_LESSONS = PACKAGE_DIR / "student_lessons"
REPO_LESSONS = PACKAGE_DIR.parent / "lessons"  # only in a source checkout: the teacher copies and the sources
MANIFEST = ".bingo-kit-lessons.json"  # in a workspace: what the kit copied, so a student's changes are spotted


# --- one lesson, two copies ------------------------------------------------------------------------

def read_notebook(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def write_notebook(notebook: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook_text(notebook), encoding="utf-8")


def notebook_text(notebook: nbformat.NotebookNode) -> str:
    """The exact text a notebook is saved as (stable, so a committed copy can be compared with a fresh one)."""
    return nbformat.writes(notebook) + "\n"


def _tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def student_answer_source(source: str) -> str:
    """An answer cell as students get it: answers become ``...``; ``# student: TEXT`` lines become TEXT."""
    lines = []
    for line in source.splitlines():
        if STUDENT_MARK in line:
            indent = line[: len(line) - len(line.lstrip())]
            lines.append(indent + line.split(STUDENT_MARK, 1)[1].strip())
        else:
            lines.append(_blank_assignment(line))
    return "\n".join(lines)


def _blank_assignment(line: str) -> str:
    """``name = value  # comment`` -> ``name = ...  # comment``; any other line stays as it is."""
    match = re.match(r"^([A-Za-z_][\w]*(?:\s*,\s*[A-Za-z_]\w*)*)\s*=(?!=)", line)
    if match is None:
        return line
    comment = ""
    try:  # the comment starts where Python's tokenizer says, not at a '#' inside a string
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.COMMENT:
                comment = "  " + token.string
                break
    except (tokenize.TokenError, IndentationError):
        pass
    return f"{match.group(1)} = ...{comment}"


def student_copy(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student copy of a lesson source: no teacher cells, answers blanked, no outputs, no nbval markers."""
    notebook = nbformat.v4.new_notebook(metadata=_clean_metadata())
    for cell in source.cells:
        tags = _tags(cell)
        if TEACHER_TAG in tags:
            continue
        text = cell.source
        if cell.cell_type == "code":
            if ANSWER_TAG in tags:
                text = student_answer_source(text)
            text = ASSERT_LINE.sub("", NBVAL_MARK.sub("", text)).rstrip("\n")
            notebook.cells.append(nbformat.v4.new_code_cell(text))
        elif cell.cell_type == "markdown":
            notebook.cells.append(nbformat.v4.new_markdown_cell(text))
        else:
            notebook.cells.append(nbformat.v4.new_raw_cell(text))
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{number}"  # stable ids: regenerating gives the same file
    return notebook


def teacher_copy(source: nbformat.NotebookNode, *, cwd: Path | None = None, timeout: int = 600
                 ) -> nbformat.NotebookNode:
    """The teacher copy: the whole source, run top to bottom in a fresh kernel so its outputs are recorded."""
    notebook = nbformat.from_dict(json.loads(json.dumps(source)))
    notebook.metadata = _clean_metadata()
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{number}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    from nbclient import NotebookClient  # Jupyter's own runner (nbconvert --execute uses it too)

    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd or REPO_LESSONS)}}).execute()
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)  # timestamps would make every rebuild a diff
    return notebook


def _clean_metadata() -> dict:
    """The same notebook metadata for every copy: whatever an author's Jupyter wrote must not make a diff."""
    return {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"}}


def same_cells(a: nbformat.NotebookNode, b: nbformat.NotebookNode) -> bool:
    """Same cells (type, text, tags), whatever their outputs: a teacher copy matches its source."""
    def key(nb):
        return [(c.cell_type, c.source, sorted(_tags(c))) for c in nb.cells]
    return key(a) == key(b)


@dataclass
class LessonFiles:
    name: str  # e.g. "03_lottery_tickets"
    source: Path
    teacher: Path
    student: Path


def lesson_files(lessons_dir: Path = REPO_LESSONS, student_dir: Path = STUDENT_LESSONS) -> list[LessonFiles]:
    sources = sorted((lessons_dir / "source").glob("[0-9][0-9]_*.ipynb"))
    if not sources:
        raise KitError(f"No lesson sources in {lessons_dir / 'source'}: this needs a copy of the kit's repository.")
    return [LessonFiles(path.stem, path, lessons_dir / path.name, student_dir / path.name) for path in sources]


def stale_copies(lessons_dir: Path = REPO_LESSONS, student_dir: Path = STUDENT_LESSONS) -> list[str]:
    """Every committed copy that no longer matches its source (empty when all are up to date)."""
    stale = []
    lessons = lesson_files(lessons_dir, student_dir)
    for lesson in lessons:
        source = read_notebook(lesson.source)
        if not lesson.student.exists() or lesson.student.read_text(encoding="utf-8") != notebook_text(
                student_copy(source)):
            stale.append(str(lesson.student))
        if not lesson.teacher.exists() or not same_cells(read_notebook(lesson.teacher), source):
            stale.append(str(lesson.teacher))
    known = {lesson.name for lesson in lessons}
    stale += [str(p) for p in sorted(student_dir.glob("*.ipynb")) + sorted(lessons_dir.glob("[0-9][0-9]_*.ipynb"))
              if p.stem not in known]  # a copy whose source is gone
    return stale


def build_copies(lessons_dir: Path = REPO_LESSONS, student_dir: Path = STUDENT_LESSONS, *,
                 only: list[str] | None = None, teachers: bool = True, progress: bool = True) -> list[Path]:
    """Regenerate the teacher and student copies from the sources (teacher copies are run to record outputs;
    ``teachers=False`` rewrites only the student copies, which takes no time)."""
    from tqdm.auto import tqdm

    written = []
    lessons = [lesson for lesson in lesson_files(lessons_dir, student_dir)
               if not only or any(lesson.name.startswith(prefix) for prefix in only)]
    for lesson in tqdm(lessons, desc="building lessons", disable=not progress):
        source = with_timing(read_notebook(lesson.source))
        write_notebook(source, lesson.source)
        write_notebook(student_copy(source), lesson.student)
        written.append(lesson.student)
        if teachers:
            write_notebook(teacher_copy(source, cwd=lessons_dir), lesson.teacher)
            written.append(lesson.teacher)
    return written


# --- how long a lesson takes ----------------------------------------------------------------------

# A lesson's class time, estimated from what is in it (the same model for every lesson, so the guide's numbers
# are comparable and can't drift from the notebooks): a class reads and talks through text at about 65 words a
# minute; an exercise takes about 3 minutes to think, type and check; a picture about 1 minute to look at and
# discuss; a widget about 2.5 minutes to play with; and running a code cell about 10 seconds.
# Fitted to a count of a class working through the course (issue 18): 173 minutes in all, lesson 5 about 20,
# lesson 7 about 25, lesson 8 about 21. The old guesses (100 words a minute, 2 minutes a widget, the rest as now)
# gave 144; these are the smallest change to them (least squares on the ratios) that meets the count, and give
# 175 in all, lesson 7 25, lesson 5 17 and lesson 8 14: the model cannot see the wait for lesson 5's race or
# lesson 8's open-ended contest, which the guide leaves to the teacher.
WORDS_PER_MINUTE = 65
MINUTES_PER = {"exercise": 3.0, "picture": 1.0, "widget": 2.5, "code cell": 1 / 6}
MAX_LESSON_MINUTES = 20
_WIDGET_CALL = re.compile(r"\b(PruneSlider|LiveScores|FlashButton|DigitPad|InstallFirmware)\(")
_PICTURE_CALL = re.compile(r"\b(show_\w+|draw_network|pruning_curve|plot_race|\w+\.plot)\(")
TIMING_LINE = re.compile(r"^⏱️ .*$", re.MULTILINE)


@dataclass
class LessonStats:
    name: str
    words: int  # in the student copy's text cells: what a student reads
    exercises: int  # answer cells
    pictures: int
    widgets: int
    code_cells: int

    @property
    def minutes(self) -> int:
        raw = (self.words / WORDS_PER_MINUTE + MINUTES_PER["exercise"] * self.exercises
               + MINUTES_PER["picture"] * self.pictures + MINUTES_PER["widget"] * self.widgets
               + MINUTES_PER["code cell"] * self.code_cells)
        return max(1, round(raw))

    @property
    def timing_line(self) -> str:
        exercises = f"{self.exercises} exercise{'s' if self.exercises != 1 else ''}"
        return f"⏱️ about {self.minutes} minutes · {exercises} · {self.words} words to read"


def count_words(markdown: str) -> int:
    """Words a student reads in a text cell: a formula counts as one word, markup and link targets as none."""
    text = re.sub(r"\$\$.*?\$\$", " formula ", markdown, flags=re.S)
    text = re.sub(r"\]\([^)]*\)", "]", text)  # [label](target.ipynb): only the label is read
    text = TIMING_LINE.sub("", text)
    return len(re.findall(r"[A-Za-z0-9][\w'’.-]*", text))


def lesson_stats(source: nbformat.NotebookNode, name: str = "") -> LessonStats:
    student = student_copy(source)
    code = [c.source for c in student.cells if c.cell_type == "code"]
    return LessonStats(
        name=name,
        words=sum(count_words(c.source) for c in student.cells if c.cell_type == "markdown"),
        exercises=sum(ANSWER_TAG in _tags(c) for c in source.cells),
        pictures=sum(bool(_PICTURE_CALL.search(text)) for text in code),
        widgets=sum(bool(_WIDGET_CALL.search(text)) for text in code),
        code_cells=len(code))


def with_timing(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The source with its header's ⏱️ line set from its own stats (so the header can't drift)."""
    line = lesson_stats(source).timing_line
    for cell in source.cells:
        if cell.cell_type == "markdown" and TIMING_LINE.search(cell.source):
            cell.source = TIMING_LINE.sub(line, cell.source, count=1)
            break
    return source


# --- the student workspace -------------------------------------------------------------------------

@dataclass
class WorkspaceReport:
    folder: Path
    copied: list[str] = field(default_factory=list)  # new or unchanged-by-the-student lessons (re)written
    kept: list[str] = field(default_factory=list)  # changed by the student: left exactly as they were
    fresh: list[str] = field(default_factory=list)  # the kit's copy of each kept lesson, under a new name

    def __str__(self) -> str:
        lines = [f"Student workspace: {self.folder}"]
        if self.copied:
            lines.append(f"  {len(self.copied)} lesson(s) ready: {', '.join(self.copied)}")
        for name, fresh in zip(self.kept, self.fresh):
            lines.append(f"  kept your work in {name}; a fresh copy of that lesson is in {fresh}")
        return "\n".join(lines)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_workspace(folder: Path, student_dir: Path = STUDENT_LESSONS) -> WorkspaceReport:
    """Copy the student lessons into `folder`. A notebook the student has changed is never overwritten."""
    folder = Path(folder).expanduser().resolve()
    lessons = sorted(student_dir.glob("[0-9][0-9]_*.ipynb"))
    if not lessons:
        raise KitError(f"The student lessons are missing from {student_dir}: reinstall bingo-kit.")
    if folder.exists() and not folder.is_dir():
        raise KitError(f"{folder} is a file, not a folder: choose another place for the lessons.")
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    except ValueError:
        manifest = {}
    report = WorkspaceReport(folder)
    for lesson in lessons:
        target = folder / lesson.name
        new_digest = _digest(lesson)
        if target.exists() and _digest(target) != manifest.get(lesson.name):
            if target.read_bytes() == lesson.read_bytes():  # the same as the kit's: nothing to keep
                manifest[lesson.name] = new_digest
                continue
            # the student changed it (or it came from elsewhere): keep it, and offer a fresh copy beside it
            report.kept.append(lesson.name)
            fresh = target.with_name(f"{lesson.stem} (fresh copy){lesson.suffix}")
            if not fresh.exists():
                shutil.copyfile(lesson, fresh)
            report.fresh.append(fresh.name)
            continue
        shutil.copyfile(lesson, target)
        manifest[lesson.name] = new_digest
        report.copied.append(lesson.name)
    _write_jupyter_settings(folder)
    _write_reset_notebook(folder)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    return report


RESET_NOTEBOOK = "Reset a lesson.ipynb"  # in every workspace: "reset this lesson" without a terminal


def _write_reset_notebook(folder: Path) -> None:
    """The workspace's "Reset a lesson" notebook (written once; the student may run and save it)."""
    path = folder / RESET_NOTEBOOK
    if path.exists():
        return
    notebook = nbformat.v4.new_notebook(metadata=_clean_metadata())
    notebook.cells = [
        nbformat.v4.new_markdown_cell(
            "# Start a lesson again\n\nRun the cell below (Shift+Enter), pick the lesson and press **Fresh copy**. "
            "You get a new copy of that lesson next to yours; your own notebook is never changed or deleted."),
        nbformat.v4.new_code_cell("from bingo_kit.widgets import ResetLesson\nResetLesson()")]
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{number}"
    write_notebook(notebook, path)


def find_lesson(name: str, student_dir: Path = STUDENT_LESSONS) -> Path:
    """The kit's student copy of a lesson named by its number ("7", "07"), its name ("07_flash_it") or its file."""
    lessons = sorted(student_dir.glob("[0-9][0-9]_*.ipynb"))
    wanted = str(name).strip().removesuffix(".ipynb")
    for lesson in lessons:
        if wanted in (lesson.stem, lesson.stem[:2]) or (wanted.isdigit() and int(wanted) == int(lesson.stem[:2])):
            return lesson
    raise KitError(f"There is no lesson {name!r}: give its number, one of {', '.join(p.stem[:2] for p in lessons)}.")


def reset_lesson(folder: Path, lesson: str, student_dir: Path = STUDENT_LESSONS) -> Path:
    """"Reset this lesson": a fresh copy of `lesson` in the workspace `folder`, and where it is. The student's own
    notebook is never touched: the fresh copy goes beside it ("07_flash_it (fresh copy).ipynb", then "(fresh copy
    2)" and so on when that name holds work too). A lesson still as the kit made it is fresh already."""
    folder = Path(folder).expanduser().resolve()
    kit_copy = find_lesson(lesson, student_dir)
    if not folder.is_dir():
        raise KitError(f"There is no lesson folder {folder}: make it first with  bingo-kit lessons {folder} --no-start")
    target = folder / kit_copy.name
    if not target.exists():
        shutil.copyfile(kit_copy, target)
        return target
    candidates = [target] + [target.with_name(f"{kit_copy.stem} (fresh copy{f' {n}' if n > 1 else ''}){kit_copy.suffix}")
                             for n in range(1, 1000)]
    for candidate in candidates:
        if not candidate.exists():
            shutil.copyfile(kit_copy, candidate)
            return candidate
        if candidate.read_bytes() == kit_copy.read_bytes():
            return candidate
    raise KitError(f"{folder} holds 1000 copies of {kit_copy.name}: tidy the folder, then try again.")


# JupyterLab's "would you like news?" pop-up and update checks mean nothing in a class (and often offline).
_LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                 {"fetchNews": "false", "checkForUpdates": False}}


def _write_jupyter_settings(folder: Path) -> Path:
    settings = folder / ".jupyter" / "lab" / "user-settings"
    for name, values in _LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(json.dumps(values, indent=1), encoding="utf-8")
    return settings


def jupyterlab_command(folder: Path, *, open_browser: bool = True, extra: list[str] | None = None
                       ) -> tuple[list[str], dict[str, str]]:
    """The command (and environment) that starts JupyterLab on a workspace with the kit's settings."""
    import sys

    folder = Path(folder).resolve()
    command = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={folder}"]
    if not open_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # Jupyter refuses root without this (a lab machine's admin)
        command.append("--allow-root")
    command += list(extra or [])
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(_write_jupyter_settings(folder)))
    return command, env


def main(argv: list[str] | None = None) -> int:
    """`python -m bingo_kit.classroom [--students-only] [03 04 ...]`: rebuild the copies (all lessons, or those
    named)."""
    import sys

    args = list(argv if argv is not None else sys.argv[1:])
    teachers = "--students-only" not in args
    written = build_copies(only=[a for a in args if not a.startswith("--")] or None, teachers=teachers)
    print(f"wrote {len(written)} notebooks")
    stale = stale_copies()
    for path in stale:
        print(f"still out of date: {path}")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
