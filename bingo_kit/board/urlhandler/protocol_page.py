"""`page://NAME`: a pyserial port whose other end is the Simulated Uno running in the notebook page.

`serial.serial_for_url("page://uno")` (bingo_kit.board.board registers this package) opens the board that
bingo_kit.board.page.PageUno runs in the browser. Reads and writes follow pyserial's rules (a read returns what
arrived within `timeout`); they must run off the kernel's main thread, which is where the page's bytes are
delivered (see bingo_kit.board.page).
"""
from __future__ import annotations

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from bingo_kit.board.page import PageUno
from bingo_kit.board.protocol import PAGE_RESPONSE_TIMEOUT


class Serial(SerialBase):
    # what BingoBoard asks of a transport: opening it does not reset the board (no DTR, as simavr's pty), and a
    # reply crosses the kernel, the Jupyter server, the network and the browser before it is read
    resets_board_on_open = False
    # the page hands requests to the board one at a time (bingo_kit/page/src/widget.js, Relay): a batch may be
    # written at once and cross the network once
    relays_stop_and_wait = True

    @property
    def time_scale(self) -> float:
        """A slow simulation (a busy Chromebook) answers later than a real board: wait as much longer."""
        return self.page.time_scale if self.is_open else 1.0

    @property
    def response_timeout(self) -> float:
        return PAGE_RESPONSE_TIMEOUT * self.time_scale

    @property
    def handshake_retry_seconds(self) -> float:
        # the board already runs (no bootloader to ride out): a try lasts as long as any answer may take
        return self.response_timeout

    @property
    def handshake_seconds(self) -> float:
        return 2 * self.response_timeout

    def open(self) -> None:
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        if self.is_open:
            raise SerialException("Port is already open.")
        name = str(self._port).split("://", 1)[1].strip("/") or "uno"
        self.page = PageUno.named(name)
        self.page.wait_for_page()
        if self.page.holder is not None and self.page.holder is not self:
            self.page.holder.close()  # one cable per board: a forgotten handle lets go, as BingoBoard does for ports
        self.page.holder = self
        self.page.discard_input()
        self.is_open = True

    def close(self) -> None:
        if self.is_open and self.page.holder is self:
            self.page.holder = None
        self.is_open = False

    def _reconfigure_port(self, *args, **kwargs) -> None:
        """Baud, parity and the rest mean nothing between the kernel and the page."""

    def from_url(self, url: str) -> str:
        return url

    @property
    def in_waiting(self) -> int:
        self._check_open()
        return self.page.waiting()

    def read(self, size: int = 1) -> bytes:
        self._check_open()
        return self.page.read(size, self._timeout)

    def write(self, data) -> int:
        self._check_open()
        data = bytes(data)
        self.page.send_bytes(data)
        return len(data)

    def reset_input_buffer(self) -> None:
        self._check_open()
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
