"""The lesson validation has teeth: nbval fails a lesson whose checked output changed or whose widget broke.

We copy lesson 2 (it has checked outputs and drives the prune slider) three times into a temporary folder:
untouched, with one saved checked output altered, and with the slider's pruning call made to raise. One nbval
run over the folder must pass the untouched copy and fail exactly the cells the damage should fail.
"""
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

LESSON = Path(__file__).resolve().parent.parent / "lessons" / "02_pruning_by_hand.ipynb"
CHECKED_MARK = "# NBVAL_CHECK_OUTPUT"


def _cell_index(notebook, *needles: str) -> int:
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and all(needle in cell.source for needle in needles):
            return index
    raise AssertionError(f"lesson 2 no longer has a code cell containing {needles}; update this test")


def _change_checked_output(notebook) -> int:
    """Alter the saved output of the checked 'weights kept' cell, as if the lesson's result had changed."""
    index = _cell_index(notebook, CHECKED_MARK, "weights kept")
    stream = next(o for o in notebook.cells[index].outputs if o.output_type == "stream")
    assert "weights kept: 237 of 1184" in stream.text
    stream.text = stream.text.replace("237", "238")
    return index


def _break_slider_callback(notebook) -> int:
    """Make the prune slider's callback raise when the lesson moves the slider (widgets report callback
    errors in their status line instead of raising, so only the lesson's assertion can catch this)."""
    index = _cell_index(notebook, "slider.fraction.value = 80")
    sabotage = nbformat.v4.new_code_cell(
        "import bingo_kit.pruning\n"
        "def _broken(*args, **kwargs):\n"
        "    raise RuntimeError('deliberately broken prune_fraction')\n"
        "bingo_kit.pruning.prune_fraction = _broken"
    )
    notebook.cells.insert(index, sabotage)
    return index + 1  # the cell that moves the slider and asserts its status


def _nbval_results(folder: Path) -> dict[str, dict[str, str]]:
    """Run nbval on every notebook in `folder`; {notebook: {cell test name: 'passed' | 'failed' | ...}}."""
    report = folder / "report.xml"
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
         "-p", "no:xdist", "-q", f"--junitxml={report}", "--rootdir", str(folder), str(folder)],
        cwd=folder, capture_output=True, text=True, timeout=600,
    )
    assert report.exists(), completed.stdout + completed.stderr
    results: dict[str, dict[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = tag
        notebook = case.get("classname", "").split(".")[0] or case.get("file", "")
        results.setdefault(notebook, {})[case.get("name")] = outcome
    results["__returncode__"] = {"code": str(completed.returncode)}
    return results


def _nbval_name(notebook, index: int) -> str:
    """nbval names a test after the code cell's position among the code cells: 'Cell 7'."""
    return f"Cell {sum(cell.cell_type == 'code' for cell in notebook.cells[:index])}"


@pytest.mark.slow
def test_nbval_fails_a_changed_output_and_a_raising_callback(tmp_path):
    original = nbformat.read(LESSON, as_version=4)

    nbformat.write(original, tmp_path / "untouched.ipynb")
    changed = nbformat.read(LESSON, as_version=4)
    changed_cell = _change_checked_output(changed)
    nbformat.write(changed, tmp_path / "changed_output.ipynb")
    broken = nbformat.read(LESSON, as_version=4)
    broken_cell = _break_slider_callback(broken)
    nbformat.write(broken, tmp_path / "raising_callback.ipynb")

    results = _nbval_results(tmp_path)

    assert results["__returncode__"]["code"] == "1"  # pytest: some tests failed
    untouched = results["untouched"]
    assert untouched and set(untouched.values()) == {"passed"}, untouched
    # the altered output fails its own cell and nothing else
    failed = [name for name, outcome in results["changed_output"].items() if outcome != "passed"]
    assert failed == [_nbval_name(changed, changed_cell)], results["changed_output"]
    # the broken callback fails the cell that moves the slider and asserts what it did
    assert results["raising_callback"][_nbval_name(broken, broken_cell)] == "failure", results["raising_callback"]
