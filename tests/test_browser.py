"""The widgets in a real browser: JupyterLab + headless Chromium, driven like a student would.

Opens tests/notebooks/widget_tour.ipynb (a copy, so the repo file never gets outputs saved into it), runs
all cells, then drags the prune slider, flashes the Simulated Uno and draws digits on the pad with the mouse.
Screenshots land in the test's tmp dir and in <repo>/test-output/browser/ for people to look at.
"""
from __future__ import annotations

import math
import re
import shutil
import time
from pathlib import Path

import pytest

from browser_jupyter import KERNEL_READY_JS, notebook_in_chromium, run_all_cells

pytestmark = [pytest.mark.browser, pytest.mark.firmware, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
TOUR = REPO / "tests" / "notebooks" / "widget_tour.ipynb"
PUBLIC_SCREENSHOTS = REPO / "test-output" / "browser"

GREEN_RGB = "rgb(46, 125, 50)"   # common.GREEN
RED_RGB = "rgb(198, 40, 40)"     # common.RED

# digits as pen strokes in canvas pixels (the pad is 32×32, shown 10× larger)
DRAWN = {
    "1": [[(13, 8), (17, 4), (17, 16), (17, 28)]],
    "7": [[(7, 6), (16, 6), (25, 6), (19, 17), (13, 28)], [(11, 17), (21, 17)]],
    "0": [[(16 - 8 * math.sin(math.tau * t / 12), 4 + 12 * (1 - math.cos(math.tau * t / 12))) for t in range(13)]],
    "4": [[(11, 4), (8, 19), (25, 19)], [(21, 6), (21, 29)]],
}


def _text(page, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def _bar_colour(page) -> str:
    return page.eval_on_selector(".bingo-fit-gauge .progress-bar",
                                 "el => getComputedStyle(el).backgroundColor")


def test_widget_tour_in_a_real_browser(tmp_path):
    root = tmp_path / "notebooks"
    root.mkdir()
    shutil.copy(TOUR, root / TOUR.name)
    with notebook_in_chromium(root, tmp_path, TOUR.name, PUBLIC_SCREENSHOTS) as (page, shots):
        run_all_cells(page)
        _live_scores_are_not_shown_smaller(page, shots)
        _drag_the_prune_slider(page, shots)
        _flash_the_simulated_uno(page, shots)
        _draw_digits_with_the_mouse(page, shots)


def _live_scores_are_not_shown_smaller(page, shots) -> None:
    """The live figure's text is 14 px in its PNG (test_widgets.py); not shrunk on screen, it stays 14 px or more
    (JupyterLab stretches the picture to the cell's width)."""
    page.locator(".bingo-live-picture").first.scroll_into_view_if_needed()
    natural, shown = page.eval_on_selector(
        ".bingo-live-picture", "el => [el.naturalWidth, el.getBoundingClientRect().width]")
    assert natural > 0 and shown >= natural - 1, (natural, shown)
    print(f"live scores: {natural} px wide shown at {shown:.0f} px: smallest text {14 * shown / natural:.1f} px")
    shots.take("live-scores")


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


def _draw_digits_with_the_mouse(page, shots) -> None:
    canvas = page.locator("canvas.bingo-pad-canvas, .bingo-pad-canvas canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    scale = box["width"] / 32  # screen pixels per canvas pixel
    answers = {}
    for digit, strokes in DRAWN.items():
        page.click(".bingo-pad-clear")
        page.wait_for_function("() => document.querySelector('.bingo-pad-board').innerText.includes('draw a digit')",
                               timeout=30_000)
        for stroke in strokes:
            before = page.eval_on_selector(".bingo-pad-picture", "el => el.src")
            (x, y), *rest = stroke
            page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
            page.mouse.down()
            for x, y in rest:
                page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=6)
            page.mouse.up()
            # each finished stroke comes back as a new "what the network sees" picture
            page.wait_for_function("(before) => document.querySelector('.bingo-pad-picture').src !== before",
                                   arg=before, timeout=60_000)
        page.wait_for_function(KERNEL_READY_JS, timeout=60_000)  # idle: the last stroke's answers are in
        host, board = _text(page, ".bingo-pad-host").strip(), _text(page, ".bingo-pad-board").strip()
        top3 = _text(page, ".bingo-pad-top3").strip()
        assert re.fullmatch(r"Laptop: \d \(\d+ % sure\)", host), host
        assert re.fullmatch(r"Board: \d \(thought for [\d.]+ ms\)", board), board
        assert re.fullmatch(r"Top 3: \d \(\d+ %\) · \d \(\d+ %\) · \d \(\d+ %\)", top3), top3
        assert "error" not in _text(page, ".bingo-digit-pad .bingo-status").lower()
        answers[digit] = (host, board)
        print(f"drew a {digit}: {host} | {board} | {top3}")
        page.mouse.move(5, 5)
        shots.take(f"digit-pad-{digit}")
    assert len(answers) >= 3
