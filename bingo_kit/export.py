"""From a (pruned) float model to the bytes a board runs: the sparse blob, its size, and the export report.

Everything here follows hardware/PROTOCOL.md; the section numbers in comments point into it. The int8 model
and its reference forward pass live in bingo_kit.int8 (re-exported here: export is the front door).
"""
from __future__ import annotations

import binascii
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bingo_kit.board import protocol
from bingo_kit.boards import Board, get_board
from bingo_kit.int8 import (  # noqa: F401  (re-exported: export is the front door to the int8 model)
    MAX_LAYERS, MAX_MULTIPLIER, MAX_SHIFT, MAX_WIDTH, BlobError, QuantizedModel, check_shapes, float_weights,
    inputs_to_bytes, quantize, quantize_weight,
)
from bingo_kit.board.protocol import crc16  # noqa: F401  (§1; kept importable from here, where the blob is made)

MAGIC = protocol.BLOB_MAGIC                # §2.1
FORMAT_VERSION = protocol.BLOB_FORMAT_VERSION
ENCODING_CODES = {"dense": protocol.ENCODING_DENSE, "bitmap": protocol.ENCODING_BITMAP,   # §2.2
                  "index": protocol.ENCODING_INDEX_LIST}
ENCODINGS = tuple(ENCODING_CODES)          # in §2.2's tie-break order: dense, then bitmap
_ENCODING_NAMES = {code: name for name, code in ENCODING_CODES.items()}
LAYER_HEADER = struct.Struct("<BBHH")      # §2.2: encoding, shift, multiplier, nnz
FILE_MAGIC = b"BNGF"                       # §7: a .bingo file wraps the blob with its own check
FILE_VERSION = 1
FILE_HEADER = struct.Struct("<4sBHI")      # §7: magic, file version, blob length, CRC-32 of the blob


# --- the blob (§2) ------------------------------------------------------------------------------

def encoded_sizes(n_weights: int, n_rows: int, nnz: int) -> dict[str, int]:
    """Bytes of the weight section per encoding (§2.2 table)."""
    return {"dense": n_weights, "bitmap": math.ceil(n_weights / 8) + nnz, "index": n_rows + 2 * nnz}


def choose_encoding(weight_q: np.ndarray) -> str:
    """The smallest encoding; ties prefer dense, then bitmap (§2.2) — min() keeps the first of equals."""
    out, n_in = weight_q.shape
    options = encoded_sizes(out * n_in, out, int(np.count_nonzero(weight_q)))
    return min(ENCODINGS, key=lambda name: options[name])


def _encode_layer(weight_q: np.ndarray, bias_q: np.ndarray, multiplier: int, shift: int, encoding: str) -> bytes:
    flat = weight_q.astype(np.int8).reshape(-1)
    stored = flat if encoding == "dense" else flat[flat != 0]   # row-major either way (§2.2)
    if encoding == "dense":
        section = b""
    elif encoding == "bitmap":
        section = np.packbits(flat != 0, bitorder="little").tobytes()   # bit k -> byte k//8, bit k%8
    else:
        section = b"".join(
            bytes([int(np.count_nonzero(row))]) + np.flatnonzero(row).astype(np.uint8).tobytes()
            for row in weight_q
        )
    header = LAYER_HEADER.pack(ENCODING_CODES[encoding], shift, multiplier, stored.size)
    return header + bias_q.astype("<i4").tobytes() + section + stored.tobytes()


def encode_blob(q: QuantizedModel, *, encoding: str | None = None) -> bytes:
    """The model as PROTOCOL.md §2 bytes; each layer in its smallest encoding unless `encoding` forces one."""
    _check_quantized(q)
    if encoding is not None and encoding not in ENCODINGS:
        raise BlobError(f"Unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}.")
    parts = [MAGIC, bytes([FORMAT_VERSION, q.n_layers]), bytes(q.sizes)]
    for weight, bias, multiplier, shift in zip(q.weights, q.biases, q.multipliers, q.shifts):
        parts.append(_encode_layer(weight, bias, multiplier, shift, encoding or choose_encoding(weight)))
    return b"".join(parts)


def blob_encodings(q: QuantizedModel) -> list[str]:
    return [choose_encoding(w) for w in q.weights]


def _check_quantized(q: QuantizedModel) -> None:
    check_shapes(tuple(q.sizes))
    for i, (weight, bias) in enumerate(zip(q.weights, q.biases)):
        expected = (q.sizes[i + 1], q.sizes[i])
        if weight.shape != expected or bias.shape != (expected[0],):
            raise BlobError(f"Layer {i} has shape {weight.shape}, expected {expected} from sizes {q.sizes}.")
        if not 0 <= q.multipliers[i] <= MAX_MULTIPLIER or not 0 <= q.shifts[i] <= MAX_SHIFT:
            raise BlobError(f"Layer {i}: multiplier must be 0..65535 and shift 0..31.")


