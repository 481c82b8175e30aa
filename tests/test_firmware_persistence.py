"""The model lives in EEPROM (PROTOCOL.md §3): it survives power cycles, and a damaged image is never run."""
from __future__ import annotations

import struct
import time

import pytest

from firmware_helpers import E_NO_MODEL, OK, RawLink, crc16, start_simulator

pytestmark = pytest.mark.firmware


def _predictions(link, inputs):
    return [link.predict(x)[3] for x in inputs]


def test_model_survives_a_power_cycle(simulated_board, pruned_q, pruned_blob, digit_bytes):
    probes = digit_bytes[:10]
    link = RawLink(simulated_board.port)
    assert link.upload(pruned_blob) == OK
    before = _predictions(link, probes)
    link.close()

    simulated_board.power_cycle()  # a new runner: RAM is gone, only the EEPROM file carries over
    link = RawLink(simulated_board.port)
    info = link.identify()
    assert info["has_model"] and (info["model_length"], info["model_crc"]) == (len(pruned_blob), crc16(pruned_blob))
    assert _predictions(link, probes) == before == pruned_q.logits(probes).tolist()
    link.close()


def test_eeprom_holds_the_section_3_record(simulated_board, pruned_blob):
    link = RawLink(simulated_board.port)
    assert link.upload(pruned_blob) == OK
    link.close()
    simulated_board.stop()
    image = simulated_board.eeprom_path.read_bytes()
    assert len(image) == 1024
    length, crc = struct.unpack_from("<HH", image)
    assert (length, crc) == (len(pruned_blob), crc16(pruned_blob))
    assert image[4:4 + length] == pruned_blob  # stored exactly as sent


def test_unplugged_right_after_flashing_keeps_the_model(simulated_board, pruned_blob, digit_bytes):
    link = RawLink(simulated_board.port)
    assert link.upload(pruned_blob) == OK
    link.close()
    time.sleep(0.3)
    simulated_board.kill()  # no clean shutdown: like pulling the USB cable
    simulated_board.start()
    link = RawLink(simulated_board.port)
    assert link.identify()["has_model"]
    assert link.predict(digit_bytes[0])[0] == OK
    link.close()


@pytest.mark.parametrize("damage", ["blob_byte", "crc", "length_too_big", "half_written"])
def test_damaged_stored_image_means_no_model(tmp_path, pruned_blob, digit_bytes, damage):
    image = bytearray(struct.pack("<HH", len(pruned_blob), crc16(pruned_blob)) + pruned_blob)
    image += b"\xff" * (1024 - len(image))
    if damage == "blob_byte":
        image[4 + 40] ^= 0x04
    elif damage == "crc":
        image[2] ^= 0xFF
    elif damage == "length_too_big":
        image[0:2] = struct.pack("<H", 1021)
    else:  # §3 write order: power lost after the blob, before CRC and length were written
        image[0:4] = b"\xff\xff\x00\x00"
    eeprom = tmp_path / "eeprom.bin"
    eeprom.write_bytes(bytes(image))
    sim = start_simulator(eeprom)
    try:
        link = RawLink(sim.port)
        info = link.identify()
        assert not info["has_model"] and info["model_length"] == 0 and info["model_crc"] == 0
        assert link.predict(digit_bytes[0])[0] == E_NO_MODEL
        link.close()
    finally:
        sim.stop()


def test_an_intact_image_written_by_hand_loads(tmp_path, pruned_q, pruned_blob, digit_bytes):
    """The converse of the damage test, so that one cannot pass with a board that never loads anything."""
    image = struct.pack("<HH", len(pruned_blob), crc16(pruned_blob)) + pruned_blob
    eeprom = tmp_path / "eeprom.bin"
    eeprom.write_bytes(image + b"\xff" * (1024 - len(image)))
    sim = start_simulator(eeprom)
    try:
        link = RawLink(sim.port)
        assert link.identify()["has_model"]
        assert link.predict(digit_bytes[3])[3] == pruned_q.logits(digit_bytes[3]).tolist()
        link.close()
    finally:
        sim.stop()


def test_port_sim_shares_one_board_between_sessions(tmp_path, pruned_q, pruned_blob, digit_bytes):
    """What `bingo-kit flash --port sim` then `bingo-kit predict --port sim` rely on."""
    from bingo_kit.board.board import BingoBoard
    from bingo_kit.board.simavr import SimulatorUnavailableError

    eeprom = tmp_path / "shared-eeprom.bin"
    try:
        with BingoBoard("sim", sim_eeprom=eeprom) as board:
            board.upload(pruned_blob, progress=False)
    except SimulatorUnavailableError as error:
        pytest.skip(str(error))
    with BingoBoard("sim", sim_eeprom=eeprom) as board:  # a new simulator process
        assert board.info.has_model and board.info.model_crc == crc16(pruned_blob)
        assert board.predict(digit_bytes[5]).logits == pruned_q.logits(digit_bytes[5]).tolist()
