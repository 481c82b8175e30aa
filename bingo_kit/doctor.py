"""The kit's one setup check: `bingo-kit doctor` prints it and lesson 0 shows it (`setup_report()`).

It checks Python, the packages (one list, PACKAGES), the AVR tools, the serial ports, the simulated Uno and
the datasets, and says for each what to do if it is missing. Only the standard library is imported at the
top: on a laptop without torch, numpy or pyserial this module must still load and report exactly that.
"""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path


@dataclass
class SetupItem:
    name: str
    ok: bool
    detail: str
    essential: bool = True  # essential items must pass before the lessons; optional ones just inform

    @property
    def mark(self) -> str:
        # words beside the marks: without an emoji font ✅ and ❌ are two look-alike boxes
        return "✅ ok" if self.ok else ("❌ missing" if self.essential else "➖ optional")

    def __repr__(self) -> str:
        return f"{self.mark} {self.name}  {self.detail}"


@dataclass
class SetupReport:
    """What the check found on this laptop. `ready` is True when every essential item passed."""

    items: list[SetupItem] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(item.ok for item in self.items if item.essential)

    def item(self, name: str) -> SetupItem:
        return next(item for item in self.items if item.name == name)

    def __repr__(self) -> str:
        width = max((len(item.name) for item in self.items), default=0)
        lines = []
        for item in self.items:
            lines.append(f"{item.mark:<10}  {item.name:<{width}}  {item.detail}")
        lines.append("")
        lines.append("Ready for the lessons!" if self.ready else
                     "Something essential is missing: follow the ❌ missing lines, or ask your teacher.")
        return "\n".join(lines)


# The packages the kit needs (requirements.txt installs them): pip's name, and what the lessons use it for.
PACKAGES = (
    ("torch", "training the networks"),
    ("numpy", "arrays"),
    ("pyserial", "talking to a board"),
    ("intelhex", "installing the receiver on a board"),
    ("tqdm", "progress bars"),
    ("scikit-learn", "the 8×8 digits"),
    ("matplotlib", "pictures"),
    ("ipywidgets", "sliders and buttons"),
    ("ipycanvas", "the drawing pad"),
)


def check_package(name: str, purpose: str) -> SetupItem:
    """Whether pip's package `name` is installed (its metadata: cheaper than importing torch)."""
    try:
        return SetupItem(name, True, metadata.version(name))
    except metadata.PackageNotFoundError:
        return SetupItem(name, False, f"missing ({purpose}); run `make lessons` in the kit folder, "
                                      f"or pip install {name}")


def check(name: str, action, *, essential: bool = True) -> SetupItem:
    """Run `action()` -> detail string; any exception becomes a failed item with its (plain-English) message."""
    try:
        return SetupItem(name, True, action(), essential)
    except ImportError as error:  # a package above is missing; its own line says how to install it
        return SetupItem(name, False, f"needs the missing package {error.name or error}", essential)
    except Exception as error:  # the report must never crash: its job is to say what is wrong
        message = str(error).strip() or type(error).__name__
        return SetupItem(name, False, message.splitlines()[0], essential)


# --- the probes: each returns its detail line or raises with a message that says what to do ------------

def _avr_toolchain() -> str:
    from bingo_kit.board import simavr as simulator

    try:
        simulator.check_firmware_tools()  # the simulator's own checks: "ok" exactly when it would build
    except simulator.SimulatorUnavailableError as error:
        raise simulator.SimulatorUnavailableError(
            "not needed for the lessons (the receiver ships prebuilt); only the Simulated blank Uno's bootloader "
            f"and refreshing the shipped .hex use it. {error}") from None
    return simulator.toolchain_versions()


def _receiver() -> str:
    from bingo_kit.board.firmware import hex_image, shipped_hex

    sizes = {board: len(hex_image(shipped_hex(board))) for board in ("uno", "nano", "mega")}
    return "prebuilt for " + ", ".join(f"{board} ({size} bytes)" for board, size in sizes.items())


def _simavr() -> str:
    from bingo_kit.board import simavr as simulator

    simulator.check_runner_tools()
    return str(simulator.SIMAVR_INCLUDE)


def _avrdude() -> str:
    import subprocess

    from bingo_kit.board import firmware

    try:
        firmware.check_upload_tools()  # the install's own check, so the two cannot drift
    except firmware.ToolsMissingError as error:
        raise firmware.ToolsMissingError("optional: without it install-firmware uses the kit's own installer "
                                         f"(Uno, Nano, Mega). {error}") from None
    done = subprocess.run([firmware.avrdude_path(), "-?"], capture_output=True, text=True, timeout=10)
    version = next((line.split("version", 1)[1].strip().split(",")[0] for line in done.stderr.splitlines()
                    if "version" in line), "")
    return f"{version} (puts the receiver on a real board: bingo-kit install-firmware)".strip()


def _ports() -> str:
    from bingo_kit.board.ports import list_ports

    ports = list_ports()
    arduinos = [f"{p.device} ({p.board_guess})" for p in ports if p.is_arduino]
    return ", ".join(arduinos) if arduinos else f"{len(ports)} serial port(s), no Arduino recognised"


def _simulated_uno() -> str:
    from bingo_kit.board.board import connect

    with tempfile.TemporaryDirectory(prefix="bingo-doctor-") as scratch:
        started = time.monotonic()
        with connect("sim", sim_eeprom=Path(scratch) / "eeprom.bin") as board:
            info = board.info
        return (f"started and answered in {time.monotonic() - started:.2f} s: firmware {info.firmware_version}, "
                f"capacity {info.capacity} bytes, free RAM {info.free_ram} bytes")


def _digits() -> str:
    from bingo_kit.data import load_dataset

    data = load_dataset("digits")
    return f"{len(data.x_train)} training and {len(data.x_test)} test images of size {data.image_shape}"


def _fashion() -> str:
    from bingo_kit.data import load_dataset

    data = load_dataset("fashion-mnist", train_limit=10, test_limit=10)
    return f"found ({data.image_shape[0]}×{data.image_shape[1]} images; only needed by an optional cell in lesson 5)"


def setup_report(*, check_simulator: bool = True) -> SetupReport:
    """Check this laptop for everything the kit and its lessons use, and say what to do about anything missing.

    `check_simulator=False` skips starting the simulated Uno (the slowest check: it may build the sketch).
    """
    report = SetupReport([SetupItem("python", sys.version_info >= (3, 10), sys.version.split()[0])])
    report.items += [check_package(name, purpose) for name, purpose in PACKAGES]
    report.items += [check("receiver", _receiver, essential=False),
                     check("AVR toolchain", _avr_toolchain, essential=False),
                     check("simavr", _simavr, essential=False),
                     check("avrdude", _avrdude, essential=False),
                     check("ports", _ports, essential=False)]
    if check_simulator:
        report.items.append(check("simulated Uno", _simulated_uno, essential=False))
    report.items += [check("8×8 digits", _digits), check("Fashion-MNIST", _fashion, essential=False)]
    return report
