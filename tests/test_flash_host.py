"""bingo_kit.board.board, host side: handshake, chunked upload, typed errors, reopening a port.

These run against tests/fake_board.py — a Python board behind a real pty, opened with real pyserial —
to reach failures a real board rarely shows on demand. Whether flashing *works* is proven by the
firmware tests, which run the real sketch in simavr.
"""
from __future__ import annotations

import math
import struct
import time

import numpy as np
import pytest
from fake_board import FakeBoard
from serial.tools.list_ports_common import ListPortInfo

from bingo_kit.board import board as flash
from bingo_kit.board.agreement import compare_board_with_reference
from bingo_kit.errors import KitError
from bingo_kit.export import QuantizedModel, crc16, encode_blob
from bingo_kit.board.board import BoardDisconnectedError, NotBingoFirmwareError, connect
from bingo_kit.board.ports import NoBoardError, find_arduino, list_ports
from bingo_kit.board.protocol import (
    STATUS_ERRORS, BadLengthError, BoardError, ChecksumRejectedError, ModelTooBigError, NoModelError, TooWideError,
)


def _model(sizes=(64, 16, 10), density=0.5, seed=0) -> QuantizedModel:
    rng = np.random.default_rng(seed)
    weights = []
    for n_in, out in zip(sizes[:-1], sizes[1:]):
        w = rng.integers(-127, 128, (out, n_in)).astype(np.int8)
        w[rng.random((out, n_in)) >= density] = 0
        weights.append(w)
    biases = [rng.integers(-5000, 5000, out).astype(np.int32) for out in sizes[1:]]
    return QuantizedModel(tuple(sizes), weights, biases, [3000] * (len(sizes) - 2) + [0],
                          [20] * (len(sizes) - 2) + [0])


@pytest.fixture
def fake():
    with FakeBoard() as board:
        yield board


def test_handshake_reads_the_identify_answer(fake):
    with connect(fake.port) as board:
        info = board.info
        assert (info.firmware_version, info.capacity, info.max_chunk, info.clock_khz) == ("1.0", 1020, 59, 16000)
        assert info.board.key == "uno" and not info.has_model


IDENTIFY_FRAME_BYTES = 5   # sync, command, length 0, CRC (§4.1)


def _tries_heard(fake) -> int:
    """How many IDENTIFY frames the board heard, booting or not (the host sends nothing else here)."""
    return sum(len(data) for _, data in fake.heard) // IDENTIFY_FRAME_BYTES


def test_handshake_waits_out_the_bootloader():
    with FakeBoard(boot_seconds=1.0) as fake:
        with connect(fake.port) as board:
            assert board.info.capacity == 1020
        # the tries sent during "boot" were ignored; the host kept trying and the first one after boot answered
        assert _tries_heard(fake) >= 2 and fake.requests.count(0x49) == 1


def test_quiet_start_lets_a_mega_bootloader_start_the_sketch():
    # The Mega's bootloader stays in programming mode while bytes keep arriving (§4.4).
    with FakeBoard(boot_seconds=0.4, sticky_boot=True) as fake:
        with pytest.raises(NotBingoFirmwareError):
            connect(fake.port, boot_wait=0.0, handshake_seconds=1.0)   # eager tries keep it in its bootloader
        with connect(fake.port, boot_wait=0.6, handshake_seconds=1.0) as board:   # quiet first: it boots
            assert board.info.capacity == 1020


def test_only_ports_that_reset_the_board_wait_quietly(fake):
    assert flash._resets_on_open("/dev/ttyACM0") and flash._resets_on_open("COM3")
    assert not flash._resets_on_open(fake.port)   # a pty, like the simulator's: no DTR, no reset
    with connect(fake.port) as board:
        assert board.boot_wait == 0.0
    assert len(fake.heard) == 1
    opened = time.monotonic()
    with connect(fake.port, boot_wait=0.5) as board:
        assert board.boot_wait == 0.5
    first_heard_after_quiet_start = fake.heard[1][0]
    assert first_heard_after_quiet_start - opened >= 0.5   # not a byte during the quiet window
    assert fake.requests == [0x49, 0x49]   # one try each time


def test_silent_port_is_not_our_firmware():
    with FakeBoard(mode="silent") as fake:
        with pytest.raises(NotBingoFirmwareError, match="No BINGO firmware answered"):
            connect(fake.port, handshake_seconds=1.0)
        # IDENTIFY every 250 ms for at most 1 s (§4.4): a bounded number of tries, then it gives up
        assert 1 <= _tries_heard(fake) <= 5


def test_foreign_sketch_is_not_our_firmware():
    with FakeBoard(mode="foreign") as fake:
        with pytest.raises(NotBingoFirmwareError, match="Something answers.*install-firmware"):
            connect(fake.port, handshake_seconds=0.6)


def test_missing_port_is_no_board(tmp_path):
    with pytest.raises(NoBoardError, match="bingo-kit ports"):
        connect(str(tmp_path / "ttyACM9"))


