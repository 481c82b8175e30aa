"""Put the receiver on a board through the bootloader every Uno, Nano and Mega already has: no Arduino IDE, no
compiler.

`install_firmware(port, board)` (and `bingo-kit install-firmware`) first asks the board for IDENTIFY (is the
receiver there already? then it says so, unless `force`), then writes the shipped .hex
(bingo_kit.board.firmware.shipped_hex) through the bootloader and verifies it, and finally checks that the board
answers IDENTIFY. Two ways to talk to the bootloader, `using=`:
  "avrdude"  the program, where it is installed (Debian's package, Homebrew's, or PyPI's avrdude-windows);
  "kit"      the kit's own conversation (bingo_kit.board.stk500): STK500v1 with the Uno's and Nano's
             bootloaders, STK500v2 with the Mega's; nothing to install.
The default is avrdude when it is found, else the kit's own. Both read the flash back and compare.
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

import serial
from tqdm.auto import tqdm

from bingo_kit.board import stk500
from bingo_kit.board.answers import BoardInfo
from bingo_kit.board.board import PAGE_PORT, WEB_SERIAL_PORT, WEB_SERIAL_URL, BingoBoard, connect
from bingo_kit.board.firmware import avrdude_path, check_upload_tools, hex_image, shipped_hex
from bingo_kit.board.ports import find_arduino
from bingo_kit.board.protocol import BOOT_QUIET_SECONDS
from bingo_kit.board.simavr import BlankSimulatedUno, SimulatedDtrPort
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
INSTALLERS = ("avrdude", "kit")
# IDENTIFY before installing: Optiboot gives up at the kit's first frame (16 ms) and the receiver answers within
# about half a second, on a real Uno and on the Simulated blank Uno alike; a simulated board on a busy computer
# may lag. A blank board costs all of it.
PROBE_SECONDS = 1.0
PROBE_SECONDS_SIMULATED = 2.0
# A Mega's bootloader takes any byte as the start of an upload and waits for the rest, so IDENTIFY waits until it
# has given up (about 1 s of board time); a simulated Mega on a busy computer runs behind the wall clock.
MEGA_BOOT_SECONDS = BOOT_QUIET_SECONDS
MEGA_BOOT_SECONDS_SIMULATED = 3.0


def _boot_wait(device: str, board: Board) -> float:
    """How long to leave a freshly reset board alone before IDENTIFY: an Uno's or Nano's bootloader gives up at
    the first frame and starts the sketch (see _receiver_already_there), a Mega's does not."""
    if board.key != "mega":
        return 0.0
    return MEGA_BOOT_SECONDS_SIMULATED if os.path.realpath(device).startswith("/dev/pts/") else MEGA_BOOT_SECONDS


class InstallError(KitError):
    """install-firmware could not put the receiver on the board; the message says why and what to do."""


class ReceiverAlreadyThereError(InstallError):
    """The board already runs the receiver: nothing was written (install with force=True to replace it)."""

    def __init__(self, message: str, info: BoardInfo):
        super().__init__(message)
        self.info = info


@dataclass
class InstallResult:
    port: str
    board: Board            # the build that was installed
    protocol: str           # "arduino @ 115200 baud" -- how the bootloader was reached
    flash_bytes: int
    seconds: float
    info: BoardInfo         # the board's IDENTIFY answer after the install
    using: str = "avrdude"  # "avrdude" or "kit" (the kit's own STK500v1 / STK500v2)
    verified: bool = True   # every page read back as written (avrdude verifies unless told not to; the kit always)

    def summary(self) -> str:
        tool = "avrdude" if self.using == "avrdude" else "the kit's own installer"
        return (f"Installed the receiver ({self.flash_bytes} bytes) on the {self.board.name} at {self.port} in "
                f"{self.seconds:.1f} s with {tool}, verified by reading it back (bootloader: {self.protocol}); it "
                f"answers IDENTIFY: firmware {self.info.firmware_version}, model capacity {self.info.capacity} bytes.")


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
    command = [avrdude_path() or "avrdude", "-c", programmer, "-p", part, "-P", device, "-b", str(baud), "-D"]
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
    if device.startswith("page://"):  # a board through the browser: there once the student has connected it
        from bingo_kit.board.page import PageSerial

        PageSerial.named().wait_for_page(10.0)  # NoBoardError says to click Connect a board
        return True
    if os.name == "nt":  # COM ports are no files
        from serial.tools import list_ports

        return any(port.device.lower() == device.lower() for port in list_ports.comports())
    return os.path.exists(device)


