"""The Simulated Uno in the notebook page: the receiver's .hex running in avr8js inside the browser, on any computer.

`PageUno` is an anywidget. Its page side (bingo_kit/page/dist/page.js, built from bingo_kit/page/src by
`make page`) runs the firmware in a Web Worker, paced to the wall clock, keeps the board's EEPROM in the
browser's storage, and draws the board with its TX/RX LEDs. It only moves bytes: the protocol stays the kernel's
one implementation, bingo_kit.board.board.BingoBoard, which reaches the page through a pyserial back end
(`serial.serial_for_url("page://uno")`, bingo_kit/board/urlhandler/protocol_page.py).

Why the kernel talks to it from a thread. The page's bytes arrive as comm messages, and a kernel handles comm
messages only while no cell and no widget callback is running on its main thread (ipykernel ≥ 7.4 also handles
them while a cell is `await`ing). So a conversation with the page board never runs on the main thread: it runs
in the board's own thread (bingo_kit.board.session), fed by the comm handler below, and a cell that wants its
answer writes `await`. Reading on the main thread would wait for bytes that can only arrive after it returns, so
the transport refuses it with one sentence instead of hanging. (A JavaScript twin of the protocol would have
avoided the thread, at the price of a second implementation of PROTOCOL.md to keep equal to the first.)
"""
from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import anywidget
import traitlets

from bingo_kit.board.ports import NoBoardError
from bingo_kit.board.protocol import FlashError

PAGE_BUNDLE = Path(__file__).resolve().parents[1] / "page" / "dist" / "page.js"
CLOCK_MHZ = 16.0  # a real Uno's clock, which the page's simulation paces itself to when it can
ATTACH_SECONDS = 20.0  # a page loads the bundle and starts the worker in about a second; a busy Chromebook, more


class NoPageError(FlashError):
    """No browser page runs the Uno: the notebook is not open in JupyterLab (nbval, a script), or it was closed."""


class PageNeedsAwaitError(FlashError):
    """A cell asked the page's Uno something without `await`: its answer could only arrive after the cell ends."""


class BoardGoneError(FlashError):
    """The page reported its board gone mid-conversation (unplugged, taken over by another tab)."""


def receiver_hex(board: str = "uno") -> str:
    """The receiver's .hex text: the one the kit ships (the same bytes run on a real board and in simavr)."""
    from bingo_kit.board import firmware

    shipped = getattr(firmware, "shipped_hex", None)
    path = shipped(board) if shipped is not None else firmware.build_firmware(board).with_suffix(".hex")
    return Path(path).read_text()


