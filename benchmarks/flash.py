"""Flashing and inference on the simulated board: measured in one run, printed as ratios.

  python benchmarks/flash.py

1. Upload throughput (stop-and-wait, 59-byte chunks) as a fraction of the 115 200-baud wire limit,
   11 520 B/s: in simulated board time (the runner's cycle counter at 16 MHz) and in wall time.
2. Time from "flash" to the first prediction answered, for a ~1 KB model, against the physical floor:
   the blob's wire time plus the EEPROM write time of an ATmega (3.4 ms per byte). The simulated Uno is
   run with realistic_eeprom=True here, so its EEPROM writes take that long too (simavr's are instant).
3. Inference cost per digit in CPU cycles (the sketch's own Timer1 count) for the default 64-16-10 model:
   dense (1.3 KB: only a Mega 2560 holds it) and pruned (on the Uno). Goal: <= 16 000 cycles (1 ms).
0. First, how closely the runner paces simulated time to the wall clock (simulated s / wall s over 1 s).
Nothing is mocked: the real sketch, built with avr-gcc, runs in simavr behind a pty.
"""
from __future__ import annotations

import copy
import statistics
import time

from bingo_kit.boards import EEPROM_RECORD_OVERHEAD
from bingo_kit.board.protocol import BAUD_RATE, MAX_REQUEST_PAYLOAD as CHUNK  # PROTOCOL.md §4.1: request = 3 + chunk + 2
from bingo_kit.board.simavr import CPU_HZ, EEPROM_WRITE_US

WIRE_BYTES_PER_SECOND = BAUD_RATE // 10   # 11 520: 10 bits per byte
# the floor uses the write time the runner is started with (realistic_eeprom=True), not a copy of it
EEPROM_SECONDS_PER_BYTE = EEPROM_WRITE_US / 1e6
GOAL_THROUGHPUT, GOAL_CYCLES = 0.80, 16_000
ACTUAL_BAUD = 117_647                # what UBRR=16 with U2X gives at 16 MHz for "115 200"


def _trained_model(data):
    import torch

    from bingo_kit.models import make_mlp
    from bingo_kit.training import train

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = make_mlp((64, 16, 10), seed=0)
    train(model, data, epochs=15, seed=0, progress=False)
    return model


def _pruned_to_size(model, data, low: int, high: int):
    """Prune by magnitude until the blob lands in [low, high] bytes."""
    from bingo_kit.export import encode_blob, quantize
    from bingo_kit.pruning import prune_fraction

    for percent in range(5, 100):
        pruned = copy.deepcopy(model)
        prune_fraction(pruned, percent / 100, method="magnitude")
        q = quantize(pruned, data.x_train)
        blob = encode_blob(q)
        if low <= len(blob) <= high:
            return percent / 100, q, blob
    raise RuntimeError(f"no pruning level gives a blob of {low}..{high} bytes")


def measure_pacing(simulator, seconds: float = 1.0) -> float:
    """Simulated seconds per wall second while the board idles (1.00 = paced exactly to the wall clock)."""
    c0, w0 = simulator.cycles(), time.perf_counter()
    time.sleep(seconds)
    c1, w1 = simulator.cycles(), time.perf_counter()
    return (c1 - c0) / CPU_HZ / (w1 - w0)


def _record(blob: bytes) -> bytes:
    """The EEPROM image of a blob (PROTOCOL.md §3): u16 length, u16 CRC, blob."""
    import struct

    from bingo_kit.export import crc16

    return struct.pack("<HH", len(blob), crc16(blob)) + blob


def _eeprom_writes(old_image: bytes, blob: bytes) -> int:
    """EEPROM bytes a COMMIT of `blob` must program over `old_image`: §3 write order, unchanged bytes skipped."""
    new = _record(blob)
    invalidate = sum(1 for b in old_image[0:2] if b != 0xFF)           # 1. length := 0xFFFF
    body = sum(1 for i in range(4, len(new)) if old_image[i] != new[i])  # 2. the blob
    crc = sum(1 for i in (2, 3) if old_image[i] != new[i])               # 3. the CRC
    length = sum(1 for b in new[0:2] if b != 0xFF)                       # 4. the real length
    return invalidate + body + crc + length