def _the_board(where: str) -> str:
    """The board as a sentence's subject: "The board at COM3", "The Simulated blank Uno", "The board connected…"."""
    return where[0].upper() + where[1:] if where.startswith("the ") else f"The board at {where}"


def _again(where: str) -> str:
    """How to try again: a board through the browser is installed from lesson 0's button."""
    return "press Install again" if where == "the board connected through this browser" else "run install-firmware again"


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
        return InstallError(f"{_the_board(where)} is {what}, which the kit has no receiver for (it supports the "
                            "Uno, the Nano and the Mega 2560). Nothing was written.")
    if key == "uno" and baud == 57600:
        key, what = "nano", "an Arduino Nano with the old bootloader (ATmega328P)"
    return InstallError(f"{_the_board(where)} is {what}, not an {chosen.name}. Nothing was written; run: "
                        f"bingo-kit install-firmware --port {port} --board {key}")


def choose_installer(using: str | None, board: Board) -> str:
    """"avrdude" or "kit": as asked, else avrdude where it is installed, else the kit's own installer."""
    if using is None:
        return "avrdude" if avrdude_path() else "kit"
    if using not in INSTALLERS:
        raise InstallError(f"Install with {using!r}? Choose one of: {', '.join(INSTALLERS)}.")
    if using == "avrdude":
        check_upload_tools()
    return using


def _receiver_already_there(device: str, where: str, port: str, board: Board) -> None:
    """IDENTIFY, at once after opening: the kit's frames make an Uno's or Nano's bootloader give up (Optiboot at
    the second byte, ATmegaBOOT after five unknown bytes: one frame) and start the sketch, writing nothing, so a
    board with the receiver answers soon; a blank one costs PROBE_SECONDS. Raises if the receiver answers."""
    try:
        simulated = os.path.realpath(device).startswith("/dev/pts/")
        # (after a Mega's boot wait the receiver, if there, answers at once)
        seconds = PROBE_SECONDS_SIMULATED if simulated and board.key != "mega" else PROBE_SECONDS
        with connect(device, boot_wait=_boot_wait(device, board), handshake_seconds=seconds) as found:
            info = found.info
    except KitError:
        return  # no receiver (or no port: the install says that in its own words)
    board_there = where if where.startswith("the Simulated") else f"the {info.board_name} at {where}"
    raise ReceiverAlreadyThereError(
        f"The receiver is already on {board_there} (firmware {info.firmware_version}, "
        f"{'holding a model' if info.has_model else 'no model yet'}): nothing was written. To install it again "
        f"anyway (e.g. a newer kit's), run: bingo-kit install-firmware --port {port} --board {board.key} --force",
        info)


def _open_bootloader_port(device: str, baud: int):
    """The port as the kit's bootloader code (bingo_kit.board.stk500) wants it: pyserial's, or for a simulator's pty (no DTR line) one whose
    DTR pulse reopens it, which is what resets a simulated board."""
    if device.startswith("page://"):  # through the browser: the page passes the bootloader's bytes straight on,
        # and DTR and the baud rate reach the board as Web Serial's own line settings
        return serial.serial_for_url(device + "?raw", baud, timeout=0.05, write_timeout=1.0)
    if os.path.realpath(device).startswith("/dev/pts/"):
        return SimulatedDtrPort(device, baud)
    port = BingoBoard._open(device)  # the board code's own open: its one sentence for a busy or forbidden port
    port.baudrate = baud
    return port


