"""Lesson 8's class results that can't be faked: the challenge's pictures, one entry file per student, and the
teacher's leaderboard.

The task: 8×8 pictures of clothes (Fashion-MNIST, averaged down from 28×28 in whole numbers so every machine
gets the same bytes). Its pictures are carved once, by a fixed seed, into four splits that never overlap:

    train (54 000) and validation (6 000)   from Fashion-MNIST's 60 000 training pictures: the lesson trains on them
    test (5 000)                            half of its 10 000 test pictures: what the lesson's table shows
    hidden (5 000)                          the other half: only the leaderboard looks at them

A student saves their entry as one JSON file (:func:`write_entry`): the blob exactly as the board stores it,
the settings, the accuracy the student claims on a split they can see (test or validation) and two SHA-256
hashes, one of the blob and one of the whole entry. The teacher runs :func:`judge` on the folder of entries
(`bingo-kit leaderboard FOLDER`): it decodes every blob, checks it against the Uno, measures it itself with the
board's int8 arithmetic on the claimed split (the claim must match exactly: the arithmetic is whole numbers)
and on the hidden split, and ranks by the hidden split. An entry that fails a check is flagged with its
reason and never ranked.

The hashes catch an entry edited by hand after saving; anyone can recompute a SHA-256, so they are not a
seal. What makes the table honest is that the teacher measures every blob on pictures no student has seen.
"""
from __future__ import annotations

import base64
import binascii
import csv
import functools
import hashlib
import html
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bingo_kit.boards import get_board
from bingo_kit.board.protocol import BOARD_LIMITS
from bingo_kit.errors import KitError

CHALLENGE_BOARD = "uno"
TASK = "fashion-mnist-8x8"
ENTRY_KIND = "bingo-kit challenge entry"
ENTRY_VERSION = 1
ENTRY_SUFFIX = ".challenge.json"
VALIDATION_PICTURES = 6_000   # of Fashion-MNIST's 60 000 training pictures
TEST_PICTURES = 5_000         # of its 10 000 test pictures; the other 5 000 are the hidden split
SPLIT_SEED = 8                # fixed for ever: changing it would move pictures between the splits
CLAIMABLE_SPLITS = ("test", "validation")  # what a student can measure; never the hidden split


# --- the task and its splits -----------------------------------------------------------------------

def challenge_budget() -> int:
    """Bytes of model an Uno holds (1020): the challenge's budget, straight from the board table."""
    return get_board(CHALLENGE_BOARD).model_capacity


def widest_layer() -> int:
    """Units per layer the Uno's firmware runs (64): its RAM holds no wider layer."""
    return BOARD_LIMITS[get_board(CHALLENGE_BOARD).mcu].widest_layer


@functools.lru_cache(maxsize=2)
def _splits(root: str | None = None) -> dict:
    """{split: (uint8 pictures (N, 64), labels (N,))} and the class names; carved once per process."""
    import torch

    from bingo_kit.data import load_images, pool_to_8x8

    train_images, train_labels, test_images, test_labels, names = load_images("fashion-mnist", root=root)
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    train_order = torch.randperm(len(train_labels), generator=generator)
    test_order = torch.randperm(len(test_labels), generator=generator)
    parts = {
        "train": (train_images, train_labels, train_order[VALIDATION_PICTURES:]),
        "validation": (train_images, train_labels, train_order[:VALIDATION_PICTURES]),
        "test": (test_images, test_labels, test_order[:TEST_PICTURES]),
        "hidden": (test_images, test_labels, test_order[TEST_PICTURES:]),
    }
    splits = {}
    for split, (images, labels, index) in parts.items():
        index = index.sort().values
        pictures = pool_to_8x8(images[index]).reshape(len(index), 64).numpy()
        splits[split] = (pictures, labels[index].numpy())
    return {"splits": splits, "names": names}


