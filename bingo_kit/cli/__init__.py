"""bingo-kit: train, prune, export and flash tiny networks — the kit's functions from a terminal.

Each subcommand is registered by one `_add_*` function in core.py (train, race), board.py (ports, export, flash,
predict, install-firmware, simulate, doctor), lessons.py or leaderboard.py; keep them thin: the work lives in the
library.
"""
from __future__ import annotations

import argparse
import sys

from bingo_kit.cli import board, core, leaderboard, lessons
from bingo_kit.errors import KitError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bingo-kit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (*core.COMMANDS, *board.COMMANDS, *lessons.COMMANDS, *leaderboard.COMMANDS):
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except KitError as error:  # a failure a student can cause: one plain sentence, no traceback
        print(f"bingo-kit {args.command}: {error}", file=sys.stderr)
        return 1
