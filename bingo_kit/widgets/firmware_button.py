"""Install button (lesson 0): put the receiver on a new Arduino, through its bootloader, without the Arduino IDE.

It calls `bingo_kit.board.firmware.install_firmware`, the same as `bingo-kit install-firmware`: build the receiver,
upload it with avrdude, check the board answers. Needed once per board; after that models travel as data.
"""
from __future__ import annotations

import ipywidgets as widgets

from bingo_kit.boards import BOARDS
from bingo_kit.board.install import install_firmware
from bingo_kit.widgets.common import KitWidget, StatusLine, fill_port_dropdown, reporting

SIMULATED_BLANK = "sim-blank"
SIMULATED_BLANK_LABEL = "Simulated blank Uno (for practice)"
BOARD_CHOICES = [(BOARDS[key].name, key) for key in ("uno", "nano", "mega") if key in BOARDS]


class InstallFirmware(KitWidget):
    """Port dropdown + board dropdown + Install: the receiver goes on the board, with a progress bar."""

    kind = "install_firmware"

    def __init__(self, *, port: str | None = None, board: str = "uno"):
        super().__init__()
        self.last_result = None
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
        self.children = [widgets.HBox([self.port, self.refresh_button]),
                         widgets.HBox([self.board, self.install_button]), self.progress, self.status]
        self.add_class("bingo-install")
        self._claim(InstallFirmware)  # one live install button per notebook: a re-run cell replaces it
        self._on_click(self.refresh_button, lambda _: self.refresh())
        self._on_click(self.install_button, lambda _: self.install())
        self.refresh()
        if port is not None:
            self.port.value = port

    @reporting(lambda self: self.status)
    def refresh(self) -> None:
        """Arduino-looking USB ports first, then the Simulated blank Uno to practise on."""
        real = len(fill_port_dropdown(self.port, (SIMULATED_BLANK_LABEL, SIMULATED_BLANK)))
        self.status.info(f"Found {real} board{'s' if real != 1 else ''} on USB. Pick the board's port and type, "
                         "then Install (once per board; about 10 seconds).")

    @reporting(lambda self: self.status)
    def install(self) -> None:
        self.progress.value, self.progress.bar_style = 0.0, ""
        where = "the Simulated blank Uno" if self.port.value == SIMULATED_BLANK else self.port.value
        self.status.info(f"Building the receiver and sending it to {where}…")

        def on_progress(fraction: float) -> None:
            self.progress.value = fraction

        try:
            result = install_firmware(self.port.value, self.board.value, progress=False, on_progress=on_progress)
        except Exception:
            self.progress.bar_style = "danger"
            raise
        self.last_result = result
        self.progress.value, self.progress.bar_style = 1.0, "success"
        self.status.ok(f"The receiver is on the {result.board.name} ({result.seconds:.0f} s). It answers and can "
                       f"hold {result.info.capacity} bytes of model: lesson 7 can send it one.")
