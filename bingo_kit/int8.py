"""The integer model a board runs: float weights quantised to int8, and the reference forward pass in whole
numbers that the sketch (hardware/bingo_receiver/model.h) must match bit for bit.

Everything follows hardware/PROTOCOL.md (§2.3 the arithmetic, §2.4 the quantisation rule); section numbers in
comments point into it. export.py turns a QuantizedModel into the blob's bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bingo_kit.errors import KitError
from bingo_kit.board.protocol import BLOB_MAX_LAYERS as MAX_LAYERS  # §2.1: L is 1..4
from bingo_kit.board.protocol import BLOB_MAX_SHIFT as MAX_SHIFT    # §2.2

MAX_WIDTH = 255          # §2.1: every n_i is a u8, 1..255
MAX_MULTIPLIER = 0xFFFF  # §2.2: M is a u16
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


def float_weights(model) -> list[tuple[np.ndarray, np.ndarray]]:
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


def check_shapes(sizes: tuple[int, ...]) -> None:
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

    pairs = float_weights(model)
    sizes = (pairs[0][0].shape[1],) + tuple(w.shape[0] for w, _ in pairs)
    for (w, _), n_in in zip(pairs, sizes[:-1]):
        if w.shape[1] != n_in:
            raise BlobError(f"Layer shapes do not chain: a layer takes {w.shape[1]} inputs after {n_in} outputs.")
    check_shapes(sizes)

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
