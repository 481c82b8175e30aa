"""The host side of hardware/PROTOCOL.md written out again from the document, for the firmware tests.

Deliberately independent of bingo_kit.board.board: these tests check the sketch against the spec, and the
host code gets checked against the sketch separately (tests/test_firmware_host.py).
"""
from __future__ import annotations

import binascii
import struct
import time

import numpy as np
import pytest
# §5 commands and §6 status codes, written out again from PROTOCOL.md on purpose (not imported from
# the host code): the firmware tests check the sketch against the document.
IDENTIFY, BEGIN, CHUNK, COMMIT, ABORT, PREDICT = 0x49, 0x42, 0x43, 0x4D, 0x41, 0x50
OK, E_FRAME_CRC, E_FRAME_LENGTH, E_FRAME_TIMEOUT, E_UNKNOWN_COMMAND, E_BAD_LENGTH = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05
E_TOO_BIG, E_NOT_UPLOADING, E_OVERFLOW, E_INCOMPLETE, E_CHECKSUM = 0x06, 0x07, 0x08, 0x09, 0x0A
E_BAD_MAGIC, E_BAD_VERSION, E_BAD_MODEL, E_TOO_WIDE, E_NO_MODEL, E_EEPROM = 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10
MAX_PAYLOAD = 59


def crc16(data: bytes) -> int:  # §1
    return binascii.crc_hqx(bytes(data), 0xFFFF)


def request_frame(command: int, payload: bytes = b"") -> bytes:  # §4.1
    body = bytes([command, len(payload)]) + bytes(payload)
    return bytes([0xA5]) + body + struct.pack("<H", crc16(body))


def parse_responses(data: bytes) -> list[tuple[int, int, bytes]]:
    """Every well-formed §4.2 response (CRC checked) in a stream of bytes, as (command, status, payload)."""
    found, i = [], 0
    while i + 6 <= len(data):
        if data[i] == 0x5A and i + 6 + data[i + 3] <= len(data):
            end = i + 4 + data[i + 3]
            if struct.unpack_from("<H", data, end)[0] == crc16(data[i + 1:end]):
                found.append((data[i + 1], data[i + 2], data[i + 4:end]))
                i = end + 2
                continue
        i += 1
    return found


class RawLink:
    """The host side of PROTOCOL.md in a few lines, over pyserial: send frames, read §4.2 responses."""

    def __init__(self, port: str):
        import serial

        self.serial = serial.Serial(port, 115200, timeout=0.05)
        self.wait_until_ready()

    def wait_until_ready(self, seconds: float = 4.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.serial.reset_input_buffer()
            self.send(IDENTIFY)
            try:
                if self.response(0.25)[1] == OK:
                    return
            except TimeoutError:
                pass
        raise TimeoutError("the simulated board never answered IDENTIFY")

    def send(self, command: int, payload: bytes = b"") -> None:
        self.serial.write(request_frame(command, payload))

    def send_raw(self, data: bytes) -> None:
        self.serial.write(bytes(data))

    def _read(self, n: int, deadline: float) -> bytes:
        data = b""
        while len(data) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no complete response (got {data.hex()})")
            data += self.serial.read(n - len(data))
        return data

    def response(self, timeout: float = 1.0) -> tuple[int, int, bytes]:
        """(command, status, payload) of the next response; its CRC is checked."""
        deadline = time.monotonic() + timeout
        while self._read(1, deadline) != b"\x5a":
            pass
        header = self._read(3, deadline)
        payload = self._read(header[2], deadline)
        (crc,) = struct.unpack("<H", self._read(2, deadline))
        assert crc == crc16(header + payload), "response CRC mismatch"
        return header[0], header[1], payload

    def request(self, command: int, payload: bytes = b"", timeout: float = 1.0) -> tuple[int, bytes]:
        """Send a request and return (status, payload) of its answer."""
        self.send(command, payload)
        answered, status, answer = self.response(timeout)
        assert answered == command, f"answer to 0x{answered:02X}, expected 0x{command:02X}"
        return status, answer

    def drain(self, quiet: float = 0.15) -> bytes:
        """Read until the line has been silent for `quiet` seconds (answers to garbage, etc.)."""
        data, last = b"", time.monotonic()
        while time.monotonic() - last < quiet:
            chunk = self.serial.read(256)
            if chunk:
                data, last = data + chunk, time.monotonic()
        return data

    # -- conveniences over the commands --------------------------------------------------------------
    def identify(self) -> dict:
        status, p = self.request(IDENTIFY)
        assert status == OK and p[:4] == b"BNGO"
        (major, minor, fmt, board, capacity, free_ram, has_model, length, crc, widest, max_chunk, uploading,
         clock_khz) = struct.unpack("<BBBBHHBHHBBBH", p[4:22])
        return dict(version=(major, minor), format=fmt, board=board, capacity=capacity, free_ram=free_ram,
                    has_model=bool(has_model), model_length=length, model_crc=crc, widest=widest,
                    max_chunk=max_chunk, uploading=bool(uploading), clock_khz=clock_khz)

    def begin(self, blob: bytes, crc: int | None = None) -> tuple[int, bytes]:
        return self.request(BEGIN, struct.pack("<HH", len(blob), crc16(blob) if crc is None else crc))

    def send_chunks(self, data: bytes) -> None:
        for offset in range(0, len(data), MAX_PAYLOAD):
            status, answer = self.request(CHUNK, data[offset:offset + MAX_PAYLOAD])
            assert status == OK, f"chunk at {offset}: status 0x{status:02X}"

    def upload(self, blob: bytes, crc: int | None = None) -> int:
        """The whole §5 upload; returns COMMIT's status."""
        status, _ = self.begin(blob, crc)
        assert status == OK, f"UPLOAD_BEGIN: status 0x{status:02X}"
        self.send_chunks(blob)
        status, _ = self.request(COMMIT, timeout=3.0 + 0.0034 * len(blob))
        return status

    def predict(self, x_u8) -> tuple[int, int, int, list[int]]:
        """(status, label, cycles, logits) for one input, sent in §5.3 pieces."""
        data = bytes(np.asarray(x_u8, dtype=np.uint8).reshape(-1))
        for offset in range(0, len(data), MAX_PAYLOAD - 1):
            status, answer = self.request(PREDICT, bytes([offset]) + data[offset:offset + MAX_PAYLOAD - 1])
            if status != OK:
                return status, -1, 0, []
        label, classes, cycles = struct.unpack("<BBI", answer[:6])
        return status, label, cycles, list(struct.unpack(f"<{classes}i", answer[6:6 + 4 * classes]))

    def close(self) -> None:
        self.serial.close()



def start_simulator(eeprom_path=None, board: str = "uno"):
    """A started SimulatedBoard, or a skip naming the packages to install."""
    from bingo_kit.board.simavr import SimulatedBoard, SimulatorUnavailableError

    try:
        return SimulatedBoard(eeprom_path, board=board).start()
    except SimulatorUnavailableError as error:
        pytest.skip(str(error))
