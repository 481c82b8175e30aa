"""bingo_kit.export against hardware/PROTOCOL.md §2: quantisation, the integer reference, the blob."""
from __future__ import annotations

import binascii
import copy
import math
import struct

import numpy as np
import pytest
import torch

from bingo_kit.boards import get_board
from bingo_kit.errors import KitError
from bingo_kit.export import (
    BlobError, QuantizedModel, blob_size, choose_encoding, crc16, decode_blob, encode_blob, export_model,
    inputs_to_bytes, model_sizes, quantize,
)
from bingo_kit.models import make_mlp
from bingo_kit.pruning import prune_fraction
from bingo_kit.training import train


# --- fixtures: the session's trained digits model (tests/conftest.py: digits, trained_mlp), dense and
# pruned by the kit's own pruner --------------------------------------------------------------------

@pytest.fixture(scope="module")
def dense_model(trained_mlp):
    return copy.deepcopy(trained_mlp).eval()   # a copy: the session model is shared with other test files


@pytest.fixture(scope="module")
def pruned_model(trained_mlp, digits):
    model = copy.deepcopy(trained_mlp)
    prune_fraction(model, 0.6, method="magnitude")
    train(model, digits, epochs=10, seed=1, progress=False)   # fine-tune the survivors
    return model.eval()


def _random_quantized(sizes, density, seed, multipliers=None, shifts=None):
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for n_in, out in zip(sizes[:-1], sizes[1:]):
        w = rng.integers(-127, 128, size=(out, n_in)).astype(np.int8)
        w[rng.random((out, n_in)) >= density] = 0
        weights.append(w)
        biases.append(rng.integers(-30000, 30000, size=out).astype(np.int32))
    n = len(weights)
    multipliers = multipliers or [int(rng.integers(1, 2**12)) for _ in range(n - 1)] + [0]
    shifts = shifts or [int(rng.integers(10, 24)) for _ in range(n - 1)] + [0]
    return QuantizedModel(tuple(sizes), weights, biases, multipliers, shifts)


def _scalar_reference_logits(q: QuantizedModel, x: bytes) -> list[int]:
    """§2.3 read literally, one integer at a time, as the board's C does (u32/i32 wrap-around included)."""
    activations = list(x)
    for i, (weight, bias) in enumerate(zip(q.weights, q.biases)):
        outputs = []
        for r in range(weight.shape[0]):
            acc = int(bias[r]) + sum(int(weight[r, c]) * activations[c] for c in range(weight.shape[1]))
            acc = (acc + 2**31) % 2**32 - 2**31
            if i == q.n_layers - 1:
                outputs.append(acc)
            elif acc <= 0:
                outputs.append(0)
            else:
                s = q.shifts[i]
                rounding = 2 ** (s - 1) if s > 0 else 0
                outputs.append(min(255, ((acc * q.multipliers[i] + rounding) % 2**32) >> s))
        activations = outputs
    return activations


# --- §1 checksum and §2.3 inputs --------------------------------------------------------------------

def test_crc_is_ccitt_false_with_the_documented_check_value():
    assert crc16(b"123456789") == 0x29B1 == binascii.crc_hqx(b"123456789", 0xFFFF)


def test_inputs_to_bytes_rounds_and_clips():
    x = torch.tensor([[0.0, 1.0, 0.5, 0.2, -0.3, 1.7]])
    assert inputs_to_bytes(x).tolist() == [[0, 255, 128, 51, 0, 255]]
    assert inputs_to_bytes(np.array([1 / 255, 2 / 255])).dtype == np.uint8


# --- the integer reference (§2.3) -------------------------------------------------------------------

def test_hand_worked_example():
    # 2 inputs -> 2 hidden -> 2 classes, numbers small enough to check on paper.
    q = QuantizedModel(
        sizes=(2, 2, 2),
        weights=[np.array([[2, -1], [-3, 1]], np.int8), np.array([[1, 0], [0, 1]], np.int8)],
        biases=[np.array([5, 0], np.int32), np.array([0, 3], np.int32)],
        multipliers=[3, 0], shifts=[2, 0],
    )
    x = np.array([10, 4], np.uint8)
    # hidden 0: acc = 5 + 20 - 4 = 21 -> (21·3 + 2) >> 2 = 65 >> 2 = 16; hidden 1: acc = -30 + 4 < 0 -> 0
    # logits: [16 + 0, 0 + 3]
    assert q.logits(x).tolist() == [16, 3]
    assert q.predict(x) == 0
    # saturation at 255: acc = 5 + 2·255 - 0 = 515 -> (515·3 + 2) >> 2 = 386 -> 255
    assert q.logits(np.array([255, 0], np.uint8)).tolist() == [255, 3]


