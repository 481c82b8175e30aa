"""The kit's own conversation with an Arduino's bootloader: put a program into flash, read it back, compare, start
it. No avrdude needed.

Stk500v1 is what Optiboot (every Uno, and Nanos since 2018, at 115 200 baud) and ATmegaBOOT (older Nanos,
57 600 baud) speak; Atmel's application note AVR061 defines it, and avrdude's `-c arduino` uses the same subset:
GET_SYNC, READ_SIGN, ENTER_PROGMODE, LOAD_ADDRESS + PROG_PAGE, LOAD_ADDRESS + READ_PAGE, LEAVE_PROGMODE.
Stk500v2 is what the Mega 2560's bootloader speaks (AVR068, avrdude's `-c wiring`): checksummed messages, the
same steps. Written here by hand because no kept Python library speaks either over a port we hand in, and the
same code must also run over a browser's Web Serial port bridged to the kernel.

So it only uses what a pyserial port offers -- `read(n)` (returns what came before the port's own short timeout),
`write(data)`, `reset_input_buffer()`, and the attributes `baudrate` and `dtr` -- and no operating-system call:
the reset pulse and the baud rate go through the port object. Every read has a deadline.

The bootloader itself is never written (it refuses to, and the kit never asks), so whatever goes wrong -- a
pulled cable, a flipped byte -- a new install starts from the same bootloader: re-running is the way back.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bingo_kit.errors import KitError

# AVR061 command and answer bytes.
GET_SYNC, READ_SIGN, ENTER_PROGMODE, LEAVE_PROGMODE = 0x30, 0x75, 0x50, 0x51
LOAD_ADDRESS, PROG_PAGE, READ_PAGE = 0x55, 0x64, 0x74
CRC_EOP, INSYNC, OK = 0x20, 0x14, 0x10
FLASH = ord("F")


@dataclass(frozen=True)
class Chip:
    name: str
    signature: bytes
    page_size: int      # bytes per flash page (what PROG_PAGE writes at once)
    program_space: int  # bytes below the bootloader


ATMEGA328P = Chip("ATmega328P", bytes.fromhex("1e950f"), 128, 30 * 1024)  # 30 KB: room for ATmegaBOOT's 2 KB
ATMEGA2560 = Chip("ATmega2560", bytes.fromhex("1e9801"), 256, 248 * 1024)  # below the 8 KB boot section

# AVR068 (STK500v2): message framing and the commands the Mega's bootloader answers.
MESSAGE_START, TOKEN, STATUS_CMD_OK = 0x1B, 0x0E, 0x00
CMD_SIGN_ON, CMD_LOAD_ADDRESS, CMD_ENTER_PROGMODE_ISP, CMD_LEAVE_PROGMODE_ISP = 0x01, 0x06, 0x10, 0x11
CMD_PROGRAM_FLASH_ISP, CMD_READ_FLASH_ISP, CMD_READ_SIGNATURE_ISP = 0x13, 0x14, 0x1B

# Timing. DTR low then high resets the board (the auto-reset capacitor on every Uno, Nano and Mega), as avrdude
# does it.
RESET_LOW_SECONDS = 0.25      # lets the capacitor discharge, so raising DTR again pulls RESET low
AFTER_RESET_SECONDS = 0.05
# Then the bootloader blinks (Optiboot: 3 flashes, ~0.4 s; ATmegaBOOT: 1) and listens for about a second before
# it starts the sketch. GET_SYNC goes once the line has been quiet (whatever the sketch said before the reset is
# drained), again every half second: by then the bootloader reads every byte as it comes, so a repeat cannot be
# read half (a GET_SYNC read from the middle makes Optiboot give up at once). A simulated board on a busy computer
# runs behind the wall clock, hence a longer wait than a real board needs.
DRAIN_QUIET_SECONDS = 0.25
SYNC_ANSWER_SECONDS = 1.5
SYNC_RESEND_SECONDS = 0.5
SYNC_RESETS = 2               # a board that never answers costs about 2 x 2 s
SETTLE_QUIET_SECONDS = 0.05   # after the first answer: late answers to earlier GET_SYNCs arrive within this
COMMAND_SECONDS = 2.0         # one command's answer (a page: ~5 ms on a real board; a simulator may be starved)


class Stk500Error(KitError):
    """The conversation with the bootloader failed; the message says what happened and what to do."""


class NoBootloaderError(Stk500Error):
    """No bootloader answered in this protocol at this baud rate (after resetting the board)."""

    def __init__(self, message: str, heard_something: bool):
        super().__init__(message)
        self.heard_something = heard_something  # bytes came back, just not the bootloader's answer


class WrongChipError(Stk500Error):
    """The bootloader answered, from another chip than the one the program is for. Nothing was written."""

    def __init__(self, message: str, signature: bytes):
        super().__init__(message)
        self.signature = signature


class LostContactError(Stk500Error):
    """The bootloader stopped answering mid-conversation: unplugged, reset, or a garbled byte."""


class VerifyError(Stk500Error):
    """The flash, read back, differs from what was written."""

    def __init__(self, message: str, address: int):
        super().__init__(message)
        self.address = address


def _lost() -> LostContactError:
    return LostContactError("The board stopped answering during the install (was it unplugged or reset?). Its "
                            "bootloader is untouched: plug it back in and install again.")


class _Silence(Exception):
    """Internal: a deadline passed before the expected bytes came."""


@dataclass
class Installed:
    signature: bytes
    bytes_written: int   # whole pages, the program padded with 0xFF
    pages: int
    verified: bool       # True only once every written page read back identical


class Bootloader:
    """One conversation with a bootloader over `port` (pyserial-like, already open at its baud rate): the bytes on
    the wire, the reset, and the whole install; each protocol below says how to sync, write, read and leave."""

    chip = ATMEGA328P

    def __init__(self, port, chip: Chip | None = None):
        self.port = port
        self.chip = chip or type(self).chip

    # -- bytes on the wire ---------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(bytes(data))
        except OSError:
            raise _lost() from None

    def _read(self, n: int, deadline: float) -> bytes:
        data = b""
        while len(data) < n:
            if time.monotonic() >= deadline:
                raise _Silence(data)
            try:
                data += self.port.read(n - len(data))
            except OSError:
                raise _lost() from None
        return data

    def _drain(self, quiet: float, at_most: float = 1.0) -> bytes:
        """Read and drop bytes until the line has been quiet for `quiet` seconds (at most `at_most` in all)."""
        heard, started = b"", time.monotonic()
        last = started
        while time.monotonic() - last < quiet and time.monotonic() - started < at_most:
            try:
                chunk = self.port.read(64)
            except OSError:
                raise _lost() from None
            if chunk:
                heard, last = heard + chunk, time.monotonic()
        return heard

    def reset(self) -> None:
        """Pulse DTR: the board restarts into its bootloader (its auto-reset circuit; a simulated board's port
        object turns the pulse into what resets it)."""
        try:
            self.port.dtr = False
            time.sleep(RESET_LOW_SECONDS)
            self.port.dtr = True
            time.sleep(AFTER_RESET_SECONDS)
            self.port.reset_input_buffer()
        except OSError:
            raise _lost() from None

    answer_seconds = SYNC_ANSWER_SECONDS

    def _sync_with(self, hello: Callable[[], bytes], answered: Callable[[bytes], bool], resets: int) -> None:
        """Reset, drain, then send `hello()` (again every SYNC_RESEND_SECONDS) until `answered(bytes so far)`."""
        heard = False
        for _ in range(resets):
            self.reset()
            heard |= bool(self._drain(DRAIN_QUIET_SECONDS))
            answer, deadline, resend = b"", time.monotonic() + self.answer_seconds, 0.0
            while not answered(answer) and time.monotonic() < deadline:
                if time.monotonic() >= resend:
                    self._write(hello())
                    resend = time.monotonic() + SYNC_RESEND_SECONDS
                try:
                    answer += self._read(1, min(deadline, resend))
                except _Silence:
                    pass
            heard |= bool(answer)
            if not answered(answer):
                continue
            self._drain(SETTLE_QUIET_SECONDS)
            try:
                self.confirm_sync()  # in step: this answer is the next one
                return
            except LostContactError:
                continue
        raise NoBootloaderError(f"No bootloader answered ({type(self).__name__} at this speed): is it the right "
                                "port and the right board?", heard)

    # -- the whole install ---------------------------------------------------------------------------

    def install(self, image: bytes, on_progress: Callable[[float], None] | None = None) -> Installed:
        """Sync, check the chip, write `image` (the flash from address 0) page by page, read every page back and
        compare, then leave programming mode so the new sketch starts. on_progress(fraction): writing is the
        first half, reading back the second."""
        chip = self.chip
        if len(image) > chip.program_space:
            raise Stk500Error(f"The program is {len(image)} bytes; an {chip.name} holds {chip.program_space} "
                              "next to its bootloader.")
        self.sync()
        signature = self.signature()
        if signature != chip.signature:
            raise WrongChipError(f"The board's chip (signature {signature.hex().upper()}) is not an {chip.name}: "
                                 "nothing was written. Choose the board you have.", signature)
        self.enter()
        size = chip.page_size
        padded = bytes(image) + b"\xff" * (-len(image) % size)
        pages = [(address, padded[address:address + size]) for address in range(0, len(padded), size)]
        steps = 2 * len(pages)
        for done, (address, data) in enumerate(pages, 1):  # in order from 0 (the Mega's bootloader needs it)
            self.write_page(address, data)
            if on_progress is not None:
                on_progress(done / steps)
        for done, (address, data) in enumerate(pages, len(pages) + 1):
            back = self.read_page(address, size)
            if back != data:
                first = address + next(i for i, (a, b) in enumerate(zip(back, data)) if a != b)
                self._leave_quietly()
                raise VerifyError(f"The flash did not read back as written (first difference at byte 0x{first:04X}):"
                                  " a loose cable or a bad USB hub? The bootloader is untouched: install again.",
                                  first)
            if on_progress is not None:
                on_progress(done / steps)
        self.leave()
        return Installed(signature, len(padded), len(pages), verified=True)

    def _leave_quietly(self) -> None:
        try:
            self.leave()
        except Stk500Error:
            pass


class Stk500v1(Bootloader):
    """Optiboot (Uno, Nano) and ATmegaBOOT (old Nano): AVR061 commands, each ended by CRC_EOP and answered
    INSYNC ... OK."""

    def command(self, body: bytes, answer_length: int = 0, seconds: float = COMMAND_SECONDS) -> bytes:
        """Send one command (CRC_EOP appended); return its answer between INSYNC and OK."""
        self._write(bytes(body) + bytes([CRC_EOP]))
        deadline = time.monotonic() + seconds
        try:
            if self._read(1, deadline)[0] != INSYNC:
                raise _lost()
            answer = self._read(answer_length + 1, deadline)
        except _Silence:
            raise _lost() from None
        if answer[-1] != OK:
            raise _lost()
        return answer[:-1]

    def sync(self, resets: int = SYNC_RESETS) -> None:
        """Reset the board and get the bootloader's attention (GET_SYNC answered INSYNC OK), within its window."""
        self._sync_with(lambda: bytes([GET_SYNC, CRC_EOP]), lambda answer: bytes([INSYNC, OK]) in answer, resets)

    def confirm_sync(self) -> None:
        self.command(bytes([GET_SYNC]), seconds=0.5)

    def signature(self) -> bytes:
        return self.command(bytes([READ_SIGN]), 3)

    def _load_address(self, address: int) -> None:
        word = address // 2  # flash addresses go in 16-bit words, low byte first
        self.command(bytes([LOAD_ADDRESS, word & 0xFF, word >> 8]))

    def write_page(self, address: int, data: bytes) -> None:
        self._load_address(address)
        self.command(bytes([PROG_PAGE, len(data) >> 8, len(data) & 0xFF, FLASH]) + data)

    def read_page(self, address: int, length: int) -> bytes:
        self._load_address(address)
        return self.command(bytes([READ_PAGE, length >> 8, length & 0xFF, FLASH]), length)

    def leave(self) -> None:
        """LEAVE_PROGMODE: Optiboot then starts the sketch at once; ATmegaBOOT after half a second of quiet."""
        self.command(bytes([LEAVE_PROGMODE]))

    def enter(self) -> None:
        self.command(bytes([ENTER_PROGMODE]))


