"""A real board through the browser (Web Serial), measured in one run against the kit's other ways to the same
boards: install the receiver on a blank Uno, flash a model, test it.

  python benchmarks/web_serial.py [--json] [--n 300]

Headless Chromium has no port chooser, so the USB cable is tests/web_serial_bridge.py's: a test-only
navigator.serial whose streams reach a simulated board's pty over a WebSocket on localhost. Everything else is the
kit's own path: the page's JavaScript, the kernel's STK500v1 and BINGO protocol, the Simulated blank Uno's real
Optiboot, the receiver in simavr.

  install_seconds          Install (lesson 0's button) through the browser on a Simulated blank Uno: the shipped
                           .hex written, read back, compared, then IDENTIFY
  install_verified         true only when the installer read every page back as written AND the board's flash
                           (the simulator's flash file) holds the shipped receiver
  flash_seconds, n, agreement   a ~1 KB model flashed through the browser; n test digits, the share whose 10
                           logits match the laptop's int8 reference
  avrdude_install_seconds  the same install on a fresh Simulated blank Uno with avrdude on its pty, same run
  pyserial_flash_seconds   the same model flashed on the simavr Uno through pyserial, same run
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

KERNEL_SETUP = f"""
import sys, json
sys.path.insert(0, {str(HERE)!r})
from browser_uno import two_models
from bingo_kit.board.board import BingoBoard
from bingo_kit.board.agreement import compare_board_with_reference
from bingo_kit.board.install import install_firmware
from bingo_kit.board.page import PageSerial
from bingo_kit.board.session import run_on_board
blobs, x_u8, y = two_models()
board_view = PageSerial.named()
board_view
"""

KERNEL_INSTALL = """
_r = await run_on_board("web-serial", install_firmware, "web-serial", "uno", False)
print(json.dumps({"install_seconds": round(_r.seconds, 3), "verified": _r.verified, "using": _r.using}))
"""

KERNEL_FLASH = """
def _flash_and_test(n):
    with BingoBoard("web-serial") as board:
        started = time.perf_counter()
        board.upload(blobs[0], progress=False)
        seconds = time.perf_counter() - started
        comparison = compare_board_with_reference(board, blobs[0], x_u8[:n], progress=False)
    return {"flash_seconds": round(seconds, 3), "n": comparison.n, "agreement": comparison.agreement}
import time
print(json.dumps(await run_on_board("web-serial", _flash_and_test, __N__)))
"""


def measure_in_the_browser(n: int, scratch: Path) -> dict:
    sys.path.insert(0, str(REPO / "tests"))
    from browser_jupyter import kernel_exec, notebook_in_chromium, run_all_cells, write_notebook
    from web_serial_bridge import SerialBridge

    from bingo_kit.board.firmware import hex_image, shipped_hex
    from bingo_kit.board.simavr import BlankSimulatedUno

    root = scratch / "notebooks"
    write_notebook(root, "web_serial.ipynb", [KERNEL_SETUP])
    blank = BlankSimulatedUno(scratch / "page-flash.bin", scratch / "page-eeprom.bin")
    with blank, SerialBridge(lambda: blank.port) as bridge:
        with notebook_in_chromium(root, scratch, "web_serial.ipynb", None, init_script=bridge.init_script()) as (
                page, _shots):
            run_all_cells(page)
            page.locator(".bingo-web-serial-connect").click()
            page.wait_for_selector(".bingo-web-serial[data-state=connected]", timeout=30_000)
            installed = json.loads(kernel_exec(page, KERNEL_INSTALL).strip().splitlines()[-1])
            image = hex_image(shipped_hex("uno"))
            in_flash = blank.flash_path.read_bytes()[:len(image)] == image
            flashed = json.loads(kernel_exec(page, KERNEL_FLASH.replace("__N__", str(n))).strip().splitlines()[-1])
    return {"install_seconds": installed["install_seconds"],
            "install_verified": bool(installed["verified"] and in_flash),
            **flashed}


def measure_the_other_ways(scratch: Path) -> dict:
    """The same jobs on the same kinds of simulated boards: avrdude on a fresh blank Uno's pty, pyserial on simavr."""
    sys.path.insert(0, str(HERE))
    from browser_uno import two_models

    from bingo_kit.board.board import BingoBoard
    from bingo_kit.board.install import install_firmware
    from bingo_kit.board.simavr import BlankSimulatedUno, SimulatedBoard

    blank = BlankSimulatedUno(scratch / "avrdude-flash.bin", scratch / "avrdude-eeprom.bin")
    with blank:
        result = install_firmware(blank.port, "uno", progress=False, using="avrdude")
    blobs, _x, _y = two_models()
    with SimulatedBoard(scratch / "sim-eeprom.bin") as simulator, BingoBoard(simulator.port) as board:
        started = time.perf_counter()
        board.upload(blobs[0], progress=False)
        pyserial_seconds = time.perf_counter() - started
    return {"avrdude_install_seconds": round(result.seconds, 3),
            "pyserial_flash_seconds": round(pyserial_seconds, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--n", type=int, default=300, help="test digits (default 300)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bingo-web-serial-") as scratch:
        scratch = Path(scratch)
        result = {**measure_in_the_browser(args.n, scratch), **measure_the_other_ways(scratch)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"install through the browser: {result['install_seconds']:.1f} s (avrdude on the same kind of board: "
          f"{result['avrdude_install_seconds']:.1f} s), verified by read-back: {result['install_verified']}")
    print(f"flash through the browser: {result['flash_seconds']:.2f} s (pyserial: {result['pyserial_flash_seconds']:.2f} s); "
          f"agreement {result['agreement']:.3f} on {result['n']} digits")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
