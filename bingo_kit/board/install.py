"""Put the receiver on a board through the bootloader every Uno, Nano and Mega already has: no Arduino IDE.

`install_firmware(port, board)` (and `bingo-kit install-firmware`) builds the receiver (bingo_kit.board.firmware),
uploads it with avrdude, then checks that the board answers IDENTIFY.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from bingo_kit.board.answers import BoardInfo
from bingo_kit.board.board import connect
from bingo_kit.board.firmware import build_firmware, check_upload_tools, firmware_size
from bingo_kit.board.ports import find_arduino
from bingo_kit.board.protocol import BOOT_QUIET_SECONDS
from bingo_kit.board.simavr import BlankSimulatedUno
from bingo_kit.boards import Board, get_board
from bingo_kit.errors import KitError

# --- installing through the bootloader ------------------------------------------------------------

# How each board's bootloader is reached: avrdude programmer, part, baud (Arduino's boards.txt upload.*).
# A Nano is tried at 115 200 (Optiboot, sold since 2018) and then at 57 600 (the old ATmegaBOOT).
BOOTLOADERS: dict[str, list[tuple[str, str, int]]] = {
    "uno": [("arduino", "m328p", 115200)],
    "nano": [("arduino", "m328p", 115200), ("arduino", "m328p", 57600)],
    "mega": [("wiring", "m2560", 115200)],
}
CHIPS = {"1e950f": ("uno", "an Arduino Uno or Nano (ATmega328P)"), "1e9801": ("mega", "an Arduino Mega 2560")}
SYNC_SECONDS = 2.0   # a bootloader answers avrdude within ~1 s of the reset; longer means nobody will
STALL_SECONDS = 4.0  # during the upload, this long without progress means the board has gone
AVRDUDE_HASHES = 100  # avrdude draws 50 '#' while writing and 50 while verifying


class InstallError(KitError):
    """install-firmware could not put the receiver on the board; the message says why and what to do."""


@dataclass
class InstallResult:
    port: str
    board: Board            # the build that was installed
    protocol: str           # "arduino @ 115200 baud" -- how the bootloader was reached
    flash_bytes: int
    seconds: float
    info: BoardInfo       # the board's IDENTIFY answer after the install

    def summary(self) -> str:
        return (f"Installed the receiver ({self.flash_bytes} bytes) on the {self.board.name} at {self.port} in "
                f"{self.seconds:.1f} s (bootloader: {self.protocol}); it answers IDENTIFY: firmware "
                f"{self.info.firmware_version}, model capacity {self.info.capacity} bytes.")


@dataclass
class _Attempt:
    synced: bool = False       # the bootloader answered (avrdude read the chip's signature)
    signature: str | None = None
    returncode: int | None = None
    output: str = ""


def _ends_with_this_process() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGKILL when this process dies (Linux's PR_SET_PDEATHSIG), so a
    killed kernel or `bingo-kit` never leaves avrdude behind, talking to a board. A parent that died before the
    prctl took effect is caught by comparing getppid(). The signal fires when the *thread* that started the
    child ends; _run_avrdude waits for avrdude in that same thread. None where there is no prctl."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, parent = ctypes.c_int(1), os.getpid()   # <linux/prctl.h>: PR_SET_PDEATHSIG = 1
    arguments = (pr_set_pdeathsig, ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0), ctypes.c_ulong(0),
                 ctypes.c_ulong(0))   # built here: between fork and exec the child should do as little as it can

    def die_with_parent() -> None:
        prctl(*arguments)
        if os.getppid() != parent:
            os._exit(1)

    return die_with_parent


def _run_avrdude(device: str, programmer: str, part: str, baud: int, hex_path: Path | None = None,
                 on_hash: Callable[[], None] | None = None) -> _Attempt:
    """One avrdude run: read the signature (and write + verify `hex_path`). It is stopped if the bootloader
    has not answered within SYNC_SECONDS -- nothing is written before that -- or stalls mid-upload."""
    command = ["avrdude", "-c", programmer, "-p", part, "-P", device, "-b", str(baud), "-D"]
    if hex_path is not None:  # by name, from its folder: -U splits at colons, and "C:\\..." has one
        command += ["-U", f"flash:w:{hex_path.name}:i"]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               cwd=hex_path.parent if hex_path is not None else None,
                               preexec_fn=_ends_with_this_process())
    output = bytearray()
    last_output = [time.monotonic()]

    def read_stderr() -> None:  # a thread: progress arrives one '#' at a time, on every platform
        while True:
            byte = process.stderr.read(1)
            if not byte:
                return
            output.extend(byte)
            last_output[0] = time.monotonic()
            if byte == b"#" and on_hash is not None:
                on_hash()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    attempt, started = _Attempt(), time.monotonic()
    while process.poll() is None:
        text = output.decode(errors="replace")
        attempt.synced = attempt.synced or "device signature" in text.lower()
        now = time.monotonic()
        if (not attempt.synced and now - started > SYNC_SECONDS) or now - last_output[0] > STALL_SECONDS:
            process.kill()
        time.sleep(0.02)
    process.wait()
    reader.join(1.0)
    attempt.output = output.decode(errors="replace")
    found = re.search(r"device signature = (?:0x)?([0-9a-f]{6})", attempt.output, re.IGNORECASE)
    attempt.synced = found is not None
    attempt.signature = found.group(1).lower() if found else None
    attempt.returncode = process.returncode
    return attempt


def _port_exists(device: str) -> bool:
    if os.name == "nt":  # COM ports are no files
        from serial.tools import list_ports

        return any(port.device.lower() == device.lower() for port in list_ports.comports())
    return os.path.exists(device)


def _unplugged(port: str) -> InstallError:
    return InstallError(f"Nothing is plugged in at {port}. Plug the board in (with a data cable) and check the "
                        "port with `bingo-kit ports`, then run install-firmware again.")


def _which_board_is_it(device: str, tried: set) -> tuple[str, str, int] | None:
    """Ask in the other boards' bootloader languages: (signature, programmer, baud) of the first that answers."""
    for programmer, part, baud in dict.fromkeys(c for cs in BOOTLOADERS.values() for c in cs):
        if (programmer, baud) not in tried:
            attempt = _run_avrdude(device, programmer, part, baud)
            if attempt.signature:
                return attempt.signature, programmer, baud
    return None


