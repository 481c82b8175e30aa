"""The kit's host code (bingo_kit.board.board) against the real sketch in simavr, when things go wrong."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.firmware


def test_simulator_killed_mid_upload_raises_within_two_seconds(simulated_board, pruned_blob):
    from bingo_kit.board.board import BingoBoard, BoardDisconnectedError

    killed_at = []

    def pull_the_plug(sent, total):
        if sent >= total // 3 and not killed_at:
            simulated_board.kill()
            killed_at.append(time.monotonic())

    board = BingoBoard(simulated_board.port)
    try:
        with pytest.raises(BoardDisconnectedError) as caught:
            board.upload(pruned_blob, progress=False, on_progress=pull_the_plug)
        assert killed_at, "the upload finished before the plug was pulled"
        assert time.monotonic() - killed_at[0] < 2.0   # the promise
        # noticed because the runner's pty closed, not because a response deadline (1.5 s) ran out
        assert "unplugged" in str(caught.value) and "no reply within" not in str(caught.value)
    finally:
        board.close()


def test_kill_mid_upload_keeps_the_previous_model(simulated_board, pruned_q, pruned_blob, other_blob, digit_bytes):
    from bingo_kit.board.board import BingoBoard, BoardDisconnectedError

    with BingoBoard(simulated_board.port) as board:
        board.upload(pruned_blob, progress=False)
    time.sleep(0.2)  # the runner writes its EEPROM file within 50 ms of a change

    board = BingoBoard(simulated_board.port)
    try:
        with pytest.raises(BoardDisconnectedError):
            board.upload(other_blob, progress=False,
                         on_progress=lambda sent, total: sent > total // 2 and simulated_board.kill())
    finally:
        board.close()
    simulated_board.start()
    with BingoBoard(simulated_board.port) as board:
        assert board.info.has_model and board.info.model_length == len(pruned_blob)
        assert board.predict(digit_bytes[0]).logits == pruned_q.logits(digit_bytes[0]).tolist()


def test_reopen_a_port_left_open(simulated_board, pruned_blob):
    from bingo_kit.board.board import BingoBoard

    first = BingoBoard(simulated_board.port)  # a notebook cell that never closed its board
    first.upload(pruned_blob, progress=False)
    second = BingoBoard(simulated_board.port)  # the cell runs again
    try:
        assert second.identify().has_model
        assert not first.is_open
    finally:
        second.close()
        first.close()


def test_port_sim_starts_and_stops_its_own_simulator(tmp_path):
    from bingo_kit.board.board import BingoBoard
    from bingo_kit.board.simavr import SimulatorUnavailableError

    try:
        board = BingoBoard("sim", sim_eeprom=tmp_path / "eeprom.bin")
    except SimulatorUnavailableError as error:
        pytest.skip(str(error))
    simulator = board.simulator
    assert board.info.board_code == 1 and simulator.running
    board.close()
    assert not simulator.running


def test_cycles_counter_advances(simulated_board):
    # How closely it follows the wall clock (16 M per second) is measured by benchmarks/flash.py.
    first = simulated_board.cycles()
    time.sleep(0.2)
    second = simulated_board.cycles()
    assert first is not None and second is not None
    assert second > first
    simulated_board.stop()
    assert simulated_board.cycles() is None


def test_one_simulated_board_per_eeprom_file(tmp_path):
    from bingo_kit.errors import KitError
    from bingo_kit.board.simavr import SimulatedBoard

    eeprom = tmp_path / "eeprom.bin"
    with SimulatedBoard(eeprom) as first:
        second = SimulatedBoard(eeprom)
        with pytest.raises(KitError, match="in use by another program"):
            second.start()
        assert not second.running
        first.power_cycle()   # its own restart keeps (or re-takes) the lock
        assert first.running
        with pytest.raises(KitError, match="in use by another program"):
            second.start()
    with second:   # free again once the first board stopped
        assert second.running


def test_reconnect_after_a_host_died_mid_upload_finds_the_old_model(simulated_board, pruned_q, pruned_blob,
                                                                    other_blob, digit_bytes):
    """A host dies half-way through an upload; the next one connects within the board's 2 s upload time-out
    (§5.2), sees IDENTIFY's upload flag, aborts the dangling upload and finds the old model (§4.4)."""
    from bingo_kit.board.board import BingoBoard
    from firmware_helpers import OK, RawLink, crc16

    link = RawLink(simulated_board.port)
    assert link.upload(pruned_blob) == OK
    assert link.begin(other_blob)[0] == OK
    link.send_chunks(other_blob[:len(other_blob) // 2])
    link.close()                               # the host dies: no ABORT, no COMMIT

    link = RawLink(simulated_board.port)       # what the board shows a new host (IDENTIFY keeps the upload)
    dangling = link.identify()
    link.close()
    assert dangling["uploading"] and not dangling["has_model"], "the upload should still be dangling"

    with BingoBoard(simulated_board.port) as board:
        assert not board.info.uploading and board.info.has_model
        assert (board.info.model_length, board.info.model_crc) == (len(pruned_blob), crc16(pruned_blob))
        assert board.predict(digit_bytes[0]).logits == pruned_q.logits(digit_bytes[0]).tolist()
