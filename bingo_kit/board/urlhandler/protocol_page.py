"""`page://NAME`: a pyserial port whose other end is a board the notebook page reaches (bingo_kit.board.page).

    page://uno           the Simulated Uno running in the page (avr8js)
    page://serial        a real board on the student's desk, through the browser's Web Serial
    page://serial?raw    the same, its bytes passed straight through (a bootloader's STK500v1, not PROTOCOL.md)

`serial.serial_for_url(...)` (bingo_kit.board.board registers this package) opens it. Reads and writes follow
pyserial's rules (a read returns what arrived within `timeout`); they must run off the kernel's main thread, which
is where the page's bytes are delivered (see bingo_kit.board.page). DTR and the baud rate reach a Web Serial board
as the page's own line commands, so the kit's STK500v1 code can reset it and talk to its bootloader.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from bingo_kit.board.page import BoardGoneError, PageSerial, PageUno
from bingo_kit.board.protocol import PAGE_RESPONSE_TIMEOUT

BOARDS = {"uno": PageUno, "serial": PageSerial}


class Serial(SerialBase):
    # what BingoBoard asks of a transport: the kernel's open does not reset the board (the page's Uno runs on;
    # a Web Serial board was reset when the page opened it, and the page keeps §4.4's quiet 2 s itself)
    resets_board_on_open = False

    @property
    def time_scale(self) -> float:
        """A slow simulation (a busy Chromebook) answers later than a real board: wait as much longer."""
        return self.page.time_scale if self.is_open else 1.0

    @property
    def response_timeout(self) -> float:
        # a reply crosses the kernel, the Jupyter server, the network and the browser before it is read
        return PAGE_RESPONSE_TIMEOUT * self.time_scale

    @property
    def handshake_retry_seconds(self) -> float:
        # no bootloader to ride out from here: a try lasts as long as any answer may take
        return self.response_timeout

    @property
    def handshake_seconds(self) -> float:
        return 2 * self.response_timeout + 2.0  # a Web Serial board's page waits 2 s after opening it (§4.4)

    @property
    def relays_stop_and_wait(self) -> bool:
        # the page hands requests to the board one at a time (bingo_kit/page/src/relay.js): a batch may be
        # written at once and cross the network once; not in raw mode, which passes bytes straight through
        return not self.raw

    @property
    def gone(self) -> str | None:
        """The page's sentence for a board that went away (unplugged, taken over by another tab)."""
        return self.page.gone if self.is_open else None

    def open(self) -> None:
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        if self.is_open:
            raise SerialException("Port is already open.")
        parts = urlsplit(str(self._port))
        kind = BOARDS.get(parts.netloc or "uno")
        if kind is None:
            raise SerialException(f"No board called {parts.netloc!r} in the page; use page://uno or page://serial.")
        self.raw = parts.query == "raw"
        self.page = kind.named(parts.netloc or "uno")
        self.page.wait_for_page(10.0 if kind is PageSerial else 20.0)
        if self.page.holder is not None and self.page.holder is not self:
            self.page.holder.close()  # one cable per board: a forgotten handle lets go, as BingoBoard does for ports
        self.page.holder = self
        self.page.discard_input()
        if kind is PageSerial:
            self.page.set_raw(self.raw)
        self.is_open = True
        self._reconfigure_port()

    def close(self) -> None:
        if self.is_open and self.page.holder is self:
            self.page.holder = None
            if self.raw:
                self.page.set_raw(False)
        self.is_open = False

    def _reconfigure_port(self, *args, **kwargs) -> None:
        """The baud rate reaches a Web Serial board (an old Nano's bootloader listens at 57 600); between the kernel
        and the page's own Uno it means nothing."""
        if self.is_open and isinstance(self.page, PageSerial) and self._baudrate != getattr(self, "_page_baud", 115200):
            self.page.set_baud(self._baudrate)
            self._page_baud = self._baudrate

    def _update_dtr_state(self) -> None:
        if self.is_open and isinstance(self.page, PageSerial):
            self.page.set_line(self._dtr_state)

    def _update_rts_state(self) -> None:
        """RTS moves with DTR on the page's side (what setSignals is given), as the Arduino boards wire them."""

    def from_url(self, url: str) -> str:
        return url

    @property
    def in_waiting(self) -> int:
        self._check_open()
        return self.page.waiting()

    def read(self, size: int = 1) -> bytes:
        self._check_open()
        try:
            return self.page.read(size, self._timeout)
        except BoardGoneError as error:  # as pyserial reports a vanished USB port; BingoBoard says the rest
            raise SerialException(str(error)) from None

    def write(self, data) -> int:
        self._check_open()
        data = bytes(data)
        self.page.send_bytes(data)
        return len(data)

    def reset_input_buffer(self) -> None:
        """As on a USB port: what has not been read is gone. The page forgets the request it holds for the board
        too, so that a request the kernel stopped waiting for (the handshake's IDENTIFY to a board that does not
        answer) never holds back the next one."""
        self._check_open()
        self.page.send({"type": "forget"})
        self.page.discard_input()

    def reset_output_buffer(self) -> None:
        self._check_open()

    def discard_queued_requests(self) -> None:
        """The page forgets the requests it has not yet handed to the board."""
        self._check_open()
        self.page.send({"type": "flush"})

    def _check_open(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()
