"""A real board through the browser (Web Serial), as a Chromebook on a JupyterHub reaches the Uno on the desk.

Headless Chromium has no port chooser and lists no ptys, so the board's USB cable is played by
tests/web_serial_bridge.py: a test-only navigator.serial whose streams reach a simulated board's pty over a
WebSocket. Everything else is real: the page's JavaScript, the kernel's protocol, the firmware in simavr and the
Simulated blank Uno's Optiboot.
"""
from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import pytest

from browser_jupyter import kernel_exec, notebook_in_chromium, run_all_cells, write_notebook
from web_serial_bridge import NO_WEB_SERIAL_JS, SerialBridge

pytestmark = [pytest.mark.browser, pytest.mark.firmware, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
PUBLIC_SCREENSHOTS = REPO / "test-output" / "browser-web-serial"
DIGITS = 300

SETUP = """
from bingo_kit.data import load_dataset
from bingo_kit.models import make_mlp
from bingo_kit.training import train
from bingo_kit.pruning import prune_fraction
from bingo_kit.export import inputs_to_bytes
from bingo_kit.widgets import FlashButton, DigitPad
import torch
torch.manual_seed(0)
data = load_dataset("digits")
model = make_mlp((64, 16, 10), seed=0)
train(model, data, epochs=8, seed=0, progress=False)
prune_fraction(model, 0.7)
other = make_mlp((64, 16, 10), seed=1)
train(other, data, epochs=8, seed=1, progress=False)
prune_fraction(other, 0.85)
flasher = FlashButton(model, data, port="web-serial")
flasher
"""


def _notebook(root: Path, cells: list[str]) -> str:
    return write_notebook(root, "web_serial.ipynb", cells)


@contextlib.contextmanager
def _page_with(board, tmp_path, cells: list[str], pictures: str, init_script: str | None = None):
    """`board` (a simulated board) behind the test's USB cable, a notebook of `cells` run in Chromium with the
    fake navigator.serial: yields (page, shots, bridge)."""
    with board, SerialBridge(lambda: board.port) as bridge:
        name = _notebook(tmp_path / "nb", cells)
        with notebook_in_chromium(tmp_path / "nb", tmp_path, name, PUBLIC_SCREENSHOTS / pictures,
                                  init_script=init_script or bridge.init_script()) as (page, shots):
            run_all_cells(page)
            yield page, shots, bridge


def _connect(page, scope=".bingo-flash") -> None:
    """Click Connect a board, then wait until it is connected or has failed anew (its sentence changed)."""
    widget = page.locator(f"{scope} .bingo-web-serial").first
    widget.scroll_into_view_if_needed()
    before = widget.locator(".bingo-web-serial-state").inner_text()
    widget.locator(".bingo-web-serial-connect").click()
    page.wait_for_function(
        f"""(before) => {{ const el = document.querySelector('{scope} .bingo-web-serial');
                           const text = el.querySelector('.bingo-web-serial-state').innerText;
                           return el.dataset.state === 'connected' || (el.dataset.state === 'failed' && text !== before); }}""",
        arg=before, timeout=30_000)


def _serial_state(page, scope=".bingo-flash") -> str:
    return page.locator(f"{scope} .bingo-web-serial-state").first.inner_text()


@pytest.fixture
def receiver(tmp_path):
    from bingo_kit.board.simavr import SimulatedBoard

    with SimulatedBoard(tmp_path / "eeprom.bin") as board:
        yield board


def test_flash_then_test_300_digits_on_a_board_through_the_browser(tmp_path, receiver):
    with _page_with(receiver, tmp_path, [SETUP], "flash") as (page, shots, bridge):
        _connect(page)
        assert "connected" in _serial_state(page)
        shots.take("connected")
        filters = page.evaluate("window.bingoFakeSerial.requested.filters")
        assert {"usbVendorId": 0x2341, "usbProductId": 0x0043} in filters   # the chooser lists Arduinos
        page.locator(".bingo-flash-button").click()
        page.wait_for_function("""() => /Flashed \\d+ bytes to the board connected through this browser/
                                        .test(document.querySelector('.bingo-flash-status').innerText)""",
                               timeout=120_000)
        page.fill(".bingo-flash-count input", str(DIGITS))
        page.press(".bingo-flash-count input", "Enter")
        page.click(".bingo-flash-test")
        page.wait_for_function(f"""() => document.querySelector('.bingo-flash-test-result').innerText
                                        .includes('/{DIGITS} digits')""", timeout=300_000)
        result = page.locator(".bingo-flash-test-result").inner_text()
        shots.take("tested")
        assert f"agree on {DIGITS}/{DIGITS} digits" in result, result
        # the digit pad asks the same board
        out = kernel_exec(page, "pad = DigitPad(model, data, board=flasher)\n"
                                "await pad.draw([[(7, 6), (24, 6), (13, 28)], [(11, 17), (21, 17)]])\n"
                                "print(pad.host_prediction, pad.board_prediction)")
        host, board = out.split()
        assert board != "None" and board == host, out
        assert bridge.opened == 1   # one connection served it all: the port stays open between clicks
        kernel_exec(page, "flasher.close()")    # the widget closes: the page lets go of the port
        deadline = time.monotonic() + 20
        while bridge.busy and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not bridge.busy, "the port is still held after the widget closed"


def test_an_unplugged_upload_keeps_the_old_model_and_says_so(tmp_path, receiver):
    with _page_with(receiver, tmp_path, [SETUP], "unplugged") as (page, shots, bridge):
        _connect(page)
        first = kernel_exec(page, "r = await flasher.flash(); print(r.crc)").strip()
        kernel_exec(page, "flasher.model = other")
        bridge.delay_ms = 40              # a slow cable, so the pull lands among the chunks
        sent_before = bridge.bytes_to_board
        page.locator(".bingo-flash-button").click()
        while bridge.bytes_to_board < sent_before + 300:   # BEGIN and a few chunks are through
            time.sleep(0.01)
        bridge.drop()
        page.wait_for_selector(".bingo-flash-status .bingo-status-error", timeout=60_000)
        status = page.locator(".bingo-flash-status").inner_text()
        shots.take("unplugged-mid-upload")
        assert "unplugged" in status and "model already on the board is kept" in status, status
        bridge.delay_ms = 0
        _connect(page)
        info = kernel_exec(page, "i = await flasher.identify(); print(i.has_model, i.model_crc)").split()
        assert info == ["True", first], info    # the board still holds the model flashed before


def test_each_way_a_connection_can_fail_has_its_sentence(tmp_path, receiver):
    with _page_with(receiver, tmp_path, [SETUP], "sentences") as (page, shots, bridge):
        page.evaluate("window.bingoFakeSerial.choose = 'cancel'")
        _connect(page)
        assert "No board was chosen" in _serial_state(page)
        page.evaluate("window.bingoFakeSerial.choose = 'blocked'")
        _connect(page)
        assert "does not let this page ask for a USB board" in _serial_state(page)
        page.evaluate("window.bingoFakeSerial.choose = 'port'")
        bridge.refuse = True              # Chrome: "Failed to open serial port." (forbidden, or another program)
        _connect(page)
        assert "dialout" in _serial_state(page) and "Serial Monitor" in _serial_state(page)
        shots.take("refused")
        bridge.refuse = False
        # Flash before connecting: the kernel says what to click
        page.locator(".bingo-flash-button").click()
        page.wait_for_selector(".bingo-flash-status .bingo-status-error", timeout=60_000)
        assert "Connect a board" in page.locator(".bingo-flash-status").inner_text()
        _connect(page)
        assert "connected" in _serial_state(page)
        # a second tab of the kit (another notebook, another kernel) wants the same board
        second = tmp_path / "nb" / "second.ipynb"
        second.write_bytes((tmp_path / "nb" / "web_serial.ipynb").read_bytes())
        other = page.context.new_page()
        other.goto(page.url.replace("web_serial.ipynb", second.name))
        run_all_cells(other)
        _connect(other)
        assert "Another tab uses this board" in _serial_state(other)
        other.screenshot(path=str(shots.directory / "another-tab.png"))
        other.close()


def test_a_board_without_the_receiver_is_named_so(tmp_path):
    """The wrong board: a new Uno holding only its bootloader answers, but not with the BINGO firmware."""
    from bingo_kit.board.simavr import BlankSimulatedUno

    blank = BlankSimulatedUno(tmp_path / "flash.bin", tmp_path / "eeprom.bin")
    with _page_with(blank, tmp_path, [SETUP], "no-receiver") as (page, shots, bridge):
        _connect(page)
        page.locator(".bingo-flash-button").click()
        page.wait_for_selector(".bingo-flash-status .bingo-status-error", timeout=120_000)
        status = page.locator(".bingo-flash-status").inner_text()
        shots.take("no-receiver")
        assert re.search(r"not the BINGO firmware|has the receiver been put on the board", status), status


def test_a_browser_without_web_serial_says_which_browsers_have_it(tmp_path):
    name = _notebook(tmp_path / "nb", [SETUP])
    with notebook_in_chromium(tmp_path / "nb", tmp_path, name, PUBLIC_SCREENSHOTS / "no-web-serial",
                              init_script=NO_WEB_SERIAL_JS) as (page, shots):
        run_all_cells(page)
        page.wait_for_selector(".bingo-web-serial[data-state=failed]", timeout=30_000)
        shots.take("no-web-serial")
        assert "Web Serial needs Chrome, Edge or a Chromebook" in _serial_state(page)
        page.locator(".bingo-flash-button").click()
        page.wait_for_selector(".bingo-flash-status .bingo-status-error", timeout=60_000)
        assert "Web Serial needs Chrome" in page.locator(".bingo-flash-status").inner_text()


def test_a_page_not_served_over_https_says_so(tmp_path):
    """http://bingo-hub.test (mapped to this machine) is not a secure context: the browser itself hides Web Serial."""
    name = _notebook(tmp_path / "nb", [SETUP])
    with notebook_in_chromium(tmp_path / "nb", tmp_path, name, PUBLIC_SCREENSHOTS / "insecure",
                              host="bingo-hub.test") as (page, shots):
        run_all_cells(page)
        assert page.evaluate("window.isSecureContext") is False
        page.wait_for_selector(".bingo-web-serial[data-state=failed]", timeout=30_000)
        shots.take("insecure")
        assert "not served over HTTPS" in _serial_state(page)


INSTALL = """
from bingo_kit.widgets import InstallFirmware
installer = InstallFirmware(port="web-serial", board="uno")
installer
"""


def _install(page) -> str:
    before = page.locator(".bingo-install-status").inner_text()
    page.locator(".bingo-install-button").click()
    page.wait_for_function(
        """(before) => { const s = document.querySelector('.bingo-install-status');
                         return s.innerText !== before && !s.querySelector('.bingo-status-info'); }""",
        arg=before, timeout=600_000)
    return page.locator(".bingo-install-status").inner_text()


def test_install_the_receiver_through_the_browser_then_flash_and_test(tmp_path):
    """A new Uno, only Optiboot in its flash: the page installs the shipped receiver (the kit's STK500v1 through Web
    Serial), reads the flash back and compares it, checks IDENTIFY; then lesson 7's path runs on it."""
    from bingo_kit.board.firmware import hex_image, shipped_hex
    from bingo_kit.board.simavr import BlankSimulatedUno

    blank = BlankSimulatedUno(tmp_path / "flash.bin", tmp_path / "eeprom.bin")
    with _page_with(blank, tmp_path, [SETUP, INSTALL], "install") as (page, shots, bridge):
        _connect(page, ".bingo-install")
        status = _install(page)
        shots.take("installed")
        assert "read back and checked" in status and "1020 bytes of model" in status, status
        image = hex_image(shipped_hex("uno"))
        assert blank.flash_path.read_bytes()[:len(image)] == image   # the board's flash holds the receiver
        out = kernel_exec(page, f"await flasher.flash()\nr = await flasher.test_on_board({DIGITS})\n"
                                "print(r['agree'], r['count'])")
        assert out.split() == [str(DIGITS), str(DIGITS)], out


def test_an_install_unplugged_half_way_is_run_again_and_recovers(tmp_path):
    from bingo_kit.board.simavr import BlankSimulatedUno

    blank = BlankSimulatedUno(tmp_path / "flash.bin", tmp_path / "eeprom.bin")
    with _page_with(blank, tmp_path, [SETUP, INSTALL], "install-unplugged") as (page, shots, bridge):
        _connect(page, ".bingo-install")
        page.locator(".bingo-install-button").click()
        while bridge.bytes_to_board < 3000:     # a few pages of the receiver are written
            time.sleep(0.01)
        bridge.drop()
        page.wait_for_selector(".bingo-install-status .bingo-status-error", timeout=120_000)
        status = page.locator(".bingo-install-status").inner_text()
        shots.take("unplugged-mid-install")
        assert "bootloader is untouched" in status or "unplugged" in status, status
        _connect(page, ".bingo-install")
        status = _install(page)
        shots.take("installed-again")
        assert "read back and checked" in status, status


def test_a_mega_gets_its_receiver_through_the_browser_too(tmp_path):
    """The Mega 2560's bootloader speaks STK500v2: the same page, the kit's Stk500v2, the same read-back."""
    from bingo_kit.board.firmware import hex_image, shipped_hex
    from bingo_kit.board.simavr import BlankSimulatedMega

    blank = BlankSimulatedMega(tmp_path / "flash.bin", tmp_path / "eeprom.bin")
    with _page_with(blank, tmp_path, [INSTALL.replace('board="uno"', 'board="mega"')], "install-mega") as (page, shots, bridge):
        _connect(page, ".bingo-install")
        status = _install(page)
        shots.take("installed-mega")
        assert "read back and checked" in status and "4092 bytes of model" in status, status
        image = hex_image(shipped_hex("mega"))
        assert blank.flash_path.read_bytes()[:len(image)] == image