def _wrong_board(where: str, port: str, chosen: Board, signature: str, baud: int) -> InstallError:
    key, what = CHIPS.get(signature, (None, f"a board with chip signature {signature.upper()}"))
    if key is None:
        return InstallError(f"The board at {where} is {what}, which the kit has no receiver for (it supports the "
                            "Uno, the Nano and the Mega 2560). Nothing was written.")
    if key == "uno" and baud == 57600:
        key, what = "nano", "an Arduino Nano with the old bootloader (ATmega328P)"
    return InstallError(f"The board at {where} is {what}, not an {chosen.name}. Nothing was written; run: "
                        f"bingo-kit install-firmware --port {port} --board {key}")


def install_firmware(port: str = "auto", board: str | Board = "uno", progress: bool = True,
                     on_progress: Callable[[float], None] | None = None) -> InstallResult:
    """Build the receiver for `board`, upload it through the board's bootloader, check it answers IDENTIFY.

    port: a device ("/dev/ttyACM0", "COM3"), "auto" (the first Arduino) or "sim-blank" (the Simulated blank
    Uno). on_progress(fraction) is called as the upload and its verification proceed (for a widget). A failed
    install never touches the bootloader, so running it again is always the way back."""
    board = get_board(board)
    if port == "sim":
        raise InstallError("The Simulated Uno ('sim') always runs the kit's own receiver; install-firmware is for "
                           "real boards and for 'sim-blank', the simulated Uno fresh out of the box.")
    check_upload_tools()
    started = time.monotonic()
    elf = build_firmware(board.key)
    simulator = None
    if port == "sim-blank":
        simulator = BlankSimulatedUno.default().start()
        device = simulator.port
    else:
        device = find_arduino() if port == "auto" else port
    where = "the Simulated blank Uno" if simulator else device
    try:
        if not _port_exists(device):
            raise _unplugged(where)
        with tqdm(total=AVRDUDE_HASHES, desc=f"installing the receiver ({board.key})", disable=not progress,
                  leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}") as bar:
            hashes = [0]  # not bar.n: a disabled bar does not count

            def hash_drawn() -> None:
                hashes[0] += 1
                bar.update(1)
                if on_progress is not None:
                    on_progress(min(hashes[0] / AVRDUDE_HASHES, 1.0))

            tried = set()
            for programmer, part, baud in BOOTLOADERS[board.key]:
                attempt = _run_avrdude(device, programmer, part, baud, elf.with_suffix(".hex"), hash_drawn)
                tried.add((programmer, baud))
                if attempt.returncode == 0:
                    break
                if attempt.signature and "expected signature" in attempt.output:
                    raise _wrong_board(where, port, board, attempt.signature, baud)
                if attempt.synced:
                    raise InstallError(
                        f"The board at {where} stopped answering during the upload (was it unplugged or reset?). "
                        "Its bootloader is untouched: plug it back in and run install-firmware again.")
                if not _port_exists(device) or re.search(r"can(no|')t open (port|device)", attempt.output):
                    raise _unplugged(where)
            else:
                found = _which_board_is_it(device, tried)
                if found:
                    raise _wrong_board(where, port, board, found[0], found[2])
                raise InstallError(
                    f"No bootloader answered at {where} (tried the {board.name}'s: "
                    + ", ".join(f"{p} at {b} baud" for p, _, b in BOOTLOADERS[board.key])
                    + ", and the other boards'). Is it the right port (`bingo-kit ports`)? A board with no "
                    "bootloader needs an ISP programmer; the Arduino IDE's 'Burn Bootloader' puts one on.")
        try:
            with connect(device, boot_wait=BOOT_QUIET_SECONDS) as connected:
                info = connected.info
        except KitError as error:
            raise InstallError(f"avrdude installed the receiver at {where}, but it does not answer IDENTIFY: "
                               f"{error}") from None
    finally:
        if simulator is not None:
            simulator.stop()
    return InstallResult(port, board, f"{programmer} @ {baud} baud", firmware_size(elf)["flash"],
                         time.monotonic() - started, info)
