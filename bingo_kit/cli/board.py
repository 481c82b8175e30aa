"""`bingo-kit ports | export | flash | predict | install-firmware | simulate | doctor`: talking to boards.

Heavy libraries are imported inside each handler: `bingo-kit ports` should answer at once, without
loading torch.
"""
from __future__ import annotations

import sys

from bingo_kit.errors import KitError

COMMANDS: list = []  # one `_add_*` per subcommand, registered in order


def _ports(args) -> int:
    from bingo_kit.board.ports import list_ports

    ports = list_ports()
    if not ports:
        print("No serial ports found. Plug in a board (with a data cable), or use --port sim for the simulated Uno.")
        return 0
    for port in ports:
        guess = f"  <- {port.board_guess}" if port.is_arduino else ""
        print(f"{port.device:<24} {port.description}{guess}")
    return 0


def _add_ports(commands) -> None:
    parser = commands.add_parser("ports", help="list serial ports and recognise Arduino boards")
    parser.set_defaults(handler=_ports)


COMMANDS.append(_add_ports)


def _export(args) -> int:
    from bingo_kit.boards import get_board
    from bingo_kit.user_files import readable_file, writable_file

    # Mistakes in the command line first, before torch loads (seconds) and the export runs.
    readable_file(args.model, "a model file", f"Train one first: bingo-kit train -o {args.model}", "model.pt")
    writable_file(args.output, "the .bingo model", "model.bingo")
    get_board(args.board)

    from bingo_kit.data import load_dataset
    from bingo_kit.export import export_model
    from bingo_kit.models import load_model

    model = load_model(args.model)
    data = load_dataset(args.dataset, downsample=args.downsample)
    report = export_model(model, data, board=args.board)
    print(report.summary())
    if not report.fits:
        raise KitError(f"{args.model} does not fit on the {report.board.name} ({report.over_by} bytes too many): "
                       "prune more weights, or export for a bigger board (--board mega). Nothing was written.")
    path = report.save(args.output)
    print(f"wrote {path} ({report.size}-byte model and its checksum)")
    return 0


def _add_export(commands) -> None:
    parser = commands.add_parser("export", help="quantise a trained model to int8 and write a .bingo blob")
    parser.add_argument("model", help="a model file written by `bingo-kit train -o model.pt`")
    parser.add_argument("--board", default="uno", help="uno, nano or mega (default: uno)")
    parser.add_argument("-o", "--output", default="model.bingo", help="where to write the blob")
    parser.add_argument("--dataset", default="digits", help="calibration and test data (default: digits)")
    parser.add_argument("--downsample", action="store_true", help="28×28 datasets averaged down to 8×8")
    parser.set_defaults(handler=_export)


COMMANDS.append(_add_export)


def _read_model_file(path) -> bytes:
    """The blob in a .bingo file (export.read_model_file), saying so when an old file has no check of its own."""
    from bingo_kit.export import read_model_file

    model_file = read_model_file(path)
    if model_file.note(path):
        print(f"note: {model_file.note(path)}", file=sys.stderr)
    return model_file.blob


def _flash(args) -> int:
    import dataclasses
    from pathlib import Path

    from bingo_kit.board.agreement import remember_blob
    from bingo_kit.export import BlobError, decode_blob
    from bingo_kit.board.board import connect

    path = Path(args.blob)
    blob = _read_model_file(path)
    try:
        model = decode_blob(blob)
    except BlobError as error:
        raise BlobError(f"{path}: {error}") from None
    try:
        board = connect(args.port)
    except KeyboardInterrupt:
        print("bingo-kit flash: stopped before anything was sent; the board is unchanged.", file=sys.stderr)
        raise
    with board:
        before = dataclasses.replace(board.info)
        try:  # from here on a Ctrl-C gets its sentence (the line below is what a watcher waits for)
            where = "the simulated Uno" if board.simulator else f"{board.info.board_name} on {board.device}"
            print(f"flashing {len(blob)} bytes (model {'-'.join(map(str, model.sizes))}) to {where}, "
                  f"capacity {board.info.capacity} bytes")
            result = board.upload(blob, progress=not args.quiet)
        except KeyboardInterrupt:  # Ctrl-C: say what the board holds now (COMMIT may have stored the model)
            print(f"bingo-kit flash: {board.holdings_after_interrupt(blob, before)}", file=sys.stderr)
            raise
        remember_blob(blob)  # so `bingo-kit predict` can compare the board with the host reference later
    print(f"done: {result.bytes} bytes in {result.seconds:.2f} s ({result.bytes_per_second:.0f} B/s), "
          f"CRC 0x{result.crc:04X}; stored in EEPROM in {result.eeprom_ms} ms")
    return 0


def _add_flash(commands) -> None:
    parser = commands.add_parser("flash", help="upload a .bingo model to a board running the BINGO sketch")
    parser.add_argument("blob", help="a file written by `bingo-kit export`")
    parser.add_argument("--port", default="auto", help="serial port, 'auto' (first Arduino) or 'sim'")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_flash)


