"""Bad input to the real sketch: each gets the right PROTOCOL.md §6 code, and the model flashed before
keeps predicting exactly as it did."""
from __future__ import annotations

import random
import struct
import time

import numpy as np
import pytest

from firmware_helpers import (
    ABORT, BEGIN, CHUNK, COMMIT, E_BAD_LENGTH, E_BAD_MAGIC, E_BAD_MODEL, E_BAD_VERSION, E_CHECKSUM, E_FRAME_CRC,
    E_FRAME_LENGTH, E_FRAME_TIMEOUT, E_INCOMPLETE, E_NO_MODEL, E_NOT_UPLOADING, E_OVERFLOW, E_TOO_BIG, E_TOO_WIDE,
    E_UNKNOWN_COMMAND, IDENTIFY, OK, PREDICT, crc16, parse_responses, request_frame)

pytestmark = pytest.mark.firmware
PROBES = 6  # test digits re-checked after every bad input


@pytest.fixture
def flashed(raw_link, pruned_q, pruned_blob, digit_bytes):
    """A board holding the pruned model, plus a check that it still predicts exactly the reference."""
    assert raw_link.upload(pruned_blob) == OK
    probes = digit_bytes[:PROBES]
    expected = pruned_q.logits(probes).tolist()

    def still_predicts_identically():
        raw_link.drain()
        info = raw_link.identify()
        assert info["has_model"] and not info["uploading"]
        assert (info["model_length"], info["model_crc"]) == (len(pruned_blob), crc16(pruned_blob))
        for x, logits in zip(probes, expected):
            status, _, _, got = raw_link.predict(x)
            assert status == OK and got == logits

    still_predicts_identically()
    return raw_link, still_predicts_identically


# --- framing (§4.3) --------------------------------------------------------------------------------

def test_random_garbage(flashed):
    link, still_predicts_identically = flashed
    rng = random.Random(0)
    for _ in range(5):
        noise = bytearray(rng.randrange(256) for _ in range(rng.randrange(20, 200)))
        noise[rng.randrange(len(noise))] = 0xA5  # make sure some of it looks like the start of a frame
        link.send_raw(bytes(noise))
        time.sleep(0.02)
    time.sleep(0.1)  # > 50 ms: any frame the garbage started has timed out
    answers = parse_responses(link.drain())
    # Whatever the garbage looked like, every answer is a framing error: no command was executed.
    assert answers, "garbage with sync bytes in it should get framing-error answers"
    assert all(command == 0x00 and status in (E_FRAME_CRC, E_FRAME_LENGTH, E_FRAME_TIMEOUT)
               for command, status, _ in answers), answers
    still_predicts_identically()


def test_truncated_frame_times_out(flashed):
    link, still_predicts_identically = flashed
    link.send_raw(request_frame(PREDICT, bytes(30))[:12])  # the rest never comes
    command, status, payload = link.response(timeout=1.0)
    assert (command, status, payload) == (0x00, E_FRAME_TIMEOUT, b"")
    still_predicts_identically()


def test_damaged_frame_is_not_executed(flashed):
    link, still_predicts_identically = flashed
    frame = bytearray(request_frame(BEGIN, struct.pack("<HH", 100, 0x1234)))
    frame[-1] ^= 0xFF
    link.send_raw(frame)
    assert link.response() == (0x00, E_FRAME_CRC, b"")
    assert not link.identify()["uploading"]  # the BEGIN did not happen
    still_predicts_identically()


def test_frame_longer_than_the_receive_buffer(flashed):
    link, still_predicts_identically = flashed
    link.send_raw(bytes([0xA5, CHUNK, 60]) + bytes(60) + b"\x00\x00")
    assert link.response() == (0x00, E_FRAME_LENGTH, b"")
    still_predicts_identically()


def test_an_oversize_frame_gets_one_answer_even_with_a_frame_inside(flashed):
    """§4.3: the rest of an oversize frame is skipped until 50 ms of quiet, so a whole request hidden in its
    payload is neither executed nor answered (a phantom frame would have given the bad frame two answers)."""
    link, still_predicts_identically = flashed
    hidden = request_frame(ABORT) + request_frame(IDENTIFY)
    payload = hidden + bytes(60 - len(hidden))
    link.send_raw(bytes([0xA5, CHUNK, 60]) + payload + b"\x00\x00")
    time.sleep(0.1)   # > 50 ms: the skip has ended
    assert parse_responses(link.drain()) == [(0x00, E_FRAME_LENGTH, b"")]
    still_predicts_identically()


