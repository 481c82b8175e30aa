"""Does the board agree with the laptop? The board's answers next to the host's int8 reference of the same blob.

The reference is `export.decode_blob(blob).logits(...)`, the twin of the sketch's model.h; a flashed blob is
remembered by its CRC and length (what IDENTIFY reports), so `bingo-kit predict` can find it again later.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from bingo_kit.export import decode_blob
from bingo_kit.board.answers import BoardInfo
from bingo_kit.board.board import BingoBoard, as_input_bytes
from bingo_kit.paths import cache_dir
from bingo_kit.board.protocol import FlashError, NoModelError, crc16


def _model_cache() -> Path:
    return cache_dir("models")


def remember_blob(blob: bytes) -> Path:
    """Keep a copy of a flashed blob, found again by its CRC and length (what IDENTIFY reports)."""
    path = _model_cache() / f"{crc16(blob):04x}-{len(blob)}.bingo"
    path.write_bytes(blob)
    return path


def recall_blob(info: BoardInfo) -> bytes:
    """The blob the board holds, if this computer flashed it (see remember_blob)."""
    if not info.has_model:
        raise NoModelError("There is no model on the board yet — flash one first (bingo-kit flash model.bingo).")
    path = _model_cache() / f"{info.model_crc:04x}-{info.model_length}.bingo"
    blob = path.read_bytes() if path.exists() else None
    if blob is None or crc16(blob) != info.model_crc:
        raise FlashError(f"The board holds a model ({info.model_length} bytes, CRC 0x{info.model_crc:04X}) that "
                         "this computer did not flash; pass its file with --model model.bingo.")
    return blob


@dataclass
class BoardComparison:
    """The board against the host reference on the same inputs (`bingo-kit predict --json` prints it)."""

    n: int                    # inputs run
    agreement: float          # share of inputs whose logits all match the host reference bit for bit
    accuracy: float | None    # share predicted right (None without labels)
    mean_inference_us: float  # the board's own time per inference, from its cycle count

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def compare_board_with_reference(board: BingoBoard, blob: bytes, x_u8, y=None, progress: bool = True,
                                 on_progress: Callable[[int, int], None] | None = None) -> BoardComparison:
    """Run `x_u8` on the board and on the host reference of `blob`: logit agreement, accuracy, timing.

    The board must hold exactly `blob` (same CRC and length, §5.1). `on_progress(done, total)` is called
    after each input (the flash button's progress bar).
    """
    blob = bytes(blob)
    x_u8 = np.atleast_2d(as_input_bytes(x_u8))   # before talking to the board: a float input is our mistake
    info = board.identify()
    if not info.has_model or info.model_crc != crc16(blob) or info.model_length != len(blob):
        raise FlashError("The board holds a different model than the one given — flash it first.")
    expected = decode_blob(blob).logits(x_u8)
    predictions = board.predict_many(x_u8, progress=progress, on_progress=on_progress)
    same = [p.logits == list(row) for p, row in zip(predictions, expected.tolist())]
    labels = np.array([p.label for p in predictions])
    return BoardComparison(
        n=len(predictions),
        agreement=float(np.mean(same)) if same else 0.0,
        accuracy=float(np.mean(labels == np.asarray(y))) if y is not None and len(labels) else None,
        mean_inference_us=float(np.mean([p.micros for p in predictions])) if predictions else 0.0,
    )
