"""The widgets in a real browser: JupyterLab + headless Chromium, driven like a student would.

Opens tests/notebooks/widget_tour.ipynb (a copy, so the repo file never gets outputs saved into it), runs
all cells, then drags the prune slider, flashes the Simulated Uno and draws a digit on the pad.
Screenshots land in the test's tmp dir and in <repo>/test-output/browser/ for people to look at.
"""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from browser_jupyter import CHROMIUM, KERNEL_READY_JS, JupyterLab, Screenshots, launch_chromium, run_all_cells

pytestmark = [pytest.mark.browser, pytest.mark.firmware, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
TOUR = REPO / "tests" / "notebooks" / "widget_tour.ipynb"
PUBLIC_SCREENSHOTS = REPO / "test-output" / "browser"

GREEN_RGB = "rgb(46, 125, 50)"   # common.GREEN
RED_RGB = "rgb(198, 40, 40)"     # common.RED

# the pad squares (row, column) of a plain "1"
ONE = [(row, 4) for row in range(1, 7)] + [(2, 3)]


def _text(page, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def _bar_colour(page) -> str:
    return page.eval_on_selector(".bingo-fit-gauge .progress-bar",
                                 "el => getComputedStyle(el).backgroundColor")


@pytest.fixture(scope="module")
def playwright_module():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: sudo apt-get install chromium")
    return pytest.importorskip("playwright.sync_api", reason="pip install playwright (never `playwright install`)")


def test_widget_tour_in_a_real_browser(tmp_path, playwright_module):
    root = tmp_path / "notebooks"
    root.mkdir()
    shutil.copy(TOUR, root / TOUR.name)
    with JupyterLab(root, tmp_path) as lab, playwright_module.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1300, "height": 1400})
        shots = Screenshots(page, tmp_path / "screenshots", PUBLIC_SCREENSHOTS)
        try:
            page.goto(lab.url(f"lab/tree/{TOUR.name}"))
            run_all_cells(page)
            _drag_the_prune_slider(page, shots)
            _flash_the_simulated_uno(page, shots)
            _draw_a_one(page, shots)
        except Exception:
            try:
                shots.take("failure")
            except Exception:  # a crashed page must not hide the original failure
                pass
            print(lab.log_tail())
            raise
        finally:
            shots.publish()
            browser.close()


def _drag_the_prune_slider(page, shots) -> None:
    slider = page.locator(".bingo-prune-fraction")
    slider.scroll_into_view_if_needed()
    page.wait_for_selector(".bingo-fit-gauge .progress-bar")
    shots.take("prune-slider-dense")
    accuracy_before, fit_before = _text(page, ".bingo-prune-accuracy"), _text(page, ".bingo-fit-text")
    assert "too big" in fit_before and _bar_colour(page) == RED_RGB, fit_before  # dense 64-16-10: 1309 bytes

    handle = slider.locator(".noUi-handle").bounding_box()
    track = slider.locator(".noUi-target").bounding_box()
    y = handle["y"] + handle["height"] / 2
    page.mouse.move(handle["x"] + handle["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track["x"] + 0.7 * track["width"], y, steps=8)
    released = time.perf_counter()
    page.mouse.up()
    # the slider sends positions while dragging; wait until the view shows the one it was released at
    readout = slider.locator(".widget-readout")
    percent = int(readout.inner_text())
    assert 55 <= percent <= 85, percent
    total = 1184  # weights of the 64-16-10 network
    kept_expected = total - round(percent / 100 * total)
    page.wait_for_function(
        """([accuracy, kept]) => document.querySelector('.bingo-prune-accuracy').innerText !== accuracy
                             && document.querySelector('.bingo-prune-kept').innerText.includes(kept)
                             && document.querySelector('.bingo-fit-text').innerText.includes('fits')""",
        arg=[accuracy_before, f"{kept_expected} / {total}"], timeout=15_000)
    print(f"slider release → accuracy, kept and gauge updated in the browser: "
          f"{1000 * (time.perf_counter() - released):.0f} ms")
    accuracy_after = _text(page, ".bingo-prune-accuracy")
    assert re.search(r"test accuracy \d+\.\d %", accuracy_after), accuracy_after
    assert _text(page, ".bingo-fit-text") != fit_before
    assert _bar_colour(page) == GREEN_RGB
    shots.take("prune-slider-dragged")


def _flash_the_simulated_uno(page, shots) -> None:
    page.locator(".bingo-flash-port select").scroll_into_view_if_needed()
    page.select_option(".bingo-flash-port select", label="Simulated Uno")
    page.click(".bingo-flash-button")
    # the first flash may build the sketch with avr-gcc and boot simavr: allow for a busy machine
    page.wait_for_selector(".bingo-flash-status .bingo-status-ok, .bingo-flash-status .bingo-status-error",
                           timeout=300_000)
    status = _text(page, ".bingo-flash-status")
    shots.take("flashed")
    assert re.search(r"Flashed \d+ bytes to the Simulated Uno in \d+\.\d+ s", status), status

    page.fill(".bingo-flash-count input", "20")
    page.press(".bingo-flash-count input", "Enter")  # number boxes send their value on Enter or blur
    page.click(".bingo-flash-test")
    page.wait_for_selector(".bingo-flash-test-result span", timeout=120_000)
    result = _text(page, ".bingo-flash-test-result")
    assert "the board and the laptop agree on 20/20 digits" in result.lower(), result
    shots.take("tested-on-board")


def _draw_a_one(page, shots) -> None:
    cells = page.locator(".bingo-pad-cell")
    assert cells.count() == 64
    cells.nth(0).scroll_into_view_if_needed()
    for row, column in ONE:
        cells.nth(8 * row + column).click()
    page.mouse.move(5, 5)  # no hover styling on the last square clicked
    # each click is a round trip to the kernel (and the board): wait until all of them are drawn and answered
    page.wait_for_function(
        """(inked) => {
            const black = [...document.querySelectorAll('.bingo-pad-cell')]
                .filter(c => getComputedStyle(c).backgroundColor === 'rgb(0, 0, 0)').length;
            return black === inked
                && /Host model: \\d/.test(document.querySelector('.bingo-pad-host').innerText)
                && /Board: \\d \\(thought for [\\d.]+ ms\\)/.test(document.querySelector('.bingo-pad-board').innerText);
        }""", arg=len(ONE), timeout=60_000)
    page.wait_for_function(KERNEL_READY_JS, timeout=60_000)  # idle: the last click's answers are in
    host, board = _text(page, ".bingo-pad-host"), _text(page, ".bingo-pad-board")
    assert re.fullmatch(r"Host model: \d \(\d+ % sure\)", host.strip()), host
    assert re.fullmatch(r"Board: \d \(thought for [\d.]+ ms\)", board.strip()), board
    print(f"digit pad: {host.strip()} | {board.strip()}")
    shots.take("digit-pad")
    assert "error" not in _text(page, ".bingo-digit-pad .bingo-status").lower()
