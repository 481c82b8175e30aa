"""Installing the receiver on the Simulated blank Uno (real Optiboot in simavr), or Mega (its real stk500v2
bootloader): avrdude against the kit's own installer (bingo_kit.board.stk500), side by side in one run.

  python benchmarks/install.py [--board uno|mega] [--rounds 3] [--json]

Each round erases the board and installs the shipped .hex with each installer in turn (the order alternates from
round to round), with force=True so that both do the same work: reset, sync, write, read back and compare,
leave, then the kit's IDENTIFY check. Reported per installer (medians over the rounds):
  install_seconds  the whole install_firmware call;
  upload_seconds   first to last progress report: the page writes and the read-back;
and the wire floor of the kit's upload (every 128-byte page sent and read back once at 115 200 baud, 10 bits a
byte, counting its LOAD_ADDRESS and the bytes around each page), and each installer's upload time over it. avrdude
is timed from its first '#' to its last (the first page is already written then) and may read in other block
sizes, so its ratio can fall below 1.
Nothing is mocked: both talk to the real bootloader through the simulated board's pty.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bingo_kit.board.firmware import hex_image, shipped_hex
from bingo_kit.board.install import install_firmware
from bingo_kit.board.simavr import BlankSimulatedMega, BlankSimulatedUno
from bingo_kit.board.stk500 import ATMEGA328P, ATMEGA2560

INSTALLERS = ("avrdude", "kit")
BYTES_PER_SECOND = 115_200 / 10


def wire_floor_seconds(program_bytes: int, board: str) -> float:
    """Uno, per 128-byte page (STK500v1): LOAD_ADDRESS (4 bytes, answer 2) and PROG_PAGE (5 + page, answer 2),
    then LOAD_ADDRESS again and READ_PAGE (5, answer 2 + page). Mega, per 256-byte page (STK500v2: 6 bytes of
    framing per message): LOAD_ADDRESS (5 + 6, answer 2 + 6), PROGRAM_FLASH (10 + page + 6, answer 2 + 6), again
    LOAD_ADDRESS, READ_FLASH (4 + 6, answer 3 + page + 6)."""
    if board == "mega":
        page = ATMEGA2560.page_size
        per_page = (11 + 8) + (16 + page + 8) + (11 + 8) + (10 + 9 + page)
    else:
        page = ATMEGA328P.page_size
        per_page = (4 + 2) + (5 + page + 2) + (4 + 2) + (5 + 2 + page)
    return -(-program_bytes // page) * per_page / BYTES_PER_SECOND


def install_once(installer: str, board_key: str, folder: Path) -> dict:
    board = (BlankSimulatedMega if board_key == "mega" else BlankSimulatedUno)(folder / "flash.bin", folder / "eeprom.bin")
    board.erase()
    board.start()
    reports = []
    try:
        started = time.monotonic()
        result = install_firmware(board.port, board_key, progress=False, using=installer, force=True,
                                  on_progress=lambda fraction: reports.append(time.monotonic()))
        seconds = time.monotonic() - started
    finally:
        board.stop()
    assert result.info.firmware_version and result.using == installer
    return {"install_seconds": seconds, "upload_seconds": reports[-1] - reports[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", choices=["uno", "mega"], default="uno")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    program = len(hex_image(shipped_hex(args.board)))
    runs = {installer: [] for installer in INSTALLERS}
    with tempfile.TemporaryDirectory(prefix="bingo-install-bench-") as scratch:
        for round_number in range(args.rounds):
            order = INSTALLERS if round_number % 2 == 0 else INSTALLERS[::-1]
            for installer in order:
                runs[installer].append(install_once(installer, args.board, Path(scratch)))
                if not args.json:
                    print(f"round {round_number + 1} {installer}: {runs[installer][-1]['install_seconds']:.2f} s",
                          file=sys.stderr)
    floor = wire_floor_seconds(program, args.board)
    summary = {"board": args.board, "rounds": args.rounds, "program_bytes": program,
               "upload_wire_floor_seconds": round(floor, 3)}
    for installer in INSTALLERS:
        install = statistics.median(run["install_seconds"] for run in runs[installer])
        upload = statistics.median(run["upload_seconds"] for run in runs[installer])
        summary[installer] = {"install_seconds": round(install, 2), "upload_seconds": round(upload, 2),
                              "upload_over_wire_floor": round(upload / floor, 2),
                              "install_seconds_each": [round(run["install_seconds"], 2) for run in runs[installer]]}
    summary["kit_over_avrdude_install"] = round(summary["kit"]["install_seconds"] / summary["avrdude"]["install_seconds"], 2)
    if args.json:
        print(json.dumps(summary))
    else:
        for installer in INSTALLERS:
            entry = summary[installer]
            print(f"{installer:8s} install {entry['install_seconds']:5.2f} s   upload (write + read-back) "
                  f"{entry['upload_seconds']:5.2f} s = {entry['upload_over_wire_floor']:.2f}x the wire floor "
                  f"({floor:.2f} s)")
        print(f"the kit's install takes {summary['kit_over_avrdude_install']:.2f}x avrdude's")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
