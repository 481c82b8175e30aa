"""A pure-Python stand-in board behind a real pty, for HOST unit tests only.

It speaks hardware/PROTOCOL.md from the board's side so the host's framing, time-outs and error handling
can be tested quickly and with failures a real board rarely shows (silence, a foreign device, the cable
pulled mid-upload). It is never evidence that flashing works: the firmware's own tests run the real sketch
in simavr. Inference here borrows the host reference, so predict tests with it only check the plumbing.
"""
from __future__ import annotations

import os
import select
import struct
import threading
import time
import tty

import numpy as np

from bingo_kit.export import BlobError, crc16, decode_blob

OK, E_FRAME_CRC, E_FRAME_LENGTH, E_UNKNOWN_COMMAND, E_BAD_LENGTH, E_TOO_BIG = 0, 1, 2, 4, 5, 6
E_NOT_UPLOADING, E_OVERFLOW, E_INCOMPLETE, E_CHECKSUM, E_BAD_MODEL, E_NO_MODEL = 7, 8, 9, 10, 13, 15


class FakeBoard:
    """Board side of the protocol on a pty; `port` is the path a host opens with pyserial."""

    def __init__(self, *, capacity=1020, widest=64, mode="bingo", boot_seconds=0.0, die_after_chunks=None,
                 damage_upload=False, advertised_capacity=None, sticky_boot=False, board_code=1, blob_format=1):
        # mode: "bingo" (our firmware), "silent" (never answers), "foreign" (answers with non-BINGO bytes)
        self.capacity, self.widest, self.mode = capacity, widest, mode
        self.board_code, self.blob_format = board_code, blob_format   # IDENTIFY bytes 7 and 6 (§5.1)
        # What IDENTIFY claims; a different value makes UPLOAD_BEGIN the one that says "too big".
        self.advertised_capacity = capacity if advertised_capacity is None else advertised_capacity
        self.boot_until = time.monotonic() + boot_seconds   # like a bootloader: input ignored until then
        # sticky_boot: like the Mega's stk500v2 bootloader, every byte heard while booting restarts the wait
        self.boot_seconds, self.sticky_boot = boot_seconds, sticky_boot
        self.die_after_chunks = die_after_chunks
        self.damage_upload = damage_upload                   # flips a byte: the board's CRC will disagree
        self.logit_error = 0   # added to logit 0 of every answer: a firmware out of step with the host
        self.model_blob = None
        self.model = None
        self.upload = None          # (length, crc, bytearray) while an upload runs
        self.inputs = bytearray(256)
        self.chunks_seen = 0
        self.requests = []          # commands received, for assertions
        self.heard = []             # (monotonic time, bytes) of everything that arrived, even while booting
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)      # no echo or line editing before the host configures the port
        self.port = os.ttyname(self.slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # -- the loop ----------------------------------------------------------------------------------

    def _run(self):
        buffer = bytearray()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.02)
                if not ready:
                    continue
                data = os.read(self.master, 1024)
            except OSError:
                return
            self.heard.append((time.monotonic(), data))
            if time.monotonic() < self.boot_until:
                if self.sticky_boot:
                    self.boot_until = time.monotonic() + self.boot_seconds
                continue
            if self.mode == "silent":
                continue
            if self.mode == "foreign":
                self._send_raw(b"Hello from some other sketch!\r\n")
                continue
            buffer += data
            while True:
                frame = self._take_frame(buffer)
                if frame is None:
                    break
                self._handle(*frame)
                if self._stop.is_set():
                    return

    def _take_frame(self, buffer: bytearray):
        """Pop one complete request (§4.1) off `buffer`, or None if there is none yet."""
        while buffer and buffer[0] != 0xA5:
            del buffer[0]
        if len(buffer) < 3:
            return None
        length = buffer[2]
        if length > 59:
            del buffer[0]
            self._respond(0, E_FRAME_LENGTH)
            return self._take_frame(buffer)
        if len(buffer) < 5 + length:
            return None
        frame = bytes(buffer[:5 + length])
        del buffer[:5 + length]
        command, payload = frame[1], frame[3:3 + length]
        if struct.unpack("<H", frame[-2:])[0] != crc16(frame[1:3 + length]):
            self._respond(0x00, E_FRAME_CRC)   # §4.3: a damaged frame's command byte cannot be trusted
            return self._take_frame(buffer)
        return command, payload

    def _send_raw(self, data: bytes):
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def _respond(self, command: int, status: int, payload: bytes = b""):
        body = bytes([command, status, len(payload)]) + payload
        self._send_raw(b"\x5A" + body + struct.pack("<H", crc16(body)))

    # -- commands (§5) -----------------------------------------------------------------------------

    def _handle(self, command: int, payload: bytes):
        self.requests.append(command)
        if self.upload is not None and command not in (0x43, 0x4D):
            self.upload = None          # §5.2: any other command ends the upload; the old model stays
        if command == 0x49:
            length = len(self.model_blob) if self.model_blob else 0
            crc = crc16(self.model_blob) if self.model_blob else 0
            self._respond(command, OK, struct.pack(
                "<4sBBBBHHBHHBBBH", b"BNGO", 1, 0, self.blob_format, self.board_code, self.advertised_capacity, 900,
                int(self.model is not None), length, crc, self.widest, 59, int(self.upload is not None), 16000))
        elif command == 0x42:
            length, crc = struct.unpack("<HH", payload)
            if length == 0:
                return self._respond(command, E_BAD_LENGTH)
            if length > self.capacity:
                return self._respond(command, E_TOO_BIG, struct.pack("<H", self.capacity))
            self.upload = (length, crc, bytearray())
            self._respond(command, OK, struct.pack("<HB", self.capacity, 59))
        elif command == 0x43:
            if self.upload is None:
                return self._respond(command, E_NOT_UPLOADING)
            self.chunks_seen += 1
            if self.die_after_chunks is not None and self.chunks_seen > self.die_after_chunks:
                return self.unplug()
            length, crc, received = self.upload
            received += payload
            if len(received) > length:
                self.upload = None
                return self._respond(command, E_OVERFLOW)
            self._respond(command, OK, struct.pack("<H", len(received)))
        elif command == 0x4D:
            if self.upload is None:
                return self._respond(command, E_NOT_UPLOADING)
            length, crc, received = self.upload
            self.upload = None
            if self.damage_upload:
                received[0] ^= 0xFF
            if len(received) != length:
                return self._respond(command, E_INCOMPLETE)
            if crc16(received) != crc:
                return self._respond(command, E_CHECKSUM)
            try:
                model = decode_blob(bytes(received))
            except BlobError:
                return self._respond(command, E_BAD_MODEL)
            self.model_blob, self.model = bytes(received), model
            self._respond(command, OK, struct.pack("<HHH", crc, length, 3 * length // 1000))
        elif command == 0x41:
            self.upload = None
            self._respond(command, OK)
        elif command == 0x50:
            if self.model is None:
                return self._respond(command, E_NO_MODEL)
            n0 = self.model.sizes[0]
            if len(payload) < 2 or payload[0] + len(payload) - 1 > n0:
                return self._respond(command, E_BAD_LENGTH)
            offset, data = payload[0], payload[1:]
            self.inputs[offset:offset + len(data)] = data
            if offset + len(data) < n0:
                return self._respond(command, OK)
            logits = self.model.logits(np.frombuffer(bytes(self.inputs[:n0]), dtype=np.uint8)).copy()
            logits[0] += self.logit_error
            label = int(np.argmax(logits))
            self._respond(command, OK, struct.pack(f"<BBI{len(logits)}i", label, len(logits), 1234, *logits))
        else:
            self._respond(command, E_UNKNOWN_COMMAND)

    # -- lifetime ----------------------------------------------------------------------------------

    def unplug(self):
        """The cable is pulled: the host's side of the pty sees a hang-up."""
        self._stop.set()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self.master = self.slave = -1

    def close(self):
        self.unplug()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