def split_pictures(split: str, *, root: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 pictures (N, 64), labels) of one split: "train", "validation", "test" or "hidden"."""
    splits = _splits(root)["splits"]
    if split not in splits:
        raise KitError(f"The challenge's splits are {', '.join(splits)}; there is no {split!r}.")
    return splits[split]


def challenge_data(*, root: str | None = None):
    """The lesson's Dataset: train, validation and test pictures of clothes as floats in [0, 1] (never the hidden
    split). Each value is a byte / 255, so the board's input bytes (inputs_to_bytes) are exactly the picture's."""
    import torch

    from bingo_kit.data import Dataset

    def floats(split):
        pictures, labels = split_pictures(split, root=root)
        return torch.from_numpy(pictures.astype(np.float32) / 255.0), torch.from_numpy(labels.astype(np.int64))

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (floats(s) for s in ("train", "validation", "test"))
    return Dataset("fashion-mnist", x_train, y_train, x_test, y_test, (8, 8), list(_splits(root)["names"]),
                   x_val, y_val)


# --- one entry, one file -------------------------------------------------------------------------

def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry_hash(record: dict) -> str:
    """SHA-256 of every field but the hash itself, in one canonical spelling (sorted keys, no spaces)."""
    body = {key: value for key, value in record.items() if key != "sha256"}
    return sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode())


def entry_record(name: str, blob: bytes, settings: dict, claim: dict) -> dict:
    """The entry as it is written to its file, hashes included. `claim`: {"split", "correct", "total"}."""
    claim = {"split": claim["split"], "correct": int(claim["correct"]), "total": int(claim["total"]),
             "accuracy": round(int(claim["correct"]) / int(claim["total"]), 6)}
    record = {"kind": ENTRY_KIND, "version": ENTRY_VERSION, "task": TASK, "board": CHALLENGE_BOARD, "name": name,
              "settings": settings, "claim": claim, "bytes": len(blob),
              "blob": base64.b64encode(bytes(blob)).decode("ascii"), "blob_sha256": sha256(bytes(blob))}
    record["sha256"] = _entry_hash(record)
    return record


def entry_filename(name: str) -> str:
    """One file per student: their name in letters, digits, - and _ (so it is a safe file name anywhere)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name.strip()).strip("-") or "entry"
    return f"{slug[:60]}{ENTRY_SUFFIX}"


