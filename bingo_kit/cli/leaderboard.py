"""`bingo-kit leaderboard FOLDER`: the teacher's table of lesson 8's entries, measured on the hidden pictures.

Heavy libraries are imported inside the handler: `bingo-kit ports` should answer at once, without loading torch.
"""
from __future__ import annotations

COMMANDS: list = []  # one `_add_*` per subcommand, registered in order


def _leaderboard(args) -> int:
    from bingo_kit.leaderboard import judge

    board = judge(args.folder)
    if args.json:
        print(board.to_json())
    else:
        print(board)
    for path, write in ((args.csv, board.write_csv), (args.html, board.write_html)):
        if path:
            write(path)
            if not args.json:
                print(f"wrote {path}")
    return 0


def _add_leaderboard(commands) -> None:
    parser = commands.add_parser(
        "leaderboard", help="rank the class's lesson 8 entries on pictures no student has seen; flag tampered ones")
    parser.add_argument("folder", help="the folder the students' entry files were collected in (sub-folders too)")
    parser.add_argument("--json", action="store_true",
                        help='print {"ranked": [...], "flagged": [...]} instead of the table')
    parser.add_argument("--html", metavar="OUT", help="also write a page to project (one self-contained file)")
    parser.add_argument("--csv", metavar="OUT", help="also write one row per student (for a gradebook)")
    parser.set_defaults(handler=_leaderboard)


COMMANDS.append(_add_leaderboard)
