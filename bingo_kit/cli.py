"""bingo-kit: train, prune, export and flash tiny networks — the kit's functions from a terminal.

Each subcommand is registered by one `_add_*` function below; keep them thin: the work lives in the library.
"""
from __future__ import annotations

import argparse
import sys

from bingo_kit.errors import KitError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bingo-kit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in _COMMANDS:
        add(commands)
    return parser


_COMMANDS: list = []


# --- core: train, race -------------------------------------------------------------------------
def _hidden_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.replace("-", ",").split(",") if part.strip())
    except ValueError:
        sizes = ()
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"hidden sizes are positive whole numbers like 32 or 128,64; got {text!r}")
    return sizes


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, like 0.07; got {text!r}")
    return value


def _positive_int(text: str) -> int:
    """A whole number ≥ 1 (epochs, sample counts, tickets): 0 or less would train on nothing or not at all."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1; got {text!r}")
    return value


def _add_dataset_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="digits", choices=["digits", "fashion-mnist", "mnist"])
    parser.add_argument("--downsample", action="store_true", help="average 28x28 images down to 8x8 (fits a board)")
    parser.add_argument("--train-limit", type=_positive_int, default=None, metavar="N",
                        help="train on a seeded subset of N")
    parser.add_argument("--epochs", type=_positive_int, default=None,
                        help="default: 30 for small datasets, 10 otherwise")
    parser.add_argument("--hidden", type=_hidden_sizes, default=None, help="hidden layer sizes, e.g. 32 or 128,64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _train_method(text: str) -> str:
    """A pruning method for `train`, matched leniently ("BINGO", "Bingo" and the label all work)."""
    from bingo_kit.methods import get_method

    choices = _train_methods()
    try:
        found = get_method(text).id
    except KitError:
        found = None
    if found not in choices:
        raise argparse.ArgumentTypeError(f"choose one of {', '.join(choices)}; got {text!r}")
    return found


def _train_methods() -> tuple[str, ...]:
    from bingo_kit.methods import method_ids

    return (*method_ids(ranks_trained_model=True), "gradual")


def _run_train(args) -> int:
    from bingo_kit.data import load_dataset, with_validation
    from bingo_kit.gradual import gradual_pruning
    from bingo_kit.methods import get_method, train_scored
    from bingo_kit.models import make_mlp, save_model
    from bingo_kit.pruning import kept_weights, prune_fraction, prune_to_floor
    from bingo_kit.race import DEFAULT_VALIDATION, default_epochs, default_hidden
    from bingo_kit.training import accuracy, train

    if (args.prune_to_floor or args.prune is not None) and args.method is None:
        *first, last = _train_methods()
        raise KitError(f"Pruning needs a method: add --method {', '.join(first)} or {last}.")
    if args.method == "gradual" and not args.prune_to_floor:
        raise KitError("gradual prunes while it trains, down to the floor: use it with --prune-to-floor.")
    data = load_dataset(args.dataset, downsample=args.downsample, seed=args.seed, train_limit=args.train_limit)
    if args.prune_to_floor:  # how much to prune is chosen on a validation split; the test set stays unseen
        data = with_validation(data, DEFAULT_VALIDATION, args.seed)
    sizes = (data.n_features, *(args.hidden or default_hidden(data)), data.n_classes)
    model = make_mlp(sizes, seed=args.seed)
    epochs = default_epochs(data) if args.epochs is None else args.epochs  # not `or`: that would hide a 0
    options = dict(epochs=epochs, seed=args.seed, progress=not args.no_progress)
    scores = None
    scored = args.method is not None and get_method(args.method).scored_while_training
    if args.scores or scored:  # scoring does not change training, only costs time
        import torch

        history, scores = train_scored(model, data, args.method if scored else "bingo", **options)
        if args.scores:
            torch.save(scores, args.scores)
    else:
        history = train(model, data, **options)
    validation = f"validation accuracy {accuracy(model, data.x_val, data.y_val):.1%}, " if data.has_validation else ""
    print(f"{'-'.join(map(str, sizes))} on {data.name}: {validation}test accuracy {history.final_accuracy:.1%} "
          f"after {len(history.test_accuracy)} epochs ({history.seconds:.1f} s).")
    if args.prune_to_floor:
        floor = accuracy(model, data.x_val, data.y_val) - args.drop
        if args.method == "gradual":  # the dense run above set the floor; now one run that prunes as it trains
            model = make_mlp(sizes, seed=args.seed)
            result = gradual_pruning(model, data, floor, **options)
        else:
            result = prune_to_floor(model, data, floor, method=args.method, scores=scores, seed=args.seed)
        print(f"{args.method}: pruned {result.fraction:.1%} of the weights; validation accuracy {result.accuracy:.1%} "
              f"(floor {floor:.1%}, {result.evaluations} evaluations), test accuracy {result.test_accuracy:.1%}.")
    elif args.prune is not None:
        prune_fraction(model, args.prune, method=args.method, scores=scores, seed=args.seed)
        kept, total = kept_weights(model)
        print(f"{args.method}: pruned {1 - kept / total:.1%} of the weights ({kept}/{total} kept).")
    save_model(model, args.out)
    print(f"Saved to {args.out}. Next: bingo-kit export {args.out} --board uno -o model.bingo")
    return 0


def _add_train(commands) -> None:
    parser = commands.add_parser("train", help="train a tiny network and save it (optionally with BINGO scores)")
    _add_dataset_options(parser)
    parser.add_argument("-o", "--out", default="model.pt", help="where to save the model (default model.pt)")
    parser.add_argument("--scores", default=None, metavar="FILE",
                        help="score the weights while training (by --method, default bingo) and save the scores here")
    parser.add_argument("--method", type=_train_method, default=None, metavar="METHOD",
                        help=f"how to choose the weights to prune: {', '.join(_train_methods())}")
    prune = parser.add_mutually_exclusive_group()
    prune.add_argument("--prune-to-floor", action="store_true",
                       help="prune as much as possible while accuracy stays >= trained accuracy - DROP")
    prune.add_argument("--prune", type=_fraction, default=None, metavar="FRACTION", help="prune exactly this fraction")
    parser.add_argument("--drop", type=_fraction, default=0.07, help="with --prune-to-floor (default 0.07)")
    parser.set_defaults(handler=_run_train)


_COMMANDS.append(_add_train)


def _run_race(args) -> int:
    from bingo_kit.race import ALL_RACE_METHODS, run_race

    options = {k: getattr(args, k) for k in ("p", "probe", "metric", "tickets") if getattr(args, k) is not None}
    methods = ALL_RACE_METHODS if args.methods == "all" else [m for m in args.methods.split(",") if m.strip()]
    result = run_race(
        args.dataset, drop=args.drop, epochs=args.epochs, hidden=args.hidden, seed=args.seed, methods=methods,
        downsample=args.downsample, train_limit=args.train_limit, progress=not args.no_progress, **options,
    )
    print(result.table())
    if args.json:
        result.save_json(args.json)
        print(f"JSON written to {args.json}")
    return 0


def _add_race(commands) -> None:
    parser = commands.add_parser(
        "race", help="dense vs the BINGOs vs magnitude vs random vs IMP pruning at the same accuracy floor"
    )
    parser.add_argument("--methods", default="all", metavar="LIST",
                        help="comma-separated method ids (default: all), e.g. dense,bingo_grad,magnitude")
    _add_dataset_options(parser)
    parser.add_argument("--drop", type=_fraction, default=0.07, help="floor = dense accuracy - drop (default 0.07)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--p", type=_fraction, default=None,
                        help="fake-pass BINGOs: fraction of weights reset per ticket (default: each method's own)")
    parser.add_argument("--probe", choices=["batch", "fixed"], default=None, help="BINGO: what tickets are scored on")
    parser.add_argument("--metric", choices=["accuracy", "loss"], default=None, help="BINGO: what a ticket measures")
    parser.add_argument("--tickets", type=_positive_int, default=None,
                        help="BINGO: random subsets tried per training step")
    parser.set_defaults(handler=_run_race)


_COMMANDS.append(_add_race)


# --- hardware: ports, export, flash, predict, simulate, doctor --------------------------------

def _ports(args) -> int:
    from bingo_kit.ports import list_ports

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


_COMMANDS.append(_add_ports)


def _export(args) -> int:
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
    report.save(args.output)
    print(f"wrote {args.output} ({report.size} bytes)")
    return 0


def _add_export(commands) -> None:
    parser = commands.add_parser("export", help="quantise a trained model to int8 and write a .bingo blob")
    parser.add_argument("model", help="a model file written by `bingo-kit train -o model.pt`")
    parser.add_argument("--board", default="uno", help="uno, nano or mega (default: uno)")
    parser.add_argument("-o", "--output", default="model.bingo", help="where to write the blob")
    parser.add_argument("--dataset", default="digits", help="calibration and test data (default: digits)")
    parser.add_argument("--downsample", action="store_true", help="28×28 datasets averaged down to 8×8")
    parser.set_defaults(handler=_export)


_COMMANDS.append(_add_export)


def _flash(args) -> int:
    from pathlib import Path

    from bingo_kit.agreement import remember_blob
    from bingo_kit.export import BlobError, decode_blob
    from bingo_kit.flash import connect

    path = Path(args.blob)
    if not path.exists():
        raise KitError(f"No file {path}. Make one with: bingo-kit export model.pt -o {path}")
    blob = path.read_bytes()
    try:
        model = decode_blob(blob)
    except BlobError as error:
        raise BlobError(f"{path}: {error}") from None
    with connect(args.port) as board:
        where = "the simulated Uno" if board.simulator else f"{board.info.board_name} on {board.device}"
        print(f"flashing {len(blob)} bytes (model {'-'.join(map(str, model.sizes))}) to {where}, "
              f"capacity {board.info.capacity} bytes")
        result = board.upload(blob, progress=not args.quiet)
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


_COMMANDS.append(_add_flash)


def _predict(args) -> int:
    import json
    from pathlib import Path

    from bingo_kit.agreement import compare_board_with_reference, recall_blob
    from bingo_kit.data import load_dataset
    from bingo_kit.export import inputs_to_bytes
    from bingo_kit.flash import connect

    if args.model and not Path(args.model).exists():
        raise KitError(f"No file {args.model}. Pass the .bingo file you flashed (bingo-kit export writes one).")
    with connect(args.port) as board:
        if args.model:
            blob = Path(args.model).read_bytes()
        else:
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


_COMMANDS.append(_add_predict)


def _install_firmware(args) -> int:
    from bingo_kit.firmware import install_firmware

    result = install_firmware(args.port, args.board, progress=not args.quiet)
    print(result.summary())
    print(f"Next: bingo-kit flash model.bingo --port {args.port}")
    return 0


def _add_install_firmware(commands) -> None:
    parser = commands.add_parser("install-firmware",
                                 help="build the receiver sketch and install it through the board's bootloader")
    parser.add_argument("--port", default="auto",
                        help="serial port, 'auto' (first Arduino) or 'sim-blank' (a simulated Uno fresh from the box)")
    parser.add_argument("--board", default="uno", choices=["uno", "nano", "mega"], help="default: uno")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_install_firmware)


_COMMANDS.append(_add_install_firmware)


def _simulate(args) -> int:
    import time

    from bingo_kit.simulator import SimulatedBoard, default_sim_eeprom

    eeprom = args.eeprom or default_sim_eeprom()
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


_COMMANDS.append(_add_simulate)


def _doctor(args) -> int:
    from bingo_kit.doctor import setup_report  # lesson 0 shows the same report

    report = setup_report(check_simulator=not args.no_simulator)
    width = max(len(item.name) for item in report.items)
    for item in report.items:
        mark = "ok " if item.ok else ("-- " if not item.essential else "NO ")
        print(f"{mark} {item.name:<{width}}  {item.detail}")
    return 0 if report.ready else 1


def _add_doctor(commands) -> None:
    parser = commands.add_parser("doctor", help="check what is installed, which ports exist, the simulator and the datasets")
    parser.add_argument("--no-simulator", action="store_true", help="skip starting the simulated Uno")
    parser.set_defaults(handler=_doctor)


_COMMANDS.append(_add_doctor)


# --- the classroom ---------------------------------------------------------------------------------
def _lessons(args) -> int:
    import subprocess

    from bingo_kit.classroom import jupyterlab_command, make_workspace

    print(make_workspace(args.folder), flush=True)
    if args.no_start:
        return 0
    command, env = jupyterlab_command(args.folder, open_browser=not args.no_browser, extra=args.jupyter)
    print("starting JupyterLab (Ctrl-C stops it) ...", flush=True)
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 0


def _add_lessons(commands) -> None:
    parser = commands.add_parser("lessons", help="copy the student lessons into a folder and open JupyterLab there")
    parser.add_argument("folder", nargs="?", default="bingo-kit-lessons",
                        help="where the lessons go (default: ./bingo-kit-lessons); a changed notebook is never "
                             "overwritten")
    parser.add_argument("--no-browser", action="store_true", help="start JupyterLab without opening a browser")
    parser.add_argument("--no-start", action="store_true", help="only copy the lessons; don't start JupyterLab")
    parser.add_argument("--jupyter", action="append", default=[], metavar="OPTION",
                        help="pass one more option to JupyterLab, e.g. --jupyter=--port=8890 (repeatable)")
    parser.set_defaults(handler=_lessons)


_COMMANDS.append(_add_lessons)




def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except KitError as error:  # a failure a student can cause: one plain sentence, no traceback
        print(f"bingo-kit {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
