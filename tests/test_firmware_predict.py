"""Export -> flash -> predict through the real sketch in simavr: the board's integers are the host's.

The host side here is the kit's own (bingo_kit.export + bingo_kit.board.board.BingoBoard); the board is the
very sketch a student flashes, compiled for AVR and run by simavr behind a pty.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

from firmware_helpers import RawLink, start_simulator

pytestmark = pytest.mark.firmware


def test_whole_digits_test_split_agrees_bit_for_bit(simulated_board, pruned_q, pruned_blob, digits, digit_bytes):
    from bingo_kit.board.board import BingoBoard

    reference = pruned_q.logits(digit_bytes)
    with BingoBoard(simulated_board.port) as board:
        result = board.upload(pruned_blob, progress=False)
        assert (result.bytes, result.crc) == (len(pruned_blob), board.identify().model_crc)
        predictions = board.predict_many(digit_bytes, progress=False)
    board_logits = np.array([p.logits for p in predictions])
    board_labels = np.array([p.label for p in predictions])
    assert board_logits.shape == reference.shape == (len(digits.y_test), 10)
    mismatched = np.flatnonzero((board_logits != reference).any(axis=1))
    assert mismatched.size == 0, f"{mismatched.size} of {len(reference)} inputs differ, first: {mismatched[:5]}"
    assert (board_labels == pruned_q.predict(digit_bytes)).all()
    accuracy = float((board_labels == digits.y_test.numpy()).mean())
    print(f"\nboard accuracy on the digits test split: {accuracy:.3f} ({len(board_labels)} digits, 100 % logit agreement)")
    assert accuracy > 0.85  # a trained, 60 %-pruned model; mostly a guard against a degenerate fixture


@pytest.mark.parametrize("encoding", ["bitmap", "index"])
def test_each_sparse_encoding_with_rows_not_on_byte_boundaries(encoding, trained_mlp, digits, digit_bytes, tmp_path):
    """64-12-10: the second layer's rows are 12 bits long, so bitmap bytes straddle rows; 3 layers."""
    import torch

    from bingo_kit.export import encode_blob, quantize
    from bingo_kit.models import make_mlp
    from bingo_kit.pruning import prune_fraction
    from bingo_kit.training import train

    torch.manual_seed(1)
    model = make_mlp((64, 12, 12, 10), seed=1)
    train(model, digits, epochs=4, seed=1, progress=False)
    prune_fraction(model, 0.7 if encoding == "bitmap" else 0.93, method="magnitude")
    q = quantize(model, digits.x_train)
    blob = encode_blob(q, encoding=encoding)
    sample = digit_bytes[:60]
    sim = start_simulator(tmp_path / "eeprom.bin")
    try:
        link = RawLink(sim.port)
        assert link.upload(blob) == 0
        for x, expected in zip(sample, q.logits(sample)):
            status, label, _, logits = link.predict(x)
            assert status == 0 and logits == expected.tolist()
            assert label == int(np.argmax(expected))
        link.close()
    finally:
        sim.stop()


def test_dense_default_model_on_a_mega(trained_mlp, digits, digit_bytes, tmp_path):
    """The unpruned 64-16-10 model (1.3 KB) only fits a Mega 2560: the same sketch built for it."""
    from bingo_kit.export import encode_blob, quantize

    q = quantize(copy.deepcopy(trained_mlp), digits.x_train)
    blob = encode_blob(q)
    assert len(blob) > 1020
    sim = start_simulator(tmp_path / "eeprom.bin", board="mega")
    try:
        link = RawLink(sim.port)
        info = link.identify()
        assert (info["board"], info["capacity"]) == (2, 4092)
        assert link.upload(blob) == 0
        sample = digit_bytes[:80]
        for x, expected in zip(sample, q.logits(sample)):
            status, _, cycles, logits = link.predict(x)
            assert status == 0 and logits == expected.tolist()
        link.close()
    finally:
        sim.stop()


def test_dense_layers_with_odd_row_counts(digits, digit_bytes, tmp_path):
    """The sketch runs dense rows in pairs; 15, 9 and 3 rows leave one row over in every layer."""
    from bingo_kit.export import encode_blob, quantize
    from bingo_kit.models import make_mlp

    q = quantize(make_mlp((64, 15, 9, 3), seed=2), digits.x_train)
    blob = encode_blob(q, encoding="dense")
    sim = start_simulator(tmp_path / "eeprom.bin", board="mega")
    try:
        link = RawLink(sim.port)
        assert link.upload(blob) == 0
        sample = digit_bytes[:40]
        for x, expected in zip(sample, q.logits(sample)):
            assert link.predict(x)[3] == expected.tolist()
        link.close()
    finally:
        sim.stop()