class _Reader:
    """Walks a blob, turning 'ran out of bytes' into a clear BlobError."""

    def __init__(self, blob: bytes):
        self.blob, self.offset = blob, 0

    def take(self, n: int, what: str) -> bytes:
        if self.offset + n > len(self.blob):
            raise BlobError(
                f"The model file is cut short: it ends at byte {len(self.blob)} while reading {what}. "
                "Export it again."
            )
        chunk = self.blob[self.offset:self.offset + n]
        self.offset += n
        return chunk


def decode_blob(blob: bytes) -> QuantizedModel:
    """Parse and fully validate a blob, with the same checks (and order) as the board's COMMIT (§5.2)."""
    blob = bytes(blob)
    reader = _Reader(blob)
    if reader.take(4, "the magic bytes") != MAGIC:
        raise BlobError("This is not a BINGO model (it does not start with 'BNGO'). Export one with bingo-kit export.")
    version, n_layers = reader.take(2, "the header")
    if version != FORMAT_VERSION:
        raise BlobError(f"This model uses blob format {version}; this kit reads format {FORMAT_VERSION}. "
                        "Export it again with this version of bingo-kit.")
    if not 1 <= n_layers <= MAX_LAYERS:
        raise BlobError(f"Bad model: it claims {n_layers} layers; the format allows 1 to {MAX_LAYERS}.")
    sizes = tuple(reader.take(n_layers + 1, "the layer sizes"))
    if 0 in sizes:
        raise BlobError(f"Bad model: a layer has 0 units (sizes {sizes}).")

    weights, biases, multipliers, shifts = [], [], [], []
    for i in range(n_layers):
        n_in, out = sizes[i], sizes[i + 1]
        encoding_code, shift, multiplier, nnz = LAYER_HEADER.unpack(reader.take(6, f"layer {i}'s header"))
        if encoding_code not in _ENCODING_NAMES:
            raise BlobError(f"Bad model: layer {i} has unknown encoding {encoding_code} (0, 1 or 2 allowed).")
        if shift > MAX_SHIFT:
            raise BlobError(f"Bad model: layer {i} has shift {shift}; the largest allowed is {MAX_SHIFT}.")
        if i == n_layers - 1 and (shift or multiplier):
            raise BlobError("Bad model: the last layer must have shift 0 and multiplier 0.")
        if nnz > out * n_in:
            raise BlobError(f"Bad model: layer {i} stores {nnz} weights but has only {out * n_in}.")
        bias = np.frombuffer(reader.take(4 * out, f"layer {i}'s biases"), dtype="<i4").astype(np.int32)
        mask = _decode_positions(reader, _ENCODING_NAMES[encoding_code], i, out, n_in, nnz)
        values = np.frombuffer(reader.take(nnz, f"layer {i}'s weights"), dtype=np.int8)
        weight = np.zeros(out * n_in, dtype=np.int8)
        weight[mask] = values
        weights.append(weight.reshape(out, n_in))
        biases.append(bias)
        multipliers.append(multiplier)
        shifts.append(shift)
    if reader.offset != len(blob):
        raise BlobError(f"Bad model: {len(blob) - reader.offset} unexpected bytes after the last layer.")
    return QuantizedModel(sizes, weights, biases, multipliers, shifts)


def _decode_positions(reader: _Reader, encoding: str, i: int, out: int, n_in: int, nnz: int) -> np.ndarray:
    """Boolean mask (row-major) of which weights the record stores, checked against `nnz` (§2.2)."""
    n_weights = out * n_in
    if encoding == "dense":
        if nnz != n_weights:
            raise BlobError(f"Bad model: layer {i} is dense but stores {nnz} of {n_weights} weights.")
        return np.ones(n_weights, dtype=bool)
    if encoding == "bitmap":
        bitmap = np.frombuffer(reader.take(math.ceil(n_weights / 8), f"layer {i}'s bitmap"), dtype=np.uint8)
        bits = np.unpackbits(bitmap, bitorder="little").astype(bool)
        if bits[n_weights:].any():
            raise BlobError(f"Bad model: layer {i}'s bitmap has padding bits set.")
        if int(bits.sum()) != nnz:
            raise BlobError(f"Bad model: layer {i}'s bitmap marks {int(bits.sum())} weights but nnz is {nnz}.")
        return bits[:n_weights]
    mask = np.zeros((out, n_in), dtype=bool)
    total = 0
    for row in range(out):
        count = reader.take(1, f"layer {i}'s index list")[0]
        columns = np.frombuffer(reader.take(count, f"layer {i}'s index list"), dtype=np.uint8).astype(int)
        if count and (columns.max() >= n_in or np.any(np.diff(columns) <= 0)):
            raise BlobError(f"Bad model: layer {i} row {row} has column indices out of order or out of range.")
        mask[row, columns] = True
        total += count
    if total != nnz:
        raise BlobError(f"Bad model: layer {i}'s index list holds {total} weights but nnz is {nnz}.")
    return mask.reshape(-1)