def test_upload_in_59_byte_chunks_with_progress(fake):
    blob = encode_blob(_model(density=0.5))
    seen = []
    with connect(fake.port) as board:
        result = board.upload(blob, progress=False, on_progress=lambda done, total: seen.append((done, total)))
        assert board.info.has_model and board.info.model_length == len(blob)
        assert board.identify().model_crc == result.crc
    assert fake.model_blob == blob
    assert fake.requests.count(0x43) == math.ceil(len(blob) / 59) == len(seen)
    assert seen[0] == (59, len(blob)) and seen[-1] == (len(blob), len(blob))
    assert result.bytes == len(blob) and result.seconds > 0


def test_predict_sends_64_inputs_in_two_pieces(fake):
    q = _model()
    x = np.random.default_rng(1).integers(0, 256, (5, 64)).astype(np.uint8)
    with connect(fake.port) as board:
        board.upload(encode_blob(q), progress=False)
        predictions = board.predict_many(x, progress=False)
    assert fake.requests.count(0x50) == 2 * len(x)   # §5.3: 58 + 6 bytes per input
    assert [p.logits for p in predictions] == q.logits(x).tolist()
    assert [p.label for p in predictions] == q.predict(x).tolist()
    assert predictions[0].micros == pytest.approx(1234 / 16)


def test_predict_accepts_plain_bytes(fake):
    q = _model()
    x = np.random.default_rng(2).integers(0, 256, 64).astype(np.uint8)
    with connect(fake.port) as board:
        board.upload(encode_blob(q), progress=False)
        assert board.predict(x.tobytes()).logits == q.logits(x[None])[0].tolist()


def test_predict_before_any_model_says_flash_first(fake):
    with connect(fake.port) as board, pytest.raises(NoModelError, match="flash one first"):
        board.predict(np.zeros(64, np.uint8))


def test_predict_with_the_wrong_number_of_inputs(fake):
    with connect(fake.port) as board:
        board.upload(encode_blob(_model()), progress=False)
        with pytest.raises(BadLengthError, match="fewer than 70"):
            board.predict(np.zeros(70, np.uint8))
        with pytest.raises(BadLengthError, match="more than 60"):
            board.predict(np.zeros(60, np.uint8))
        with pytest.raises(KitError, match="inputs_to_bytes"):
            board.predict(np.zeros(64, np.float32))
        assert board.predict(np.zeros(64, np.uint8)).label in range(10)   # the model survived


def test_too_big_is_refused_before_anything_is_sent():
    blob = encode_blob(_model(density=1.0))  # 1309 bytes dense
    with FakeBoard(capacity=1020) as fake, connect(fake.port) as board:
        with pytest.raises(ModelTooBigError, match="1309 bytes.*at most 1020: 289 bytes too many. Prune"):
            board.upload(blob, progress=False)
    assert 0x42 not in fake.requests


def test_too_big_from_the_board_itself():
    blob = encode_blob(_model(density=0.5))
    with FakeBoard(capacity=300, advertised_capacity=4000) as fake, connect(fake.port) as board:
        with pytest.raises(ModelTooBigError, match=f"{len(blob)} bytes.*at most 300") as caught:
            board.upload(blob, progress=False)
    assert caught.value.capacity == 300 and caught.value.code == 0x06


def test_too_wide_for_the_board():
    with FakeBoard(widest=32) as fake, connect(fake.port) as board, pytest.raises(TooWideError, match="at most 32"):
        board.upload(encode_blob(_model(density=0.2)), progress=False)


def test_checksum_rejected_keeps_the_previous_model():
    first, second = encode_blob(_model(seed=1)), encode_blob(_model(seed=2))
    with FakeBoard() as fake, connect(fake.port) as board:
        board.upload(first, progress=False)
        fake.damage_upload = True
        with pytest.raises(ChecksumRejectedError, match="damaged.*previous model is still on the board"):
            board.upload(second, progress=False)
        assert board.identify().model_length == len(first)


def test_unplugged_mid_upload_raises_quickly():
    blob = encode_blob(_model(density=0.5))
    with FakeBoard(die_after_chunks=3) as fake, connect(fake.port) as board:
        started = time.monotonic()
        with pytest.raises(BoardDisconnectedError, match="unplugged") as caught:
            board.upload(blob, progress=False)
        assert time.monotonic() - started < 2.0   # the promise
        # noticed because the port closed, not because a response deadline ran out
        assert "no reply within" not in str(caught.value)
        assert "mid-conversation" in str(caught.value) or "while the kit was sending" in str(caught.value)


def test_reopening_a_port_left_open_by_an_earlier_cell(fake):
    forgotten = connect(fake.port)          # a notebook cell that never closed its board
    assert forgotten.is_open
    again = connect(fake.port)              # the same cell, run again
    try:
        assert not forgotten.is_open and again.is_open
        assert again.identify().capacity == 1020
        assert flash._OPEN_BOARDS[fake.port] is again
    finally:
        again.close()
    assert fake.port not in flash._OPEN_BOARDS


