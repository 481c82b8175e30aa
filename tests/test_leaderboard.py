"""Lesson 8's class results: entry files saved by the lesson, and a leaderboard that can't be faked.

Real parts throughout: entries are trained by the lesson's own challenge_entry on the real challenge pictures
(a few epochs, to stay quick), saved with ChallengeEntry.save, and tampered with the way a student could: by
hand in an editor, or by a script that also recomputes the hashes. The leaderboard measures every blob itself.
"""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bingo_kit import leaderboard
from bingo_kit.export import decode_blob, encode_blob, quantize
from bingo_kit.leaderboard import entry_record, judge, split_pictures
from bingo_kit.lessons.challenge import ChallengeEntry, challenge_entry

REPO = Path(__file__).resolve().parents[1]


def hidden_accuracy(blob: bytes) -> float:
    pictures, labels = split_pictures("hidden")
    return float(np.mean(np.argmax(decode_blob(blob).logits(pictures), axis=-1) == labels))


def rehash(record: dict) -> dict:
    """What a student's script would do after editing: recompute both hashes so they match again."""
    record["blob_sha256"] = leaderboard.sha256(base64.b64decode(record["blob"]))
    record["sha256"] = leaderboard._entry_hash(record)
    return record


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def save(folder: Path, name: str, record: dict) -> Path:
    path = folder / name
    path.write_text(json.dumps(record))
    return path


@pytest.fixture(scope="module")
def entries(clothes):
    """Honest entries, made and saved as lesson 8 makes them."""
    test_tuned = type(clothes)("fashion-mnist", clothes.x_test, clothes.y_test, clothes.x_test, clothes.y_test,
                               clothes.image_shape, list(clothes.class_names))
    return {
        "Ada": challenge_entry("Ada", clothes, hidden=24, method="magnitude", fraction=0.65, epochs=5,
                               practice_epochs=1),
        "Bo": challenge_entry("Bo", clothes, hidden=12, epochs=2, practice_epochs=0),
        # trained on the test pictures themselves: the best claim on the test split, not on the hidden one
        "Cy": challenge_entry("Cy", test_tuned, hidden=32, method="magnitude", fraction=0.79, epochs=60,
                              practice_epochs=20),
        "Eve": challenge_entry("Eve", clothes, hidden=16, method="random", fraction=0.4, epochs=1, practice_epochs=1),
        "Fay": challenge_entry("Fay", clothes, hidden=10, epochs=1, practice_epochs=0),
        "Gus": challenge_entry("Gus", clothes, hidden=32, method="magnitude", fraction=0.3, epochs=1,
                               practice_epochs=0),
    }


