"""`bingo-kit train` and `bingo-kit race`: the core of the kit from a terminal.

Heavy libraries are imported inside each handler: `bingo-kit ports` should answer at once, without
loading torch.
"""
from __future__ import annotations

import argparse

from bingo_kit.errors import KitError

COMMANDS: list = []  # one `_add_*` per subcommand, registered in order


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


def _list_methods_in_help(parser: argparse.ArgumentParser, method: argparse.Action) -> None:
    """Name the methods in `train --help` only when that help is shown: the list comes from bingo_kit.methods,
    which imports torch (~2 s), and building the parser must not -- every command builds all of it."""
    format_help = parser.format_help

    def format_help_naming_the_methods() -> str:
        method.help = f"how to choose the weights to prune: {', '.join(_train_methods())}"
        return format_help()

    parser.format_help = format_help_naming_the_methods


def _run_train(args) -> int:
    from bingo_kit.user_files import writable_file

    writable_file(args.out, "the model", "model.pt")   # now, not after minutes of training
    if args.scores:
        writable_file(args.scores, "the scores", "scores.pt")

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
    method = parser.add_argument("--method", type=_train_method, default=None, metavar="METHOD",
                                 help="how to choose the weights to prune (one of the kit's pruning methods)")
    _list_methods_in_help(parser, method)
    prune = parser.add_mutually_exclusive_group()
    prune.add_argument("--prune-to-floor", action="store_true",
                       help="prune as much as possible while accuracy stays >= trained accuracy - DROP")
    prune.add_argument("--prune", type=_fraction, default=None, metavar="FRACTION", help="prune exactly this fraction")
    parser.add_argument("--drop", type=_fraction, default=0.07, help="with --prune-to-floor (default 0.07)")
    parser.set_defaults(handler=_run_train)


COMMANDS.append(_add_train)


def _run_race(args) -> int:
    from bingo_kit.user_files import writable_file

    if args.json:
        writable_file(args.json, "the results", "race.json")   # now, not after the race
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


COMMANDS.append(_add_race)
