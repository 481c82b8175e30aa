"""Flash button: pick a board, check the model fits, send it with a progress bar, then test it on the board.

The connection stays open after flashing so "Test on board" and the digit pad can ask the board without
another reset. It is closed when the widget closes, when its cell is re-run, or before another widget
opens the same port (a serial port can only be held once). A button whose board was released that way
connects again when it is next clicked: the model is still on the board.
"""
from __future__ import annotations

import time
import weakref

import ipywidgets as widgets
import numpy as np

from bingo_kit.board.agreement import compare_board_with_reference
from bingo_kit.errors import KitError
from bingo_kit.export import export_model, inputs_to_bytes
from bingo_kit.board.board import BingoBoard
from bingo_kit.widgets.common import GREEN, RED, KitWidget, StatusLine, fill_port_dropdown, reporting

SIMULATED = "sim"
SIMULATED_LABEL = "Simulated Uno"

# port -> the FlashButton holding it, so a second widget can free it first
_PORT_HOLDERS: "weakref.WeakValueDictionary[str, FlashButton]" = weakref.WeakValueDictionary()


def board_key_for(port: str, guess: str | None) -> str:
    """Which table entry (boards.BOARDS) a port most likely is, from its USB id alone. Only a label: a CH340
    clone may be a Mega, so the fit check uses the connected board's IDENTIFY answer instead."""
    if port == SIMULATED:
        return "uno"
    return "mega" if guess and "mega" in guess.lower() else "uno"


