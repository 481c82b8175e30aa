"""A simulated Arduino Uno: the very same bingo_receiver program a real board gets (the shipped .hex,
bingo_kit.board.firmware.shipped_hex), run in simavr.

`SimulatedBoard().start()` hands back a pty path in `.port`; pyserial opens it exactly as a real board's
port. The runner (hardware/sim/bingo_sim.c) paces the simulated 16 MHz clock to the wall clock, keeps the
board's EEPROM in a file (so a model survives a simulated power cycle, and CLI calls share one board), and
reports the simulated CPU cycle counter on request.

`BlankSimulatedUno` is an Uno fresh out of the box instead: only the Optiboot bootloader in its flash, a real
Uno's fuses, and a reset each time a program opens its port (as DTR resets a real one), so that avrdude and
`install_firmware` talk to a real bootloader. Its flash is kept in a file too. `BlankSimulatedMega` is the same
for a Mega 2560 with its stk500v2 bootloader.

Building (the sketch, the runner, the bootloader) lives in bingo_kit.board.firmware; builds are cached there.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from bingo_kit.board import firmware
from bingo_kit.boards import BOARDS
from bingo_kit.errors import KitError
from bingo_kit.board.firmware import (
    HARDWARE_DIR,
    ToolsMissingError,
    board_fuses,
    build_bootloader,
    build_firmware,
    build_once,
    firmware_size,
    mega_bootloader,
    missing,
    old_nano_bootloader,
    shipped_hex,
    source_hash,
    toolchain_versions,
)
from bingo_kit.paths import board_dir, build_dir

RUNNER_SOURCE = HARDWARE_DIR / "sim" / "bingo_sim.c"
# SIMAVR_INCLUDE elsewhere: simavr installed by hand (or, in a test, hidden from the kit)
SIMAVR_INCLUDE = Path(os.environ.get("SIMAVR_INCLUDE", "/usr/include/simavr"))
CPU_HZ = 16_000_000

SIMULATOR_PACKAGES = "simavr libsimavr-dev libsimavrparts1"
START_TIMEOUT = 10.0   # seconds for the runner to announce its pty
EEPROM_WRITE_US = 3400  # ATmega328P datasheet: 3.3 ms per EEPROM byte write (+ margin, as PROTOCOL.md §4.4)
STOP_TIMEOUT = 3.0     # seconds for a clean (EEPROM-saving) exit before it is killed

# Kept importable from here (the doctor and benchmarks/flash.py use them): the simulator's build is the kit's.
__all__ = [
    "CPU_HZ",
    "EEPROM_WRITE_US",
    "BlankSimulatedMega",
    "BlankSimulatedUno",
    "SimulatedBoard",
    "SimulatedDtrPort",
    "build_firmware",
    "build_runner",
    "check_firmware_tools",
    "check_runner_tools",
    "firmware_size",
    "toolchain_versions",
]


class SimulatorUnavailableError(ToolsMissingError):
    """The simulated board cannot be built or started; the message names what to install."""


class SimulatorInUseError(KitError, RuntimeError):
    """Another program (or another SimulatedBoard) is already running a board on this EEPROM file."""


@contextlib.contextmanager
def _as_simulator_error():
    """A missing tool, reported as the simulator's error (what its callers, the doctor and tests catch)."""
    try:
        yield
    except SimulatorUnavailableError:
        raise
    except ToolsMissingError as error:
        raise SimulatorUnavailableError(str(error)) from None


def check_firmware_tools() -> None:
    with _as_simulator_error():
        firmware.check_firmware_tools()


def check_runner_tools() -> None:
    with _as_simulator_error():
        _check_runner_tools()


def available() -> bool:
    """Whether this computer can run the Simulated Uno in simavr (else the notebook page runs one: board.page)."""
    try:
        check_runner_tools()
        check_firmware_tools()
    except SimulatorUnavailableError:
        return False
    return True


def _check_runner_tools() -> None:
    if os.name != "posix":
        raise SimulatorUnavailableError("The Simulated Uno needs Linux (simavr and a pty); on this computer use "
                                        "a real board on its COM/tty port.")
    if not (SIMAVR_INCLUDE / "sim_avr.h").exists():
        raise missing(SIMULATOR_PACKAGES, "simavr and its headers", "The Simulated Uno")
    if not (shutil.which("cc") or shutil.which("gcc")):
        raise missing("gcc", "a C compiler", "The Simulated Uno")
    if not shutil.which("make"):
        raise missing("make", "make", "The Simulated Uno")


def build_runner() -> Path:
    """The simavr runner (hardware/sim/bingo_sim.c), compiled once per source version."""
    check_runner_tools()
    key = source_hash([RUNNER_SOURCE, HARDWARE_DIR / "Makefile"])
    return build_once(build_dir() / f"sim-{key}" / "bingo_sim", ["runner"])


def default_sim_eeprom() -> Path:
    """The EEPROM file shared by `--port sim` CLI calls, so `flash` then `predict` work as on a real board
    (one per JupyterHub user: see paths.board_dir)."""
    return board_dir() / "sim-eeprom.bin"


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

    port_name = "sim"   # what the kit's --port calls this kind of board

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

    def start(self) -> SimulatedBoard:
        """Build if needed, start the runner, and wait for its pty. Returns self."""
        if self.running:
            return self
        with _as_simulator_error():
            runner = build_runner()      # first: where there is no simavr, that is what to say
            program = self._program()
        self.eeprom_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_eeprom()
        with open(self._log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(runner), *program, "--mcu", BOARDS[self.board].mcu.lower(), "--freq", str(CPU_HZ),
                 "--eeprom", str(self.eeprom_path), "--status", str(self._status_path),
                 "--eeprom-write-us", str(EEPROM_WRITE_US if self.realistic_eeprom else 0),
                 "--parent", str(os.getpid())],   # it powers off when this process dies, even by SIGKILL
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

    def _program(self) -> list[str]:
        """The runner's arguments that say what the flash holds: here the receiver, as the kit ships it."""
        return [str(shipped_hex(self.board))]

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
                f"Shut down the other notebook's kernel (Kernel → Shut Down Kernel: closing its tab is not enough) "
                f"or stop the bingo-kit command using port '{self.port_name}', then try again."
            ) from None
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

    def power_cycle(self) -> SimulatedBoard:
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

    def __enter__(self) -> SimulatedBoard:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.board!r}, port={self.port!r}, eeprom={str(self.eeprom_path)!r})"