# --- sizes and the export report ----------------------------------------------------------------

@dataclass
class ModelSizes:
    float_bytes: int        # float32 parameters as stored: pruned zeros still take 4 bytes each
    int8_dense_bytes: int   # the blob with every layer dense: 1 byte per weight, zeros included
    blob_bytes: int         # the blob with the smallest encoding per layer: where pruning pays off
    encodings: list[str]


def _as_quantized_weights(model_or_q) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """Sizes and int8 weights; a float model's weights quantise without calibration (only biases need it)."""
    if isinstance(model_or_q, QuantizedModel):
        return tuple(model_or_q.sizes), model_or_q.weights
    pairs = float_weights(model_or_q)
    sizes = (pairs[0][0].shape[1],) + tuple(w.shape[0] for w, _ in pairs)
    return sizes, [quantize_weight(w)[0] for w, _ in pairs]


def model_sizes(model_or_q) -> ModelSizes:
    """Three sizes for one model — the lesson: pruning alone doesn't shrink a file; a sparse encoding does."""
    sizes, weights = _as_quantized_weights(model_or_q)
    n_params = sum(w.size + w.shape[0] for w in weights)
    header = len(MAGIC) + 2 + len(sizes)
    per_layer = [LAYER_HEADER.size + 4 * w.shape[0] for w in weights]
    dense = header + sum(p + w.size for p, w in zip(per_layer, weights))
    encodings = [choose_encoding(w) for w in weights]
    sparse = header + sum(
        p + encoded_sizes(w.size, w.shape[0], int(np.count_nonzero(w)))[e]
        for p, w, e in zip(per_layer, weights, encodings)
    )
    return ModelSizes(4 * n_params, dense, sparse, encodings)


def blob_size(model_or_q) -> int:
    """Bytes of the blob `encode_blob` would write for this model (float or quantised)."""
    return model_sizes(model_or_q).blob_bytes


@dataclass
class ExportReport:
    blob: bytes
    size: int
    board: Board
    capacity: int
    fits: bool
    float_bytes: int
    int8_dense_bytes: int
    encodings: list[str]
    quantized: QuantizedModel = field(repr=False)
    accuracy_float: float | None = None
    accuracy_int8: float | None = None

    @property
    def over_by(self) -> int:
        """Bytes too many for the board (0 when it fits)."""
        return max(0, self.size - self.capacity)

    def summary(self) -> str:
        lines = [
            f"float32 model: {self.float_bytes} bytes; int8 dense: {self.int8_dense_bytes} bytes; "
            f"sparse blob: {self.size} bytes ({', '.join(self.encodings)})",
        ]
        if self.fits:
            lines.append(f"fits on {self.board.name}: {self.size} of {self.capacity} bytes "
                         f"({self.capacity - self.size} to spare)")
        else:
            lines.append(f"does NOT fit on {self.board.name}: {self.size} bytes, capacity {self.capacity} — "
                         f"{self.over_by} bytes too many; prune more weights")
        if self.accuracy_float is not None and self.accuracy_int8 is not None:
            lines.append(f"test accuracy: float {100 * self.accuracy_float:.1f}%, "
                         f"int8 {100 * self.accuracy_int8:.1f}%")
        return "\n".join(lines)

    def save(self, path: str | Path) -> Path:
        """Write the .bingo file (§7: the blob with its own check); read it back with read_model_file."""
        from bingo_kit.user_files import write_file

        return write_file(path, model_file_bytes(self.blob), "the .bingo model", "model.bingo")


# --- the .bingo file (§7) --------------------------------------------------------------------------

def model_file_bytes(blob: bytes) -> bytes:
    """§7: what a .bingo file holds, the blob behind a header with its length and CRC-32 (zlib's, as PNG and zip
    files carry: binascii.crc32), so that a damaged file is refused instead of flashed."""
    blob = bytes(blob)
    return FILE_HEADER.pack(FILE_MAGIC, FILE_VERSION, len(blob), binascii.crc32(blob)) + blob


