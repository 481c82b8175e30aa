"""The Simulated Uno in the page (avr8js in headless Chromium), measured in one run and printed as ratios.

  python benchmarks/browser_uno.py [--json] [--n 300]

A private JupyterLab and Debian's Chromium (Playwright; nothing downloaded) open a notebook whose kernel talks to
the page's Uno through the kit's own path: BingoBoard over page://uno, the bytes as comm messages, the page's
relay, the receiver's shipped .hex in avr8js. Twice: as this machine delivers messages, and with 100 ms added to
every message in both directions (latency_ms), as a JupyterHub across the internet would add.

  n, agreement               test digits sent, and the share whose 10 logits match the laptop's int8 reference
  upload_wire_ratio          blob bytes per second while the chunks travel (first chunk answered to the last),
                             ÷ 11 520 B/s, the wire's own rate at 115 200 baud (10 bits a byte)
  first_answer_floor_ratio   flash → first prediction answered, ÷ the physical floor of a real Uno: the blob's
                             wire time plus its EEPROM byte writes at 3.4 ms each (as benchmarks/flash.py)
  simulated_mhz              simulated clock cycles per wall-clock second, as the page reports them (a real Uno: 16)
Target (issue 19): agreement 1.0; with no added delay, first_answer_floor_ratio ≤ 1.5 on this machine.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WIRE_BYTES_PER_SECOND = 115_200 // 10
EEPROM_SECONDS_PER_BYTE = 0.0034  # ATmega328P datasheet, as benchmarks/flash.py's floor


def _record(blob: bytes) -> bytes:
    from bingo_kit.board.protocol import crc16

    return len(blob).to_bytes(2, "little") + crc16(blob).to_bytes(2, "little") + blob


def eeprom_writes(old_record: bytes, blob: bytes) -> int:
    """EEPROM bytes a COMMIT of `blob` programs over `old_record` (PROTOCOL.md §3 order, unchanged bytes skipped)."""
    new = _record(blob)
    old = old_record.ljust(len(new), b"\xff")
    invalidate = sum(1 for b in old[0:2] if b != 0xFF)
    body = sum(1 for i in range(2, len(new)) if old[i] != new[i])
    length = sum(1 for b in new[0:2] if b != 0xFF)
    return invalidate + body + length


def two_models():
    """Two ~1 KB digit models (fits an Uno), differently pruned, and the test digits as the board's bytes."""
    import torch

    from bingo_kit.data import load_dataset
    from bingo_kit.export import encode_blob, inputs_to_bytes, quantize
    from bingo_kit.models import make_mlp
    from bingo_kit.pruning import prune_fraction
    from bingo_kit.training import train

    torch.manual_seed(0)
    data = load_dataset("digits")
    model = make_mlp((64, 16, 10), seed=0)
    train(model, data, epochs=15, seed=0, progress=False)
    blobs = []
    for percent in range(5, 100):  # the least pruning that fits the Uno's 1020 bytes, then 5 points more
        pruned = copy.deepcopy(model)
        prune_fraction(pruned, percent / 100, method="magnitude")
        blob = encode_blob(quantize(pruned, data.x_train))
        if len(blob) <= 1020 and (not blobs or percent >= first + 5):
            blobs.append(blob)
            first = percent
            if len(blobs) == 2:
                return blobs, inputs_to_bytes(data.x_test), data.y_test.numpy()
    raise RuntimeError("no pruning level fits the Uno")


def measure_page_board(blob: bytes, old_record: bytes, x_u8, n: int) -> dict:
    """In the kernel, in the page board's thread: one flash + first answer, then n test digits."""
    from bingo_kit.board.agreement import compare_board_with_reference
    from bingo_kit.board.board import BingoBoard
    from bingo_kit.board.page import PageUno

    page = PageUno.named("uno")
    speeds = []
    marks = {}

    def on_progress(sent, total):
        speeds.append(page.simulated_mhz)
        marks.setdefault("first", (time.perf_counter(), sent))
        marks["last"] = (time.perf_counter(), sent)

    with BingoBoard("page") as board:
        started = time.perf_counter()
        board.upload(blob, progress=False, on_progress=on_progress)
        board.predict(x_u8[0])
        first_answer = time.perf_counter() - started
        comparison = compare_board_with_reference(board, blob, x_u8[:n], progress=False)
    speeds.append(page.simulated_mhz)
    (t_first, sent_first), (t_last, sent_last) = marks["first"], marks["last"]
    chunk_rate = (sent_last - sent_first) / (t_last - t_first) if t_last > t_first else float("nan")
    floor = len(blob) / WIRE_BYTES_PER_SECOND + eeprom_writes(old_record, blob) * EEPROM_SECONDS_PER_BYTE
    known = [s for s in speeds if s]
    return {
        "n": comparison.n,
        "agreement": comparison.agreement,
        "upload_wire_ratio": round(chunk_rate / WIRE_BYTES_PER_SECOND, 3),
        "first_answer_floor_ratio": round(first_answer / floor, 3),
        "first_answer_seconds": round(first_answer, 3),
        "floor_seconds": round(floor, 3),
        "blob_bytes": len(blob),
        "simulated_mhz": round(statistics.fmean(known), 2) if known else None,
    }


KERNEL_SETUP = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
from browser_uno import measure_page_board, two_models, _record
from bingo_kit.board.page import PageUno
from bingo_kit.board.session import run_on_board
blobs, x_u8, y = two_models()
board_view = PageUno.named("uno")
board_view
"""


def run(n: int) -> dict:
    sys.path.insert(0, str(REPO / "tests"))
    from browser_jupyter import kernel_exec, notebook_in_chromium, run_all_cells, write_notebook

    with tempfile.TemporaryDirectory(prefix="bingo-browser-uno-") as scratch:
        scratch = Path(scratch)
        root = scratch / "notebooks"
        write_notebook(root, "browser_uno.ipynb", [KERNEL_SETUP])
        with notebook_in_chromium(root, scratch, "browser_uno.ipynb", None) as (page, _shots):
            run_all_cells(page)
            page.wait_for_selector(".bingo-page-uno[data-state=running]", timeout=120_000)
            page.wait_for_timeout(3000)  # a few speed reports from the page before measuring
            result = {}
            old = "b''"  # a fresh browser: the page's EEPROM is erased
            for key, latency, index in (("no_added_delay", 0, 0), ("latency_100ms", 100, 1)):
                out = kernel_exec(page, f"""
board_view.latency_ms = {latency}
import json as _json
_m = await run_on_board("page", measure_page_board, blobs[{index}], {old}, x_u8, {n})
print(_json.dumps(_m))
""")
                result[key] = json.loads(out.strip().splitlines()[-1])
                old = f"_record(blobs[{index}])"
    measured = result["no_added_delay"]
    return {**measured, "latency_100ms": result["latency_100ms"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--n", type=int, default=300, help="test digits per run (default 300)")
    args = parser.parse_args()
    result = run(args.n)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for label, figures in (("as delivered", result), ("+100 ms a message", result["latency_100ms"])):
        print(f"{label:>18}: agreement {figures['agreement']:.3f} on {figures['n']} digits; upload "
              f"{figures['upload_wire_ratio']:.2f} of the wire; flash → first answer {figures['first_answer_seconds']:.2f} s "
              f"= {figures['first_answer_floor_ratio']:.2f} × the floor ({figures['floor_seconds']:.2f} s for "
              f"{figures['blob_bytes']} B); simulated {figures['simulated_mhz']} MHz")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
