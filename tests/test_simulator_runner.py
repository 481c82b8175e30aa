"""The simavr runner (hardware/sim/bingo_sim.c) behaves like a board where tests lean on it (issue 18, B8).

- A real chip has its EEPROM written before it answers COMMIT, so a power cut any time after the answer keeps
  the new model: the runner saves its EEPROM file before the board's next byte leaves it.
- SIGUSR1 (the host asking for the cycle counter) must never cost a byte of an answer.
"""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from firmware_helpers import IDENTIFY, OK, RawLink, crc16, parse_responses

pytestmark = pytest.mark.firmware


def test_a_power_cut_right_after_commit_answers_keeps_the_new_model(simulated_board, pruned_blob, other_blob):
    link = RawLink(simulated_board.port)
    assert link.upload(pruned_blob) == OK
    link.close()
    simulated_board.power_cycle()   # a clean start: the first model is certainly in the EEPROM file
    for blob in (other_blob, pruned_blob, other_blob):
        link = RawLink(simulated_board.port)
        assert link.upload(blob) == OK
        simulated_board.kill()      # the plug is pulled the moment the host has read "OK"
        link.close()
        simulated_board.start()
        link = RawLink(simulated_board.port)
        info = link.identify()
        link.close()
        assert info["has_model"] and (info["model_length"], info["model_crc"]) == (len(blob), crc16(blob)), \
            "a power cut after COMMIT's answer brought back the previous model"


IDENTIFY_ANSWER_BYTES = 4 + 22 + 2   # §4.2 header, §5.1 payload, CRC


def test_cycle_counter_signals_never_cost_an_answer_byte(simulated_board):
    link = RawLink(simulated_board.port)
    pid = simulated_board.process.pid
    stop = threading.Event()

    def keep_asking_for_the_clock():
        while not stop.is_set():
            os.kill(pid, signal.SIGUSR1)
            time.sleep(0.0002)

    asker = threading.Thread(target=keep_asking_for_the_clock, daemon=True)
    asker.start()
    short = []
    try:
        for _ in range(300):
            link.send(IDENTIFY)
            answer, deadline = b"", time.monotonic() + 2.0   # late on a busy computer is not lost
            while len(answer) < IDENTIFY_ANSWER_BYTES and time.monotonic() < deadline:
                answer += link.serial.read(IDENTIFY_ANSWER_BYTES - len(answer))
            if len(answer) < IDENTIFY_ANSWER_BYTES:
                short.append(len(answer))
            else:
                assert parse_responses(answer) and parse_responses(answer)[0][:2] == (IDENTIFY, OK), answer.hex()
    finally:
        stop.set()
        asker.join()
        link.close()
    assert simulated_board.running
    assert not short, f"{len(short)} of 300 IDENTIFY answers came short (bytes: {short}) while SIGUSR1 arrived"