def test_ties_go_to_the_lowest_class():
    q = QuantizedModel((1, 3), [np.zeros((3, 1), np.int8)], [np.array([7, 9, 9], np.int32)], [0], [0])
    assert q.predict(np.array([[0]], np.uint8)).tolist() == [1]


@pytest.mark.parametrize("seed", range(4))
def test_vectorised_reference_equals_literal_reading_of_the_spec(seed):
    # Big multipliers on purpose: the u32 product wraps, and the reference must wrap exactly like the board.
    q = _random_quantized((12, 9, 7, 4), density=0.6, seed=seed,
                          multipliers=[60000, 40000, 0], shifts=[31, 5, 0])
    rng = np.random.default_rng(100 + seed)
    x = rng.integers(0, 256, size=(40, 12)).astype(np.uint8)
    expected = [_scalar_reference_logits(q, bytes(row)) for row in x]
    assert q.logits(x).tolist() == expected
    assert q.logits(x).dtype == np.int32


def test_logits_reject_float_inputs_and_wrong_width():
    q = _random_quantized((4, 3, 2), 1.0, 0)
    with pytest.raises(KitError, match="inputs_to_bytes"):
        q.logits(np.zeros(4, np.float32))
    with pytest.raises(KitError, match="takes 4 inputs"):
        q.logits(np.zeros(5, np.uint8))


# --- quantisation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["dense_model", "pruned_model"])
def test_int8_accuracy_within_one_point_of_float(which, digits, request):
    model = request.getfixturevalue(which)
    report = export_model(model, digits, board="mega")
    assert report.accuracy_float > 0.85, "the fixture model should have learned the digits"
    assert abs(report.accuracy_int8 - report.accuracy_float) <= 0.01, report.summary()


def test_quantize_keeps_pruned_weights_zero_and_uses_the_int8_range(pruned_model, digits):
    q = quantize(pruned_model, digits.x_train)
    for layer, weight_q in zip(pruned_model.layers, q.weights):
        assert np.all(weight_q[layer.weight_mask.numpy() == 0] == 0)
        assert np.abs(weight_q.astype(int)).max() == 127   # largest |w| maps to the end of the range
        assert weight_q.min() >= -127
    assert q.multipliers[-1] == 0 and q.shifts[-1] == 0


@pytest.mark.parametrize("which", ["dense_model", "pruned_model"])
def test_no_u32_overflow_guarantee(which, digits, request):
    q = quantize(request.getfixturevalue(which), digits.x_train)
    for weight, bias, multiplier, shift in zip(q.weights[:-1], q.biases[:-1], q.multipliers, q.shifts):
        rounding = 2 ** (shift - 1) if shift else 0
        worst = np.clip(bias.astype(object), 0, None) + 255 * np.clip(weight.astype(object), 0, None).sum(axis=1)
        assert all(w * multiplier + rounding < 2**32 for w in worst)
        assert 1 <= multiplier <= 0xFFFF and 0 <= shift <= 31


def test_quantize_refuses_models_too_wide_for_the_format():
    model = make_mlp((784, 16, 10))
    with pytest.raises(BlobError, match="downsample"):
        quantize(model, torch.rand(5, 784))


def test_calibration_data_must_match_the_model():
    with pytest.raises(BlobError, match="takes 64 inputs.*downsample=True"):
        quantize(make_mlp((64, 16, 10)), torch.rand(5, 784))


def test_quantize_works_on_a_plain_linear_stack(digits):
    model = torch.nn.Sequential(torch.nn.Linear(64, 8), torch.nn.ReLU(), torch.nn.Linear(8, 10))
    q = quantize(model, digits.x_train[:100])
    assert q.sizes == (64, 8, 10)


# --- the blob (§2.1, §2.2) ------------------------------------------------------------------------

def test_blob_bytes_for_a_small_bitmap_layer():
    weight = np.array([[0, 5, 0], [-2, 0, 0]], np.int8)   # 2 of 6 stored: bitmap 1 + 2 < dense 6 < index 2+4
    q = QuantizedModel((3, 2), [weight], [np.array([1, -1], np.int32)], [0], [0])
    assert choose_encoding(weight) == "bitmap"
    expected = (b"BNGO" + bytes([1, 1, 3, 2])
                + bytes([1, 0]) + struct.pack("<HH", 0, 2) + struct.pack("<ii", 1, -1)
                + bytes([0b001010]) + struct.pack("<bb", 5, -2))
    assert encode_blob(q) == expected


