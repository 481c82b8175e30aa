"""A simulated Arduino Uno: the very same bingo_receiver sketch, built with avr-gcc and run in simavr.

`SimulatedBoard().start()` hands back a pty path in `.port`; pyserial opens it exactly as a real board's
port. The runner (hardware/sim/bingo_sim.c) paces the simulated 16 MHz clock to the wall clock, keeps the
board's EEPROM in a file (so a model survives a simulated power cycle, and CLI calls share one board), and
reports the simulated CPU cycle counter on request.

Builds happen on demand and are cached under hardware/build/ by a hash of their sources; a file lock
makes parallel test workers build once and share the result.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from bingo_kit.boards import BOARDS
from bingo_kit.errors import KitError
from bingo_kit.paths import cache_dir

HARDWARE_DIR = Path(__file__).resolve().parent.parent / "hardware"
SKETCH_DIR = HARDWARE_DIR / "bingo_receiver"
RUNNER_SOURCE = HARDWARE_DIR / "sim" / "bingo_sim.c"
BUILD_DIR = Path(os.environ.get("BINGO_KIT_BUILD_DIR") or HARDWARE_DIR / "build")  # gitignored
ARDUINO_AVR = Path(os.environ.get("ARDUINO_AVR", "/usr/share/arduino/hardware/arduino/avr"))
SIMAVR_INCLUDE = Path("/usr/include/simavr")
CPU_HZ = 16_000_000

FIRMWARE_PACKAGES = "gcc-avr avr-libc arduino-core-avr"
SIMULATOR_PACKAGES = "simavr libsimavr-dev libsimavrparts1"
START_TIMEOUT = 10.0   # seconds for the runner to announce its pty
EEPROM_WRITE_US = 3400  # ATmega328P datasheet: 3.3 ms per EEPROM byte write (+ margin, as PROTOCOL.md §4.4)
STOP_TIMEOUT = 3.0     # seconds for a clean (EEPROM-saving) exit before it is killed


class SimulatorUnavailableError(KitError, RuntimeError):
    """The simulated board cannot be built or started; the message names what to install."""


class SimulatorInUseError(KitError, RuntimeError):
    """Another program (or another SimulatedBoard) is already running a board on this EEPROM file."""


class FirmwareBuildError(KitError, RuntimeError):
    """The tools are there but the sketch (or the runner) does not compile: a bug to fix, not a setup step."""


# --- building --------------------------------------------------------------------------------------

def _missing(packages: str, what: str) -> SimulatorUnavailableError:
    return SimulatorUnavailableError(
        f"The simulated Uno needs {what}, which is not installed. On Debian/Ubuntu: "
        f"sudo apt-get install {packages}   (or run `make test`, which installs them).")


def check_firmware_tools() -> None:
    if not (shutil.which("avr-g++") and shutil.which("avr-gcc")):
        raise _missing(FIRMWARE_PACKAGES, "the AVR compiler (avr-gcc)")
    if not (ARDUINO_AVR / "cores" / "arduino" / "Arduino.h").exists():
        raise _missing(FIRMWARE_PACKAGES, f"the Arduino AVR core ({ARDUINO_AVR})")
    if not shutil.which("make"):
        raise _missing("make", "make")


def check_runner_tools() -> None:
    if not (SIMAVR_INCLUDE / "sim_avr.h").exists():
        raise _missing(SIMULATOR_PACKAGES, "simavr and its headers")
    if not (shutil.which("cc") or shutil.which("gcc")):
        raise _missing("gcc", "a C compiler")
    if not shutil.which("make"):
        raise _missing("make", "make")


def _source_hash(paths: list[Path], *extra: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for item in extra:
        digest.update(item.encode() + b"\0")
    return digest.hexdigest()[:16]


def toolchain_versions() -> str:
    """avr-gcc's version and the Arduino core's (platform.txt): upgrading either must rebuild the sketch."""
    gcc = subprocess.run(["avr-gcc", "-dumpversion"], capture_output=True, text=True).stdout.strip()
    core = "unknown"
    platform = ARDUINO_AVR / "platform.txt"
    if platform.exists():
        core = next((line.split("=", 1)[1].strip() for line in platform.read_text(errors="replace").splitlines()
                     if line.startswith("version=")), "unknown")
    return f"avr-gcc {gcc}; arduino core {core}"


def _prune_old_builds(current: Path) -> None:
    """Remove older builds of the same kind (fw-uno-*, sim-*) once `current` is in place: each source edit
    makes a new directory, and nothing ever reads the old ones again. Called under the build lock."""
    kind = current.name.rsplit("-", 1)[0] + "-"      # "fw-uno-" or "sim-"
    for old in BUILD_DIR.glob(kind + "*"):
        if old != current and old.is_dir() and not old.name.endswith(".partial") \
                and old.name.rsplit("-", 1)[0] + "-" == kind:
            shutil.rmtree(old, ignore_errors=True)
            _remove_lock_if_free(BUILD_DIR / f".{old.name}.lock")


def _remove_lock_if_free(path: Path) -> None:
    import fcntl

    try:
        with open(path, "r+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)   # someone building that version? then keep it
            path.unlink()
    except OSError:
        pass


def _build_once(target: Path, make_args: list[str]) -> Path:
    """Run make for `target` unless it already exists; one process builds, concurrent ones wait for it."""
    import fcntl

    if target.exists():
        return target
    out_dir = target.parent
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with open(BUILD_DIR / f".{out_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if target.exists():  # another worker built it while we waited
            return target
        partial = out_dir.with_name(out_dir.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        result = subprocess.run(["make", "-C", str(HARDWARE_DIR), *make_args, f"OUT={partial}"],
                                capture_output=True, text=True)
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
    """The sketch compiled for `board` ("uno", "nano", "mega") as an ELF; rebuilt only when sources change."""
    if board not in BOARDS:
        raise SimulatorUnavailableError(f"No firmware build for board {board!r}; choose one of {', '.join(BOARDS)}.")
    check_firmware_tools()
    sources = [p for p in SKETCH_DIR.iterdir() if p.suffix in (".ino", ".h", ".cpp", ".c")]
    key = _source_hash(sources + [HARDWARE_DIR / "Makefile"], board, toolchain_versions())
    return _build_once(BUILD_DIR / f"fw-{board}-{key}" / "bingo_receiver.elf", ["firmware", f"BOARD={board}"])


def build_runner() -> Path:
    """The simavr runner (hardware/sim/bingo_sim.c), compiled once per source version."""
    check_runner_tools()
    key = _source_hash([RUNNER_SOURCE, HARDWARE_DIR / "Makefile"])
    return _build_once(BUILD_DIR / f"sim-{key}" / "bingo_sim", ["runner"])


def firmware_size(elf: Path) -> dict[str, int]:
    """Flash and static-RAM bytes of a built sketch, from avr-size (what the Arduino IDE reports)."""
    sections = {}
    for line in subprocess.run(["avr-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sections[parts[0]] = int(parts[1])
    return {"flash": sections.get(".text", 0) + sections.get(".data", 0),
            "ram": sections.get(".data", 0) + sections.get(".bss", 0)}


def default_sim_eeprom() -> Path:
    """The EEPROM file shared by `--port sim` CLI calls, so `flash` then `predict` work as on a real board."""
    return cache_dir() / "sim-eeprom.bin"


# --- running ---------------------------------------------------------------------------------------

def _terminate(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # the runner saves its EEPROM and exits
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class SimulatedBoard:
    """An Arduino Uno (or Mega) running bingo_receiver in simavr, reachable at `.port` (a pty).

    `eeprom_path=None` gives a fresh, erased EEPROM in a temporary file; pass a path to keep the board's
    EEPROM (its stored model) across runs. Use as a context manager, or call start()/stop().
    """

    def __init__(self, eeprom_path: Path | str | None = None, *, board: str = "uno", realistic_eeprom: bool = False):
        self.board = board
        # True: each EEPROM byte write takes 3.4 ms as on an ATmega (a 1 KB flash then takes ~3.5 s).
        # False (default): instant, as simavr has it, so that tests and classrooms flash quickly.
        self.realistic_eeprom = realistic_eeprom
        self._workdir = Path(tempfile.mkdtemp(prefix="bingo-sim-"))
        self._cleanup_dir = weakref.finalize(self, shutil.rmtree, str(self._workdir), True)
        self.eeprom_path = Path(eeprom_path) if eeprom_path is not None else self._workdir / "eeprom.bin"
        self._status_path = self._workdir / "status"
        self._log_path = self._workdir / "runner.log"
        self.process: subprocess.Popen | None = None
        self.port: str | None = None
        self._stop_on_exit = None
        self._eeprom_lock = None   # open lock file while running: one board per EEPROM file

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> "SimulatedBoard":
        """Build if needed, start the runner, and wait for its pty. Returns self."""
        if self.running:
            return self
        elf = build_firmware(self.board)
        runner = build_runner()
        self.eeprom_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_eeprom()
        with open(self._log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(runner), str(elf), "--mcu", BOARDS[self.board].mcu.lower(), "--freq", str(CPU_HZ),
                 "--eeprom", str(self.eeprom_path), "--status", str(self._status_path),
                 "--eeprom-write-us", str(EEPROM_WRITE_US if self.realistic_eeprom else 0)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # Never leave a runner behind, even if the caller forgets stop() (e.g. a notebook kernel exits).
        self._stop_on_exit = weakref.finalize(self, _terminate, self.process)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for line in self._log_path.read_text(errors="replace").splitlines():
                if line.startswith("PTY "):
                    self.port = line[4:].strip()
                    return self
            if self.process.poll() is not None:
                break
            time.sleep(0.01)
        log_text = self._log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise SimulatorUnavailableError(f"The simulated Uno did not start (runner output below).\n{log_text}")

    def stop(self) -> None:
        """Power off cleanly: the runner saves the EEPROM file, then exits. Safe to call twice."""
        if self.process is not None:
            _terminate(self.process)
            if self._stop_on_exit is not None:
                self._stop_on_exit.detach()
            self.process = None
        self.port = None
        self._unlock_eeprom()

    def _lock_eeprom(self) -> None:
        """Two runners on one EEPROM file would each overwrite the other's model: refuse the second.

        The lock is a separate file (the runner replaces the EEPROM file by rename, which would drop a lock
        on it); flock is released by the OS if this process dies."""
        import fcntl

        if self._eeprom_lock is not None:
            return
        lock = open(self.eeprom_path.with_name(self.eeprom_path.name + ".lock"), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise SimulatorInUseError(
                f"The Simulated Uno is in use by another program (its EEPROM {self.eeprom_path} is locked). "
                "Close the other notebook or bingo-kit command using port 'sim', then try again.") from None
        self._eeprom_lock = lock

    def _unlock_eeprom(self) -> None:
        if self._eeprom_lock is not None:
            self._eeprom_lock.close()   # closing releases the flock
            self._eeprom_lock = None

    def kill(self) -> None:
        """Pull the plug: the runner dies at once (EEPROM keeps only what was already saved)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def power_cycle(self) -> "SimulatedBoard":
        """Unplug and replug: restart the runner with the same EEPROM. The pty path (`.port`) changes."""
        self.stop()
        return self.start()

    def cycles(self) -> int | None:
        """The simulated CPU cycle counter (16 per microsecond of board time), or None if not running.

        Raises SimulatorUnavailableError if the running runner does not report it within 1 s."""
        if not self.running:
            return None
        before = self._read_status()
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            status = self._read_status()
            if status and (not before or status[0] > before[0]):
                return status[1]
            time.sleep(0.0005)
        raise SimulatorUnavailableError(
            f"The simulated board did not report its cycle counter within 1 s ({self!r}): the computer is too "
            "busy, or the runner is stuck. Close other programs and try again.")

    def _read_status(self) -> tuple[int, int] | None:
        try:
            request, cycles = self._status_path.read_text().split()
            return int(request), int(cycles)
        except (OSError, ValueError):
            return None

    def __enter__(self) -> "SimulatedBoard":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SimulatedBoard({self.board!r}, port={self.port!r}, eeprom={str(self.eeprom_path)!r})"
