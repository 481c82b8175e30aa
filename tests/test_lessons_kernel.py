"""What a student who slips sees, in a real Jupyter kernel (the one JupyterLab starts): one sentence, never a
traceback, and a check that never grades an answer whose cell failed to run.

The cells run in one fresh kernel, in order, with errors allowed (nbclient, as the lesson build runs lessons);
each test reads what its cells printed.
"""
from __future__ import annotations

import nbformat
import pytest

pytestmark = pytest.mark.slow

# (name, source): run top to bottom in one kernel, as a student running cells in this order would
CELLS = [
    ("start", "from bingo_kit.lessons import start_lesson, check_capacity, check_verdict\n"
              "from bingo_kit.data import load_dataset\n"
              "from bingo_kit.models import make_mlp\n"
              "from bingo_kit.widgets import PruneSlider, DigitPad\n"
              "start_lesson(seed=0)"),
    # cells run out of order: `model` is made further up in the lessons
    ("out of order", "print(model.sizes)"),
    # an answer word without quotes
    ("bare word", "verdict = prose"),
    ("bare word, capital", "most_pruned = IMP"),
    ("typo", "print(modle)"),
    # a NameError inside code that is not the notebook's is a bug: it keeps its traceback
    ("kit bug", "namespace = {}\n"
                "exec('def broken():\\n    return undefined_in_the_kit', namespace)\n"
                "namespace['broken']()"),
    ("slider", "data = load_dataset('digits')\n"
               "model = make_mlp((64, 8, 10), seed=0)\n"
               "slider = PruneSlider(model, data, fit_gauge=False, floor_button=False)"),
    ("slider method", "slider.method.value = 'bingo'"),
    ("slider board", "slider.board.value = 'esp32'"),
    ("slider lenient", "slider.method.value = 'Random'\nprint(slider.method.value, slider.status.kind)"),
    ("huge answer", "check_capacity(10**400)"),
    # an answer cell that fails leaves the old value: the check must not grade it
    ("answer", "uno_model_bytes = 1020"),
    ("check", "check_capacity(uno_model_bytes)"),
    ("broken answer", "uno_model_bytes = 1 KB"),
    ("check after a broken answer", "check_capacity(uno_model_bytes)"),
    ("same check again", "check_capacity(uno_model_bytes)"),
    ("mended answer", "uno_model_bytes = 1024"),
    ("check after the mend", "check_capacity(uno_model_bytes)"),
    ("broken again", "uno_model_bytes = 1 KB"),
    # an answer and its check in one cell: the answer is saved by the cell itself, so it is graded (twice)
    ("answer and check", "uno_model_bytes = 1020\ncheck_capacity(uno_model_bytes)"),
    ("answer and check again", "uno_model_bytes = 1020\ncheck_capacity(uno_model_bytes)"),
    ("verdict", "verdict = 'prose'"),
    ("verdict without quotes", "verdict = paper"),
    ("check the verdict", "check_verdict(verdict, {'prose': 0.42, 'paper': 0.22})"),
    ("pad", "pad = DigitPad(model, data)"),
    ("pad, nothing", "pad.draw([])"),
    ("pad, a word", "pad.draw('seven')"),
]


@pytest.fixture(scope="module")
def ran():
    """{cell name: (stdout + displayed text, stderr, error outputs)} after running CELLS in one kernel."""
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for _, source in CELLS]
    NotebookClient(notebook, timeout=300, kernel_name="python3", allow_errors=True).execute()
    outputs = {}
    for (name, _), cell in zip(CELLS, notebook.cells):
        text, stderr, errors = "", "", []
        for output in cell.outputs:
            if output.output_type == "stream":
                if output.name == "stderr":
                    stderr += output.text
                else:
                    text += output.text
            elif output.output_type in ("execute_result", "display_data"):
                text += output.data.get("text/plain", "")
            elif output.output_type == "error":
                errors.append(output)
        outputs[name] = (text, stderr, errors)
    return outputs


def one_line(ran, name: str) -> str:
    """The cell's one red sentence; it fails if the cell showed a traceback or more than one line."""
    text, stderr, errors = ran[name]
    assert not errors, f"{name}: a traceback reached the student: {errors[0].ename}: {errors[0].evalue}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("❌ "), f"{name}: {stderr!r}"
    return lines[0]


def test_a_name_made_further_up_says_run_the_cells_above(ran):
    assert one_line(ran, "out of order") == "❌ model is not made yet: run the cells above this one first."


def test_a_word_without_quotes_says_words_go_in_quotes(ran):
    assert one_line(ran, "bare word") == "❌ Words go in quotes: write 'prose', not prose."
    assert one_line(ran, "bare word, capital") == "❌ Words go in quotes: write 'IMP', not IMP."


def test_a_misspelt_name_suggests_the_name_it_resembles(ran):
    assert "did you mean model?" in one_line(ran, "typo")


def test_a_name_error_inside_other_code_keeps_its_traceback(ran):
    _, stderr, errors = ran["kit bug"]
    assert [error.ename for error in errors] == ["NameError"] and "❌" not in stderr


def test_a_dropdown_set_to_a_choice_it_lacks_lists_the_choices(ran):
    assert "BINGO (kit's running mean) needs significance scores" in one_line(ran, "slider method")
    assert one_line(ran, "slider board") == "❌ board can be 'uno', 'nano' or 'mega'; you wrote 'esp32'."
    assert ran["slider lenient"][0].split() == ["random", "info"]  # any capitals: the slider just moves


def test_a_huge_number_is_just_too_big(ran):
    text, stderr, errors = ran["huge answer"]
    assert not errors and not stderr and text.startswith("🤔 Not yet. That number is too big.")


def test_a_check_after_a_failed_answer_cell_does_not_grade_the_old_answer(ran):
    assert ran["check"][0].startswith("✅")
    assert [error.ename for error in ran["broken answer"][2]] == ["SyntaxError"]  # Python's own, short
    for name in ("check after a broken answer", "same check again"):
        text, stderr, errors = ran[name]
        assert not errors and text.startswith("🤔 Not yet. The cell you ran last stopped with an error"), text
    assert ran["check after the mend"][0].startswith("🤔 Not yet. 1024 is too big.")  # graded again
    assert ran["answer and check"][0].startswith("✅") and ran["answer and check again"][0].startswith("✅")
    one_line(ran, "verdict without quotes")
    assert ran["check the verdict"][0].startswith("🤔 Not yet. The cell you ran last stopped with an error")


def test_drawing_nothing_or_a_word_on_the_pad_says_so_in_the_cell(ran):
    assert one_line(ran, "pad, nothing") == "❌ Nothing is drawn yet: draw a digit first."
    assert "A drawing is a list of strokes" in one_line(ran, "pad, a word")