class Stk500v2(Bootloader):
    """The Mega 2560's bootloader: AVR068 messages (start byte, sequence number, length, token, body, XOR
    checksum), each answered by a message whose body starts with the command and STATUS_CMD_OK."""

    chip = ATMEGA2560
    answer_seconds = 1.0  # it listens at once after the reset (no LED blinking first)

    def __init__(self, port, chip: Chip | None = None):
        super().__init__(port, chip)
        self.sequence = 0

    def _frame(self, body: bytes, sequence: int) -> bytes:
        frame = bytes([MESSAGE_START, sequence, len(body) >> 8, len(body) & 0xFF, TOKEN]) + bytes(body)
        checksum = 0
        for byte in frame:
            checksum ^= byte
        return frame + bytes([checksum])

    def message(self, body: bytes, seconds: float = COMMAND_SECONDS) -> bytes:
        """Send one message; return the answer's body after its command byte and status (checked)."""
        self.sequence = (self.sequence + 1) & 0xFF
        self._write(self._frame(body, self.sequence))
        deadline = time.monotonic() + seconds
        try:
            while True:
                if self._read(1, deadline)[0] != MESSAGE_START:
                    continue
                header = self._read(4, deadline)
                if header[0] != self.sequence or header[3] != TOKEN:
                    continue  # not the answer to this message: hunt on
                answer = self._read((header[1] << 8) | header[2], deadline)
                checksum = self._read(1, deadline)
                if self._frame(answer, self.sequence)[-1:] != checksum or answer[:1] != body[:1]:
                    raise _lost()
                if len(answer) < 2 or answer[1] != STATUS_CMD_OK:
                    raise _lost()
                return answer[2:]
        except _Silence:
            raise _lost() from None

    def sync(self, resets: int = SYNC_RESETS) -> None:
        """Reset the board and sign on (CMD_SIGN_ON answered "AVRISP_2"). The bootloader takes sequence number 1
        at any time, so repeats are safe."""
        def hello() -> bytes:
            self.sequence = 1
            return self._frame(bytes([CMD_SIGN_ON]), 1)

        self._sync_with(hello, lambda answer: b"AVRISP" in answer, resets)

    def confirm_sync(self) -> None:
        self.message(bytes([CMD_SIGN_ON]), seconds=0.5)

    def signature(self) -> bytes:
        return bytes(self.message(bytes([CMD_READ_SIGNATURE_ISP, 0, 0, 0, index]))[0] for index in range(3))

    def enter(self) -> None:
        self.message(bytes([CMD_ENTER_PROGMODE_ISP]) + bytes(11))

    def _load_address(self, address: int) -> None:
        word = address // 2
        self.message(bytes([CMD_LOAD_ADDRESS]) + word.to_bytes(4, "big"))

    def write_page(self, address: int, data: bytes) -> None:
        """One whole page: the bootloader erases the next page in order before it writes this one."""
        self._load_address(address)
        self.message(bytes([CMD_PROGRAM_FLASH_ISP, len(data) >> 8, len(data) & 0xFF]) + bytes(7) + data)

    def read_page(self, address: int, length: int) -> bytes:
        self._load_address(address)
        return self.message(bytes([CMD_READ_FLASH_ISP, length >> 8, length & 0xFF, 0]))[:length]

    def leave(self) -> None:
        """CMD_LEAVE_PROGMODE_ISP: the bootloader answers, waits 0.1 s, and starts the sketch."""
        self.message(bytes([CMD_LEAVE_PROGMODE_ISP, 0, 0]))