# How the kit's own installer reaches each board's bootloader (the same as BOOTLOADERS, in its own words).
KIT_BOOTLOADERS: dict[str, list[tuple[type[stk500.Bootloader], int]]] = {
    "uno": [(stk500.Stk500v1, 115200)],
    "nano": [(stk500.Stk500v1, 115200), (stk500.Stk500v1, 57600)],
    "mega": [(stk500.Stk500v2, 115200)],
}


def _kit_ask(device: str, protocol: type[stk500.Bootloader], baud: int, image: bytes | None,
             report) -> stk500.Installed | bytes:
    """One conversation with the kit's installer: install `image`, or (None) only read the signature (after one
    reset: it is asked only to name the board in an error message)."""
    try:
        port = _open_bootloader_port(device, baud)
    except OSError:  # the simulated board's pty vanished between two opens
        raise stk500.LostContactError("The port could not be opened.") from None
    try:
        bootloader = protocol(port)
        if image is None:
            bootloader.sync(resets=1)
            signature = bootloader.signature()
            bootloader._leave_quietly()
            return signature
        return bootloader.install(image, report)
    finally:
        try:
            port.close()
        except OSError:
            pass


def _install_with_kit(device: str, where: str, port: str, board: Board, image: bytes,
                      report) -> tuple[str, stk500.Installed]:
    tried = []
    for protocol, baud in KIT_BOOTLOADERS[board.key]:
        tried.append((protocol, baud))
        try:
            installed = _kit_ask(device, protocol, baud, image, report)
            return f"{protocol.__name__.lower()} @ {baud} baud", installed
        except stk500.NoBootloaderError:
            if not _port_exists(device):
                raise _unplugged(where) from None
            continue
        except stk500.WrongChipError as error:
            raise _wrong_board(where, port, board, error.signature.hex(), baud) from None
        except stk500.VerifyError as error:
            raise InstallError(f"The receiver did not read back as written at {where} (first difference at flash "
                               f"byte 0x{error.address:04X}): a loose cable or a bad USB hub? The bootloader is "
                               f"untouched: {_again(where)}.") from None
        except stk500.LostContactError:
            raise InstallError(
                f"{_the_board(where)} stopped answering during the upload (was it unplugged or reset?). Its "
                f"bootloader is untouched: plug it back in and {_again(where)}.") from None
    found = _kit_which_board(device, tried)
    if found:
        raise _wrong_board(where, port, board, found[0], found[1])
    raise _no_bootloader(where, board, ", ".join(f"the kit's {protocol.__name__} at {baud} baud"
                                                 for protocol, baud in tried))


def _kit_which_board(device: str, tried: list) -> tuple[str, int] | None:
    """(signature, baud) from the first other board's bootloader that answers."""
    for protocol, baud in dict.fromkeys(pair for pairs in KIT_BOOTLOADERS.values() for pair in pairs):
        if (protocol, baud) not in tried:
            try:
                return _kit_ask(device, protocol, baud, None, None).hex(), baud
            except KitError:
                continue
    return None


def _no_bootloader(where: str, board: Board, tried: str) -> InstallError:
    return InstallError(
        f"No bootloader answered at {where} (tried the {board.name}'s: {tried}, and the other boards'). Is it the "
        "right port (`bingo-kit ports`)? A board with no bootloader needs an ISP programmer; the Arduino IDE's "
        "'Burn Bootloader' puts one on.")


def _install_with_avrdude(device: str, where: str, port: str, board: Board, hex_path: Path, on_hash) -> str:
    tried = set()
    for programmer, part, baud in BOOTLOADERS[board.key]:
        attempt = _run_avrdude(device, programmer, part, baud, hex_path, on_hash)
        tried.add((programmer, baud))
        if attempt.returncode == 0:
            return f"{programmer} @ {baud} baud"
        if attempt.signature and "expected signature" in attempt.output:
            raise _wrong_board(where, port, board, attempt.signature, baud)
        if attempt.synced:
            if "verification error" in attempt.output.lower() or "mismatch" in attempt.output.lower():
                raise InstallError(f"The receiver did not read back as written at {where} (avrdude: verification "
                                   "error): a loose cable or a bad USB hub? The bootloader is untouched: run "
                                   "install-firmware again.")
            raise InstallError(
                f"The board at {where} stopped answering during the upload (was it unplugged or reset?). "
                "Its bootloader is untouched: plug it back in and run install-firmware again.")
        if not _port_exists(device) or re.search(r"can(no|')t open (port|device)", attempt.output):
            raise _unplugged(where)
    found = _which_board_is_it(device, tried)
    if found:
        raise _wrong_board(where, port, board, found[0], found[2])
    raise _no_bootloader(where, board, ", ".join(f"{p} at {b} baud" for p, _, b in BOOTLOADERS[board.key]))


