"""Which serial ports this computer has, and which of them look like an Arduino (by USB vendor/product id).

pyserial's `list_ports` does the listing on Linux, macOS and Windows alike; the board table guesses the model.
"""
from __future__ import annotations

from dataclasses import dataclass

from serial.tools import list_ports as serial_list_ports

from bingo_kit.boards import guess_board
from bingo_kit.board.protocol import FlashError


class NoBoardError(FlashError):
    """No board at that port (or none plugged in)."""


@dataclass
class PortInfo:
    device: str
    description: str
    is_arduino: bool
    board_guess: str | None
    vid: int | None = None
    pid: int | None = None


def list_ports() -> list[PortInfo]:
    """Serial ports on this computer, Arduino-looking ones (by USB vendor/product id) first."""
    ports = []
    for port in serial_list_ports.comports():
        guess = guess_board(port.vid, port.pid)
        ports.append(PortInfo(port.device, port.description or "", guess is not None, guess, port.vid, port.pid))
    return sorted(ports, key=lambda p: (not p.is_arduino, p.device))


def find_arduino() -> str:
    """The device of the first Arduino-looking port, or NoBoardError."""
    arduinos = [port for port in list_ports() if port.is_arduino]
    if not arduinos:
        raise NoBoardError("No Arduino found on any USB port. Plug one in (with a data cable, not a charging-only "
                           "one), or use port='sim' for the simulated Uno.")
    return arduinos[0].device
