"""The receiver sketch as a program for the chip.

The program every board runs is the shipped .hex: `shipped_hex("uno" | "nano" | "mega")`, one Intel HEX file per
board in hardware/firmware/ (bingo_kit/_hardware/firmware in a wheel), with manifest.json saying which sources and
which toolchain made it. A real board gets it through its bootloader (bingo_kit.board.install), the Simulated Uno
runs it in simavr, the page runs it in avr8js: no student's computer needs avr-gcc.

The shipped files are built here, with Debian's avr-gcc against its Arduino AVR core (the toolchain pinned in
PINNED_PACKAGES, the one CI installs; the build is byte-reproducible): `python -m bingo_kit.board.firmware
--refresh` rebuilds and rewrites them after the sketch changes, `--check` says whether they are current, and a
test fails when they are stale. Builds go to the user cache (bingo_kit.paths.build_dir), cached by a hash of
their sources and the toolchain's versions. The bootloader a Simulated blank Uno carries is built here too.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

from bingo_kit.boards import BOARDS, Board, get_board
from bingo_kit.errors import KitError
from bingo_kit.paths import build_dir

_PACKAGED = Path(__file__).resolve().parents[1] / "_hardware"       # in an installed wheel
HARDWARE_DIR = _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parents[2] / "hardware"
SKETCH_DIR = HARDWARE_DIR / "bingo_receiver"
ARDUINO_AVR = Path(os.environ.get("ARDUINO_AVR", "/usr/share/arduino/hardware/arduino/avr"))
FIRMWARE_PACKAGES = "gcc-avr avr-libc arduino-core-avr make"
SHIPPED_DIR = HARDWARE_DIR / "firmware"
SHIPPED_MANIFEST = SHIPPED_DIR / "manifest.json"
# The toolchain the shipped .hex files are built with: Debian 12's packages, the ones CI installs. With these a
# rebuild is byte-identical to the committed files (tests/test_shipped_firmware.py holds it).
PINNED_PACKAGES = {"gcc-avr": "1:5.4.0+Atmel3.6.2-3", "avr-libc": "1:2.0.0+Atmel3.6.2-3",
                   "arduino-core-avr": "1.8.7+dfsg-1~deb12u1"}
REFRESH_COMMAND = "python -m bingo_kit.board.firmware --refresh"


class ToolsMissingError(KitError, RuntimeError):
    """A program the kit needs to build or install the sketch is not installed; the message names it."""


class FirmwareBuildError(KitError, RuntimeError):
    """The tools are there but the sketch (or the runner) does not compile: a bug to fix, not a setup step."""


class StaleFirmwareError(KitError, RuntimeError):
    """The sketch was changed after its shipped .hex was built (only in a source checkout): refresh it."""


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


def avrdude_path() -> str | None:
    """avrdude on the PATH, else the one PyPI's avrdude-windows package carries (it puts avrdude.exe inside the
    Python package, not on the PATH), else None."""
    found = shutil.which("avrdude")
    if found:
        return found
    try:
        from avrdude_windows import get_avrdude_path
    except ImportError:
        return None
    path = get_avrdude_path()
    return path if os.path.isfile(path) else None


def check_upload_tools() -> None:
    """avrdude, which can put the receiver on a real board through its bootloader (the kit's own installer,
    bingo_kit.board.stk500, needs nothing)."""
    if not avrdude_path():
        raise ToolsMissingError(
            "Installing the receiver with avrdude needs avrdude, which is not installed. On Debian/Ubuntu: sudo "
            "apt-get install avrdude; on macOS: brew install avrdude; on Windows: pip install avrdude-windows. Or "
            "leave out --with avrdude: the kit's own installer needs nothing.")


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
    boards.txt prefix: "uno", or "nano.menu.cpu.atmega328old" for a Nano with the old bootloader (a fuse the menu
    entry leaves out comes from its board, as the Mega's low fuse does)."""
    settings = {}
    boards_txt = ARDUINO_AVR / "boards.txt"
    if boards_txt.exists():
        for line in boards_txt.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    fuses = []
    for name in ("low", "high", "extended"):
        value = next((settings[f"{prefix}.bootloader.{name}_fuses"] for prefix in (board, board.split(".menu.")[0])
                      if f"{prefix}.bootloader.{name}_fuses" in settings), None)
        if value is None:
            raise missing(FIRMWARE_PACKAGES, f"the {board} fuse settings ({boards_txt})", "The Simulated blank Uno")
        fuses.append(value)
    return ",".join(fuses)