class BlankSimulatedUno(SimulatedBoard):
    """An Uno fresh out of the box: Optiboot in the boot section and nothing else in flash, a real Uno's fuses
    (reset vector at the bootloader), and a reset whenever a program opens `.port`, as DTR resets a real Uno.
    Install the receiver with avrdude (or `install_firmware`); its flash and EEPROM are kept in `flash_path` and
    `eeprom_path`, so what was installed survives a power cycle. Temporary files when not given."""

    port_name = "sim-blank"

    def __init__(self, flash_path: Path | str | None = None, eeprom_path: Path | str | None = None, *,
                 realistic_eeprom: bool = False, old_nano_bootloader: bool = False):
        super().__init__(eeprom_path, board="uno", realistic_eeprom=realistic_eeprom)
        self.flash_path = Path(flash_path) if flash_path is not None else self._workdir / "flash.bin"
        # True: a Nano sold before 2018 instead -- ATmegaBOOT at 57 600 baud in a 2 KB boot section.
        self.old_nano_bootloader = old_nano_bootloader

    @classmethod
    def default(cls) -> BlankSimulatedUno:
        """The one `--port sim-blank` means: its flash and EEPROM in the user cache."""
        return cls(board_dir() / "sim-blank-flash.bin", board_dir() / "sim-blank-eeprom.bin")

    def _program(self) -> list[str]:
        self.flash_path.parent.mkdir(parents=True, exist_ok=True)
        if self.old_nano_bootloader:
            bootloader, fuses = old_nano_bootloader(), board_fuses("nano.menu.cpu.atmega328old")
        else:
            bootloader, fuses = build_bootloader(), board_fuses("uno")
        return ["--flash", str(self.flash_path), "--bootloader", str(bootloader), "--fuses", fuses, "--reset-on-open"]

    def erase(self) -> None:
        """Back to the box: forget the installed sketch (and EEPROM). Only while powered off."""
        if self.running:
            raise SimulatorInUseError("Stop the Simulated blank Uno before erasing it.")
        for path in (self.flash_path, self.eeprom_path):
            path.unlink(missing_ok=True)

    def external_resets(self) -> int:
        """How many times a program opening the port has reset the board (from the runner's log)."""
        return self._log_path.read_text(errors="replace").count("external reset") if self._log_path.exists() else 0


class BlankSimulatedMega(BlankSimulatedUno):
    """A Mega 2560 fresh out of the box: its stk500v2 bootloader (Debian's stk500boot_v2_mega2560.hex, as Arduino
    ships it) in the 8 KB boot section, a real Mega's fuses, and a reset whenever its port is opened."""

    port_name = "sim-blank-mega"

    def __init__(self, flash_path: Path | str | None = None, eeprom_path: Path | str | None = None, *,
                 realistic_eeprom: bool = False):
        super().__init__(flash_path, eeprom_path, realistic_eeprom=realistic_eeprom)
        self.board = "mega"

    def _program(self) -> list[str]:
        self.flash_path.parent.mkdir(parents=True, exist_ok=True)
        return ["--flash", str(self.flash_path), "--bootloader", str(mega_bootloader()),
                "--fuses", board_fuses("mega.menu.cpu.atmega2560"), "--reset-on-open"]


class SimulatedDtrPort:
    """A Simulated blank Uno's port, as a bootloader conversation (bingo_kit.board.stk500) needs it.

    A pty has no DTR line (pyserial's dtr ioctl fails on it), and the simulated board resets when its port is
    opened, as DTR resets a real Uno. So here dropping DTR closes the port and raising it opens it again: the
    same reset, through the same port attribute, as on a real board. Otherwise a pyserial port."""

    def __init__(self, device: str, baudrate: int, timeout: float = 0.05):
        self.device, self._baudrate, self._timeout = device, baudrate, timeout
        self._serial = None
        self._open()

    def _open(self) -> None:
        import serial

        self._serial = serial.Serial(self.device, self._baudrate, timeout=self._timeout, write_timeout=1.0,
                                     exclusive=True)

    def _port(self):
        if self._serial is None:
            import serial

            raise serial.SerialException("the port is closed while DTR is low")
        return self._serial

    @property
    def dtr(self) -> bool:
        return self._serial is not None

    @dtr.setter
    def dtr(self, high: bool) -> None:
        if high and self._serial is None:
            self._open()
        elif not high and self._serial is not None:
            self._serial.close()
            self._serial = None

    @property
    def baudrate(self) -> int:
        return self._baudrate

    @baudrate.setter
    def baudrate(self, value: int) -> None:
        self._baudrate = value
        if self._serial is not None:
            self._serial.baudrate = value

    def read(self, n: int = 1) -> bytes:
        return self._port().read(n)

    def write(self, data: bytes) -> int | None:
        return self._port().write(data)

    def reset_input_buffer(self) -> None:
        self._port().reset_input_buffer()

    def close(self) -> None:
        self.dtr = False
