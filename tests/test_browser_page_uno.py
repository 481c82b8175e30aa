"""Every student gets an Uno: lesson 7's student copy flashing and testing the Simulated Uno that runs in the page
(avr8js in the browser), in headless Chromium, driven like a student would.

Two set-ups: this computer's own (simavr too: the student picks "Simulated Uno in this page"), and one where the
kit finds neither avr-gcc nor simavr (a Windows laptop, a Mac, a Chromebook on a hub), where the page's Uno is
what "sim" means and Run All alone flashes it. Either way: Test on board agrees on 300 digits, the model is
still there after a page reload (the page keeps the board's EEPROM), and the simavr Uno, given the same blob,
answers the same digits with identical logits.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from bingo_kit.classroom import make_workspace
from browser_jupyter import KERNEL_READY_JS, kernel_exec, notebook_in_chromium, run_all_cells

pytestmark = [pytest.mark.browser, pytest.mark.firmware, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
PUBLIC_SCREENSHOTS = REPO / "test-output" / "browser-page-uno"
LESSON = "07_flash_it.ipynb"
DIGITS = 300

PAGE_LOGITS = f"""
from bingo_kit.board.session import run_on_board
import json as _json
_x = inputs_to_bytes(data.x_test[:{DIGITS}])
_logits = await run_on_board("page", lambda: [p.logits for p in flasher.connected_board().predict_many(_x, progress=False)])
print(_json.dumps({{"blob": flasher.last_report.blob.hex(), "logits": _logits}}))
"""


def _without_avr_tools(scratch: Path) -> dict:
    """An environment in which the kit finds no AVR compiler, no Arduino core and no simavr (PATH keeps every
    other program of /usr/bin, so the kernel still starts)."""
    hidden = {name for name in os.listdir("/usr/bin") if name.startswith("avr") or name.startswith("simavr")}
    bin_dir = scratch / "bin-without-avr"
    bin_dir.mkdir()
    for name in os.listdir("/usr/bin"):
        if name not in hidden:
            (bin_dir / name).symlink_to(Path("/usr/bin") / name)
    # /bin is /usr/bin on a merged-/usr system: every entry that leads there gets the filtered copy
    path = [str(bin_dir) if os.path.realpath(entry) == "/usr/bin" else entry
            for entry in os.environ["PATH"].split(os.pathsep)]
    return {"PATH": os.pathsep.join(path), "SIMAVR_INCLUDE": str(scratch / "no-simavr"),
            "ARDUINO_AVR": str(scratch / "no-arduino-core")}


def _flash_status(page) -> str:
    return page.locator(".bingo-flash-status").first.inner_text()


def _test_on_board_by_hand(page, shots) -> None:
    flash = page.locator(".bingo-flash").first
    flash.locator(".bingo-flash-count input").fill(str(DIGITS))
    flash.locator(".bingo-flash-count input").press("Enter")
    before = flash.locator(".bingo-flash-test-result").inner_text()
    flash.locator(".bingo-flash-test").click()
    # students see the data arrive: the drawn Uno's TX and RX LEDs light while the digits and answers flow
    page.wait_for_function("""() => { const uno = document.querySelector('.bingo-page-uno wokwi-arduino-uno');
                                      return uno && uno.ledRX && uno.ledTX; }""", timeout=120_000, polling=10)
    page.locator(".bingo-page-uno").first.screenshot(path=str(shots.directory / "leds-lit.png"))
    page.wait_for_function(
        """([before, n]) => {
            const text = document.querySelector('.bingo-flash-test-result').innerText;
            return text !== before && text.includes('/' + n + ' digits');
        }""", arg=[before, DIGITS], timeout=600_000)
    result = flash.locator(".bingo-flash-test-result").inner_text()
    shots.take("tested-300-on-the-page-uno")
    assert f"agree on {DIGITS}/{DIGITS} digits" in result, result


def _reload_and_identify(page, shots, crc: int) -> None:
    """A reload is a power cycle for the page's Uno: the kernel keeps its objects, the page starts a new board
    from the EEPROM it stored. IDENTIFY must still report the model, with its CRC."""
    boot = kernel_exec(page, "from bingo_kit.board.page import PageUno; print(PageUno.named().boot)").strip()
    page.reload()
    page.wait_for_function(KERNEL_READY_JS, timeout=120_000)
    for _ in range(120):
        now = kernel_exec(page, "print(PageUno.named().boot)").strip()
        if now not in (boot, "None"):
            break
        page.wait_for_timeout(500)
    else:
        raise AssertionError("the page's Uno did not start again after the reload")
    info = kernel_exec(page, "_info = await flasher.identify(); print(_info.has_model, _info.model_crc, _info.model_length)")
    has_model, model_crc, _ = info.split()
    shots.take("after-reload")
    assert has_model == "True" and int(model_crc) == crc, info


def _same_logits_on_simavr(page, tmp_path) -> None:
    """The blob the page's Uno holds, on the simavr Uno (in this test's own process, which sees simavr): the same
    digits must give identical logits, digit for digit."""
    from bingo_kit.board.board import BingoBoard
    from bingo_kit.data import load_dataset
    from bingo_kit.export import inputs_to_bytes

    page_side = json.loads(kernel_exec(page, PAGE_LOGITS).strip().splitlines()[-1])
    blob = bytes.fromhex(page_side["blob"])
    x = inputs_to_bytes(load_dataset("digits").x_test[:DIGITS])
    with BingoBoard("sim", sim_eeprom=tmp_path / "simavr-eeprom.bin") as simavr:
        simavr.upload(blob, progress=False)
        simavr_logits = [p.logits for p in simavr.predict_many(x, progress=False)]
    assert len(page_side["logits"]) == DIGITS
    assert page_side["logits"] == simavr_logits


def _crc_in(status: str) -> int:
    found = re.search(r"checksum (0x[0-9a-f]+) confirmed", status)
    assert found, status
    return int(found.group(1), 16)


def test_lesson_7_flashes_and_tests_the_uno_in_the_page(tmp_path):
    """This computer has simavr: Run All uses it, then the student picks the page's Uno and clicks."""
    workspace = tmp_path / "classroom"
    make_workspace(workspace)
    with notebook_in_chromium(workspace, tmp_path, LESSON, PUBLIC_SCREENSHOTS / "with-simavr") as (page, shots):
        run_all_cells(page)
        flash = page.locator(".bingo-flash").first
        flash.scroll_into_view_if_needed()
        flash.locator(".bingo-flash-port select").select_option(label="Simulated Uno in this page")
        page.wait_for_selector(".bingo-page-uno[data-state=running]", timeout=120_000)
        flash.locator(".bingo-flash-button").click()
        page.wait_for_function(
            "() => /Flashed \\d+ bytes to the Simulated Uno in this page/.test("
            "document.querySelector('.bingo-flash-status').innerText)", timeout=300_000)
        shots.take("flashed-the-page-uno")
        crc = _crc_in(_flash_status(page))
        _test_on_board_by_hand(page, shots)
        _reload_and_identify(page, shots, crc)
        _same_logits_on_simavr(page, tmp_path)