def test_blob_bytes_for_a_small_index_list_layer():
    weight = np.zeros((2, 40), np.int8)
    weight[0, 3], weight[0, 39], weight[1, 7] = 9, -9, 1   # index: 2 + 6 = 8 < bitmap 10 + 3 < dense 80
    q = QuantizedModel((40, 2), [weight], [np.zeros(2, np.int32)], [0], [0])
    assert choose_encoding(weight) == "index"
    section = bytes([2, 3, 39, 1, 7]) + struct.pack("<bbb", 9, -9, 1)
    assert encode_blob(q).endswith(struct.pack("<HH", 0, 3) + bytes(8) + section)


def test_encoding_ties_prefer_dense_then_bitmap():
    # 8 weights, 4 kept: dense 8, bitmap 1 + 4 = 5, index 1 + 8 = 9 -> bitmap
    assert choose_encoding(np.array([[1, 0, 1, 0, 1, 0, 1, 0]], np.int8)) == "bitmap"
    # 1×1 weight kept: dense 1, bitmap 2, index 3 -> dense
    assert choose_encoding(np.array([[4]], np.int8)) == "dense"
    # 2×4 with 7 kept: dense 8 == bitmap 1 + 7 -> dense wins the tie
    assert choose_encoding(np.array([[1, 1, 1, 1], [1, 1, 1, 0]], np.int8)) == "dense"
    # bitmap and index tie: 8 rows × 8, none kept: bitmap 8, index 8 -> bitmap
    assert choose_encoding(np.zeros((8, 8), np.int8)) == "bitmap"


@pytest.mark.parametrize("encoding", [None, "dense", "bitmap", "index"])
@pytest.mark.parametrize("density", [0.0, 0.05, 0.3, 0.9, 1.0])
def test_encode_decode_round_trip_and_total_size(encoding, density):
    q = _random_quantized((64, 16, 10), density, seed=int(density * 100))
    blob = encode_blob(q, encoding=encoding)
    back = decode_blob(blob)
    assert back.sizes == q.sizes and back.multipliers == q.multipliers and back.shifts == q.shifts
    for a, b in zip(back.weights + back.biases, q.weights + q.biases):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).integers(0, 256, (20, 64)).astype(np.uint8)
    np.testing.assert_array_equal(back.logits(x), q.logits(x))
    # §2.2: total = 6 + (L+1) + Σ (6 + 4·out + weight section)
    sections = []
    for w in q.weights:
        nnz = int(np.count_nonzero(w))
        sizes = {"dense": w.size, "bitmap": math.ceil(w.size / 8) + nnz, "index": w.shape[0] + 2 * nnz}
        sections.append(6 + 4 * w.shape[0] + (sizes[encoding] if encoding else min(sizes.values())))
    assert len(blob) == 6 + len(q.sizes) + sum(sections)
    if encoding is None:
        assert len(blob) == blob_size(q)


# --- decode_blob validation: every §5.2 structure check has a clear error -------------------------

@pytest.fixture
def good_blob():
    q = _random_quantized((8, 5, 3), 0.4, seed=1)
    return encode_blob(q, encoding="bitmap")


def test_every_truncation_is_reported(good_blob):
    for cut in range(len(good_blob)):
        with pytest.raises(BlobError):
            decode_blob(good_blob[:cut])
    with pytest.raises(BlobError, match="cut short"):
        decode_blob(good_blob[:-1])


def _patched(blob: bytes, offset: int, value: bytes) -> bytes:
    return blob[:offset] + value + blob[offset + len(value):]


@pytest.mark.parametrize("offset, value, message", [
    (0, b"XNGO", "not a BINGO model"),
    (4, b"\x02", "format 2"),
    (5, b"\x00", "0 layers"),
    (5, b"\x05", "5 layers"),
    (6, b"\x00", "0 units"),
    (9, b"\x07", "unknown encoding"),
    (10, b"\x20", "shift 32"),
])
def test_header_errors(good_blob, offset, value, message):
    # layout: magic 0-3, version 4, L 5, sizes 6-8, then layer 0: encoding 9, shift 10, M 11-12, nnz 13-14
    with pytest.raises(BlobError, match=message):
        decode_blob(_patched(good_blob, offset, value))