def mega_bootloader() -> Path:
    """The Mega 2560's stk500v2 bootloader as Debian ships it (what a Simulated blank Mega carries)."""
    path = ARDUINO_AVR / "bootloaders" / "stk500v2" / "stk500boot_v2_mega2560.hex"
    if not path.exists():
        raise missing(FIRMWARE_PACKAGES, f"the Mega's bootloader ({path})", "The Simulated blank Mega")
    return path


def old_nano_bootloader() -> Path:
    """ATmegaBOOT, the bootloader of Nanos sold before 2018 (57 600 baud), as Debian ships it (it fits its
    2 KB boot section as built)."""
    path = ARDUINO_AVR / "bootloaders" / "atmega" / "ATmegaBOOT_168_atmega328.hex"
    if not path.exists():
        raise missing(FIRMWARE_PACKAGES, f"the old Nano bootloader ({path})", "The Simulated blank Nano")
    return path


# --- the shipped .hex ------------------------------------------------------------------------------

def sketch_sources() -> list[Path]:
    """What the receiver is built from: the sketch and hardware/Makefile (its compiler flags)."""
    return sorted(p for p in SKETCH_DIR.iterdir() if p.suffix in (".ino", ".h", ".cpp", ".c")) + [HARDWARE_DIR / "Makefile"]


