"""Talk to a board running the BINGO sketch over a serial port: find it, upload a model, ask it to predict.

Every frame follows hardware/PROTOCOL.md (§ numbers in comments point there); its numbers and §6 errors come
from bingo_kit.board.protocol, the twin of the sketch's protocol.h. Every read has a deadline, and every failure a
student can cause becomes a FlashError whose message says what to do.
`port="sim"` is the simulated Uno (bingo_kit.board.simavr) running the very same firmware in simavr.
Which ports exist is bingo_kit.board.ports; what the board answers, bingo_kit.board.answers; whether the board agrees with
the laptop, bingo_kit.board.agreement.
"""
from __future__ import annotations

import os
import struct
import time
from pathlib import Path
from typing import Callable

import numpy as np
import serial
from tqdm.auto import tqdm

from bingo_kit.board.answers import BoardInfo, NotBingoFirmwareError, Prediction, UploadResult, parse_identify
from bingo_kit.export import decode_blob
from bingo_kit.board.ports import NoBoardError, find_arduino
from bingo_kit.board.simavr import BlankSimulatedUno, SimulatedBoard, default_sim_eeprom
from bingo_kit.board.protocol import (
    BAUD_RATE, BLOB_FORMAT_VERSION, BOOT_QUIET_SECONDS, CMD_IDENTIFY, CMD_NONE, CMD_PREDICT, CMD_UPLOAD_ABORT,
    CMD_UPLOAD_BEGIN, CMD_UPLOAD_CHUNK, CMD_UPLOAD_COMMIT, COMMIT_SECONDS_PER_BYTE, COMMIT_TIMEOUT,
    FRAME_BYTE_TIMEOUT_MS, HANDSHAKE_RETRY_SECONDS, HANDSHAKE_SECONDS, MAX_REQUEST_PAYLOAD, PREDICT_MAX_LOGITS,
    RESPONSE_SYNC, RESPONSE_TIMEOUT, SIM_RESPONSE_TIMEOUT, STATUS_ERRORS,
    BadLengthError, BadVersionError, BoardError, ChecksumRejectedError, FlashError, ModelTooBigError, Status,
    TooWideError, crc16, request_frame,
)


class BoardDisconnectedError(FlashError):
    """The board went away mid-conversation: unplugged, reset, or the simulator stopped."""


class _NoReply(Exception):
    """Internal: the deadline passed before a complete response arrived."""


# --- the board ------------------------------------------------------------------------------------

def _resets_on_open(device: str) -> bool:
    """Whether opening `device` may reset a board: a USB serial port does (DTR); a pseudo-terminal such
    as the simulator's has no DTR line and does not."""
    return not os.path.realpath(device).startswith("/dev/pts/")


def as_input_bytes(x_u8) -> np.ndarray:
    """x_u8 as a uint8 array; floats are refused (casting would silently truncate 0.7 to 0)."""
    # np.asarray(b"...") is a 0-d bytes string, not an array of bytes
    data = np.frombuffer(bytes(x_u8), np.uint8) if isinstance(x_u8, (bytes, bytearray)) else np.asarray(x_u8)
    if data.dtype != np.uint8:
        raise FlashError("Inputs for the board must be bytes (uint8); convert pixels with inputs_to_bytes(x).")
    return data


# "page": the Simulated Uno in the notebook page, reached through the kit's pyserial back end (bingo_kit.board.page)
PAGE_PORT = "page"
PAGE_URL = "page://uno"
# "web-serial": a real board on the student's desk, reached from the page through Web Serial (board.page.PageSerial)
WEB_SERIAL_PORT = "web-serial"
WEB_SERIAL_URL = "page://serial"
PAGE_URLS = {PAGE_PORT: PAGE_URL, WEB_SERIAL_PORT: WEB_SERIAL_URL}
if "bingo_kit.board.urlhandler" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("bingo_kit.board.urlhandler")