def write_entry(folder, record: dict) -> Path:
    """Write `record` into `folder` (made if needed) as the student's one file; a new save replaces the old."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise KitError(f"{folder} is a file, not a folder: give the folder your class collects entries in.")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / entry_filename(record["name"])
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return path


# --- the leaderboard -----------------------------------------------------------------------------

@dataclass
class RankedEntry:
    place: int
    name: str
    accuracy: float          # on the hidden split, measured by the leaderboard with the board's int8 arithmetic
    correct: int
    total: int
    bytes: int
    claimed_accuracy: float  # what the student's notebook measured, on `claimed_split`
    claimed_split: str
    hidden: int | None
    method: str | None
    fraction: float | None
    file: str


@dataclass
class FlaggedEntry:
    file: str
    reason: str
    name: str | None = None


@dataclass
class Leaderboard:
    ranked: list[RankedEntry] = field(default_factory=list)
    flagged: list[FlaggedEntry] = field(default_factory=list)
    hidden_pictures: int = 0
    budget: int = 0

    def to_dict(self) -> dict:
        return {"ranked": [asdict(e) for e in self.ranked], "flagged": [asdict(e) for e in self.flagged],
                "hidden_pictures": self.hidden_pictures, "board": CHALLENGE_BOARD, "budget": self.budget}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def __str__(self) -> str:
        lines = [f"{'':4}{'name':<20}{'hidden split':>13}{'bytes':>7}  settings"]
        for e in self.ranked:
            lines.append(f"{e.place:>3}. {e.name[:20]:<20}{e.accuracy:>12.1%}{e.bytes:>7}  {_settings_text(e)}")
        if not self.ranked:
            lines.append("    (no entry could be ranked)")
        if self.flagged:
            lines.append(f"\nflagged, not ranked ({len(self.flagged)}):")
            lines += [f"  {e.file}: {e.reason}" for e in self.flagged]
        lines.append(f"\nmeasured on {self.hidden_pictures} hidden pictures no student has seen; "
                     f"budget {self.budget} bytes ({get_board(CHALLENGE_BOARD).name})")
        return "\n".join(lines)

    def write_csv(self, path) -> Path:
        """One row per entry file (one per student), ranked first: what nbgrader and otter users load."""
        path = Path(path)
        columns = ["name", "status", "place", "accuracy", "bytes", "claimed_accuracy", "claimed_split", "hidden",
                   "method", "fraction", "reason", "file"]
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=columns)
            writer.writeheader()
            for e in self.ranked:
                row = {k: v for k, v in asdict(e).items() if k in columns}
                writer.writerow({**row, "status": "ranked", "accuracy": f"{e.accuracy:.4f}",
                                 "claimed_accuracy": f"{e.claimed_accuracy:.4f}", "reason": ""})
            for e in self.flagged:
                writer.writerow({"name": e.name or "", "status": "flagged", "reason": e.reason, "file": e.file})
        return path

    def write_html(self, path) -> Path:
        path = Path(path)
        path.write_text(leaderboard_html(self), encoding="utf-8")
        return path


def _settings_text(e: RankedEntry) -> str:
    if e.hidden is None:
        return ""
    if not e.fraction:
        return f"{e.hidden} hidden, not pruned"
    return f"{e.hidden} hidden, {e.method}, {e.fraction:.0%} pruned"


def entry_files(folder) -> list[Path]:
    """Every JSON file under `folder` (sub-folders too: an LMS download or nbgrader's exchange nests them),
    skipping hidden folders such as .ipynb_checkpoints."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise KitError(f"{folder} is not a folder: give the folder that holds the class's entry files.")
    return sorted(p for p in folder.rglob("*.json")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


class _Flag(Exception):
    """An entry that cannot be ranked; the message is its reason."""


def judge(folder, *, root: str | None = None) -> Leaderboard:
    """Read every entry in `folder`, check it, measure it on the hidden split and rank it (see the module doc)."""
    folder = Path(folder).expanduser()
    files = entry_files(folder)
    hidden_x, hidden_y = split_pictures("hidden", root=root)
    board = Leaderboard(hidden_pictures=len(hidden_y), budget=challenge_budget())
    candidates = []  # (file, record, model) of entries whose own checks passed
    for path in files:
        shown = str(path.relative_to(folder))
        record = None
        try:
            record = _read_record(path)
            model = _check_entry(record, root)
            candidates.append((shown, record, model))
        except _Flag as flag:
            name = record.get("name") if isinstance(record, dict) and isinstance(record.get("name"), str) else None
            board.flagged.append(FlaggedEntry(shown, str(flag), name))
    # a copied file: the same blob, or the same name, in more than one entry. Which one is the original
    # cannot be told from the files, so every one of them is flagged and the teacher decides.
    by_blob, by_name = {}, {}
    for shown, record, _ in candidates:
        by_blob.setdefault(record["blob_sha256"], []).append(shown)
        by_name.setdefault(record["name"].strip().casefold(), []).append(shown)
    honest = []
    for shown, record, model in candidates:
        same_blob = [other for other in by_blob[record["blob_sha256"]] if other != shown]
        same_name = [other for other in by_name[record["name"].strip().casefold()] if other != shown]
        if same_blob:
            board.flagged.append(FlaggedEntry(shown, f"its model is byte for byte the one in {', '.join(same_blob)}: "
                                              "a copied entry (the copy, or the original it was copied from)",
                                              record["name"]))
        elif same_name:
            board.flagged.append(FlaggedEntry(shown, f"{len(same_name) + 1} entries are called "
                                              f"{record['name']!r} (also {', '.join(same_name)}): one entry per "
                                              "student, each under their own name", record["name"]))
        else:
            honest.append((shown, record, model))
    rows = []
    for shown, record, model in honest:
        correct = int(np.sum(_predict(model, hidden_x) == hidden_y))
        settings = record["settings"] if isinstance(record["settings"], dict) else {}
        claim = record["claim"]
        rows.append(dict(name=record["name"], accuracy=correct / len(hidden_y), correct=correct, total=len(hidden_y),
                         bytes=len(_blob(record)), claimed_accuracy=claim["correct"] / claim["total"],
                         claimed_split=claim["split"], hidden=_number(settings.get("hidden"), int),
                         method=settings.get("method") if isinstance(settings.get("method"), str) else None,
                         fraction=_number(settings.get("fraction"), float), file=shown))
    rows.sort(key=lambda r: (-r["correct"], r["bytes"], r["name"].casefold()))
    board.ranked = [RankedEntry(place=i, **row) for i, row in enumerate(rows, start=1)]
    board.flagged.sort(key=lambda e: e.file)
    return board


def _number(value, kind):
    return kind(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _predict(model, pictures: np.ndarray) -> np.ndarray:
    """The board's answer: the largest of its int32 logits, the lowest class on a tie (PROTOCOL.md §2.3)."""
    return np.argmax(model.logits(pictures), axis=-1)


def _read_record(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise _Flag(f"unreadable: {error.__class__.__name__}") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        raise _Flag("unreadable: not a whole JSON file (cut short or damaged)") from None
    if not isinstance(record, dict) or record.get("kind") != ENTRY_KIND:
        raise _Flag("not a challenge entry (save entries with entry.save(folder) in lesson 8)")
    return record


def _blob(record: dict) -> bytes:
    return base64.b64decode(record["blob"], validate=True)


def _check_entry(record: dict, root) -> object:
    """Every check one entry can fail on its own; returns its decoded int8 model."""
    from bingo_kit.export import BlobError, decode_blob

    if record.get("version") != ENTRY_VERSION or record.get("task") != TASK:
        raise _Flag(f"made for another version or task ({record.get('task')!r}, version {record.get('version')!r}); "
                    "save it again with this kit")
    required = {"name": str, "settings": dict, "claim": dict, "blob": str, "blob_sha256": str, "sha256": str}
    missing = [key for key, kind in required.items() if not isinstance(record.get(key), kind)]
    if missing:
        raise _Flag(f"unreadable: the entry has no {', '.join(missing)}")
    if not record["name"].strip():
        raise _Flag("the entry has no name: save it again with your name in challenge_entry(\"...\")")
    try:
        blob = _blob(record)
    except (binascii.Error, ValueError):
        raise _Flag("unreadable: its model is not valid base64 (damaged)") from None
    if sha256(blob) != record["blob_sha256"]:
        raise _Flag("its model (the blob) was edited after the entry was saved: the blob's hash does not match")
    if _entry_hash(record) != record["sha256"]:
        raise _Flag("the entry was edited after it was saved (its name, settings or claim): the hash does not match")
    try:
        model = decode_blob(blob)
    except BlobError as error:
        raise _Flag(f"its model is not one a board accepts: {error}") from None
    budget, widest = challenge_budget(), widest_layer()
    if len(blob) > budget:
        raise _Flag(f"over budget: {len(blob)} bytes, {len(blob) - budget} more than the Uno's {budget}")
    if max(model.sizes) > widest:
        raise _Flag(f"too wide for an Uno: a layer of {max(model.sizes)} units; its firmware runs at most {widest}")
    if model.sizes[0] != 64 or model.sizes[-1] != 10:
        raise _Flag(f"not a model for this task: it takes {model.sizes[0]} inputs and gives {model.sizes[-1]} "
                    "answers; the challenge has 64 pixels and 10 kinds of clothes")
    claim = record["claim"]
    if claim.get("split") not in CLAIMABLE_SPLITS:
        raise _Flag(f"claims an accuracy on the {claim.get('split')!r} split; a student can only measure "
                    f"{' or '.join(CLAIMABLE_SPLITS)}")
    pictures, labels = split_pictures(claim["split"], root=root)
    correct = int(np.sum(_predict(model, pictures) == labels))
    claimed = claim.get("correct")
    if claim.get("total") != len(labels) or claimed != correct:
        claimed_text = (f"{claimed}/{claim.get('total')}" if isinstance(claimed, int) else repr(claimed))
        raise _Flag(f"claims {claimed_text} right on the {claim['split']} split, but its model gets "
                    f"{correct}/{len(labels)} ({correct / len(labels):.1%})")
    return model


# --- a page to project ---------------------------------------------------------------------------

def leaderboard_html(board: Leaderboard, title: str = "Class results: the best clothes reader under 1 KB") -> str:
    """A self-contained page (no scripts, no downloads) in large type, for a projector."""
    best = max((e.accuracy for e in board.ranked), default=1.0) or 1.0
    rows = []
    for e in board.ranked:
        # a coloured disc, not a medal emoji: a classroom laptop may have no emoji font
        medal = {1: "gold", 2: "silver", 3: "bronze"}.get(e.place, "")
        width = max(2.0, 100 * e.accuracy / best)
        rows.append(
            f"<tr><td class=place><span class='disc {medal}'>{e.place}</span></td><td class=name>{html.escape(e.name)}</td>"
            f"<td class=acc><div class=bar style='width:{width:.0f}%'></div><span>{100 * e.accuracy:.1f} %</span></td>"
            f"<td class=num>{e.bytes}</td><td class=settings>{html.escape(_settings_text(e))}</td></tr>")
    flagged = "".join(f"<li><b>{html.escape(e.name or e.file)}</b> <span class=file>({html.escape(e.file)})</span>: "
                      f"{html.escape(e.reason)}</li>" for e in board.flagged)
    flagged_part = (f"<h2>Not ranked ({len(board.flagged)})</h2><ul class=flagged>{flagged}</ul>" if flagged else "")
    empty = "" if rows else "<p>No entry could be ranked yet.</p>"
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>
<style>
 body {{ font-family: "DejaVu Sans", Arial, sans-serif; margin: 2rem 3rem; color: #222; background: #fff; }}
 h1 {{ font-size: 2.4rem; margin: 0 0 .3rem; }}
 p.how {{ font-size: 1.3rem; color: #444; margin: 0 0 1.5rem; }}
 table {{ border-collapse: collapse; width: 100%; font-size: 1.6rem; }}
 th {{ text-align: left; font-size: 1.1rem; color: #555; border-bottom: 2px solid #999; padding: .3rem .6rem; }}
 td {{ padding: .45rem .6rem; border-bottom: 1px solid #ddd; }}
 td.place {{ width: 3.5rem; }}
 .disc {{ display: inline-block; width: 2.4rem; height: 2.4rem; line-height: 2.4rem; border-radius: 50%;
          text-align: center; font-weight: bold; background: #eee; }}
 .disc.gold {{ background: #f2c230; }} .disc.silver {{ background: #c9ccd1; }} .disc.bronze {{ background: #d49a6a; }}
 td.name {{ font-weight: bold; }}
 td.acc {{ position: relative; width: 35%; }}
 td.acc .bar {{ position: absolute; left: 0; top: 20%; height: 60%; background: #8fd18f; z-index: 0; }}
 td.acc span {{ position: relative; z-index: 1; padding-left: .4rem; font-weight: bold; }}
 td.num {{ text-align: right; width: 6rem; }}
 td.settings {{ color: #444; font-size: 1.3rem; }}
 h2 {{ font-size: 1.6rem; margin-top: 2rem; color: #a33; }}
 ul.flagged {{ font-size: 1.25rem; }} ul.flagged li {{ margin: .3rem 0; }}
 .file {{ color: #777; font-size: 1rem; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p class=how>Every model measured by the teacher's computer on {board.hidden_pictures} pictures no student has seen,
with the board's own arithmetic. Budget: {board.budget} bytes (an Arduino Uno).</p>
<table><tr><th></th><th>name</th><th>hidden pictures read right</th><th>bytes</th><th>settings</th></tr>
{''.join(rows)}</table>{empty}
{flagged_part}
</body></html>
"""