def measure_upload(board, simulator, blob: bytes) -> dict:
    """Chunk phase of one upload: sim cycles and wall seconds from the first chunk's answer to the last."""
    marks = {}

    def on_progress(sent, total):
        if sent == min(CHUNK, total) or sent == total:  # first and last chunk answered
            marks.setdefault("first" if sent < total else "last", (simulator.cycles(), time.perf_counter(), sent))

    board.upload(blob, progress=False, on_progress=on_progress)
    (c0, w0, s0), (c1, w1, s1) = marks["first"], marks["last"]
    payload = s1 - s0
    # The chunks timed (all but the first) on the wire: each request and its 8-byte answer, 10 bits a byte.
    chunks = [min(CHUNK, s1 - offset) for offset in range(s0, s1, CHUNK)]
    wire_s = sum((3 + n + 2 + 8) * 10 / ACTUAL_BAUD for n in chunks)
    return {
        "sim_fraction": payload / ((c1 - c0) / CPU_HZ) / WIRE_BYTES_PER_SECOND,
        "cap_fraction": payload / wire_s / WIRE_BYTES_PER_SECOND,
        # board time per chunk beyond its wire time: host + runner + sketch turn-around (plus, once, the
        # ~0.5 ms the first mark's cycle-counter read keeps the host from sending the next chunk)
        "turnaround_us": ((c1 - c0) / CPU_HZ - wire_s) / len(chunks) * 1e6,
        "wall_fraction": payload / (w1 - w0) / WIRE_BYTES_PER_SECOND,
    }


def measure_inference(board, inputs) -> list[int]:
    return [board.predict(x).cycles for x in inputs]


