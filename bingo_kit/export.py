"""From a (pruned) float model to the bytes a board runs: int8 quantisation, sparse blob, size report.

Everything here follows hardware/PROTOCOL.md; the section numbers in comments point into it.
`QuantizedModel.logits` is the integer reference the sketch must match bit for bit (§2.3).
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bingo_kit import protocol
from bingo_kit.boards import Board, get_board
from bingo_kit.errors import KitError
from bingo_kit.protocol import crc16  # noqa: F401  (§1; kept importable from here, where the blob is made)

MAGIC = protocol.BLOB_MAGIC                # §2.1
FORMAT_VERSION = protocol.BLOB_FORMAT_VERSION
MAX_LAYERS = protocol.BLOB_MAX_LAYERS      # §2.1: L is 1..4
MAX_WIDTH = 255                            # §2.1: every n_i is a u8, 1..255
MAX_SHIFT = protocol.BLOB_MAX_SHIFT        # §2.2
MAX_MULTIPLIER = 0xFFFF                    # §2.2: M is a u16
ENCODING_CODES = {"dense": protocol.ENCODING_DENSE, "bitmap": protocol.ENCODING_BITMAP,   # §2.2
                  "index": protocol.ENCODING_INDEX_LIST}
ENCODINGS = tuple(ENCODING_CODES)          # in §2.2's tie-break order: dense, then bitmap
_ENCODING_NAMES = {code: name for name, code in ENCODING_CODES.items()}
LAYER_HEADER = struct.Struct("<BBHH")      # §2.2: encoding, shift, multiplier, nnz
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
U32 = 2**32


class BlobError(KitError, ValueError):
    """A blob (or a model about to become one) that breaks PROTOCOL.md §2."""


# --- inputs -------------------------------------------------------------------------------------

def inputs_to_bytes(x) -> np.ndarray:
    """Pixel intensities in [0, 1] -> the u8 inputs the board sees: round(255·v) (§2.3 step 1)."""
    array = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    array = np.asarray(array, dtype=np.float64)
    return np.clip(np.floor(array * 255.0 + 0.5), 0, 255).astype(np.uint8)


# --- the integer model --------------------------------------------------------------------------

@dataclass
class QuantizedModel:
    """An int8 network exactly as the blob stores it, with the board's arithmetic as `logits`."""

    sizes: tuple[int, ...]
    weights: list[np.ndarray]          # int8 (out, in) per layer
    biases: list[np.ndarray]           # int32 (out,), in the accumulator's scale
    multipliers: list[int]             # u16 per layer; 0 for the last
    shifts: list[int]                  # 0..31 per layer; 0 for the last
    # Real-valued scales, for people (not stored in the blob): the scale of each layer's input.
    input_scales: list[float] | None = field(default=None, repr=False)

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    def logits(self, x_u8) -> np.ndarray:
        """int32 logits for u8 inputs (n0,) or (N, n0) — bit-exact with the sketch (§2.3)."""
        x = np.asarray(x_u8)
        single = x.ndim == 1
        if x.dtype != np.uint8:
            raise BlobError("Model inputs must be bytes (uint8); convert pixels with inputs_to_bytes(x) first.")
        if x.shape[-1] != self.sizes[0]:
            raise BlobError(f"The model takes {self.sizes[0]} inputs, but got {x.shape[-1]}.")
        activations = np.atleast_2d(x).astype(np.int64)
        last = self.n_layers - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            acc = activations @ weight.astype(np.int64).T + bias.astype(np.int64)
            acc = _wrap_int32(acc)  # the board accumulates in i32
            if i == last:
                out = acc.astype(np.int32)
                return out[0] if single else out
            activations = _relu_requantize(acc, self.multipliers[i], self.shifts[i])
        raise AssertionError("unreachable")

    def predict(self, x_u8) -> np.ndarray:
        """Class per input; ties go to the lowest index (§2.3 step 5, and what np.argmax does)."""
        return np.argmax(self.logits(x_u8), axis=-1).astype(np.int64)


def _wrap_int32(values: np.ndarray) -> np.ndarray:
    return (values + 2**31) % U32 - 2**31