COMMANDS.append(_add_flash)


def _predict(args) -> int:
    import json

    blob = None
    if args.model:   # before torch loads (seconds): a wrong or damaged file is answered at once
        blob = _read_model_file(args.model)

    from bingo_kit.board.agreement import compare_board_with_reference, recall_blob
    from bingo_kit.data import load_dataset
    from bingo_kit.export import inputs_to_bytes
    from bingo_kit.board.board import connect

    with connect(args.port) as board:
        if blob is None:
            blob = recall_blob(board.info)
        data = load_dataset(args.dataset, downsample=args.downsample)
        n = len(data.y_test) if not args.n else min(args.n, len(data.y_test))
        x = inputs_to_bytes(data.x_test[:n])
        summary = compare_board_with_reference(board, blob, x, data.y_test[:n].numpy(),
                                               progress=not (args.json or args.quiet))
    if args.json:
        print(json.dumps(summary.as_dict()))
    else:
        print(f"{summary.n} {args.dataset} test examples: the board's logits match the host reference on "
              f"{100 * summary.agreement:.1f}%; board accuracy {100 * summary.accuracy:.1f}%; "
              f"{summary.mean_inference_us:.0f} µs per inference")
    return 0


def _add_predict(commands) -> None:
    parser = commands.add_parser("predict", help="run the test set on the board and compare with the host")
    parser.add_argument("--port", default="auto", help="serial port, 'auto' (first Arduino) or 'sim'")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--downsample", action="store_true", help="28×28 datasets averaged down to 8×8")
    parser.add_argument("--n", type=int, default=0, help="how many test examples (default: all)")
    parser.add_argument("--model", help="the .bingo file on the board (default: the one last flashed from here)")
    parser.add_argument("--json", action="store_true", help='print {"n", "agreement", "accuracy", "mean_inference_us"}')
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_predict)


COMMANDS.append(_add_predict)


def _install_firmware(args) -> int:
    from bingo_kit.board.install import ReceiverAlreadyThereError, install_firmware

    try:
        result = install_firmware(args.port, args.board, progress=not args.quiet, using=args.using, force=args.force)
    except ReceiverAlreadyThereError as there:  # nothing to do is no failure
        print(there)
        return 0
    print(result.summary())
    print(f"Next: bingo-kit flash model.bingo --port {args.port}")
    return 0


def _add_install_firmware(commands) -> None:
    parser = commands.add_parser("install-firmware",
                                 help="install the receiver (shipped prebuilt) through the board's bootloader")
    parser.add_argument("--port", default="auto",
                        help="serial port, 'auto' (first Arduino) or 'sim-blank' (a simulated Uno fresh from the box)")
    parser.add_argument("--board", default="uno", choices=["uno", "nano", "mega"], help="default: uno")
    parser.add_argument("--with", dest="using", choices=["avrdude", "kit"], default=None,
                        help="avrdude, or the kit's own installer (STK500v1/v2); default: avrdude if installed")
    parser.add_argument("--force", action="store_true",
                        help="install even if the board already runs the receiver (e.g. a newer kit's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_install_firmware)


COMMANDS.append(_add_install_firmware)


def _simulate(args) -> int:
    import time

    from bingo_kit.board.simavr import SimulatedBoard, default_sim_eeprom
    from bingo_kit.user_files import writable_file

    eeprom = writable_file(args.eeprom, "the simulated board's EEPROM", "eeprom.bin") if args.eeprom \
        else default_sim_eeprom()
    with SimulatedBoard(eeprom) as simulator:
        print(f"simulated Arduino Uno running at {simulator.port}  (EEPROM: {eeprom})", flush=True)
        print(f"try: bingo-kit flash model.bingo --port {simulator.port}    Ctrl-C stops it.", flush=True)
        while simulator.running:
            time.sleep(0.2)
    raise KitError("the simulator stopped unexpectedly.")


def _add_simulate(commands) -> None:
    parser = commands.add_parser("simulate", help="run a simulated Uno with the BINGO sketch and print its port")
    parser.add_argument("--eeprom", help="EEPROM file (default: the one `--port sim` shares)")
    parser.set_defaults(handler=_simulate)


COMMANDS.append(_add_simulate)


def _doctor(args) -> int:
    from bingo_kit.doctor import setup_report  # lesson 0 shows the same report

    report = setup_report(check_simulator=not args.no_simulator)
    width = max(len(item.name) for item in report.items)
    for item in report.items:
        mark = "ok " if item.ok else ("-- " if not item.essential else "NO ")
        print(f"{mark} {item.name:<{width}}  {item.detail}")
    return 0 if report.ready else 1


def _add_doctor(commands) -> None:
    parser = commands.add_parser("doctor",
                                 help="check what is installed, which ports exist, the simulator and the datasets")
    parser.add_argument("--no-simulator", action="store_true", help="skip starting the simulated Uno")
    parser.set_defaults(handler=_doctor)


COMMANDS.append(_add_doctor)