def sources_digest() -> str:
    """A hash of sketch_sources(), line endings normalised (a Windows checkout turns LF into CRLF)."""
    digest = hashlib.sha256()
    for path in sketch_sources():
        digest.update(path.name.encode() + b"\0" + path.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def shipped_manifest() -> dict:
    """hardware/firmware/manifest.json: the sources digest, the toolchain, and each board's file and size."""
    try:
        return json.loads(SHIPPED_MANIFEST.read_text())
    except (OSError, ValueError):
        raise KitError(f"The kit's prebuilt receiver ({SHIPPED_MANIFEST}) is missing or damaged: reinstall "
                       "bingo-kit (pip install --force-reinstall bingo-kit).") from None


def shipped_hex(board: str | Board = "uno") -> Path:
    """The receiver for `board` ("uno", "nano", "mega") as the Intel HEX file the kit ships: what every board
    runs, real or simulated. (Its text is all a JavaScript simulator needs: `shipped_hex("uno").read_text()`.)"""
    key = get_board(board).key
    entry = shipped_manifest()["boards"].get(key)
    if entry is None:
        raise KitError(f"The kit ships no receiver for the {get_board(board).name}.")
    path = SHIPPED_DIR / entry["file"]
    if not path.exists():
        raise KitError(f"The kit's prebuilt receiver {path} is missing: reinstall bingo-kit.")
    _check_current(key, path)
    return path


def hex_image(path: Path) -> bytes:
    """The flash contents an Intel HEX file describes, from address 0 (gaps read 0xFF, as erased flash)."""
    from intelhex import IntelHex, IntelHexError  # checks every record's checksum

    try:
        program = IntelHex(str(path))
    except (IntelHexError, OSError) as error:
        raise KitError(f"{path} is not a readable Intel HEX file ({error}): reinstall bingo-kit.") from None
    program.padding = 0xFF
    return program.tobinstr(start=0)


_CURRENT: set[str] = set()   # boards whose shipped .hex this process has found current


def _check_current(key: str, path: Path) -> None:
    """In a source checkout someone may have edited the sketch and not refreshed the .hex: running the old
    program then would test yesterday's firmware. A changed digest is checked by a rebuild (cached), so an edit
    that changes no byte (a comment, a runner rule in the Makefile) is no obstacle."""
    if key in _CURRENT:
        return
    if shipped_manifest()["sources"] != sources_digest():
        try:
            check_firmware_tools()
        except ToolsMissingError:
            warnings.warn(f"The receiver sketch differs from the one its shipped .hex was built from, and no AVR "
                          f"toolchain is here to check it: running the shipped {path.name}.", stacklevel=3)
        else:
            if hex_image(build_firmware(key).with_suffix(".hex")) != hex_image(path):
                raise StaleFirmwareError(
                    f"The receiver sketch changed after {path.name} was built: run `{REFRESH_COMMAND}` in the "
                    "kit's folder (then commit hardware/firmware/).")
    _CURRENT.add(key)


def installed_packages() -> dict[str, str]:
    """The installed Debian versions of the PINNED_PACKAGES ("" where not installed, or not Debian)."""
    versions = {}
    for package in PINNED_PACKAGES:
        try:
            done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
            versions[package] = done.stdout.strip() if done.returncode == 0 else ""
        except OSError:
            versions[package] = ""
    return versions


def check_pinned_toolchain() -> None:
    """The shipped .hex is rebuilt (and compared) only with the pinned toolchain: another compiler version makes
    other, equally good, bytes."""
    installed = installed_packages()
    if installed != PINNED_PACKAGES:
        differing = ", ".join(f"{name} {installed[name] or 'not installed'} (pinned: {version})"
                              for name, version in PINNED_PACKAGES.items() if installed[name] != version)
        raise ToolsMissingError(f"The shipped receiver is built with Debian 12's AVR toolchain; this computer has "
                                f"{differing}. Refresh or check it on Debian 12 (as CI does).")


def stale_boards() -> list[str]:
    """The boards whose shipped .hex differs from a fresh build of the sketch with the pinned toolchain."""
    check_pinned_toolchain()
    check_firmware_tools()
    manifest = shipped_manifest()
    return [key for key, entry in manifest["boards"].items()
            if hex_image(build_firmware(key).with_suffix(".hex")) != hex_image(SHIPPED_DIR / entry["file"])]


def refresh_shipped_hex() -> dict:
    """Rebuild the receiver for every board with the pinned toolchain and write hardware/firmware/ (the .hex
    files and manifest.json). For the source tree only: an installed kit ships what it was built with."""
    if HARDWARE_DIR == _PACKAGED:
        raise KitError("Refreshing the shipped receiver is for the kit's source folder, not an installed kit.")
    check_pinned_toolchain()
    check_firmware_tools()
    SHIPPED_DIR.mkdir(exist_ok=True)
    boards = {}
    for key in BOARDS:
        built = build_firmware(key).with_suffix(".hex")
        name = f"bingo_receiver-{key}.hex"
        shutil.copyfile(built, SHIPPED_DIR / name)
        boards[key] = {"file": name, "flash_bytes": len(hex_image(built)),
                       "sha256": hashlib.sha256((SHIPPED_DIR / name).read_bytes()).hexdigest()}
    manifest = {"sources": sources_digest(), "toolchain": toolchain_versions(), "debian_packages": PINNED_PACKAGES,
                "boards": boards}
    SHIPPED_MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    shipped_manifest.cache_clear()
    _CURRENT.clear()
    return manifest


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bingo_kit.board.firmware",
                                     description="The receiver's shipped .hex files (hardware/firmware/).")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--refresh", action="store_true", help="rebuild them from the sketch and rewrite them")
    action.add_argument("--check", action="store_true", help="exit 1 if a rebuild differs from a shipped one")
    args = parser.parse_args(argv)
    try:
        if args.refresh:
            for key, entry in refresh_shipped_hex()["boards"].items():
                print(f"{SHIPPED_DIR / entry['file']}: {entry['flash_bytes']} bytes of flash")
            return 0
        stale = stale_boards()
        print(f"stale: {', '.join(stale)} (run {REFRESH_COMMAND})" if stale else "the shipped .hex files are current")
        return 1 if stale else 0
    except KitError as error:
        print(error)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