class PageLink(anywidget.AnyWidget):
    """A board the kernel reaches through the notebook page: bytes in comm messages, read from the board's thread.
    One per name per kernel (`named()`); display it to see the board. Subclasses: PageUno, PageSerial."""

    _esm = PAGE_BUNDLE
    kind = traitlets.Unicode("uno").tag(sync=True)  # which board the page runs (bingo_kit/page/src/widget.js)
    latency_ms = traitlets.Int(0).tag(sync=True)  # benchmarks: a delay per message, as a hub far away adds
    instance = traitlets.Unicode("").tag(sync=True)  # how the page finds this board's worker from each view

    _named: dict[tuple[type, str], PageLink] = {}
    missing_page = NoPageError  # raised by wait_for_page when no page says hello in time

    def __init__(self, name: str, **kwargs):
        super().__init__(instance=uuid.uuid4().hex, **kwargs)
        self.name = name
        self._arrived = threading.Condition()
        self._received = bytearray()
        self.boot: str | None = None      # changes whenever the page has a new board (a power-on, a connect)
        self.gone: str | None = None      # the page's sentence when its board went away (unplugged, taken over)
        self.problem: str | None = None   # the page's sentence when it cannot have a board at all
        self.holder = None                # the open transport, if any (a board has one cable)
        self.on_msg(self._from_page)

    default_name = "uno"

    @classmethod
    def named(cls, name: str | None = None):
        name = name or cls.default_name
        board = PageLink._named.get((cls, name))
        if board is None or board.comm is None:  # never made, or closed
            board = PageLink._named[(cls, name)] = cls(name)
        return board

    # --- page -> kernel: runs on the kernel's main thread, whenever the kernel handles comm messages ----------
    def _from_page(self, _widget, content, buffers) -> None:
        kind = content.get("type")
        with self._arrived:
            if kind == "bytes" and buffers:
                self._received.extend(bytes(buffers[0]))
            elif kind == "hello":
                if content.get("boot") != self.boot:
                    self._received.clear()  # a new board (a power-on): bytes of the old one mean nothing now
                self.boot, self.gone = content.get("boot"), None
            elif kind == "gone":
                self.boot, self.gone = None, str(content.get("message") or "The board went away.")
            elif kind == "problem":
                self.problem = str(content.get("message") or "")
            else:
                self._page_said(kind, content)
            self._arrived.notify_all()

    def _page_said(self, kind: str, content: dict) -> None:
        """A message of this board kind's own."""

    # --- kernel -> page: called from the board's thread -----------------------------------------------
    def wait_for_page(self, seconds: float = ATTACH_SECONDS) -> None:
        """Return once the page has said that it has this board; `missing_page` after `seconds`."""
        _refuse_main_thread()
        deadline = time.monotonic() + seconds
        asked = 0.0
        with self._arrived:
            while self.boot is None:
                now = time.monotonic()
                if now >= deadline or self.problem:
                    raise self.missing_page(self.problem or self.not_there())
                if now - asked > 1.0:  # a page that loaded before this kernel object existed answers a ping
                    self.send({"type": "ping"})
                    asked = now
                self._arrived.wait(min(0.2, deadline - now))

    def not_there(self) -> str:
        return ("The board in the page did not start: this notebook must be open in JupyterLab (or Jupyter "
                "Notebook) with its kernel connected. Reload the page and try again.")

    @property
    def time_scale(self) -> float:
        return 1.0

    def send_bytes(self, data: bytes) -> None:
        self.send({"type": "bytes"}, buffers=[bytes(data)])

    def read(self, size: int, timeout: float | None) -> bytes:
        """Up to `size` bytes the board sent: fewer when `timeout` seconds pass first (pyserial's rule). A board the
        page reported gone raises BoardGoneError with the page's sentence."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._arrived:
            if len(self._received) < size:
                _refuse_main_thread()  # waiting here would keep the bytes from ever arriving
            while len(self._received) < size:
                if self.gone:
                    raise BoardGoneError(self.gone)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._arrived.wait(remaining)
            data = bytes(self._received[:size])
            del self._received[:size]
            return data

    def waiting(self) -> int:
        with self._arrived:
            return len(self._received)

    def discard_input(self) -> None:
        with self._arrived:
            self._received.clear()


class PageUno(PageLink):
    """The Simulated Uno in this page (`PageUno.named("uno")`): the receiver in avr8js, its EEPROM in the browser."""

    firmware_hex = traitlets.Unicode("").tag(sync=True)
    storage_key = traitlets.Unicode("uno").tag(sync=True)  # which stored EEPROM this board boots with

    def __init__(self, name: str = "uno", **kwargs):
        super().__init__(name, kind="uno", firmware_hex=receiver_hex("uno"), storage_key=name, **kwargs)
        self.simulated_mhz: float | None = None

    def __repr__(self) -> str:
        return f"Simulated Uno in this page ({self.name!r})"

    def not_there(self) -> str:
        return ("The Simulated Uno in the page did not start: it runs in the browser, so this notebook must be open "
                "in JupyterLab (or Jupyter Notebook) with its kernel connected. Reload the page and try again.")

    def _page_said(self, kind: str, content: dict) -> None:
        if kind == "speed":
            self.simulated_mhz = float(content.get("mhz") or 0.0)

    @property
    def time_scale(self) -> float:
        """How much longer than a real Uno this board takes: a busy computer runs the simulation below 16 MHz
        (the page reports its speed every second), and every time-out of the kernel's stretches by as much."""
        mhz = self.simulated_mhz
        return max(1.0, CLOCK_MHZ / mhz) if mhz else 1.0


class PageSerial(PageLink):
    """A real board on the student's desk, reached from the page through Web Serial (`PageSerial.named()`): the way a
    kernel on a hub, which sees only its server's ports, reaches the Uno plugged into a Chromebook. The student
    connects it with the view's button (the browser asks which port); the kernel then talks as over USB."""

    usb_filters = traitlets.List().tag(sync=True)  # the chooser lists these boards (bingo_kit.boards.USB_IDS)
    missing_page = NoBoardError
    default_name = "serial"

    def __init__(self, name: str = "serial", **kwargs):
        from bingo_kit.boards import USB_IDS

        filters = [{"usbVendorId": vid} if pid is None else {"usbVendorId": vid, "usbProductId": pid}
                   for vid, pid in USB_IDS]
        super().__init__(name, kind="serial", usb_filters=filters, **kwargs)

    def __repr__(self) -> str:
        return f"Board through this browser ({self.name!r})"

    def not_there(self) -> str:
        return ("No board is connected through this browser yet: click Connect a board under the flash button and "
                "pick your Arduino (the browser asks which one), then try again.")

    def set_line(self, dtr: bool) -> None:
        """DTR (and RTS), as avrdude sets them: low then high resets an Uno or a Nano (its auto-reset capacitor)."""
        self.send({"type": "signals", "dtr": bool(dtr)})

    def set_baud(self, baud: int) -> None:
        self.send({"type": "baud", "baud": int(baud)})

    def set_raw(self, raw: bool) -> None:
        """Raw mode: the page passes bytes straight through (a bootloader's STK500v1, not PROTOCOL.md frames)."""
        self.send({"type": "raw", "on": bool(raw)})


def _refuse_main_thread() -> None:
    if threading.current_thread() is threading.main_thread():
        raise PageNeedsAwaitError(
            "The Simulated Uno in the page answers only while the notebook waits for it: write `await` in front, "
            "e.g. `await flasher.flash()` (the buttons do this for you).")