def test_unknown_command(flashed):
    link, still_predicts_identically = flashed
    assert link.request(0x7A) == (E_UNKNOWN_COMMAND, b"")
    still_predicts_identically()


# --- uploads (§5.2) --------------------------------------------------------------------------------

def test_wrong_checksum_is_rejected(flashed, other_blob):
    link, still_predicts_identically = flashed
    other = other_blob
    assert link.upload(other, crc=crc16(other) ^ 0x0101) == E_CHECKSUM
    still_predicts_identically()


def test_damaged_byte_in_transit_is_rejected(flashed, other_blob):
    link, still_predicts_identically = flashed
    other = bytearray(other_blob)
    announced = crc16(other)
    other[100] ^= 0x10  # the board receives a different byte than the host's CRC covers
    assert link.upload(bytes(other), crc=announced) == E_CHECKSUM
    still_predicts_identically()


def test_wrong_format_version(flashed, pruned_blob):
    link, still_predicts_identically = flashed
    blob = bytearray(pruned_blob)
    blob[4] = 2
    assert link.upload(bytes(blob)) == E_BAD_VERSION
    still_predicts_identically()


def test_not_a_bingo_model(flashed, pruned_blob):
    link, still_predicts_identically = flashed
    assert link.upload(b"PK\x03\x04" + pruned_blob[4:]) == E_BAD_MAGIC
    still_predicts_identically()


@pytest.mark.parametrize("damage", ["nnz", "encoding", "truncated", "trailing", "layers", "last_shift"])
def test_inconsistent_structure(flashed, pruned_blob, damage):
    link, still_predicts_identically = flashed
    blob = bytearray(pruned_blob)
    first_record = 6 + 3  # magic, version, L, then 3 sizes for 64-16-10
    if damage == "nnz":
        blob[first_record + 4] ^= 0x01
    elif damage == "encoding":
        blob[first_record] = 7
    elif damage == "truncated":
        blob = blob[:-1]
    elif damage == "trailing":
        blob += b"\x00"
    elif damage == "layers":
        blob[5] = 5
    elif damage == "last_shift":  # §2.2: the last layer has shift 0 and multiplier 0
        second_record = _second_record_offset(pruned_blob)
        blob[second_record + 1] = 3
    assert link.upload(bytes(blob)) == E_BAD_MODEL
    still_predicts_identically()


def test_layer_wider_than_the_board(flashed):
    link, still_predicts_identically = flashed
    wide = _tiny_model_blob((64, 70, 10))  # 70 hidden units > the Uno's 64-wide buffers
    assert len(wide) <= 1020
    assert link.upload(wide) == E_TOO_WIDE
    still_predicts_identically()


def test_oversize_model(flashed):
    link, still_predicts_identically = flashed
    status, payload = link.request(BEGIN, struct.pack("<HH", 1021, 0))
    assert status == E_TOO_BIG and struct.unpack("<H", payload) == (1020,)
    assert link.request(BEGIN, struct.pack("<HH", 0, 0))[0] == E_BAD_LENGTH
    assert not link.identify()["uploading"]
    still_predicts_identically()


def test_oversize_model_through_the_host(simulated_board, trained_mlp, digits):
    from bingo_kit.export import encode_blob, quantize
    from bingo_kit.board.board import BingoBoard
    from bingo_kit.board.protocol import ModelTooBigError

    dense = encode_blob(quantize(trained_mlp, digits.x_train))
    with BingoBoard(simulated_board.port) as board:
        with pytest.raises(ModelTooBigError, match="1020"):
            board.upload(dense, progress=False)
        assert not board.identify().has_model


