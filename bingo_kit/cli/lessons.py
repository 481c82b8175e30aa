"""`bingo-kit lessons FOLDER`: the student lessons in a folder, and JupyterLab on it.

Heavy libraries are imported inside each handler: `bingo-kit ports` should answer at once, without
loading torch.
"""
from __future__ import annotations


COMMANDS: list = []  # one `_add_*` per subcommand, registered in order


def _lessons(args) -> int:
    import subprocess

    from bingo_kit.classroom import jupyterlab_command, make_workspace, reset_lesson

    if args.reset:
        for lesson in args.reset:
            fresh = reset_lesson(args.folder, lesson)
            own = fresh.name.split(" (")[0] + fresh.suffix
            print(f"A fresh copy of lesson {own[:2]}: {fresh}"
                  + (f"   (your own {own} is kept as it was)" if fresh.name != own else ""))
        return 0
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
    parser.add_argument("--reset", action="append", default=[], metavar="LESSON",
                        help="put a fresh copy of a lesson (its number, e.g. 07) beside the one in the folder, which "
                             "is kept as it is; repeatable; JupyterLab is not started")
    parser.add_argument("--jupyter", action="append", default=[], metavar="OPTION",
                        help="pass one more option to JupyterLab, e.g. --jupyter=--port=8890 (repeatable)")
    parser.set_defaults(handler=_lessons)


COMMANDS.append(_add_lessons)
