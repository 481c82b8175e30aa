"""What a board says, as Python objects: the IDENTIFY answer (hardware/PROTOCOL.md §5.1), an upload's result, and
a PREDICT answer (§5.2). bingo_kit.board.board asks the questions.
"""
from __future__ import annotations

from dataclasses import dataclass

from bingo_kit.boards import Board, board_for_identify_code
from bingo_kit.board.protocol import BLOB_MAGIC, IDENTIFY_ANSWER, FlashError


class NotBingoFirmwareError(FlashError):
    """Something answers on the port, but not our sketch."""



@dataclass
class BoardInfo:
    """The IDENTIFY answer (§5.1)."""

    firmware_version: str
    blob_format: int
    board_code: int
    board: Board | None
    capacity: int
    free_ram: int
    has_model: bool
    model_length: int
    model_crc: int
    widest_layer: int
    max_chunk: int
    uploading: bool
    clock_khz: int

    @property
    def protocol_version(self) -> int:
        return self.blob_format

    @property
    def board_name(self) -> str:
        return self.board.name if self.board else "this board"


@dataclass
class UploadResult:
    bytes: int
    seconds: float
    crc: int
    eeprom_ms: int

    @property
    def bytes_per_second(self) -> float:
        return self.bytes / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class Prediction:
    label: int
    logits: list[int]
    cycles: int
    micros: float


def parse_identify(payload: bytes) -> BoardInfo:
    if len(payload) < IDENTIFY_ANSWER.size or payload[:4] != BLOB_MAGIC:
        raise NotBingoFirmwareError("The device answers, but not with the BINGO firmware. Put the receiver on it: "
                                    "bingo-kit install-firmware --port PORT --board uno (or nano, mega).")
    (_, major, minor, blob_format, board_code, capacity, free_ram, has_model, model_length, model_crc,
     widest, max_chunk, uploading, clock_khz) = IDENTIFY_ANSWER.unpack(payload[:IDENTIFY_ANSWER.size])
    return BoardInfo(f"{major}.{minor}", blob_format, board_code, board_for_identify_code(board_code), capacity,
                     free_ram, bool(has_model), model_length, model_crc, widest, max_chunk, bool(uploading),
                     clock_khz)
