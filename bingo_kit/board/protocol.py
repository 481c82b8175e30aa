"""The Python twin of hardware/bingo_receiver/protocol.h: the numbers of the BINGO wire and blob protocol.

Both files follow hardware/PROTOCOL.md (the § numbers point there) and use the same names, as emlearn pairs
eml_net.h with net.py; tests/test_protocol_twin.py reads protocol.h and fails if a constant or status code
differs or exists on one side only. The host-only rules of §4.4 (time-outs of a computer, not of the board)
are listed in HOST_ONLY. The §6 status codes map to the kit's exceptions in one table, STATUS_ERRORS.

Imports nothing beyond the standard library and bingo_kit.errors: lesson 0's setup check reads it before it
knows whether numpy or pyserial are installed.
"""
from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from enum import IntEnum

from bingo_kit.errors import KitError

FIRMWARE_MAJOR = 1   # the bingo_receiver sketch shipped with this kit (§5.1 offsets 4, 5)
FIRMWARE_MINOR = 0

# §4 frames
BAUD_RATE = 115_200            # §4: 8 data bits, no parity, 1 stop bit
REQUEST_SYNC = 0xA5            # §4.1
RESPONSE_SYNC = 0x5A           # §4.2
MAX_REQUEST_PAYLOAD = 59       # §4.1: 3 + 59 + 2 = 64 bytes per request
FRAME_BYTE_TIMEOUT_MS = 50     # §4.3
UPLOAD_IDLE_TIMEOUT_MS = 2000  # §5.2
PREDICT_MAX_LOGITS = 62        # §5.2: 6 + 4·62 = 254 bytes, the PREDICT answer fits one response
IDENTIFY_ANSWER_BYTES = 22     # §5.1

# §5 commands
CMD_NONE = 0x00                # §4.2: the command byte of answers to framing errors
CMD_IDENTIFY = 0x49
CMD_UPLOAD_BEGIN = 0x42
CMD_UPLOAD_CHUNK = 0x43
CMD_UPLOAD_COMMIT = 0x4D
CMD_UPLOAD_ABORT = 0x41
CMD_PREDICT = 0x50


class Status(IntEnum):
    """§6 status codes, named as in protocol.h's `enum Status`."""

    OK = 0x00
    E_FRAME_CRC = 0x01
    E_FRAME_LENGTH = 0x02
    E_FRAME_TIMEOUT = 0x03
    E_UNKNOWN_COMMAND = 0x04
    E_BAD_LENGTH = 0x05
    E_TOO_BIG = 0x06
    E_NOT_UPLOADING = 0x07
    E_OVERFLOW = 0x08
    E_INCOMPLETE = 0x09
    E_CHECKSUM = 0x0A
    E_BAD_MAGIC = 0x0B
    E_BAD_VERSION = 0x0C
    E_BAD_MODEL = 0x0D
    E_TOO_WIDE = 0x0E
    E_NO_MODEL = 0x0F
    E_EEPROM = 0x10


# §2 blob
BLOB_MAGIC = b"BNGO"           # §2.1
BLOB_FORMAT_VERSION = 1        # §2.1
BLOB_MAX_LAYERS = 4            # §2.1
BLOB_MAX_SHIFT = 31            # §2.2
ENCODING_DENSE = 0             # §2.2
ENCODING_BITMAP = 1
ENCODING_INDEX_LIST = 2

# §3 EEPROM record: u16 length, u16 CRC, blob
EEPROM_HEADER_BYTES = 4
EEPROM_EMPTY_LENGTH = 0xFFFF


@dataclass(frozen=True)
class BoardLimits:
    """What the sketch reports for one microcontroller (§5.1 offsets 7, 8, 17): protocol.h's #if blocks."""

    board_code: int
    model_capacity: int
    widest_layer: int


BOARD_LIMITS: dict[str, BoardLimits] = {
    "ATmega2560": BoardLimits(board_code=2, model_capacity=4092, widest_layer=255),
    # 2 KB of SRAM: the model buffer, 3 activation buffers and the logits must leave room for the stack.
    "ATmega328P": BoardLimits(board_code=1, model_capacity=1020, widest_layer=64),
}
OTHER_BOARD_CODE = 0           # §5.1 offset 7: any other microcontroller

# §4.4: the host's rules. A computer's time-outs, not the board's, so they have no twin in protocol.h.
BOOT_QUIET_SECONDS = 2.0       # silence after opening a port that resets the board
HANDSHAKE_SECONDS = 4.0        # IDENTIFY tries for at most this long (a simulator: from when its pty exists)
HANDSHAKE_RETRY_SECONDS = 0.25
RESPONSE_TIMEOUT = 0.5         # per response from a board
SIM_RESPONSE_TIMEOUT = 1.5     # per response from a simulated board, a process a busy computer can starve
PAGE_RESPONSE_TIMEOUT = 5.0    # per response from the Uno in a notebook page: kernel, server, network, browser
COMMIT_TIMEOUT = 3.0           # UPLOAD_COMMIT: this plus COMMIT_SECONDS_PER_BYTE per blob byte
COMMIT_SECONDS_PER_BYTE = 0.0034   # an ATmega EEPROM byte write takes ~3.4 ms
HOST_ONLY = ("BOOT_QUIET_SECONDS", "HANDSHAKE_SECONDS", "HANDSHAKE_RETRY_SECONDS", "RESPONSE_TIMEOUT",
             "SIM_RESPONSE_TIMEOUT", "PAGE_RESPONSE_TIMEOUT", "COMMIT_TIMEOUT", "COMMIT_SECONDS_PER_BYTE")