def test_structure_errors():
    weight = np.array([[0, 5, 0], [-2, 0, 0]], np.int8)
    q = QuantizedModel((3, 2), [weight], [np.array([1, -1], np.int32)], [0], [0])
    blob = encode_blob(q)                                   # bitmap layer at offset 8, bitmap byte at 22
    with pytest.raises(BlobError, match="bitmap marks 3"):
        decode_blob(_patched(blob, 22, bytes([0b001011])))
    with pytest.raises(BlobError, match="padding"):
        decode_blob(_patched(blob, 22, bytes([0b1001010])))
    with pytest.raises(BlobError, match="unexpected bytes"):
        decode_blob(blob + b"\x00")
    with pytest.raises(BlobError, match="last layer"):
        decode_blob(_patched(blob, 9, b"\x03"))
    dense = encode_blob(q, encoding="dense")
    with pytest.raises(BlobError, match="dense but stores 5"):
        decode_blob(_patched(dense, 12, struct.pack("<H", 5)))
    index = encode_blob(q, encoding="index")                # rows at 22: [1, 1] [1, 0]
    assert index[22:26] == bytes([1, 1, 1, 0])
    with pytest.raises(BlobError, match="out of order or out of range"):
        decode_blob(_patched(index, 23, b"\x03"))
    with pytest.raises(BlobError, match="nnz is 2"):
        decode_blob(_patched(index, 22, b"\x00"))


def test_blob_error_is_a_kit_error():
    assert issubclass(BlobError, KitError)


# --- sizes and the export report ------------------------------------------------------------------

def test_pruning_alone_does_not_shrink_the_file_sparse_encoding_does(dense_model, pruned_model):
    dense, pruned = model_sizes(dense_model), model_sizes(pruned_model)
    assert dense.float_bytes == pruned.float_bytes == 4 * (64 * 16 + 16 + 16 * 10 + 10)
    assert dense.int8_dense_bytes == pruned.int8_dense_bytes == 6 + 3 + (6 + 64 + 1024) + (6 + 40 + 160)
    assert dense.blob_bytes == dense.int8_dense_bytes
    assert pruned.blob_bytes < 0.75 * dense.blob_bytes
    assert pruned.encodings == ["bitmap", "bitmap"]


def test_blob_size_of_a_float_model_matches_its_export(pruned_model, digits):
    assert blob_size(pruned_model) == len(export_model(pruned_model, digits).blob)


def test_export_report_fit_against_boards(dense_model, pruned_model, digits):
    too_big = export_model(dense_model, digits, board="uno")
    assert too_big.size == 1309 and too_big.capacity == get_board("uno").model_capacity == 1020
    assert not too_big.fits and too_big.over_by == 289
    assert "289 bytes too many" in too_big.summary() and "prune" in too_big.summary()
    assert export_model(dense_model, digits, board="mega").fits
    fits = export_model(pruned_model, digits, board="nano")
    assert fits.fits and fits.over_by == 0 and "fits on Arduino Nano" in fits.summary()
    # A connected board's own IDENTIFY answer wins over the table.
    assert not export_model(pruned_model, digits, board="uno", capacity=100).fits
    assert decode_blob(fits.blob).sizes == (64, 16, 10)


def test_export_without_data_calibrates_on_the_bundled_digits(pruned_model, digits):
    report = export_model(pruned_model)
    assert report.accuracy_float is None and report.board.key == "uno"
    assert report.blob == export_model(pruned_model, calibration_x=digits.x_train).blob


@pytest.mark.parametrize("real, worst", [(0.0123, 50_000), (3e-7, 10**6), (1e-12, 10**6), (900.0, 10**6),
                                         (0.5, 2**31 - 1)])
def test_multiplier_is_precise_and_never_overflows(real, worst):
    from bingo_kit.int8 import _choose_multiplier

    multiplier, shift = _choose_multiplier(real, worst)
    assert 1 <= multiplier <= 0xFFFF and 0 <= shift <= 31
    assert worst * multiplier + (2 ** (shift - 1) if shift else 0) < 2**32
    if 1e-9 < real < 100 and worst < 2**24:
        assert multiplier / 2**shift == pytest.approx(real, rel=1e-3)


def test_a_dead_hidden_layer_still_exports(digits):
    model = make_mlp((64, 4, 10))
    with torch.no_grad():
        model.layers[0].weight.zero_()
        model.layers[0].bias.fill_(-1.0)   # ReLU outputs are all zero
    q = quantize(model, digits.x_train[:50])
    assert np.all(q.logits(inputs_to_bytes(digits.x_test[:5])) == q.biases[1])
