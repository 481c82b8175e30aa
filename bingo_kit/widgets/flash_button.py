"""Flash button: pick a board, check the model fits, send it with a progress bar, then test it on the board.

The boards: USB ports, the Simulated Uno in simavr ("sim", where this computer has simavr) and the Simulated Uno
in this page ("page", avr8js in the browser: on every computer, and the default where simavr is missing). The
page's board is drawn in the widget, its TX/RX LEDs lit while bytes flow.

Every conversation with a board is a BoardJob (bingo_kit.board.session): a button click never blocks the kernel
while the page's board answers, and a cell can `await flasher.flash()`. With a USB or simavr board the job has
finished when the call returns, as before.

The connection stays open after flashing so "Test on board" and the digit pad can ask the board without
another reset. It is closed when the widget closes, when its cell is re-run, or before another widget
opens the same port (a serial port can only be held once). A button whose board was released that way
connects again when it is next used: the model is still on the board.
"""
from __future__ import annotations

import time
import weakref

import ipywidgets as widgets
import numpy as np

from bingo_kit.board import simavr
from bingo_kit.board.agreement import compare_board_with_reference
from bingo_kit.board.board import PAGE_PORT, WEB_SERIAL_PORT, BingoBoard
from bingo_kit.board.session import BoardJob, run_on_board
from bingo_kit.errors import KitError
from bingo_kit.export import export_model, inputs_to_bytes
from bingo_kit.widgets.common import GREEN, RED, KitWidget, StatusLine, fill_port_dropdown, reporting

SIMULATED = "sim"
SIMULATED_LABEL = "Simulated Uno"
PAGE = PAGE_PORT
PAGE_LABEL = "Simulated Uno in this page"
WEB_SERIAL = WEB_SERIAL_PORT
WEB_SERIAL_LABEL = "USB board, through this browser"

# port -> the FlashButton holding it, so a second widget can free it first
_PORT_HOLDERS: "weakref.WeakValueDictionary[str, FlashButton]" = weakref.WeakValueDictionary()


def board_key_for(port: str, guess: str | None) -> str:
    """Which table entry (boards.BOARDS) a port most likely is, from its USB id alone. Only a label: a CH340
    clone may be a Mega, so the fit check uses the connected board's IDENTIFY answer instead."""
    if port in (SIMULATED, PAGE):
        return "uno"
    if port == WEB_SERIAL:
        return "uno"  # only a label: IDENTIFY tells
    return "mega" if guess and "mega" in guess.lower() else "uno"


def simulated_port(port: str) -> str:
    """"sim" means the Simulated Uno wherever it can run: simavr on this computer, else the one in the page."""
    return PAGE if port == SIMULATED and not simavr.available() else port


def _boards_beside_usb() -> list[tuple[str, str]]:
    """The simulated Unos, and a board the browser reaches (Web Serial: the way from a hub to the student's desk)."""
    simulated = [(SIMULATED_LABEL, SIMULATED), (PAGE_LABEL, PAGE)] if simavr.available() else [(PAGE_LABEL, PAGE)]
    return simulated + [(WEB_SERIAL_LABEL, WEB_SERIAL)]