# §5.1: magic, major, minor, blob format, board, capacity, free RAM, has model, length, CRC, widest layer,
# max chunk, uploading, clock in kHz
IDENTIFY_ANSWER = struct.Struct("<4sBBBBHHBHHBBBH")


def crc16(data: bytes) -> int:
    """§1 CRC-16/CCITT-FALSE, what frames, uploads and the EEPROM record carry (avr-libc: _crc_xmodem_update)."""
    return binascii.crc_hqx(bytes(data), 0xFFFF)


def request_frame(command: int, payload: bytes = b"") -> bytes:
    """§4.1: sync, command, length, payload, CRC of command..payload."""
    body = bytes([command, len(payload)]) + bytes(payload)
    return bytes([REQUEST_SYNC]) + body + struct.pack("<H", crc16(body))


# --- §6 status codes as exceptions -------------------------------------------------------------------

class FlashError(KitError):
    """Something went wrong talking to a board; the message says what to do."""


class BoardError(FlashError):
    """The board answered with an error status (§6); `code` is that status."""

    code: int = -1
    default_message = "The board reported an error."

    def __init__(self, message: str | None = None, code: int | None = None):
        super().__init__(message or self.default_message)
        if code is not None:
            self.code = code


class ModelTooBigError(BoardError):
    """The model is larger than the board can store."""

    default_message = "The model is larger than this board's capacity — prune more weights."

    def __init__(self, size: int, capacity: int, board_name: str = "this board"):
        self.size, self.capacity = size, capacity
        super().__init__(
            f"The model is {size} bytes but {board_name} holds at most {capacity}: {size - capacity} bytes too "
            "many. Prune more weights (or pick a bigger board) and export again."
        )


class ChecksumRejectedError(BoardError):
    """The board's CRC of the uploaded bytes differs from ours."""

    default_message = ("The board rejected the model's checksum — the upload was damaged on the way. "
                       "Check the cable and flash again; the previous model is still on the board.")


def _status_error(name: str, message: str) -> type[BoardError]:
    return type(name, (BoardError,), {"__doc__": message, "default_message": message, "__module__": __name__})


FrameCrcError = _status_error("FrameCrcError", "A message arrived damaged — check the USB cable.")
FrameLengthError = _status_error(
    "FrameLengthError", "The board received a message that was too long — check the USB cable and flash again.")
FrameTimeoutError = _status_error(
    "FrameTimeoutError", "A message stopped half-way (more than 50 ms gap) — check the USB cable and flash again.")
UnknownCommandError = _status_error(
    "UnknownCommandError", "The board does not know this command — flash the latest bingo_receiver sketch.")
BadLengthError = _status_error(
    "BadLengthError", "The board got the wrong number of bytes for this command — export the model again and "
                      "flash it.")
NotUploadingError = _status_error("NotUploadingError", "The board was not expecting model data — flash again.")
UploadOverflowError = _status_error(
    "UploadOverflowError", "More model bytes were sent than announced — check the USB cable and flash again.")
IncompleteUploadError = _status_error(
    "IncompleteUploadError", "The upload ended before all bytes arrived — check the USB cable and flash again.")
BadMagicError = _status_error(
    "BadMagicError", "The board says this is not a BINGO model — export the model again (bingo-kit export) and "
                     "flash that file.")
BadVersionError = _status_error(
    "BadVersionError", "The board's firmware does not support this model format — flash the latest sketch.")
BadModelError = _status_error(
    "BadModelError", "The board found the model's structure inconsistent — export the model again and flash the "
                     "new file.")
TooWideError = _status_error("TooWideError", "A layer is wider than this board's memory allows — use fewer units.")
NoModelError = _status_error("NoModelError", "There is no model on the board yet — flash one first.")
EepromError = _status_error(
    "EepromError", "The board's EEPROM did not read back what was written, so the board may now hold no model — "
                   "flash again; if it keeps failing, the board's EEPROM may be worn out (try another board).")

# The one table from a C status name to the kit's exception; each class's `code` comes from here.
STATUS_ERRORS: dict[Status, type[BoardError]] = {
    Status.E_FRAME_CRC: FrameCrcError,
    Status.E_FRAME_LENGTH: FrameLengthError,
    Status.E_FRAME_TIMEOUT: FrameTimeoutError,
    Status.E_UNKNOWN_COMMAND: UnknownCommandError,
    Status.E_BAD_LENGTH: BadLengthError,
    Status.E_TOO_BIG: ModelTooBigError,
    Status.E_NOT_UPLOADING: NotUploadingError,
    Status.E_OVERFLOW: UploadOverflowError,
    Status.E_INCOMPLETE: IncompleteUploadError,
    Status.E_CHECKSUM: ChecksumRejectedError,
    Status.E_BAD_MAGIC: BadMagicError,
    Status.E_BAD_VERSION: BadVersionError,
    Status.E_BAD_MODEL: BadModelError,
    Status.E_TOO_WIDE: TooWideError,
    Status.E_NO_MODEL: NoModelError,
    Status.E_EEPROM: EepromError,
}
for _status, _error in STATUS_ERRORS.items():
    _error.code = _status
del _status, _error
