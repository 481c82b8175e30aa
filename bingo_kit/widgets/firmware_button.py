"""Install button (lesson 0): put the receiver on a new Arduino, through its bootloader, without the Arduino IDE.

It calls `bingo_kit.board.install.install_firmware`, the same as `bingo-kit install-firmware`: the shipped receiver
goes through the bootloader (avrdude where installed, else the kit's own STK500), is read back and compared,
and the board must answer. The progress bar follows the write, then the read-back. A board that already runs the
receiver is left alone, and the button offers to install it anyway. Needed once per board; after that models
travel as data.
"""
from __future__ import annotations

import ipywidgets as widgets

from bingo_kit.boards import BOARDS
from bingo_kit.board.board import WEB_SERIAL_PORT
from bingo_kit.board.install import ReceiverAlreadyThereError, install_firmware
from bingo_kit.board.session import BoardJob, run_on_board
from bingo_kit.widgets.common import KitWidget, StatusLine, fill_port_dropdown, reporting

SIMULATED_BLANK = "sim-blank"
SIMULATED_BLANK_LABEL = "Simulated blank Uno (for practice)"
WEB_SERIAL = WEB_SERIAL_PORT
WEB_SERIAL_LABEL = "USB board, through this browser"
BOARD_CHOICES = [(BOARDS[key].name, key) for key in ("uno", "nano", "mega") if key in BOARDS]


class InstallFirmware(KitWidget):
    """Port dropdown + board dropdown + Install: the receiver goes on the board, with a progress bar."""

    kind = "install_firmware"

    def __init__(self, *, port: str | None = None, board: str = "uno"):
        super().__init__()
        self.last_result = None
        self.force = False  # the next click installs even over the receiver (offered once it was found there)
        self.port = widgets.Dropdown(description="port", layout=widgets.Layout(width="380px"))
        self.port.add_class("bingo-install-port")
        self.board = widgets.Dropdown(description="board", options=BOARD_CHOICES, value=board,
                                      layout=widgets.Layout(width="260px"))
        self.board.add_class("bingo-install-board")
        self.refresh_button = widgets.Button(description="", icon="refresh", tooltip="look for boards again",
                                             layout=widgets.Layout(width="40px"))
        self.install_button = widgets.Button(description="Install the receiver", icon="download",
                                             button_style="primary", layout=widgets.Layout(width="200px"))
        self.install_button.add_class("bingo-install-button")
        self.progress = widgets.FloatProgress(min=0.0, max=1.0, value=0.0, layout=widgets.Layout(width="380px"))
        self.status = StatusLine()
        self.status.add_class("bingo-install-status")
        self.board_view = widgets.Box()  # the board through this browser, with its Connect button, when chosen
        self.children = [widgets.HBox([self.port, self.refresh_button]),
                         widgets.HBox([self.board, self.install_button]), self.progress, self.status, self.board_view]
        self.add_class("bingo-install")
        self._claim(InstallFirmware)  # one live install button per notebook: a re-run cell replaces it
        self._on_click(self.refresh_button, lambda _: self.refresh())
        self._on_click(self.install_button, lambda _: self.install())
        self.port.observe(lambda _: self._offer_force(False), names="value")
        self.port.observe(lambda _: self._show_board(), names="value")
        self.board.observe(lambda _: self._offer_force(False), names="value")
        self.refresh()
        if port is not None:
            self.port.value = port
        self._show_board()

    @reporting(lambda self: self.status)
    def refresh(self) -> None:
        """Arduino-looking USB ports first, then the Simulated blank Uno to practise on, then a board the browser
        reaches (Web Serial: from a hub, the Uno on the student's desk)."""
        real = len(fill_port_dropdown(self.port, (SIMULATED_BLANK_LABEL, SIMULATED_BLANK),
                                      (WEB_SERIAL_LABEL, WEB_SERIAL)))
        self.status.info(f"Found {real} board{'s' if real != 1 else ''} on USB. Pick the board's port and type, "
                         "then Install (once per board; about 10 seconds).")

    def _show_board(self) -> None:
        from bingo_kit.board.page import PageSerial

        self.board_view.children = [PageSerial.named()] if self.port.value == WEB_SERIAL else []

    def _offer_force(self, offer: bool) -> None:
        self.force = offer
        self.install_button.description = "Install anyway" if offer else "Install the receiver"

    def install(self) -> BoardJob:
        """Install the receiver on the chosen board. Returns the job (a board through the browser answers while the
        notebook waits: `await installer.install()` in a cell; the button needs nothing)."""
        self.progress.value, self.progress.bar_style = 0.0, ""
        port, board, force = self.port.value, self.board.value, self.force
        where = {SIMULATED_BLANK: "the Simulated blank Uno", WEB_SERIAL: "the board connected through this browser"}
        self.status.info(f"Sending the receiver to {where.get(port, port)}, then reading it back…")
        return run_on_board(port, self._install, port, board, force)

    def _install(self, port: str, board: str, force: bool):
        def on_progress(fraction: float) -> None:  # the first half writes, the second reads back
            self.progress.value = fraction

        try:
            result = install_firmware(port, board, progress=False, on_progress=on_progress, force=force)
        except ReceiverAlreadyThereError as there:
            info = there.info
            self._offer_force(True)
            self.status.ok(f"The receiver is already on this {info.board_name} (firmware {info.firmware_version}): "
                           "nothing to do, lesson 7 can send it a model. Click 'Install anyway' to put this kit's "
                           "receiver on it again.")
            return None
        except Exception as error:
            self.progress.bar_style = "danger"
            self.status.report(error)
            raise
        self._offer_force(False)
        self.last_result = result
        self.progress.value, self.progress.bar_style = 1.0, "success"
        self.status.ok(f"The receiver is on the {result.board.name} ({result.seconds:.0f} s), read back and "
                       f"checked. It answers and can hold {result.info.capacity} bytes of model: lesson 7 can send "
                       "it one.")
        return result
