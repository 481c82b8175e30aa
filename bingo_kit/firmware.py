"""The receiver sketch: build it with the kit's own toolchain, and install it on a board through its bootloader.

`install_firmware(port, board)` (and `bingo-kit install-firmware`) compiles hardware/bingo_receiver with
avr-gcc against Debian's Arduino AVR core, uploads it with avrdude through the bootloader every Uno, Nano and
Mega already has, then checks that the board answers IDENTIFY. No Arduino IDE is needed.

The sources ship inside the package (bingo_kit/_hardware in a wheel, hardware/ in the source tree); builds go
to the user cache (bingo_kit.paths.build_dir), cached by a hash of their sources and the toolchain's versions.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bingo_kit.boards import BOARDS, Board, get_board
from bingo_kit.errors import KitError
from bingo_kit.paths import build_dir

if TYPE_CHECKING:
    from bingo_kit.answers import BoardInfo

_PACKAGED = Path(__file__).resolve().parent / "_hardware"       # in an installed wheel
HARDWARE_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parent.parent / "hardware"
SKETCH_DIR = HARDWARE_DIR / "bingo_receiver"
ARDUINO_AVR = Path(os.environ.get("ARDUINO_AVR", "/usr/share/arduino/hardware/arduino/avr"))
FIRMWARE_PACKAGES = "gcc-avr avr-libc arduino-core-avr make"


class ToolsMissingError(KitError, RuntimeError):
    """A program the kit needs to build or install the sketch is not installed; the message names it."""


class FirmwareBuildError(KitError, RuntimeError):
    """The tools are there but the sketch (or the runner) does not compile: a bug to fix, not a setup step."""


def missing(packages: str, what: str, purpose: str = "Building the receiver sketch") -> ToolsMissingError:
    return ToolsMissingError(
        f"{purpose} needs {what}, which is not installed. On Debian/Ubuntu: sudo apt-get install {packages}"
        "   (or run `make system-packages`).")


def check_firmware_tools() -> None:
    if not (shutil.which("avr-g++") and shutil.which("avr-gcc")):
        raise missing(FIRMWARE_PACKAGES, "the AVR compiler (avr-gcc)")
    if not (ARDUINO_AVR / "cores" / "arduino" / "Arduino.h").exists():
        raise missing(FIRMWARE_PACKAGES, f"the Arduino AVR core ({ARDUINO_AVR})")
    if not shutil.which("make"):
        raise missing("make", "make")


def check_upload_tools() -> None:
    """avrdude, which puts the receiver on a real board through its bootloader."""
    if not shutil.which("avrdude"):
        raise missing("avrdude", "avrdude", "Installing the receiver")


def toolchain_versions() -> str:
    """avr-gcc's version and the Arduino core's (platform.txt): upgrading either must rebuild the sketch."""
    gcc = subprocess.run(["avr-gcc", "-dumpversion"], capture_output=True, text=True).stdout.strip()
    core = "unknown"
    platform = ARDUINO_AVR / "platform.txt"
    if platform.exists():
        core = next((line.split("=", 1)[1].strip() for line in platform.read_text(errors="replace").splitlines()
                     if line.startswith("version=")), "unknown")
    return f"avr-gcc {gcc}; arduino core {core}"


def source_hash(paths: list[Path], *extra: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for item in extra:
        digest.update(item.encode() + b"\0")
    return digest.hexdigest()[:16]


# --- building ----------------------------------------------------------------------------------------

@contextlib.contextmanager
def _exclusive(path: Path, wait: bool = True):
    """An exclusive lock on `path` for the block (released by the OS if this process dies): one process builds,
    the others wait for its result. Yields False if `wait` is False and someone else holds it."""
    with open(path, "a+") as lock:
        try:
            if os.name == "nt":
                import msvcrt

                lock.seek(0)
                msvcrt.locking(lock.fileno(), msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError:
            yield False
            return
        yield True   # closing the file releases the lock


def _prune_old_builds(current: Path) -> None:
    """Remove older builds of the same kind (fw-uno-*, sim-*) once `current` is in place: each source edit
    makes a new directory, and nothing ever reads the old ones again. Called under the build lock."""
    kind = current.name.rsplit("-", 1)[0] + "-"      # "fw-uno-" or "sim-"
    for old in current.parent.glob(kind + "*"):
        if old != current and old.is_dir() and not old.name.endswith(".partial") \
                and old.name.rsplit("-", 1)[0] + "-" == kind:
            lock_path = old.parent / f".{old.name}.lock"
            with _exclusive(lock_path, wait=False) as free:   # someone building that version? then keep it
                if free:
                    shutil.rmtree(old, ignore_errors=True)
            with contextlib.suppress(OSError):
                lock_path.unlink()


def build_once(target: Path, make_args: list[str]) -> Path:
    """Run hardware/Makefile for `target` unless it already exists; one process builds, concurrent ones wait."""
    if target.exists():
        return target
    out_dir = target.parent
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(out_dir.parent / f".{out_dir.name}.lock"):
        if target.exists():  # another worker built it while we waited
            return target
        partial = out_dir.with_name(out_dir.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        result = subprocess.run(["make", "-C", str(HARDWARE_DIR), *make_args, f"OUT={partial}",
                                 f"ARDUINO_AVR={ARDUINO_AVR}"], capture_output=True, text=True)
        if result.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise FirmwareBuildError(
                f"Building {target.name} failed (make {' '.join(make_args)}):\n"
                + (result.stderr or result.stdout)[-3000:])
        shutil.rmtree(out_dir, ignore_errors=True)
        partial.rename(out_dir)  # readers only ever see a complete build directory
        _prune_old_builds(out_dir)
    return target


def build_firmware(board: str = "uno") -> Path:
    """The sketch compiled for `board` ("uno", "nano", "mega") as an ELF (its .hex next to it); rebuilt only
    when the sources or the toolchain change."""
    if board not in BOARDS:
        raise KitError(f"No firmware build for board {board!r}; choose one of {', '.join(BOARDS)}.")
    check_firmware_tools()
    sources = [p for p in SKETCH_DIR.iterdir() if p.suffix in (".ino", ".h", ".cpp", ".c")]
    key = source_hash(sources + [HARDWARE_DIR / "Makefile"], board, toolchain_versions())
    return build_once(build_dir() / f"fw-{board}-{key}" / "bingo_receiver.elf", ["firmware", f"BOARD={board}"])


def build_bootloader() -> Path:
    """Optiboot for the ATmega328P, from Debian's arduino-core-avr source (see hardware/Makefile for why it is
    built rather than taken from its prebuilt .hex): what a Simulated blank Uno carries."""
    check_firmware_tools()
    source = ARDUINO_AVR / "bootloaders" / "optiboot" / "optiboot.c"
    if not source.exists():
        raise missing(FIRMWARE_PACKAGES, f"Optiboot's source ({source})", "The Simulated blank Uno")
    key = source_hash([source, HARDWARE_DIR / "Makefile"], toolchain_versions())
    return build_once(build_dir() / f"boot-{key}" / "optiboot_atmega328.hex", ["bootloader"])


def firmware_size(elf: Path) -> dict[str, int]:
    """Flash and static-RAM bytes of a built sketch, from avr-size (what the Arduino IDE reports)."""
    sections = {}
    for line in subprocess.run(["avr-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sections[parts[0]] = int(parts[1])
    return {"flash": sections.get(".text", 0) + sections.get(".data", 0),
            "ram": sections.get(".data", 0) + sections.get(".bss", 0)}


def board_fuses(board: str = "uno") -> str:
    """A real board's fuses "low,high,extended" as Debian's Arduino core gives them (boards.txt); board is a
    boards.txt prefix: "uno", or "nano.menu.cpu.atmega328old" for a Nano with the old bootloader."""
    wanted = {f"{board}.bootloader.{name}_fuses": None for name in ("low", "high", "extended")}
    boards_txt = ARDUINO_AVR / "boards.txt"
    if boards_txt.exists():
        for line in boards_txt.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() in wanted:
                wanted[key.strip()] = value.strip()
    if None in wanted.values():
        raise missing(FIRMWARE_PACKAGES, f"the {board} fuse settings ({boards_txt})", "The Simulated blank Uno")
    return ",".join(wanted.values())


def old_nano_bootloader() -> Path:
    """ATmegaBOOT, the bootloader of Nanos sold before 2018 (57 600 baud), as Debian ships it (it fits its
    2 KB boot section as built)."""
    path = ARDUINO_AVR / "bootloaders" / "atmega" / "ATmegaBOOT_168_atmega328.hex"
    if not path.exists():
        raise missing(FIRMWARE_PACKAGES, f"the old Nano bootloader ({path})", "The Simulated blank Nano")
    return path


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


def _run_avrdude(device: str, programmer: str, part: str, baud: int, hex_path: Path | None = None,
                 on_hash: Callable[[], None] | None = None) -> _Attempt:
    """One avrdude run: read the signature (and write + verify `hex_path`). It is stopped if the bootloader
    has not answered within SYNC_SECONDS -- nothing is written before that -- or stalls mid-upload."""
    command = ["avrdude", "-c", programmer, "-p", part, "-P", device, "-b", str(baud), "-D"]
    if hex_path is not None:  # by name, from its folder: -U splits at colons, and "C:\\..." has one
        command += ["-U", f"flash:w:{hex_path.name}:i"]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               cwd=hex_path.parent if hex_path is not None else None)
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
    from tqdm.auto import tqdm

    from bingo_kit.flash import BOOT_QUIET_SECONDS, connect, find_arduino

    board = get_board(board)
    if port == "sim":
        raise InstallError("The Simulated Uno ('sim') always runs the kit's own receiver; install-firmware is for "
                           "real boards and for 'sim-blank', the simulated Uno fresh out of the box.")
    check_upload_tools()
    started = time.monotonic()
    elf = build_firmware(board.key)
    simulator = None
    if port == "sim-blank":
        from bingo_kit.simulator import BlankSimulatedUno

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