# Test digits per trip over a relay that keeps the one-request-at-a-time rule (the page's): a 64-input digit is
# two requests, so 25 digits are 50 requests, about 0.3 s of wire at 115 200 baud, one progress step each
BATCH_ROWS = 25

# Boards this process has open, by port. A notebook cell re-run creates a new BingoBoard for a port the
# previous run never closed; closing the stale one first is what lets the port open again.
_OPEN_BOARDS: dict[str, BingoBoard] = {}


class BingoBoard:
    """A board running the BINGO sketch. Use as a context manager, or call close().

    port: a device path ("/dev/ttyACM0", "COM3"), "auto" (the first Arduino-looking port), "sim" (a simulated
    Uno in simavr this object starts and stops; its EEPROM lives in `sim_eeprom`, by default the file shared by
    all `--port sim` commands), "page" (the Simulated Uno in the notebook page, bingo_kit.board.page: talk to it
    from the board's thread, see bingo_kit.board.session) or a pyserial URL. Opening waits `boot_wait` seconds
    (default: 2 s for a port that resets the board, 0 for a pty like the simulator's or the page), then shakes
    hands (§4.4); `info` holds IDENTIFY.
    """

    def __init__(self, port: str = "auto", *, sim_eeprom=None, handshake_seconds: float | None = None,
                 boot_wait: float | None = None):
        self.simulator = None
        self._serial = None
        self._fd = None
        self._pending_size = 0   # size of the upload in flight, for E_TOO_BIG's message
        self._bytes_heard = 0    # during the handshake: did anything answer at all?
        self._unread = b""       # bytes read past a false sync, to be scanned again (_read_response)
        if port == "auto":
            port = find_arduino()
        self.port_name = port
        if port == "sim" and sim_eeprom is None:
            sim_eeprom = default_sim_eeprom()
        # Key of the registry: the port, or for a simulator its EEPROM file (one simulated board per file).
        blank = port == "sim-blank"   # the Simulated blank Uno: Optiboot, and a reset on every open (as DTR)
        self._registry_key = f"sim:{Path(sim_eeprom).resolve()}" if port == "sim" else port
        stale = _OPEN_BOARDS.pop(self._registry_key, None)
        if stale is not None:
            stale.close()
        try:
            if port in ("sim", "sim-blank"):
                self._start_simulator(sim_eeprom, blank)
                device = self.simulator.port
            else:
                device = PAGE_URLS.get(port, port)
            self._serial = self._open(device)
            # for _write_frame's fast path: a real file descriptor (a USB port or a pty), not a URL's back end
            self._fd = self._serial.fileno() if os.name == "posix" and isinstance(self._serial, serial.Serial) else None
            _OPEN_BOARDS[self._registry_key] = self
            self.device = device
            # a back end of the kit's own says how its board behaves (bingo_kit/board/urlhandler)
            real_port = getattr(self._serial, "resets_board_on_open", None)
            if real_port is None:
                real_port = _resets_on_open(device)
            self._fixed_response_timeout = RESPONSE_TIMEOUT if real_port else SIM_RESPONSE_TIMEOUT
            if boot_wait is None:
                boot_wait = BOOT_QUIET_SECONDS if real_port or blank else 0.0
            self.boot_wait = boot_wait
            time.sleep(boot_wait)  # the board resets on open (DTR); let its bootloader finish undisturbed
            # §4.4: the same 4 s for every port; a simulator's pty exists only once its board runs.
            if handshake_seconds is None:
                handshake_seconds = getattr(self._serial, "handshake_seconds", HANDSHAKE_SECONDS)
            self.info = self._handshake(handshake_seconds)
            if self.info.uploading:
                # §5.1/§4.4: an upload left dangling by a host that went away. It hides the stored model
                # (IDENTIFY says "no model" while model[] is being overwritten); ABORT brings it back.
                self._request(CMD_UPLOAD_ABORT)
                self.identify()
        except BaseException:
            self.close()
            raise

    # -- opening -----------------------------------------------------------------------------------

    def _start_simulator(self, eeprom_path, blank: bool = False) -> None:
        self.simulator = BlankSimulatedUno.default() if blank else SimulatedBoard(eeprom_path)
        self.simulator.start()

    @staticmethod
    def _open(device: str):
        try:
            # A short read timeout; _read() loops on it until each response's own deadline (§4.4).
            if "://" in device:  # a pyserial URL: one of the kit's back ends (the page) or pyserial's own
                return serial.serial_for_url(device, BAUD_RATE, timeout=0.05, write_timeout=1.0)
            # exclusive: a second program (or a forgotten handle) cannot talk over us, as on Windows.
            exclusive = True if os.name == "posix" else None
            return serial.Serial(device, BAUD_RATE, timeout=0.05, write_timeout=1.0, exclusive=exclusive)
        except serial.SerialException as error:
            reason = str(error)
            if "ermission" in reason:
                hint = ("you may not have permission to use serial ports — on Linux: "
                        "sudo usermod -aG dialout $USER, then log out and in again")
            elif any(word in reason.lower() for word in ("busy", "access is denied", "lock")):
                hint = "another program (Arduino IDE serial monitor?) has it open — close that first"
            else:
                hint = "is the board plugged in? `bingo-kit ports` lists the ports this computer sees"
            raise NoBoardError(f"Could not open {device}: {hint}.") from None

    def _handshake(self, seconds: float) -> BoardInfo:
        """§4.4: IDENTIFY every 250 ms until a valid answer, for at most `seconds` (rides out the bootloader)."""
        deadline = time.monotonic() + seconds
        self._bytes_heard = 0
        while True:
            try:
                self._serial.reset_input_buffer()
                self._unread = b""
                self._write_frame(CMD_IDENTIFY, b"")
                # a board behind a network (the page's) gets one round trip per try, not 250 ms
                retry = max(HANDSHAKE_RETRY_SECONDS, getattr(self._serial, "handshake_retry_seconds", 0.0))
                try_deadline = min(deadline, time.monotonic() + retry)
                status, payload = self._read_response(CMD_IDENTIFY, try_deadline)
                if status == 0:
                    return parse_identify(payload)
            except _NoReply:
                pass
            if time.monotonic() >= deadline:
                break
        where = self._where()
        if self._bytes_heard:
            raise NotBingoFirmwareError(
                f"Something answers on {where}, but not the BINGO firmware. Put the receiver on the board with "
                f"`bingo-kit install-firmware --port {self.port_name}` (add --board nano or mega), then try again.")
        raise NotBingoFirmwareError(
            f"No BINGO firmware answered on {where} within {seconds:.0f} s. Is this the right port, and has the "
            f"receiver been put on the board (`bingo-kit install-firmware --port {self.port_name}`)?")

    # -- frames (§4) -------------------------------------------------------------------------------

    @property
    def response_timeout(self) -> float:
        """§4.4's time-out per response; a back end of the kit's own may set its own (the page's grows when its
        simulation runs slow)."""
        return getattr(self._serial, "response_timeout", None) or self._fixed_response_timeout

    @response_timeout.setter
    def response_timeout(self, seconds: float) -> None:
        self._fixed_response_timeout = seconds

    def _where(self) -> str:
        if self.simulator:
            return "the simulated Uno"
        return {PAGE_PORT: "the Simulated Uno in the page",
                WEB_SERIAL_PORT: "the board connected through this browser"}.get(self.port_name, self.port_name)

    def _subject(self) -> str:
        """The board as the subject of a sentence."""
        where = self._where()
        return where[0].upper() + where[1:] if where.startswith("the ") else f"The board on {where}"

    def _disconnected(self, what: str) -> BoardDisconnectedError:
        gone = getattr(self._serial, "gone", None)  # the page knows why its board went away
        if gone:
            return BoardDisconnectedError(f"{gone} A model already on the board is kept.")
        if self.port_name == PAGE_PORT:
            return BoardDisconnectedError(f"The Simulated Uno in the page stopped answering {what} — was the page "
                                          "reloaded or closed? Keep the notebook open and try again; a model "
                                          "already on it is kept.")
        return BoardDisconnectedError(f"{self._subject()} stopped answering {what} — was it unplugged or reset? "
                                      "Plug it back in and try again; a model already on it is kept.")

    def _disconnected_during_commit(self) -> BoardDisconnectedError:
        """§3: once COMMIT has started writing the EEPROM the old model is gone, so "kept" would be false here:
        a cut-off COMMIT leaves the new model, the old one (cut before writing) or, most often, none."""
        return BoardDisconnectedError(f"{self._subject()} stopped answering while it stored the model — was it unplugged or "
                                      "reset? It may now hold the new model, the old one or none: plug it back in "
                                      "and flash again.")

    def _write_frame(self, command: int, payload: bytes) -> None:
        self._write_bytes(request_frame(command, payload))

    def _write_bytes(self, frame: bytes) -> None:
        if self._serial is None:
            raise FlashError("This board connection is closed; connect again.")
        try:
            # Stop-and-wait pays the host's turn-around once per request, so on POSIX hand the frame to the
            # kernel in one os.write (pyserial's write adds a select() per call); whatever the driver did not
            # take at once (its buffer full) goes through pyserial, which honours write_timeout.
            sent = 0
            if self._fd is not None:
                try:
                    sent = os.write(self._fd, frame)
                except BlockingIOError:
                    sent = 0
            if sent < len(frame):
                self._serial.write(frame[sent:])
        except (serial.SerialException, OSError):
            raise self._disconnected("while the kit was sending") from None

    def _read(self, n: int, deadline: float) -> bytes:
        buffer, self._unread = self._unread[:n], self._unread[n:]
        while len(buffer) < n:
            if time.monotonic() >= deadline:
                raise _NoReply
            try:
                chunk = self._serial.read(n - len(buffer))
            except (serial.SerialException, OSError):
                raise self._disconnected("mid-conversation") from None
            buffer += chunk
            self._bytes_heard += len(chunk)
        return buffer

    def _read_response(self, command: int, deadline: float) -> tuple[int, bytes]:
        """(status, payload) of the next valid response to `command`; stale or damaged ones are skipped."""
        while True:
            if self._read(1, deadline)[0] != RESPONSE_SYNC:
                continue  # noise before a sync byte is discarded (§4.3 mirrored on the host)
            header = self._read(3, deadline)
            answered, status, length = header
            payload = self._read(length, deadline)
            crc_bytes = self._read(2, deadline)
            if struct.unpack("<H", crc_bytes)[0] != crc16(header + payload):
                # A damaged response, or a 0x5A that was data and not a sync: hunt again from the byte after
                # it, so a real frame that started inside what we just read is not lost. The deadline bounds it.
                self._unread = header + payload + crc_bytes + self._unread
                continue
            if answered in (command, CMD_NONE):  # the board could not tell which command (§4.2)
                return status, payload
            # a late answer to an earlier request: skip it

    def _request(self, command: int, payload: bytes = b"", timeout: float | None = None) -> bytes:
        """Send one request, wait for its response (§4.4 time-outs), raise the §6 error if not OK."""
        timeout = self.response_timeout if timeout is None else timeout
        self._write_frame(command, payload)
        try:
            status, answer = self._read_response(command, time.monotonic() + timeout)
        except _NoReply:
            raise self._disconnected(f"(no reply within {timeout:.1f} s)") from None
        if status == Status.E_FRAME_LENGTH:
            self._let_the_line_settle()
        if status != Status.OK:
            raise self._status_error(status, answer)
        return answer

    def _request_many(self, requests: list[tuple[int, bytes]], on_answer: Callable[[int], None] | None = None,
                      answers: list[bytes] | None = None) -> list[bytes]:
        """Several requests, their answers in order (each checked as _request does). Where the transport keeps
        §4.1's one-request-at-a-time rule itself (the page's relay, bingo_kit/page/src/widget.js), they go out
        in one write, so a batch pays the trip to the board once; elsewhere one by one. `on_answer(n)` after
        the n-th answer, which is then `answers[n - 1]` (pass your own list to read it there)."""
        answers = [] if answers is None else answers
        if len(requests) == 1 or not getattr(self._serial, "relays_stop_and_wait", False):
            for command, payload in requests:
                answers.append(self._request(command, payload))
                if on_answer is not None:
                    on_answer(len(answers))
            return answers
        self._write_bytes(b"".join(request_frame(command, payload) for command, payload in requests))
        try:
            for command, _ in requests:
                try:
                    status, answer = self._read_response(command, time.monotonic() + self.response_timeout)
                except _NoReply:
                    raise self._disconnected(f"(no reply within {self.response_timeout:.1f} s)") from None
                if status != Status.OK:
                    raise self._status_error(status, answer)
                answers.append(answer)
                if on_answer is not None:
                    on_answer(len(answers))
        except BaseException:
            self._forget_the_rest_of_the_batch()
            raise
        return answers

    def _forget_the_rest_of_the_batch(self) -> None:
        """After a failed batch: the relay drops the requests it still holds, and the answer to the one the board
        has may still come: wait for it, so that it is never read as the answer to a later request."""
        try:
            self._serial.discard_queued_requests()
            time.sleep(min(self.response_timeout, 1.0))
            self._serial.reset_input_buffer()
        except Exception:  # noqa: BLE001 - the link may be gone too; the error that brought us here is the news
            pass
        self._unread = b""

    def _let_the_line_settle(self) -> None:
        """§4.3: after E_FRAME_LENGTH the board ignores bytes until the line has been quiet for 50 ms."""
        time.sleep(2 * FRAME_BYTE_TIMEOUT_MS / 1000)
        self._serial.reset_input_buffer()
        self._unread = b""

    def _status_error(self, status: int, payload: bytes) -> BoardError:
        if status == Status.E_TOO_BIG:
            capacity = struct.unpack("<H", payload[:2])[0] if len(payload) >= 2 else self.info.capacity
            return ModelTooBigError(self._pending_size, capacity, self.info.board_name)
        cls = STATUS_ERRORS.get(status)
        if cls is None:
            return BoardError(f"The board answered with unknown error code 0x{status:02X} — "
                              "is the kit older than the firmware?", status)
        return cls()

    # -- commands (§5) -----------------------------------------------------------------------------

    def identify(self) -> BoardInfo:
        self.info = parse_identify(self._request(CMD_IDENTIFY))
        return self.info

    def upload(self, blob, progress: bool = True,
               on_progress: Callable[[int, int], None] | None = None) -> UploadResult:
        """Send a model (bytes, or an ExportReport) in §5 chunks; the board verifies it, stores it, runs it."""
        blob = bytes(getattr(blob, "blob", blob))
        model = decode_blob(blob)  # a broken file fails here, with a clear BlobError, before anything is sent
        info = self.identify()     # the board's own answer is the truth about its capacity (§3)
        self._pending_size = len(blob)
        if info.blob_format != BLOB_FORMAT_VERSION:
            raise BadVersionError(f"This kit writes model format {BLOB_FORMAT_VERSION} but the firmware on "
                                  f"{info.board_name} reads format {info.blob_format}: put this kit's receiver on the "
                                  "board (bingo-kit install-firmware --port PORT), then try again.")
        if len(blob) > info.capacity:
            raise ModelTooBigError(len(blob), info.capacity, info.board_name)
        if info.widest_layer and max(model.sizes) > info.widest_layer:
            raise TooWideError(f"A layer has {max(model.sizes)} units but {info.board_name} handles at most "
                               f"{info.widest_layer}. Use fewer hidden units.")
        if model.sizes[-1] > PREDICT_MAX_LOGITS:
            raise TooWideError(f"The model has {model.sizes[-1]} classes; a board answers at most {PREDICT_MAX_LOGITS} "
                               "(the prediction must fit one response frame, PROTOCOL.md §5.2).")
        crc = crc16(blob)
        started = time.monotonic()
        begin = self._request(CMD_UPLOAD_BEGIN, struct.pack("<HH", len(blob), crc))
        chunk_size = min(MAX_REQUEST_PAYLOAD, begin[2] if len(begin) >= 3 and begin[2] else MAX_REQUEST_PAYLOAD)
        try:
            with tqdm(total=len(blob), unit="B", desc="upload", disable=not progress, leave=False) as bar:
                offsets = range(0, len(blob), chunk_size)
                ends = [min(offset + chunk_size, len(blob)) for offset in offsets]
                answers: list[bytes] = []

                def chunk_arrived(count: int) -> None:
                    (received,) = struct.unpack("<H", answers[count - 1][:2])
                    if received != ends[count - 1]:
                        raise BoardError(f"The board counted {received} bytes where the kit sent "
                                         f"{ends[count - 1]} — flash again.")
                    bar.update(ends[count - 1] - (ends[count - 2] if count > 1 else 0))
                    if on_progress is not None:
                        on_progress(ends[count - 1], len(blob))

                self._request_many([(CMD_UPLOAD_CHUNK, blob[offset:offset + chunk_size]) for offset in offsets],
                                   on_answer=chunk_arrived, answers=answers)
            # a simulation slower than the chip (the page's, on a busy computer) writes its EEPROM slower too
            commit_timeout = (COMMIT_TIMEOUT + COMMIT_SECONDS_PER_BYTE * len(blob)) * getattr(self._serial, "time_scale", 1.0)
            try:
                committed = self._request(CMD_UPLOAD_COMMIT, timeout=commit_timeout)
            except BoardDisconnectedError:
                raise self._disconnected_during_commit() from None
            board_crc, length, eeprom_ms = struct.unpack("<HHH", committed[:6])
        except BoardDisconnectedError:
            raise
        except BaseException:
            self._abort_quietly()  # e.g. Ctrl-C: the board restores its previous model (§5.2)
            raise
        if board_crc != crc or length != len(blob):
            raise ChecksumRejectedError()
        self.info.has_model, self.info.model_length, self.info.model_crc = True, length, crc
        return UploadResult(len(blob), time.monotonic() - started, crc, eeprom_ms)

    def _abort_quietly(self) -> None:
        try:
            self._request(CMD_UPLOAD_ABORT)
        except FlashError:
            pass

    def holdings_after_interrupt(self, blob, before: BoardInfo) -> str:
        """One sentence for someone who stopped upload(blob) (Ctrl-C): what the board holds now, by a fresh
        IDENTIFY; `before` is its IDENTIFY answer from before the upload. A COMMIT that has begun runs to its end on
        the board (§5.2: nothing stops it), so this waits as long as a COMMIT may take; the answers to COMMIT and
        to upload()'s ABORT, queued ahead of IDENTIFY's, are skipped."""
        blob = bytes(getattr(blob, "blob", blob))
        try:
            timeout = COMMIT_TIMEOUT + COMMIT_SECONDS_PER_BYTE * len(blob)
            now = self.info = parse_identify(self._request(CMD_IDENTIFY, timeout=timeout))
        except FlashError:
            return "Stopped; the board did not answer, so what it holds is unknown: flash again to be sure."
        if not now.has_model:
            if not before.has_model:
                return "Stopped before the new model was stored; the board still holds no model."
            return "Stopped; the board now holds no model: flash one again."
        held = f"{now.model_length} bytes, CRC 0x{now.model_crc:04X}"
        if (now.model_length, now.model_crc) == (len(blob), crc16(blob)):
            return f"Stopped, but the board had already stored the new model ({held}) and keeps it."
        if before.has_model and (now.model_length, now.model_crc) == (before.model_length, before.model_crc):
            return f"Stopped before the new model was stored; the board keeps its previous model ({held})."
        return f"Stopped; the board holds a model ({held}) that is neither the new one nor the one it had."

    def predict(self, x_u8) -> Prediction:
        """Run the board's model on one input (bytes or uint8 array); §5.3 sends it in 58-byte pieces."""
        data = as_input_bytes(x_u8).reshape(-1).tobytes()
        return self._prediction(data, self._ask(self._predict_pieces(data), len(data)))

    def predict_many(self, x_u8, progress: bool = True,
                     on_progress: Callable[[int, int], None] | None = None) -> list[Prediction]:
        """predict() for each row; `on_progress(done, total)` as answers come. Over the page's relay the rows go in
        batches of BATCH_ROWS, each batch in one trip."""
        rows = [row.tobytes() for row in np.atleast_2d(as_input_bytes(x_u8))]
        batch = BATCH_ROWS if getattr(self._serial, "relays_stop_and_wait", False) else 1
        predictions: list[Prediction] = []
        with tqdm(total=len(rows), desc="predict", disable=not progress, leave=False) as bar:
            for start in range(0, len(rows), batch):
                block = rows[start:start + batch]
                pieces = [self._predict_pieces(data) for data in block]
                answers = self._ask([piece for row in pieces for piece in row], max(map(len, block)))
                for data, row in zip(block, pieces):
                    predictions.append(self._prediction(data, answers[:len(row)]))
                    answers = answers[len(row):]
                bar.update(len(block))
                if on_progress is not None:
                    on_progress(len(predictions), len(rows))
        return predictions

    def _predict_pieces(self, data: bytes) -> list[tuple[int, bytes]]:
        """§5.3: the PREDICT requests that carry one input, offset first."""
        if not data:
            raise FlashError("An input needs at least one byte.")
        piece_size = MAX_REQUEST_PAYLOAD - 1
        if (len(data) - 1) // piece_size * piece_size > 255:  # the last piece's offset must fit its u8
            raise FlashError(f"{len(data)} inputs are more than the board protocol can address (256).")
        return [(CMD_PREDICT, bytes([offset]) + data[offset:offset + piece_size])
                for offset in range(0, len(data), piece_size)]

    def _ask(self, requests: list[tuple[int, bytes]], inputs: int) -> list[bytes]:
        try:
            return self._request_many(requests)
        except BadLengthError:
            raise BadLengthError(f"The model on the board takes fewer than {inputs} inputs.") from None

    def _prediction(self, data: bytes, answers: list[bytes]) -> Prediction:
        """The Prediction in the answers to _predict_pieces(data): only the last piece's answer may carry one."""
        piece_size = MAX_REQUEST_PAYLOAD - 1
        for index, answer in enumerate(answers[:-1]):
            if answer:
                raise BadLengthError(f"The model on the board takes {min(len(data), (index + 1) * piece_size)} "
                                     f"inputs, not {len(data)}.")
        answer = answers[-1]
        if not answer:
            raise BadLengthError(f"The model on the board takes more than {len(data)} inputs.")
        label, n_classes, cycles = struct.unpack("<BBI", answer[:6])
        logits = list(struct.unpack(f"<{n_classes}i", answer[6:6 + 4 * n_classes]))
        clock_khz = self.info.clock_khz or 16_000
        return Prediction(label, logits, cycles, cycles * 1000.0 / clock_khz)

    # -- lifetime ----------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._serial is not None and self._serial.is_open

    def close(self) -> None:
        """Close the port (and stop the simulator this board started). Safe to call twice."""
        key = getattr(self, "_registry_key", None)
        if _OPEN_BOARDS.get(key) is self:
            del _OPEN_BOARDS[key]
        if self._serial is not None:
            try:
                self._serial.close()
            except Exception:
                pass
            self._serial = None
            self._fd = None
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None

    def __enter__(self) -> BingoBoard:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"BingoBoard({self.port_name!r}, {state})"


def connect(port: str = "auto", **options) -> BingoBoard:
    """Open `port` ("auto" = first Arduino, "sim" = simulated Uno, or a device path) and shake hands."""
    return BingoBoard(port, **options)