def _relu_requantize(acc: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """§2.3 step 3: acc ≤ 0 -> 0, else min(255, (acc·M + R) >> s) in u32 (wrapping, as the board)."""
    rounding = (1 << (shift - 1)) if shift > 0 else 0
    scaled = ((acc * multiplier + rounding) % U32) >> shift
    return np.where(acc > 0, np.minimum(scaled, 255), 0).astype(np.int64)


# --- quantisation -------------------------------------------------------------------------------

def _linear_layers(model) -> list:
    """The model's nn.Linear layers in order (TinyMLP.layers, or any stack of nn.Linear)."""
    import torch

    if isinstance(model, QuantizedModel):
        raise TypeError("expected a float model, got a QuantizedModel")
    layers = list(model.layers) if hasattr(model, "layers") else [
        m for m in model.modules() if isinstance(m, torch.nn.Linear)
    ]
    if not layers:
        raise BlobError("This model has no Linear layers to export.")
    return layers


def _float_weights(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight, bias) as float64 arrays, with pruned weights exactly zero."""
    layers = _linear_layers(model)
    # TinyMLP.current_weights() recomputes weight_orig·mask; torch refreshes `layer.weight` only on forward.
    masked = model.current_weights() if hasattr(model, "current_weights") else [layer.weight for layer in layers]
    pairs = []
    for layer, weight in zip(layers, masked):
        weight = weight.detach().cpu().double().numpy()
        bias = (layer.bias.detach().cpu().double().numpy() if layer.bias is not None
                else np.zeros(weight.shape[0]))
        pairs.append((weight, bias))
    return pairs


def _check_shapes(sizes: tuple[int, ...]) -> None:
    if not 1 <= len(sizes) - 1 <= MAX_LAYERS:
        raise BlobError(f"The board runs 1 to {MAX_LAYERS} layers; this model has {len(sizes) - 1}.")
    too_wide = [n for n in sizes if not 1 <= n <= MAX_WIDTH]
    if too_wide:
        raise BlobError(
            f"Every layer must have 1 to {MAX_WIDTH} units for the board, but this model has {too_wide[0]} "
            f"(sizes {tuple(sizes)}). Use 8×8 inputs (digits, or downsample=True) and smaller hidden layers."
        )


def _weight_scale(weight: np.ndarray) -> float:
    """Per-layer symmetric scale: the largest |w| maps to 127 (−128 unused, so the range is symmetric)."""
    largest = float(np.max(np.abs(weight))) if weight.size else 0.0
    return largest / 127.0 if largest > 0 else 1.0


def quantize_weight(weight: np.ndarray) -> tuple[np.ndarray, float]:
    """Symmetric per-layer int8: (int8 weights, scale) with weight ≈ int8 · scale."""
    scale = _weight_scale(weight)
    return np.clip(np.rint(weight / scale), -127, 127).astype(np.int8), scale


def _choose_multiplier(real_multiplier: float, worst_acc: int) -> tuple[int, int]:
    """(M, s) with M / 2^s ≈ real_multiplier, as precise as a u16 allows, and no u32 overflow (§2.3, §2.4 step 5).

    Larger shifts give more precision, so try them first; the first that keeps M in a u16 and
    worst_acc·M + R below 2^32 wins.
    """
    for shift in range(MAX_SHIFT, -1, -1):
        multiplier = round(real_multiplier * 2**shift)
        if multiplier > MAX_MULTIPLIER:
            continue
        if multiplier < 1:
            break  # smaller shifts only shrink it further: the layer's output is (almost) always 0
        rounding = (1 << (shift - 1)) if shift else 0
        if worst_acc * multiplier + rounding < U32:
            return multiplier, shift
    if real_multiplier * 2**MAX_SHIFT < 1:
        return 1, MAX_SHIFT   # rounds every accumulator to 0 or 1; worst_acc < 2^31 + 2^23 keeps u32 safe
    # Huge multiplier: clamp it so the product cannot overflow (outputs saturate at 255 anyway).
    return max(1, min(MAX_MULTIPLIER, round(real_multiplier), (U32 - 1) // max(worst_acc, 1))), 0


def _worst_positive_acc(weight_q: np.ndarray, bias_q: np.ndarray) -> int:
    """max over rows of max(bias,0) + 255·Σ max(W,0): the largest accumulator a u8 input can produce."""
    positive = np.clip(weight_q.astype(np.int64), 0, None).sum(axis=1)
    return int(np.max(np.clip(bias_q.astype(np.int64), 0, None) + 255 * positive, initial=0))


def quantize(model, calibration_x, *, percentile: float = 100.0) -> QuantizedModel:
    """Quantise a float MLP (Linear, ReLU, …, Linear) to the board's integer arithmetic (§2.4, step by step).

    Weights: per-layer symmetric int8. Inputs: u8 with scale 1/255. Each hidden layer's output scale
    is calibrated on `calibration_x` (float pixels in [0, 1]): the `percentile` of its ReLU outputs
    maps to 255. Biases become int32 in the accumulator's scale (sw·sx).
    """
    import torch

    pairs = _float_weights(model)
    sizes = (pairs[0][0].shape[1],) + tuple(w.shape[0] for w, _ in pairs)
    for (w, _), n_in in zip(pairs, sizes[:-1]):
        if w.shape[1] != n_in:
            raise BlobError(f"Layer shapes do not chain: a layer takes {w.shape[1]} inputs after {n_in} outputs.")
    _check_shapes(sizes)

    x = calibration_x.detach().cpu().numpy() if isinstance(calibration_x, torch.Tensor) else calibration_x
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != sizes[0]:
        raise BlobError(f"The model takes {sizes[0]} inputs but the calibration data has shape {x.shape}: "
                        "use the dataset the model was trained on (8×8 images: downsample=True).")
    # Calibrate on what the board will see: the inputs after rounding to bytes.
    activations = inputs_to_bytes(x) / 255.0
    if activations.shape[0] == 0:
        raise BlobError("Calibration needs at least one input example.")

    input_scale = 1.0 / 255.0
    weights, biases, multipliers, shifts, input_scales = [], [], [], [], []
    for i, (weight, bias) in enumerate(pairs):
        weight_q, weight_scale = quantize_weight(weight)
        acc_scale = weight_scale * input_scale
        bias_q = np.clip(np.rint(bias / acc_scale), INT32_MIN, INT32_MAX).astype(np.int32)
        weights.append(weight_q)
        biases.append(bias_q)
        input_scales.append(input_scale)
        if i == len(pairs) - 1:
            multipliers.append(0)   # §2.2: the last layer's logits are the raw accumulators
            shifts.append(0)
            break
        activations = np.maximum(activations @ weight.T + bias, 0.0)
        top = float(np.percentile(activations, percentile)) if percentile < 100 else float(activations.max())
        output_scale = top / 255.0 if top > 0 else 1.0   # a dead layer: any scale gives zeros
        multiplier, shift = _choose_multiplier(acc_scale / output_scale, _worst_positive_acc(weight_q, bias_q))
        multipliers.append(multiplier)
        shifts.append(shift)
        input_scale = output_scale
    return QuantizedModel(sizes, weights, biases, multipliers, shifts, input_scales)


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
    _check_shapes(tuple(q.sizes))
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
    pairs = _float_weights(model_or_q)
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
        path = Path(path)
        path.write_bytes(self.blob)
        return path


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