def install_firmware(port: str = "auto", board: str | Board = "uno", progress: bool = True,
                     on_progress: Callable[[float], None] | None = None, *, using: str | None = None,
                     force: bool = False) -> InstallResult:
    """Put the shipped receiver for `board` on the board at `port` through its bootloader, verify it by reading it
    back, check it answers IDENTIFY.

    port: a device ("/dev/ttyACM0", "COM3"), "auto" (the first Arduino) or "sim-blank" (the Simulated blank
    Uno). using: "avrdude", "kit" (the kit's own STK500v1/v2), or None (avrdude if installed, else the kit's).
    force: install even if the board already answers as the receiver. on_progress(fraction) is called as the
    upload and its read-back proceed (for a widget). A failed install never touches the bootloader, so running it
    again is always the way back."""
    board = get_board(board)
    if port in ("sim", PAGE_PORT):
        raise InstallError("A Simulated Uno ('sim', or the one in the page) always runs the kit's own receiver; "
                           "install-firmware is for real boards and for 'sim-blank', the simulated Uno fresh out of "
                           "the box.")
    through_browser = port in (WEB_SERIAL_PORT, WEB_SERIAL_URL)
    if through_browser:
        if using == "avrdude":
            raise InstallError("avrdude cannot reach a board through the browser; the kit's own installer does "
                               "(leave --with out).")
        using = "kit"  # the same STK500 conversation, its bytes through the page (Web Serial)
    using = choose_installer(using, board)
    hex_path = shipped_hex(board.key)
    image = hex_image(hex_path)
    started = time.monotonic()
    simulator = None
    if port == "sim-blank":
        simulator = BlankSimulatedUno.default().start()
        device = simulator.port
    elif through_browser:
        device = WEB_SERIAL_URL
    else:
        device = find_arduino() if port == "auto" else port
    where = ("the Simulated blank Uno" if simulator else
             "the board connected through this browser" if through_browser else device)
    try:
        if not _port_exists(device):
            raise _unplugged(where)
        if not force:
            _receiver_already_there(device, where, port, board)
        with tqdm(total=AVRDUDE_HASHES, desc=f"installing the receiver ({board.key}, {using})",
                  disable=not progress, leave=False,
                  bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}") as bar:
            hashes = [0]  # not bar.n: a disabled bar does not count

            def report(fraction: float) -> None:  # both installers: writing is the first half, reading back the second
                fraction = min(max(fraction, 0.0), 1.0)
                bar.update(round(fraction * AVRDUDE_HASHES) - bar.n)
                if on_progress is not None:
                    on_progress(fraction)

            def hash_drawn() -> None:
                hashes[0] += 1
                report(hashes[0] / AVRDUDE_HASHES)

            if using == "avrdude":
                protocol, verified = _install_with_avrdude(device, where, port, board, hex_path, hash_drawn), True
            else:
                protocol, installed = _install_with_kit(device, where, port, board, image, report)
                verified = installed.verified
        try:
            with connect(device, boot_wait=_boot_wait(device, board)) as connected:
                info = connected.info
        except KitError as error:
            tool = "avrdude" if using == "avrdude" else "The kit"
            raise InstallError(f"{tool} installed the receiver at {where}, but it does not answer IDENTIFY: "
                               f"{error}") from None
    finally:
        if simulator is not None:
            simulator.stop()
    return InstallResult(port, board, protocol, len(image), time.monotonic() - started, info, using, verified)