def test_lesson_7_in_the_page_on_a_computer_without_avr_gcc_or_simavr(tmp_path):
    """No AVR toolchain and no simavr for the kit: the page's Uno is the Simulated Uno, and Run All flashes it."""
    workspace = tmp_path / "classroom"
    make_workspace(workspace)
    env = _without_avr_tools(tmp_path)
    assert shutil.which("avr-gcc", path=env["PATH"]) is None
    with notebook_in_chromium(workspace, tmp_path, LESSON, PUBLIC_SCREENSHOTS / "without-simavr", env=env) as (page, shots):
        run_all_cells(page)
        shots.take("after-run-all")
        found = kernel_exec(page, "from bingo_kit.board import simavr; print(simavr.available())").strip()
        assert found == "False", "the kit still finds simavr or avr-gcc: the test would prove nothing"
        port, crc = kernel_exec(page, "print(flasher.port.value, flasher.last_upload.crc)").split()
        assert port == "page"       # "sim" meant the page's Uno here
        outputs = " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
        assert "board and laptop agree on 50 of 50 digits" in outputs
        crc = int(crc)
        _test_on_board_by_hand(page, shots)
        _reload_and_identify(page, shots, crc)
        _same_logits_on_simavr(page, tmp_path)


def test_lesson_0_meets_the_uno_in_the_page(tmp_path):
    """Lesson 0's check starts the page's Uno and gets its IDENTIFY answer, on any computer."""
    workspace = tmp_path / "classroom"
    make_workspace(workspace)
    with notebook_in_chromium(workspace, tmp_path, "00_setup_check.ipynb", PUBLIC_SCREENSHOTS / "lesson-0") as (page, shots):
        run_all_cells(page)
        page.locator(".bingo-page-uno").first.scroll_into_view_if_needed()
        shots.take("lesson-0-page-uno")
        outputs = " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
        assert re.search(r"✅ ok +Simulated Uno in this page +answered in [\d.]+ s: receiver 1\.0, room for 1020 bytes",
                         outputs), outputs[-2000:]
