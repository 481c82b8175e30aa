"""A student's lesson 7 in a real browser: the student copy, Run All, then Flash (Simulated Uno) and Test on
board clicked by hand. Run All must leave every widget working (no lesson closes its own widgets)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bingo_kit.classroom import make_workspace
from browser_jupyter import notebook_in_chromium, run_all_cells

pytestmark = [pytest.mark.browser, pytest.mark.firmware, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
PUBLIC_SCREENSHOTS = REPO / "test-output" / "browser-lessons"
LESSON = "07_flash_it.ipynb"


def test_student_lesson_7_run_all_then_flash_and_test_by_hand(tmp_path):
    workspace = tmp_path / "classroom"
    make_workspace(workspace)
    with notebook_in_chromium(workspace, tmp_path, LESSON, PUBLIC_SCREENSHOTS) as (page, shots):
        run_all_cells(page)  # fails if any cell raised: an unanswered exercise must say "not yet"
        shots.take("after-run-all")
        outputs = " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
        assert "Not yet" in outputs  # the exercise left as ... answered kindly, without an error

        flash = page.locator(".bingo-flash").first
        flash.scroll_into_view_if_needed()
        flash.locator(".bingo-flash-port select").select_option(label="Simulated Uno")
        flash.locator(".bingo-flash-button").click()
        page.wait_for_function(
            """() => /Flashed \\d+ bytes/.test(document.querySelector('.bingo-flash-status').innerText)
                     && !document.querySelector('.bingo-flash-status .bingo-status-info')""",
            timeout=120_000)
        status = flash.locator(".bingo-flash-status").inner_text()
        assert re.search(r"Flashed \d+ bytes to the Simulated Uno", status), status

        flash.locator(".bingo-flash-count input").fill("20")
        flash.locator(".bingo-flash-count input").press("Enter")
        before = flash.locator(".bingo-flash-test-result").inner_text()
        flash.locator(".bingo-flash-test").click()
        page.wait_for_function(
            """(before) => {
                const text = document.querySelector('.bingo-flash-test-result').innerText;
                return text !== before && /agree on \\d+\\/20 digits/.test(text);
            }""", arg=before, timeout=120_000)
        result = flash.locator(".bingo-flash-test-result").inner_text()
        assert "agree on 20/20 digits" in result, result
        shots.take("flashed-and-tested-by-hand")
