"""Files a person names (a model to flash, where to save one): read and written with one-sentence errors.

A folder, a missing file, a missing parent folder or a permission problem each becomes a KitError that says
what to do, never an OSError traceback. The checks for files to write run *before* long work (training, a race)
so that nothing is lost at the end. Standard library only: the CLI calls these before it imports torch.
"""
from __future__ import annotations

from pathlib import Path

from bingo_kit.errors import KitError


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


def readable_file(path, what: str, make_one: str, example: str) -> Path:
    """`path` if it is a file: a KitError naming `what` it should be otherwise ("a .bingo model file").

    make_one: the sentence that says how to get one when it does not exist; example: a file name for a folder's
    hint ("model.bingo")."""
    path = Path(path)
    if path.is_dir():
        raise KitError(f"{path} is a folder, not {what}: name the file itself, e.g. {path / example}.")
    if not path.exists():
        raise KitError(f"No file {path}. {make_one}")
    return path


def read_file(path, what: str, make_one: str, example: str) -> bytes:
    """The bytes of `path`, checked as readable_file does (and a KitError if it cannot be read)."""
    path = readable_file(path, what, make_one, example)
    try:
        return path.read_bytes()
    except OSError as error:
        raise KitError(f"Cannot read {path}: {_reason(error)}.") from None


def writable_file(path, what: str, example: str) -> Path:
    """`path` if `what` can be written there (not a folder, its folder exists); a KitError otherwise."""
    path = Path(path)
    if path.is_dir():
        raise KitError(f"{path} is a folder: name a file to write {what} to, e.g. {path / example}.")
    if not path.parent.is_dir():
        raise KitError(f"There is no folder {path.parent} to write {path.name} into: make it first, or name "
                       "another place.")
    return path


def write_file(path, data: bytes, what: str, example: str) -> Path:
    """Write `data` to `path`, checked as writable_file does (and a KitError if the system refuses)."""
    path = writable_file(path, what, example)
    try:
        path.write_bytes(data)
    except OSError as error:
        raise KitError(f"Cannot write {what} to {path}: {_reason(error)}.") from None
    return path