@pytest.mark.parametrize("how", ["abort", "other_command", "idle_timeout"])
def test_upload_abandoned_half_way(flashed, simulated_board, other_blob, how):
    link, still_predicts_identically = flashed
    other = other_blob
    assert link.begin(other)[0] == OK
    link.send_chunks(other[: len(other) // 2])
    assert link.identify()["uploading"]  # IDENTIFY looks without ending the upload
    if how == "abort":
        assert link.request(ABORT) == (OK, b"")
    elif how == "other_command":
        # Any command but CHUNK/COMMIT/IDENTIFY ends the upload first, then runs: here a PREDICT piece.
        assert link.request(PREDICT, bytes([0]) + bytes(10)) == (OK, b"")
    else:
        # §5.2: 2 s without a frame, on the board's clock: a busy host can make simulated time lag the wall
        # clock, so wait for 2.1 s of simulated cycles (reading the counter sends the board nothing).
        started, wall_deadline = simulated_board.cycles(), time.monotonic() + 30
        while simulated_board.cycles() - started < 2.1 * 16e6:
            assert time.monotonic() < wall_deadline, "the simulated board stopped advancing"
            time.sleep(0.1)
        assert not link.identify()["uploading"]
    still_predicts_identically()


def test_more_bytes_than_announced(flashed, pruned_blob):
    link, still_predicts_identically = flashed
    assert link.begin(pruned_blob[:100])[0] == OK
    link.send_chunks(pruned_blob[:59])
    assert link.request(CHUNK, pruned_blob[59:118])[0] == E_OVERFLOW
    assert link.request(CHUNK, pruned_blob[:10])[0] == E_NOT_UPLOADING  # the overflow ended the upload
    still_predicts_identically()


def test_commit_before_all_bytes(flashed, pruned_blob):
    link, still_predicts_identically = flashed
    assert link.begin(pruned_blob)[0] == OK
    link.send_chunks(pruned_blob[:-1])
    assert link.request(COMMIT)[0] == E_INCOMPLETE
    still_predicts_identically()


def test_chunk_or_commit_without_begin(flashed, pruned_blob):
    link, still_predicts_identically = flashed
    assert link.request(CHUNK, pruned_blob[:20])[0] == E_NOT_UPLOADING
    assert link.request(COMMIT)[0] == E_NOT_UPLOADING
    assert link.request(ABORT) == (OK, b"")  # harmless when nothing runs
    still_predicts_identically()


def test_bad_predict_lengths(flashed):
    link, still_predicts_identically = flashed
    assert link.request(PREDICT, b"")[0] == E_BAD_LENGTH
    assert link.request(PREDICT, b"\x00")[0] == E_BAD_LENGTH  # an offset but no bytes
    assert link.request(PREDICT, bytes([40]) + bytes(30))[0] == E_BAD_LENGTH  # 40 + 30 > 64 inputs
    still_predicts_identically()


def test_predict_without_a_model(raw_link, digit_bytes):
    assert raw_link.predict(digit_bytes[0])[0] == E_NO_MODEL
    assert raw_link.request(IDENTIFY)[0] == OK


def test_a_good_upload_after_all_that_replaces_the_model(flashed, other_blob, digit_bytes):
    from bingo_kit.export import decode_blob

    link, _ = flashed
    link.send_raw(b"\xa5\x43\x05garbage")
    time.sleep(0.1)
    link.drain()
    other = other_blob
    assert link.upload(other) == OK
    expected = decode_blob(other).logits(digit_bytes[:PROBES])
    for x, logits in zip(digit_bytes[:PROBES], expected):
        assert link.predict(x)[3] == logits.tolist()


# --- helpers -----------------------------------------------------------------------------------------

def _second_record_offset(blob: bytes) -> int:
    from bingo_kit.export import decode_blob

    q = decode_blob(blob)
    first = 6 + len(q.sizes)
    out, n_in = q.weights[0].shape
    nnz = int(struct.unpack_from("<H", blob, first + 4)[0])
    section = {0: out * n_in, 1: (out * n_in + 7) // 8 + nnz, 2: out + 2 * nnz}[blob[first]]
    return first + 6 + 4 * out + section


def _tiny_model_blob(sizes) -> bytes:
    """A valid, very sparse int8 model of the given sizes (structure only; its numbers are arbitrary)."""
    from bingo_kit.export import QuantizedModel, encode_blob

    rng = np.random.default_rng(0)
    weights, biases = [], []
    for n_in, out in zip(sizes, sizes[1:]):
        w = np.zeros((out, n_in), dtype=np.int8)
        w[np.arange(out), rng.integers(0, n_in, out)] = 1
        weights.append(w)
        biases.append(np.zeros(out, dtype=np.int32))
    n = len(weights)
    return encode_blob(QuantizedModel(tuple(sizes), weights, biases, [1] * (n - 1) + [0], [0] * n))
