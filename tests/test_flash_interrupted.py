"""An upload that does not end normally says what the board now holds (issue 18, B2 and B3).

The board is the real sketch in simavr with the ATmega's EEPROM write time (3.4 ms per byte), so COMMIT takes
seconds, as on an Uno. COMMIT is caught in the act by the EEPROM file: the runner saves it every 50 ms while the
sketch writes it, so it changes only once COMMIT has started writing.
"""
from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest

from bingo_kit.board.protocol import crc16
from bingo_kit.export import model_file_bytes

pytestmark = pytest.mark.firmware

CLI = [sys.executable, "-m", "bingo_kit.cli"]


@pytest.fixture
def slow_board(tmp_path, pruned_blob):
    """A simulated Uno whose EEPROM writes take as long as on the chip, holding pruned_blob (its §3 record
    written into the EEPROM file by hand: one slow COMMIT per test is enough)."""
    from bingo_kit.board.simavr import SimulatedBoard, SimulatorUnavailableError

    image = struct.pack("<HH", len(pruned_blob), crc16(pruned_blob)) + pruned_blob
    (tmp_path / "eeprom.bin").write_bytes(image + b"\xff" * (1024 - len(image)))
    board = SimulatedBoard(tmp_path / "eeprom.bin", realistic_eeprom=True)
    try:
        board.start()
    except SimulatorUnavailableError as error:
        pytest.skip(str(error))
    yield board
    board.stop()


def _eeprom_now(board) -> bytes:
    try:
        return board.eeprom_path.read_bytes()
    except FileNotFoundError:
        return b""


def _when_commit_writes(board, then, seconds: float = 60.0) -> threading.Thread:
    """Call `then()` as soon as the board's EEPROM file changes (COMMIT is writing), from a thread."""
    before = _eeprom_now(board)

    def watch():
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and _eeprom_now(board) == before:
            time.sleep(0.005)
        then()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def _holds(port) -> tuple[int, int] | None:
    from bingo_kit.board.board import connect

    with connect(port) as board:
        info = board.info
    return (info.model_length, info.model_crc) if info.has_model else None


def test_unplugged_during_commit_does_not_promise_the_old_model(slow_board, pruned_blob, other_blob):
    from bingo_kit.board.board import BingoBoard, BoardDisconnectedError

    assert _holds(slow_board.port) == (len(pruned_blob), crc16(pruned_blob))
    watchers = []

    def pull_the_plug_during_commit(done, total):
        if done == total:
            watchers.append(_when_commit_writes(slow_board, slow_board.kill))

    board = BingoBoard(slow_board.port)
    try:
        with pytest.raises(BoardDisconnectedError) as caught:
            board.upload(other_blob, progress=False, on_progress=pull_the_plug_during_commit)
    finally:
        board.close()
        for watcher in watchers:
            watcher.join()
    message = str(caught.value)
    assert "kept" not in message, message   # false in this phase: a cut COMMIT usually leaves no model
    assert "the new model, the old one or none" in message and "flash again" in message, message


def _flash_command(model_file, port, tmp_path) -> subprocess.Popen:
    env = dict(os.environ, BINGO_KIT_CACHE=str(tmp_path / "cache"))
    return subprocess.Popen([*CLI, "flash", str(model_file), "--port", port, "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_ctrl_c_during_commit_says_the_new_model_is_stored(slow_board, other_blob, tmp_path):
    model_file = tmp_path / "model.bingo"
    model_file.write_bytes(model_file_bytes(other_blob))   # as bingo-kit export writes it
    command = _flash_command(model_file, slow_board.port, tmp_path)
    try:
        watcher = _when_commit_writes(slow_board, lambda: command.send_signal(signal.SIGINT))
        _, stderr = command.communicate(timeout=120)
        watcher.join()
    finally:
        command.kill()
    assert command.returncode == 130
    stored = (len(other_blob), crc16(other_blob))
    assert stderr.strip().splitlines() == [
        f"bingo-kit flash: Stopped, but the board had already stored the new model ({stored[0]} bytes, CRC "
        f"0x{stored[1]:04X}) and keeps it."]
    assert _holds(slow_board.port) == stored   # the sentence is true


def test_ctrl_c_during_the_upload_says_what_the_board_holds(slow_board, pruned_blob, other_blob, tmp_path):
    model_file = tmp_path / "model.bingo"
    model_file.write_bytes(model_file_bytes(other_blob))   # as bingo-kit export writes it
    command = _flash_command(model_file, slow_board.port, tmp_path)
    try:
        assert command.stdout.readline().startswith("flashing ")   # connected; the upload starts now
        command.send_signal(signal.SIGINT)
        _, stderr = command.communicate(timeout=120)
    finally:
        command.kill()
    assert command.returncode == 130
    sentence = stderr.strip().splitlines()[-1]
    holds = _holds(slow_board.port)
    if holds == (len(pruned_blob), crc16(pruned_blob)):   # stopped before COMMIT: ABORT restored the old model
        assert sentence.startswith("bingo-kit flash: Stopped before the new model was stored; the board keeps its "
                                   f"previous model ({len(pruned_blob)} bytes"), stderr
    else:   # the whole upload slipped in before the signal: then it must say so
        assert holds == (len(other_blob), crc16(other_blob)) and "already stored the new model" in sentence, stderr
