"""What each supported board can hold.

The numbers here let the kit say "this model will not fit" *before* anything is sent. They are the
datasheet figures; once a board is connected, its IDENTIFY answer (hardware/PROTOCOL.md §5.1) is the
truth and wins over this table.
"""
from __future__ import annotations

from dataclasses import dataclass

from bingo_kit.errors import KitError
from bingo_kit.board.protocol import BOARD_LIMITS, EEPROM_HEADER_BYTES

# PROTOCOL.md §3: the EEPROM record spends 4 bytes (length + CRC) before the blob.
EEPROM_RECORD_OVERHEAD = EEPROM_HEADER_BYTES


@dataclass(frozen=True)
class Board:
    key: str             # short name used on the command line: "uno", "nano", "mega"
    name: str            # what a person calls it
    mcu: str
    flash_bytes: int
    sram_bytes: int
    eeprom_bytes: int
    model_capacity: int  # largest blob the firmware can store (bytes)
    identify_code: int   # the board byte of the IDENTIFY answer (PROTOCOL.md §5.1)


def _avr_board(key: str, name: str, mcu: str, flash: int, sram: int, eeprom: int) -> Board:
    """Capacity and IDENTIFY code as the sketch has them for this MCU (protocol.h, twinned in protocol.py)."""
    limits = BOARD_LIMITS[mcu]
    return Board(key, name, mcu, flash, sram, eeprom, limits.model_capacity, limits.board_code)


BOARDS: dict[str, Board] = {
    "uno": _avr_board("uno", "Arduino Uno", "ATmega328P", 32 * 1024, 2 * 1024, 1024),
    "nano": _avr_board("nano", "Arduino Nano", "ATmega328P", 32 * 1024, 2 * 1024, 1024),
    "mega": _avr_board("mega", "Arduino Mega 2560", "ATmega2560", 256 * 1024, 8 * 1024, 4096),
}

# Common spellings people type, so `--board "Mega 2560"` or `--board atmega328p` just works.
_ALIASES = {
    "arduino uno": "uno", "uno r3": "uno", "atmega328p": "uno", "328p": "uno",
    "arduino nano": "nano",
    "mega2560": "mega", "mega 2560": "mega", "arduino mega": "mega", "arduino mega 2560": "mega",
    "atmega2560": "mega", "2560": "mega",
}

# USB vendor/product ids seen on Arduino boards and their clones: (vid, pid or None for any) -> guess.
USB_IDS: dict[tuple[int, int | None], str] = {
    (0x2341, 0x0043): "Arduino Uno",
    (0x2341, 0x0001): "Arduino Uno",
    (0x2A03, 0x0043): "Arduino Uno",
    (0x2341, 0x0010): "Arduino Mega 2560",
    (0x2341, 0x0042): "Arduino Mega 2560",
    (0x2A03, 0x0010): "Arduino Mega 2560",
    (0x2A03, 0x0042): "Arduino Mega 2560",
    (0x2341, None): "Arduino (genuine)",
    (0x2A03, None): "Arduino (arduino.org)",
    (0x1A86, 0x7523): "Uno/Nano clone (CH340)",
    (0x0403, 0x6001): "Nano or clone (FTDI FT232R)",
    (0x10C4, 0xEA60): "Arduino-compatible (CP210x)",
}


def get_board(name: str | Board) -> Board:
    """The board called `name` ("uno", "nano", "mega", or a common spelling); a clear error otherwise."""
    if isinstance(name, Board):
        return name
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in BOARDS:
        known = ", ".join(BOARDS)
        raise UnknownBoardError(f"Unknown board {name!r}. Choose one of: {known}.")
    return BOARDS[key]


def board_for_identify_code(code: int) -> Board | None:
    """The first table entry with this IDENTIFY board byte (Uno for ATmega328P), or None."""
    return next((board for board in BOARDS.values() if board.identify_code == code), None)


def guess_board(vid: int | None, pid: int | None) -> str | None:
    """A human guess at what is behind a USB serial port, from its vendor/product ids."""
    if vid is None:
        return None
    return USB_IDS.get((vid, pid)) or USB_IDS.get((vid, None))


class UnknownBoardError(KitError, ValueError):
    """A board name the kit does not know."""
