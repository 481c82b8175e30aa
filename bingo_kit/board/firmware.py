"""The receiver sketch as a program for the chip: built with the kit's own toolchain (avr-gcc against Debian's
Arduino AVR core), and the bootloader a Simulated blank Uno carries. Installing it on a board is
bingo_kit.board.install.

The sources ship inside the package (bingo_kit/_hardware in a wheel, hardware/ in the source tree); builds go
to the user cache (bingo_kit.paths.build_dir), cached by a hash of their sources and the toolchain's versions.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from bingo_kit.boards import BOARDS
from bingo_kit.errors import KitError
from bingo_kit.paths import build_dir

_PACKAGED = Path(__file__).resolve().parents[1] / "_hardware"       # in an installed wheel
HARDWARE_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[2] / "hardware"
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
