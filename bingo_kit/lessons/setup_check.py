"""Lesson 0 — setup check: is this laptop ready, and how much room does a board have for a model?

The setup report itself is the kit's doctor (bingo_kit.doctor, also `bingo-kit doctor`). This module must
import without torch, numpy or matplotlib (its job is to report them missing), so its heavy imports stay
inside the functions.
"""
from __future__ import annotations

from bingo_kit.doctor import SetupItem, SetupReport, setup_report
from bingo_kit.lessons.feedback import Feedback, check_number, exercise

__all__ = ["SetupItem", "SetupReport", "setup_report", "check_page_uno", "show_boards", "check_capacity"]

PAGE_UNO = "Simulated Uno in this page"


async def check_page_uno(seconds: float = 10.0) -> SetupItem:
    """Lesson 0: show the Simulated Uno that runs in this page (on any computer, no simavr needed) and ask it who it
    is (IDENTIFY). `await` it: the page answers while the notebook waits."""
    import time

    from IPython.display import display

    from bingo_kit.board.board import BingoBoard
    from bingo_kit.board.page import NoPageError, PageUno
    from bingo_kit.board.session import run_on_board
    from bingo_kit.errors import KitError

    board_view = PageUno.named("uno")
    display(board_view)

    def identify() -> str:
        board_view.wait_for_page(seconds)
        started = time.monotonic()
        with BingoBoard("page") as board:
            info = board.info
        return (f"answered in {time.monotonic() - started:.1f} s: receiver {info.firmware_version}, room for "
                f"{info.capacity} bytes of model")

    try:
        return SetupItem(PAGE_UNO, True, await run_on_board("page", identify), essential=False)
    except NoPageError:
        return SetupItem(PAGE_UNO, False, "not checked: no browser shows this notebook (a script, or nbval)",
                         essential=False)
    except KitError as error:
        return SetupItem(PAGE_UNO, False, str(error), essential=False)


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


@exercise
def check_capacity(answer, board: str = "uno") -> Feedback:
    """Lesson 0: how many bytes of model fit on the board? (EEPROM minus the 4-byte record header)."""
    from bingo_kit.boards import get_board

    found = get_board(board)
    return check_number(
        answer, found.model_capacity,
        right=f"The {found.name} keeps {found.model_capacity} bytes of model: its {found.eeprom_bytes}-byte EEPROM "
              "minus 4 bytes that remember the model's length and checksum.",
        hint="Look for the number of model bytes in the setup report's 'simulated Uno' line.")