def test_an_exclusive_port_cannot_be_opened_twice_without_the_registry(fake):
    # Why the registry matters: the port is locked while a handle is open (as on Windows).
    held = connect(fake.port)
    try:
        with pytest.raises(NoBoardError, match="another program"):
            flash.BingoBoard._open(fake.port)
    finally:
        held.close()


def test_every_status_code_has_its_own_error():
    assert sorted(STATUS_ERRORS) == list(range(0x01, 0x11))
    for code, cls in STATUS_ERRORS.items():
        assert issubclass(cls, BoardError) and issubclass(cls, KitError) and cls.code == code
        assert cls.default_message


def test_list_ports_recognises_arduinos(monkeypatch):
    def port(device, vid=None, pid=None, description="n/a"):
        info = ListPortInfo(device, skip_link_detection=True)
        info.vid, info.pid, info.description = vid, pid, description
        return info

    fake_ports = [port("/dev/ttyS0"), port("/dev/ttyUSB0", 0x1A86, 0x7523, "USB Serial"),
                  port("/dev/ttyACM0", 0x2341, 0x0043, "Arduino Uno"), port("/dev/ttyUSB1", 0x0403, 0x6001)]
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: fake_ports)
    ports = list_ports()
    assert [p.device for p in ports] == ["/dev/ttyACM0", "/dev/ttyUSB0", "/dev/ttyUSB1", "/dev/ttyS0"]
    assert [p.is_arduino for p in ports] == [True, True, True, False]
    assert ports[0].board_guess == "Arduino Uno" and "CH340" in ports[1].board_guess
    assert find_arduino() == "/dev/ttyACM0"
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: fake_ports[:1])
    with pytest.raises(NoBoardError, match="port='sim'"):
        connect("auto")


# --- reopening, against the real sketch in simavr (killing it mid-upload: test_firmware_host.py) --------

@pytest.mark.firmware
def test_simulated_board_left_open_is_reopened(tmp_path):
    eeprom = tmp_path / "eeprom.bin"
    forgotten = connect("sim", sim_eeprom=eeprom)
    forgotten.upload(encode_blob(_model()), progress=False)
    old_simulator = forgotten.simulator
    again = connect("sim", sim_eeprom=eeprom)   # re-running the cell: the stale board and its simulator stop
    try:
        assert not forgotten.is_open and not old_simulator.running
        assert again.info.has_model   # same EEPROM file: the model flashed by the first run is still there
        assert again.predict(np.zeros(64, np.uint8)).label in range(10)
    finally:
        again.close()
    assert not again.is_open


def test_more_classes_than_a_response_can_carry_is_refused_before_sending(fake):
    too_many_classes = _model(sizes=(8, 4, 63))
    with connect(fake.port) as board, pytest.raises(KitError, match="63 classes"):
        board.upload(encode_blob(too_many_classes), progress=False)
    assert fake.model_blob is None


def test_compare_with_reference_refuses_float_inputs(fake):
    blob = encode_blob(_model())
    with connect(fake.port) as board:
        board.upload(blob, progress=False)
        with pytest.raises(flash.FlashError, match="inputs_to_bytes"):
            compare_board_with_reference(board, blob, np.full((2, 64), 0.7), progress=False)
        fake.requests.clear()
        x = np.random.default_rng(3).integers(0, 256, (3, 64)).astype(np.uint8)
        seen = []
        summary = compare_board_with_reference(board, blob, x, progress=False,
                                                     on_progress=lambda done, total: seen.append((done, total)))
    assert (summary.n, summary.agreement, summary.accuracy) == (3, 1.0, None) and seen == [(1, 3), (2, 3), (3, 3)]
    assert summary.as_dict() == {"n": 3, "agreement": 1.0, "accuracy": None,
                                 "mean_inference_us": summary.mean_inference_us}


def test_compare_with_reference_notices_a_single_logit_off(fake):
    blob = encode_blob(_model())
    x = np.random.default_rng(4).integers(0, 256, (4, 64)).astype(np.uint8)
    with connect(fake.port) as board:
        board.upload(blob, progress=False)
        fake.logit_error = 1
        summary = compare_board_with_reference(board, blob, x, progress=False)
    assert summary.agreement == 0.0


def test_old_firmware_blob_format_is_refused_before_begin():
    with FakeBoard(blob_format=2) as fake, connect(fake.port) as board:
        with pytest.raises(flash.BadVersionError, match="format 1.*format 2.*install-firmware"):
            board.upload(encode_blob(_model()), progress=False)
    assert 0x42 not in fake.requests


def test_a_false_sync_in_noise_does_not_hide_the_real_answer(fake):
    body = bytes([0x49, 0x00, 2]) + b"ok"
    real_answer = bytes([0x5A]) + body + struct.pack("<H", crc16(body))
    with connect(fake.port) as board:
        # A 0x5A in line noise claims a 3-byte payload: its "frame" swallows the start of the real answer,
        # fails its CRC, and the hunt must resume right after the false sync to find the real one.
        board._unread = bytes([0x5A, 0x49, 0x00, 0x03]) + real_answer
        assert board._read_response(0x49, time.monotonic() + 1.0) == (0, b"ok")