@dataclass
class ModelFile:
    """A .bingo file as read: the blob, and whether the file's own check vouched for it (False: an old file
    that is a bare blob, with no check of its own)."""

    blob: bytes
    checked: bool

    def note(self, path) -> str | None:
        """The sentence to show when the file could not be checked, else None."""
        if self.checked:
            return None
        return (f"{path} has no checksum (an older bingo-kit wrote it), so damage to it cannot be noticed: it is "
                f"used as it is. Export the model again to give it one.")


def read_model_file(path) -> ModelFile:
    """Read a .bingo file (§7) and check it: a damaged, cut-short or foreign file is a BlobError in one sentence.

    A bare blob (§2, what bingo-kit wrote before the file had its own check) is still read -- refusing it would
    strand a student who has only that file -- but comes back with checked=False (see ModelFile.note)."""
    from bingo_kit.user_files import read_file

    again = f"Export the model again (bingo-kit export model.pt -o {path})."
    data = read_file(path, "a .bingo model file", f"Make one with: bingo-kit export model.pt -o {path}",
                     "model.bingo")
    if data[:4] == MAGIC:
        return ModelFile(data, checked=False)
    if data[:4] != FILE_MAGIC:
        raise BlobError(f"{path} is not a .bingo model file (it does not start with 'BNGF'). {again}")
    if len(data) < FILE_HEADER.size:
        raise BlobError(f"{path} is cut short: it ends inside its header. {again}")
    _, version, length, crc = FILE_HEADER.unpack_from(data)
    if version != FILE_VERSION:
        raise BlobError(f"{path} is a .bingo file of version {version}; this bingo-kit reads version {FILE_VERSION}. "
                        "Update bingo-kit, or export the model again with this one.")
    blob = data[FILE_HEADER.size:]
    if len(blob) != length:
        how = "cut short" if len(blob) < length else "longer than it says"
        raise BlobError(f"{path} is {how} ({len(blob)} model bytes where its header says {length}). {again}")
    if binascii.crc32(blob) != crc:
        raise BlobError(f"{path} is damaged: its bytes no longer match the checksum written into it. {again}")
    return ModelFile(blob, checked=True)


def report_for_blob(blob: bytes, board: str | Board = "uno", *, capacity: int | None = None) -> ExportReport:
    """The export report of a blob made earlier (a saved challenge entry): decoded and sized, nothing re-quantised,
    so what is sent is exactly these bytes."""
    board = get_board(board)
    blob = bytes(blob)
    q = decode_blob(blob)
    sizes = model_sizes(q)
    capacity = board.model_capacity if capacity is None else int(capacity)
    return ExportReport(blob=blob, size=len(blob), board=board, capacity=capacity, fits=len(blob) <= capacity,
                        float_bytes=sizes.float_bytes, int8_dense_bytes=sizes.int8_dense_bytes,
                        encodings=sizes.encodings, quantized=q)


def export_model(model, data=None, board: str | Board = "uno", *, calibration_x=None,
                 capacity: int | None = None) -> ExportReport:
    """Quantise, encode and size a model for `board` before anything is sent.

    Calibration uses `calibration_x`, else `data.x_train`; with neither, the bundled digits (64 inputs).
    With `data`, both accuracies on `data.x_test` are reported. `capacity` (e.g. from a connected
    board's IDENTIFY answer) overrides the board table.
    """
    board = get_board(board)
    if calibration_x is None:
        if data is None:
            from bingo_kit.data import load_dataset   # lazily: export works without the data module loaded
            calibration_x = load_dataset("digits").x_train
        else:
            calibration_x = data.x_train
    q = quantize(model, calibration_x)
    blob = encode_blob(q)
    sizes = model_sizes(q)
    capacity = board.model_capacity if capacity is None else int(capacity)
    report = ExportReport(
        blob=blob, size=len(blob), board=board, capacity=capacity, fits=len(blob) <= capacity,
        float_bytes=sizes.float_bytes, int8_dense_bytes=sizes.int8_dense_bytes, encodings=sizes.encodings,
        quantized=q,
    )
    if data is not None:
        from bingo_kit.training import accuracy

        was_training = model.training
        model.eval()
        report.accuracy_float = accuracy(model, data.x_test, data.y_test)
        model.train(was_training)
        y_test = np.asarray(data.y_test.cpu() if hasattr(data.y_test, "cpu") else data.y_test)
        report.accuracy_int8 = float(np.mean(q.predict(inputs_to_bytes(data.x_test)) == y_test))
    return report