class FlashButton(KitWidget):
    """Port dropdown + refresh, Flash (fit check → progress bar → status), Test on board.

    model: the (pruned) TinyMLP to send, or anything with `export_for(board, capacity)` that hands over its own
    export report when Flash is pressed (lesson 8's entries).  data: its Dataset (accuracy on the board, calibration).
    """

    kind = "flash_button"

    def __init__(self, model, data=None, *, port: str | None = None, test_digits: int = 50):
        super().__init__()
        self.model, self.data = model, data
        self._board = None          # the open BingoBoard, if any
        self._board_port = None
        self._flashed_port = None   # where the last successful flash went: a released board reconnects there
        self.last_upload = None
        self.last_report = None
        self.last_test = None
        self._guesses: dict[str, str | None] = {}  # port -> what list_ports thinks is behind it

        self.port = widgets.Dropdown(description="board", layout=widgets.Layout(width="380px"))
        self.port.add_class("bingo-flash-port")
        self.refresh_button = widgets.Button(description="", icon="refresh", tooltip="look for boards again",
                                             layout=widgets.Layout(width="40px"))
        self.refresh_button.add_class("bingo-flash-refresh")
        self.flash_button = widgets.Button(description="Flash", icon="bolt", button_style="primary")
        self.flash_button.add_class("bingo-flash-button")
        self.progress = widgets.IntProgress(min=0, max=1, value=0, layout=widgets.Layout(width="380px"))
        self.progress.add_class("bingo-flash-progress")
        self.status = StatusLine()
        self.status.add_class("bingo-flash-status")
        self.test_count = widgets.BoundedIntText(value=test_digits, min=1, max=10_000, description="digits",
                                                 layout=widgets.Layout(width="160px"))
        self.test_count.add_class("bingo-flash-count")
        self.test_button = widgets.Button(description="Test on board", icon="check")
        self.test_button.add_class("bingo-flash-test")
        self.test_text = widgets.HTML()
        self.test_text.add_class("bingo-flash-test-result")

        self.children = [
            widgets.HBox([self.port, self.refresh_button, self.flash_button]),
            self.progress,
            self.status,
            widgets.HBox([self.test_count, self.test_button]),
            self.test_text,
        ]
        self.add_class("bingo-flash")
        self._claim(model)
        self._on_click(self.refresh_button, lambda _: self.refresh())
        self._on_click(self.flash_button, lambda _: self.flash())
        self._on_click(self.test_button, lambda _: self.test_on_board())
        self.refresh()
        if port is not None:
            self.port.value = port

    # --- ports -----------------------------------------------------------------------------------
    @reporting(lambda self: self.status)
    def refresh(self) -> None:
        """List the boards plugged in now (Arduino-looking ones first), plus the Simulated Uno (always there)."""
        self._guesses = {}
        usb = fill_port_dropdown(self.port, (SIMULATED_LABEL, SIMULATED))
        self._guesses = {info.device: info.board_guess for info in usb}
        real = len(usb)
        self.status.info(f"Found {real} board{'s' if real != 1 else ''} on USB" +
                         ("." if real else " — plug one in and press refresh, or use the Simulated Uno."))

    def connected_board(self):
        """The board after a successful flash (the digit pad asks it), connecting again if it was released;
        None before the first flash."""
        if self._board is None and self._flashed_port is not None and not self.closed:
            self._connect(self._flashed_port)
        return self._board

    def _connect(self, port: str):
        if self._board is not None and self._board_port == port:
            return self._board
        self._disconnect()
        holder = _PORT_HOLDERS.get(port)
        if holder is not None and holder is not self:
            holder._disconnect()  # free the port held by another (e.g. an older) widget
        self.status.info("Connecting to the simulated Uno…" if port == SIMULATED else f"Connecting to {port}…")
        self._board = BingoBoard(port)
        self._board_port = port
        _PORT_HOLDERS[port] = self
        return self._board

    def _disconnect(self) -> None:
        board, port = self._board, self._board_port
        self._board = self._board_port = None
        if port is not None and _PORT_HOLDERS.get(port) is self:
            del _PORT_HOLDERS[port]
        if board is not None:
            board.close()

    def _release(self) -> None:
        self._disconnect()

    # --- flashing --------------------------------------------------------------------------------
    @reporting(lambda self: self.status)
    def flash(self) -> None:
        """Connect, fit check against the board's own capacity, then upload with the progress bar."""
        port = self.port.value
        self.progress.value, self.progress.bar_style = 0, ""
        self.test_text.value = ""
        board = self._connect(port)   # IDENTIFY only reads: nothing is sent to the model store yet
        # The board's IDENTIFY answer (§5.1) is the truth: a USB-id guess cannot tell a CH340 Mega from an Uno.
        table_entry = board.info.board or board_key_for(port, self._guesses.get(port))
        # calibrate on the training data, but skip the test-set accuracies export_model computes when given
        # `data`: this widget shows neither, and they cost two full test-set passes per click
        calibration = None if self.data is None else self.data.x_train
        if hasattr(self.model, "export_for"):
            # something that knows its own blob, read now (lesson 8's newest entry): the board gets the entry
            # the student has now, not the one this cell saw when it ran
            report = self.model.export_for(table_entry, capacity=board.info.capacity)
        else:
            report = export_model(self.model, board=table_entry, capacity=board.info.capacity,
                                  calibration_x=calibration)
        self.last_report = report
        if not report.fits:  # say it before any model byte is sent (no UPLOAD_BEGIN)
            where = "the Simulated Uno" if port == SIMULATED else f"the {report.board.name} on {port}"
            advice = getattr(self.model, "too_big_advice", "Prune more weights, then flash again.")
            raise KitError(f"The model needs {report.size} bytes but {where} holds {report.capacity}: "
                           f"{report.over_by} bytes too many. {advice}")
        self.status.info(f"Sending {report.size} bytes…")
        self.progress.max = report.size

        def on_progress(sent, total=None):
            self.progress.value = min(int(sent), self.progress.max)

        try:
            result = board.upload(report.blob, progress=False, on_progress=on_progress)
        except Exception:
            self.progress.bar_style = "danger"
            self._disconnect()  # a failed upload leaves the link in an unknown state: reconnect next time
            raise
        self.last_upload = result
        self._flashed_port = port
        self.progress.value, self.progress.bar_style = self.progress.max, "success"
        where = SIMULATED_LABEL if port == SIMULATED else port
        self.status.ok(f"Flashed {result.bytes} bytes to the {where} in {result.seconds:.2f} s "
                       f"(checksum {result.crc:#06x} confirmed).")

    @reporting(lambda self: self.status)
    def test_on_board(self) -> None:
        """Send N test digits to the board: are its scores exactly the laptop's int8 scores, how accurate?

        The library's compare_board_with_reference does the work (and first checks, by CRC and length, that
        the board still holds the model this button flashed)."""
        if self.last_report is None or self.connected_board() is None:
            raise KitError("Flash the model first; then the board can be tested.")
        if self.data is None:
            raise KitError("Testing needs the test digits: create the FlashButton with data=...")
        count = min(self.test_count.value, len(self.data.y_test))
        x_u8 = inputs_to_bytes(self.data.x_test[:count])
        labels = np.asarray(self.data.y_test[:count])
        self.progress.max, self.progress.value, self.progress.bar_style = count, 0, ""

        def on_progress(done, total):
            self.progress.value = done

        started = time.monotonic()
        summary = compare_board_with_reference(self._board, self.last_report.blob, x_u8, labels,
                                               progress=False, on_progress=on_progress)
        seconds = time.monotonic() - started
        agree = round(summary.agreement * count)     # digits whose 10 scores all match exactly
        correct = round(summary.accuracy * count)
        self.last_test = {"count": count, "agree": agree, "correct": correct, "agreement": summary.agreement,
                          "mean_micros": summary.mean_inference_us, "seconds": seconds}
        exact = agree == count
        self.progress.bar_style = "success" if exact else "danger"
        colour = GREEN if exact else RED
        self.test_text.value = (
            f"<span style='color:{colour}'>The board and the laptop agree on <b>{agree}/{count}</b> digits "
            f"(all 10 scores exactly the same); the board reads <b>{100 * correct / count:.1f} %</b> of them "
            f"right, in {summary.mean_inference_us / 1000:.2f} ms per digit.</span>")
        if exact:
            self.status.ok(f"Tested {count} digits in {seconds:.1f} s.")
        else:
            self.status.error(f"The board disagrees with the laptop on {count - agree} of {count} digits — the "
                              "firmware and the kit may be out of step: flash the bingo_receiver sketch from "
                              "this kit, then flash the model again.")