def main() -> None:
    from bingo_kit.data import load_dataset
    from bingo_kit.export import blob_encodings, encode_blob, inputs_to_bytes, quantize
    from bingo_kit.board.board import BingoBoard
    from bingo_kit.pruning import kept_weights, prune_to_floor
    from bingo_kit.board.simavr import SimulatedBoard, build_firmware, firmware_size
    from bingo_kit.training import accuracy

    data = load_dataset("digits")
    inputs = inputs_to_bytes(data.x_test)[:100]
    model = _trained_model(data)
    dense_q = quantize(model, data.x_train)
    dense_blob = encode_blob(dense_q)
    pruned = copy.deepcopy(model)
    floor = accuracy(model, data.x_test, data.y_test) - 0.02
    prune_to_floor(pruned, data, floor, method="magnitude")
    kept, total = kept_weights(pruned)
    pruned_q = quantize(pruned, data.x_train)
    pruned_blob = encode_blob(pruned_q)
    fraction_1k, q_1k, blob_1k = _pruned_to_size(model, data, 960, 1020)

    size = firmware_size(build_firmware("uno"))
    print(f"sketch on an Uno: {size['flash']} B flash (limit 8192), {size['ram']} B static RAM of 2048")

    # --- 1 + 2: upload throughput and flash-to-first-prediction on the Uno, ~1 KB model --------------
    # realistic_eeprom: the runner keeps each EEPROM byte write busy 3.4 ms, as on the ATmega328P.
    with SimulatedBoard(realistic_eeprom=True) as simulator, BingoBoard(simulator.port) as board:
        print(f"0. simulated time / wall time while idle, 1 s: {measure_pacing(simulator):.3f} (goal 1.00)")
        info = board.identify()
        print(f"Uno IDENTIFY: capacity {info.capacity} B, free RAM {info.free_ram} B, widest layer {info.widest_layer}")
        runs = [measure_upload(board, simulator, blob_1k) for _ in range(3)]
        print(f"\n1. upload throughput, {len(blob_1k)}-byte model ({fraction_1k:.0%} pruned), 59-byte chunks, "
              f"stop-and-wait, 3 runs:")
        sim_fractions = ", ".join(f"{run['sim_fraction']:.3f}" for run in runs)
        wall_fractions = ", ".join(f"{run['wall_fraction']:.3f}" for run in runs)
        print(f"   simulated board time: {sim_fractions} of 11 520 B/s (goal >= {GOAL_THROUGHPUT:.2f})")
        print(f"   wall time:            {wall_fractions} of 11 520 B/s")
        cap = CHUNK / ((64 + 8) * 10 / ACTUAL_BAUD) / WIRE_BYTES_PER_SECOND
        print(f"   (frames cap it at {cap:.3f}: 59 bytes per 64-byte request + 8-byte answer, at the 328P's actual "
              f"117 647 baud for 115 200 (UBRR=16, U2X); {runs[0]['cap_fraction']:.3f} for the chunks timed here, "
              "the last one short; the rest is turn-around)")
        turnaround = ", ".join(f"{run['turnaround_us']:.0f}" for run in runs)
        print(f"   turn-around per chunk, board time beyond the wire time: {turnaround} us "
              "(host + runner + sketch; one 72-byte exchange is 6120 us)")

        # Flash, then the first prediction answered: what a student waits for after clicking "flash".
        board.upload(pruned_blob, progress=False)  # another model first, so the timed upload rewrites EEPROM
        time.sleep(0.2)  # the runner saves its EEPROM file within 50 ms of a change
        changed = _eeprom_writes(simulator.eeprom_path.read_bytes(), blob_1k)
        c0, w0 = simulator.cycles(), time.perf_counter()
        result = board.upload(blob_1k, progress=False)
        board.predict(inputs[0])
        c1, w1 = simulator.cycles(), time.perf_counter()
        wire_s = len(blob_1k) / WIRE_BYTES_PER_SECOND
        eeprom_s = changed * EEPROM_SECONDS_PER_BYTE
        floor_s = wire_s + eeprom_s
        sim_s, wall_s = (c1 - c0) / CPU_HZ, w1 - w0
        print(f"\n2. flash -> first prediction answered, {len(blob_1k)}-byte model over another one "
              f"({changed} EEPROM byte writes for its {len(blob_1k) + EEPROM_RECORD_OVERHEAD}-byte record; "
              f"{EEPROM_WRITE_US / 1000:.1f} ms each in this run):")
        print(f"   simulated board time {sim_s * 1000:.0f} ms, wall time {wall_s * 1000:.0f} ms; physical floor "
              f"{floor_s * 1000:.0f} ms (wire {wire_s * 1000:.0f} ms + {changed} EEPROM writes {eeprom_s * 1000:.0f} ms)")
        print(f"   ratio to the floor: {sim_s / floor_s:.2f} (sim), {wall_s / floor_s:.2f} (wall); "
              f"COMMIT reported {result.eeprom_ms} ms of EEPROM writing")

        # --- 3b: pruned default model on the Uno -----------------------------------------------------
        board.upload(pruned_blob, progress=False)
        pruned_cycles = measure_inference(board, inputs)

    # --- 3a: dense default model: 1.3 KB, so on the Mega 2560 build of the same sketch ---------------
    with SimulatedBoard(board="mega") as simulator, BingoBoard(simulator.port) as board:
        board.upload(dense_blob, progress=False)
        dense_cycles = measure_inference(board, inputs)

    def line(name, cycles):
        mean = statistics.mean(cycles)
        return (f"   {name}: mean {mean:.0f} cycles ({mean / CPU_HZ * 1e6:.0f} us), min {min(cycles)}, "
                f"max {max(cycles)}; {mean / GOAL_CYCLES:.2f} of the 16 000-cycle goal")

    print(f"\n3. inference per digit, 64-16-10, {len(inputs)} test digits (Timer1 at clk/1):")
    print(line(f"dense  ({len(dense_blob)} B, {'/'.join(blob_encodings(dense_q))}, Mega 2560)", dense_cycles))
    print(line(f"pruned ({len(pruned_blob)} B, {kept}/{total} weights kept by prune_to_floor(accuracy - 0.02), "
               f"{'/'.join(blob_encodings(pruned_q))}, Uno)", pruned_cycles))


if __name__ == "__main__":
    main()