def test_identify_reports_the_uno(raw_link):
    info = raw_link.identify()
    assert info["version"] == (1, 0) and info["format"] == 1 and info["board"] == 1
    assert info["capacity"] == 1020 and info["max_chunk"] == 59 and info["clock_khz"] == 16000
    assert info["widest"] >= 64
    assert not info["has_model"] and not info["uploading"]
    assert 150 <= info["free_ram"] <= 2048  # room left for the stack on a 2 KB Uno


def test_predict_reports_cpu_cycles(raw_link, pruned_blob, digit_bytes):
    assert raw_link.upload(pruned_blob) == 0
    _, _, cycles, _ = raw_link.predict(digit_bytes[0])
    assert 1000 < cycles < 64_000  # measured by Timer1 at the CPU clock


def _hand_made(sizes, density, seed, multipliers, shifts, bias_range=30_000):
    """A QuantizedModel straight from random integers (no exporter guarantees): extreme values on purpose."""
    from bingo_kit.export import QuantizedModel

    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for n_in, out in zip(sizes[:-1], sizes[1:]):
        w = rng.integers(-128, 128, size=(out, n_in)).astype(np.int8)
        w[rng.random((out, n_in)) >= density] = 0
        weights.append(w)
        if bias_range == "edge":   # alternately just below +2^31 and just above -2^31: sums cross the edge
            bias = np.where(np.arange(out) % 2 == 0, 2**31 - 20_000, -2**31 + 20_000)
        else:
            bias = rng.integers(-bias_range, bias_range, size=out)
        biases.append(bias.astype(np.int32))
    return QuantizedModel(tuple(sizes), weights, biases, multipliers, shifts)


def _first_layer_sums(q, x):
    """Layer 0's exact accumulators and its u32 requantisation products, in unbounded integers."""
    acc = x.astype(np.int64) @ q.weights[0].astype(np.int64).T + q.biases[0].astype(np.int64)
    shift = q.shifts[0]
    rounding = (1 << (shift - 1)) if shift else 0
    return acc, acc.astype(object) * q.multipliers[0] + rounding


# Blobs the exporter would never write (§2.3 lets it rule overflow out), so that the board's i32 accumulation
# and u32 requantisation really wrap; the host reference must wrap in exactly the same places.
WRAP_CASES = {
    "u32 requantisation wraps (M=60000, s=31)": ((12, 9, 7, 4), 0.6, 0, [60000, 40000, 0], [31, 5, 0], 30_000),
    "u32 wraps with s=0 (no rounding term)": ((12, 9, 7, 4), 1.0, 1, [65535, 65535, 0], [0, 17, 0], 30_000),
    "i32 accumulator wraps (biases near ±2^31)": ((20, 9, 4), 0.3, 2, [65535, 0], [8, 0], "edge"),
}


@pytest.mark.parametrize("case", list(WRAP_CASES))
def test_integer_wrap_around_matches_the_host_bit_for_bit(case, simulated_board):
    from bingo_kit.export import encode_blob
    from bingo_kit.board.board import BingoBoard

    sizes, density, seed, multipliers, shifts, bias_range = WRAP_CASES[case]
    q = _hand_made(sizes, density, seed, multipliers, shifts, bias_range)
    x = np.random.default_rng(9).integers(0, 256, (30, sizes[0])).astype(np.uint8)
    x[0] = 255
    acc, products = _first_layer_sums(q, x)
    if "i32" in case:
        assert ((acc < -2**31) | (acc >= 2**31)).any(), "the case no longer overflows i32: it tests nothing"
    else:
        assert any(p >= 2**32 for p, a in zip(products.ravel(), acc.ravel()) if a > 0), "no u32 overflow"
    expected = q.logits(x).tolist()
    with BingoBoard(simulated_board.port) as board:
        for encoding in ("dense", "bitmap", "index"):
            board.upload(encode_blob(q, encoding=encoding), progress=False)
            got = [board.predict(row).logits for row in x]
            mismatched = [i for i, (a, b) in enumerate(zip(expected, got)) if a != b]
            assert not mismatched, f"{encoding}: inputs {mismatched[:5]} differ"
