"""Lesson 0 — setup check: is this laptop ready, and how much room does a board have for a model?

This module must import without torch, numpy or matplotlib (its job is to report them missing), so its
heavy imports stay inside the functions.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field

from bingo_kit.lessons.feedback import Feedback, check_number


@dataclass
class SetupItem:
    name: str
    ok: bool
    detail: str
    essential: bool = True  # essential items must pass before the lessons; optional ones just inform


@dataclass
class SetupReport:
    """What lesson 0 found on this laptop. `ready` is True when every essential item passed."""
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
            mark = "✅" if item.ok else ("❌" if item.essential else "➖")
            lines.append(f"{mark} {item.name:<{width}}  {item.detail}")
        lines.append("")
        lines.append("Ready for the lessons!" if self.ready else
                     "Something essential is missing: follow the ❌ lines, or ask your teacher.")
        return "\n".join(lines)


_PACKAGES = (("torch", "training the networks"), ("numpy", "arrays"), ("sklearn", "the 8×8 digits"),
             ("matplotlib", "pictures"), ("ipywidgets", "sliders and buttons"), ("serial", "talking to a board"),
             ("tqdm", "progress bars"))


def _check_package(module: str, purpose: str) -> SetupItem:
    try:
        imported = importlib.import_module(module)
    except ImportError:
        return SetupItem(f"package {module}", False,
                         f"missing ({purpose}); run `make lessons` in the kit folder to install it")
    version = getattr(imported, "__version__", "")
    return SetupItem(f"package {module}", True, f"{version} ({purpose})".strip())


def _try(name: str, action, *, essential: bool = True) -> SetupItem:
    """Run `action()` -> detail string; any exception becomes a ❌ with its (plain-English) message."""
    try:
        return SetupItem(name, True, action(), essential)
    except Exception as error:  # the report must never crash: its job is to say what is wrong
        message = str(error).strip() or type(error).__name__
        return SetupItem(name, False, message.splitlines()[0], essential)


def _digits_detail() -> str:
    from bingo_kit.data import load_dataset

    data = load_dataset("digits")
    return f"{len(data.x_train)} training and {len(data.x_test)} test images of size {data.image_shape}"


def _fashion_detail() -> str:
    from bingo_kit.data import load_dataset

    data = load_dataset("fashion-mnist", train_limit=10, test_limit=10)
    return f"found ({data.image_shape[0]}×{data.image_shape[1]} images; only needed by an optional cell in lesson 5)"


def setup_report(*, check_simulator: bool = True) -> SetupReport:
    """Check this laptop for everything the lessons use, and say what to do about anything missing.

    The kit's doctor (`bingo-kit doctor`, bingo_kit.flash.diagnose) checks Python, packages, the AVR tools,
    serial ports and the simulated Uno; the lessons add their datasets.
    """
    report = SetupReport()
    try:
        from bingo_kit.flash import diagnose

        report.items += [SetupItem(c.name, c.ok, c.detail, c.essential) for c in diagnose(check_simulator)]
    except ImportError:  # a package the doctor itself needs is missing: check the packages one by one
        version = ".".join(map(str, sys.version_info[:3]))
        report.items.append(SetupItem("python", sys.version_info >= (3, 10), version))
        report.items.extend(_check_package(module, purpose) for module, purpose in _PACKAGES)
    report.items.append(_try("8×8 digits", _digits_detail))
    report.items.append(_try("Fashion-MNIST", _fashion_detail, essential=False))
    return report


def show_boards() -> None:
    """How many bytes each board keeps when the power is off: its whole EEPROM, where the model will live.

    The picture shows the EEPROM, not the room for a model: the 4 bytes the board keeps for itself are
    lesson 0's exercise."""
    import matplotlib.pyplot as plt

    from bingo_kit.boards import BOARDS

    fig, ax = plt.subplots(figsize=(6.5, 2.4))
    names = [board.name for board in BOARDS.values()]
    ax.barh(names, [board.eeprom_bytes for board in BOARDS.values()], color=["tab:blue", "tab:cyan", "tab:purple"])
    for y, board in enumerate(BOARDS.values()):
        ax.text(board.eeprom_bytes, y, f" {board.eeprom_bytes} bytes", va="center", fontsize=11)
    ax.set_xlim(0, 5000)
    ax.invert_yaxis()
    ax.set_xlabel("bytes that survive power-off (EEPROM)")
    ax.set_title("Memory that survives power-off, on each board")
    plt.show()


def check_capacity(answer, board: str = "uno") -> Feedback:
    """Lesson 0: how many bytes of model fit on the board? (EEPROM minus the 4-byte record header)."""
    from bingo_kit.boards import get_board

    found = get_board(board)
    return check_number(
        answer, found.model_capacity,
        right=f"The {found.name} keeps {found.model_capacity} bytes of model: its {found.eeprom_bytes}-byte EEPROM "
              "minus 4 bytes that remember the model's length and checksum.",
        hint="Look for the number of model bytes in the setup report's 'simulated Uno' line.")