@pytest.fixture(scope="module")
def class_folder(entries, clothes, tmp_path_factory):
    """A class's folder: honest entries and at least one of every kind of tampering."""
    folder = tmp_path_factory.mktemp("entries")
    paths = {name: entry.save(folder) for name, entry in entries.items()}
    ada, eve = load(paths["Ada"]), load(paths["Eve"])

    claim_raised = dict(ada, name="Hal")
    claim_raised["claim"] = dict(ada["claim"], correct=ada["claim"]["correct"] + 250)
    save(folder, "hal.challenge.json", rehash(claim_raised))              # 1. a better claim, hashes redone

    edited_by_hand = dict(ada, name="Ivy")
    edited_by_hand = rehash(edited_by_hand)
    edited_by_hand["claim"] = dict(ada["claim"], correct=ada["claim"]["correct"] + 1)
    save(folder, "ivy.challenge.json", edited_by_hand)                     # 2. claim edited, hash left alone

    blob = bytearray(base64.b64decode(ada["blob"]))
    blob[-1] ^= 0x7F
    flipped = rehash(dict(ada, name="Jo"))
    flipped["blob"] = base64.b64encode(bytes(blob)).decode()
    save(folder, "jo.challenge.json", flipped)                             # 3. a weight byte edited

    save(folder, "kim.challenge.json", rehash(dict(eve, name="Kim")))      # 4. Eve's file copied as Kim's

    wide = _too_wide_record(clothes)
    save(folder, "lu.challenge.json", wide)                                # 5. a layer the Uno cannot run
    # (6. Gus's honest entry is over budget: saved as it came out of the lesson)

    text = paths["Fay"].read_text()
    (folder / "mo.challenge.json").write_text(text.replace('"Fay"', '"Mo"')[: len(text) // 2])  # 7. cut short

    cut_blob = rehash(dict(ada, name="Ned"))
    cut_blob["blob"] = base64.b64encode(base64.b64decode(ada["blob"])[:-40]).decode()
    save(folder, "ned.challenge.json", rehash(cut_blob))                   # 8. the blob cut short, hashes redone

    hidden_claim = dict(ada, name="Oz")
    hidden_claim["claim"] = dict(ada["claim"], split="hidden")
    save(folder, "oz.challenge.json", rehash(hidden_claim))                # 9. a claim on the hidden split

    save(folder, "notes.json", {"todo": "finish lesson 8"})                # 10. not an entry at all
    save(folder, "nameless.challenge.json", rehash(dict(ada, name=" ")))   # 12. no name to rank
    nested = folder / "resubmitted"
    nested.mkdir()
    shutil.copy(paths["Fay"], nested / "Fay.challenge.json")              # 11. the same file handed in twice
    return folder


def test_honest_entries_are_ranked_by_the_hidden_split_not_by_their_claims(class_folder, entries):
    board = judge(class_folder)
    ranked = {e.name: e for e in board.ranked}
    assert set(ranked) == {"Ada", "Bo", "Cy"}
    for name, row in ranked.items():
        assert row.accuracy == pytest.approx(hidden_accuracy(entries[name].blob))
        assert row.bytes == entries[name].size and row.claimed_accuracy == entries[name].accuracy
    assert [e.name for e in board.ranked] == sorted(ranked, key=lambda n: -ranked[n].accuracy)
    assert [e.place for e in board.ranked] == [1, 2, 3]
    # Cy tuned on the test pictures: the best claim of all, yet not first on pictures nobody has seen
    assert entries["Cy"].accuracy > max(entries["Ada"].accuracy, entries["Bo"].accuracy)
    assert board.ranked[0].name != "Cy"
    assert board.hidden_pictures == 5000 and board.budget == 1020


@pytest.mark.parametrize("file, reason", [
    ("hal.challenge.json", "claims 4"),                      # ... right on the test split, but its model gets
    ("ivy.challenge.json", "edited after it was saved"),
    ("jo.challenge.json", "(the blob) was edited"),
    ("kim.challenge.json", "byte for byte the one in Eve.challenge.json"),
    ("Eve.challenge.json", "byte for byte the one in kim.challenge.json"),  # the original is flagged too
    ("Gus.challenge.json", "over budget"),
    ("lu.challenge.json", "too wide for an Uno: a layer of 80 units"),
    ("mo.challenge.json", "not a whole JSON file"),
    ("ned.challenge.json", "cut short"),
    ("oz.challenge.json", "on the 'hidden' split"),
    ("notes.json", "not a challenge entry"),
    ("nameless.challenge.json", "has no name"),
    ("resubmitted/Fay.challenge.json", "byte for byte the one in Fay.challenge.json"),
    ("Fay.challenge.json", "byte for byte the one in resubmitted/Fay.challenge.json"),
])
def test_every_tampered_entry_is_flagged_with_its_reason_and_never_ranked(class_folder, file, reason):
    board = judge(class_folder)
    flagged = {e.file: e.reason for e in board.flagged}
    assert file in flagged, f"{file} was not flagged; flagged: {sorted(flagged)}"
    assert reason in flagged[file], flagged[file]
    assert file not in {e.file for e in board.ranked}


def test_the_claim_mismatch_names_both_numbers(class_folder, entries):
    reason = {e.file: e.reason for e in judge(class_folder).flagged}["hal.challenge.json"]
    ada = entries["Ada"]
    assert f"claims {ada.correct + 250}/5000 right on the test split" in reason
    assert f"its model gets {ada.correct}/5000" in reason


def test_two_entries_under_one_name_are_flagged(entries, tmp_path, clothes):
    entries["Bo"].save(tmp_path)
    other = challenge_entry("bo", clothes, hidden=8, epochs=1, practice_epochs=0)
    (tmp_path / "other").mkdir()
    other.save(tmp_path / "other")
    board = judge(tmp_path)
    assert not board.ranked
    assert all("2 entries are called" in e.reason for e in board.flagged) and len(board.flagged) == 2


def test_a_validation_claim_is_checked_on_the_validation_split(entries, tmp_path, clothes):
    entry = entries["Bo"]
    pictures, labels = split_pictures("validation")
    right = int(np.sum(np.argmax(decode_blob(entry.blob).logits(pictures), axis=-1) == labels))
    claim = {"split": "validation", "correct": right, "total": len(labels)}
    leaderboard.write_entry(tmp_path, entry_record("Bo", entry.blob, entry.settings, claim))
    board = judge(tmp_path)
    assert [e.name for e in board.ranked] == ["Bo"] and board.ranked[0].claimed_split == "validation"


def test_the_same_settings_under_two_names_give_two_models_not_a_copy(clothes, tmp_path):
    one = challenge_entry("Pat", clothes, hidden=8, epochs=1, practice_epochs=0)
    two = challenge_entry("Quinn", clothes, hidden=8, epochs=1, practice_epochs=0)
    assert one.blob != two.blob
    one.save(tmp_path), two.save(tmp_path)
    assert {e.name for e in judge(tmp_path).ranked} == {"Pat", "Quinn"}


def test_the_hidden_split_never_overlaps_what_the_lesson_uses():
    """The four splits are carved from disjoint index sets of Fashion-MNIST's own train and test files."""
    import torch

    from bingo_kit.data import load_images

    train, _, test, _, _ = load_images("fashion-mnist")
    generator = torch.Generator().manual_seed(leaderboard.SPLIT_SEED)
    train_order = torch.randperm(len(train), generator=generator)
    test_order = torch.randperm(len(test), generator=generator)
    lesson_test = set(test_order[:leaderboard.TEST_PICTURES].tolist())
    hidden = set(test_order[leaderboard.TEST_PICTURES:].tolist())
    assert not lesson_test & hidden and len(hidden) == 5000
    assert set(train_order[:leaderboard.VALIDATION_PICTURES].tolist()).isdisjoint(
        train_order[leaderboard.VALIDATION_PICTURES:].tolist())
    # and the pictures really are different ones: no hidden picture is byte-identical to a lesson test picture
    hidden_x, _ = split_pictures("hidden")
    test_x, _ = split_pictures("test")
    assert not set(map(bytes, hidden_x)) & set(map(bytes, test_x)) - {bytes(64)}


def test_challenge_pictures_are_the_boards_bytes(clothes):
    """The lesson's floats turn back into exactly the bytes the leaderboard measures: the same answer everywhere."""
    from bingo_kit.export import inputs_to_bytes

    pictures, labels = split_pictures("test")
    assert np.array_equal(inputs_to_bytes(clothes.x_test), pictures)
    assert np.array_equal(clothes.y_test.numpy(), labels)


def test_leaderboard_command_writes_json_csv_and_html(class_folder, tmp_path, capsys):
    from bingo_kit.cli import main

    csv_path, html_path = tmp_path / "class.csv", tmp_path / "class.html"
    assert main(["leaderboard", str(class_folder), "--json", "--csv", str(csv_path), "--html", str(html_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in result["ranked"]] == [e.name for e in judge(class_folder).ranked]
    assert {"name", "accuracy", "bytes"} <= set(result["ranked"][0])
    assert all(set(row) >= {"file", "reason"} for row in result["flagged"])
    files = sorted(str(p.relative_to(class_folder)) for p in class_folder.rglob("*.json"))
    import csv

    rows = list(csv.DictReader(csv_path.open()))
    assert sorted(row["file"] for row in rows) == files          # one row per file handed in
    assert [row["status"] for row in rows].count("ranked") == 3
    page = html_path.read_text()
    assert "Ada" in page and "over budget" in page and "<script" not in page


def test_leaderboard_of_a_missing_folder_is_one_sentence(tmp_path, capsys):
    from bingo_kit.cli import main

    assert main(["leaderboard", str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_the_leaderboard_command_loads_torch_only_when_it_runs():
    code = ("import argparse, sys; import bingo_kit.leaderboard; from bingo_kit.cli import leaderboard; "
            "commands = argparse.ArgumentParser().add_subparsers(); leaderboard._add_leaderboard(commands); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"


def test_save_refuses_an_entry_without_a_model(tmp_path):
    from bingo_kit.errors import KitError

    with pytest.raises(KitError, match="challenge_entry"):
        ChallengeEntry("x", 12, "magnitude", 0.0, 997, 0.8).save(tmp_path)


def _too_wide_record(clothes) -> dict:
    """An 80-hidden network pruned hard enough to fit the bytes: wider than the Uno's firmware can run."""

    from bingo_kit.export import inputs_to_bytes
    from bingo_kit.models import make_mlp
    from bingo_kit.pruning import prune_fraction

    model = make_mlp((64, 80, 10), seed=3)
    prune_fraction(model, 0.97)
    blob = encode_blob(quantize(model, clothes.x_train))
    assert len(blob) <= 1020
    right = int(np.sum(decode_blob(blob).predict(inputs_to_bytes(clothes.x_test)) == clothes.y_test.numpy()))
    return entry_record("Lu", blob, {"hidden": 80}, {"split": "test", "correct": right, "total": 5000})