def _label(port: str) -> str:
    return {SIMULATED: "the Simulated Uno", PAGE: "the Simulated Uno in this page",
            WEB_SERIAL: "the board connected through this browser"}.get(port, port)


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
        self.last_job: BoardJob | None = None
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
        self.board_view = widgets.Box()  # the drawn Simulated Uno in this page, when it is the chosen board

        self.children = [
            widgets.HBox([self.port, self.refresh_button, self.flash_button]),
            self.progress,
            self.status,
            widgets.HBox([self.test_count, self.test_button]),
            self.test_text,
            self.board_view,
        ]
        self.add_class("bingo-flash")
        self._claim(model)
        self._on_click(self.refresh_button, lambda _: self.refresh())
        self._on_click(self.flash_button, lambda _: self.flash())
        self._on_click(self.test_button, lambda _: self.test_on_board())
        self._observe(self.port, lambda _: self._show_board())
        self.refresh()
        if port is not None:
            self.port.value = simulated_port(port)
        self._show_board()

    # --- ports -----------------------------------------------------------------------------------
    @reporting(lambda self: self.status)
    def refresh(self) -> None:
        """List the boards plugged in now (Arduino-looking ones first), plus the simulated Unos (always there)."""
        self._guesses = {}
        usb = fill_port_dropdown(self.port, *_boards_beside_usb())
        self._guesses = {info.device: info.board_guess for info in usb}
        real = len(usb)
        self.status.info(f"Found {real} board{'s' if real != 1 else ''} on USB" +
                         ("." if real else " — plug one in and press refresh, or use a Simulated Uno."))

    def _show_board(self) -> None:
        """The page's boards appear when chosen: the drawn Uno (creating it starts the simulation), or the board
        through this browser with its Connect button."""
        from bingo_kit.board.page import PageSerial, PageUno

        shown = {PAGE: PageUno, WEB_SERIAL: PageSerial}.get(self.port.value)
        self.board_view.children = [shown.named()] if shown else []

    @property
    def flashed(self) -> bool:
        """Whether this button has put its model on a board (the digit pad asks that board)."""
        return self._flashed_port is not None

    def connected_board(self):
        """The board after a successful flash, connecting again if it was released; None before the first flash.
        (The page's board must be reached from its own thread: use `await flasher.predict(...)` for it.)"""
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
        self.status.info(f"Connecting to {_label(port)}…")
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

    def _job(self, port: str, work, *args) -> BoardJob:
        """Run `work` as a conversation with the board at `port`; its error lands in the status line too."""
        def reported(*args):
            try:
                return work(*args)
            except Exception as error:
                self.status.report(error)
                raise
        self.last_job = run_on_board(port, reported, *args)
        return self.last_job

    # --- flashing --------------------------------------------------------------------------------
    def flash(self) -> BoardJob:
        """Connect, fit check against the board's own capacity, then upload with the progress bar.
        Returns the job: `await flasher.flash()` in a cell waits until the board has the model."""
        port = self.port.value
        self.progress.value, self.progress.bar_style = 0, ""
        self.test_text.value = ""
        self.status.info(f"Connecting to {_label(port)}…")
        return self._job(port, self._flash, port)

    def _flash(self, port: str):
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
            where = _label(port) if port in (SIMULATED, PAGE, WEB_SERIAL) else f"the {report.board.name} on {port}"
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
        where = {SIMULATED: SIMULATED_LABEL, PAGE: PAGE_LABEL, WEB_SERIAL: "board connected through this browser"}.get(port, port)
        self.status.ok(f"Flashed {result.bytes} bytes to the {where} in {result.seconds:.2f} s "
                       f"(checksum {result.crc:#06x} confirmed).")
        return result

    def _flashed_board(self):
        if self.last_report is None or self._flashed_port is None:
            raise KitError("Flash the model first; then the board can be tested.")
        return self.connected_board()

    def test_on_board(self, count: int | None = None) -> BoardJob:
        """Send test digits to the board: are its scores exactly the laptop's int8 scores, how accurate?
        `count` digits (default: the widget's box). Returns the job; `await` it in a cell."""
        if count is not None:
            self.test_count.value = count
        port = self._flashed_port or self.port.value
        return self._job(port, self._test_on_board)

    def _test_on_board(self):
        """The library's compare_board_with_reference does the work (and first checks, by CRC and length, that
        the board still holds the model this button flashed)."""
        board = self._flashed_board()
        if self.data is None:
            raise KitError("Testing needs the test digits: create the FlashButton with data=...")
        count = min(self.test_count.value, len(self.data.y_test))
        x_u8 = inputs_to_bytes(self.data.x_test[:count])
        labels = np.asarray(self.data.y_test[:count])
        self.progress.max, self.progress.value, self.progress.bar_style = count, 0, ""
        self.status.info(f"Sending {count} test digits to the board…")

        def on_progress(done, total):
            self.progress.value = done

        started = time.monotonic()
        summary = compare_board_with_reference(board, self.last_report.blob, x_u8, labels,
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
        return self.last_test

    def predict(self, x_u8) -> BoardJob:
        """Ask the flashed board about one input (bytes, see export.inputs_to_bytes); the job's result is its
        Prediction (label, logits, cycles). `answer = await flasher.predict(...)` in a cell."""
        port = self._flashed_port or self.port.value
        return self._job(port, lambda: self._flashed_board().predict(x_u8))

    def identify(self) -> BoardJob:
        """Ask the board what it holds (IDENTIFY): `info = await flasher.identify()`."""
        port = self._flashed_port or self.port.value
        return self._job(port, lambda: self._connect(port).identify())
