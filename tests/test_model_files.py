"""Files a person names on the command line (issue 18, B5 and B7).

B5: a folder, a missing folder or a missing file where a command reads or writes a file gets one sentence (exit
1), never a traceback -- and before any long work starts.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "bingo_kit.cli"]


def run(*argv, cwd, timeout=120):
    env = dict(os.environ, BINGO_KIT_CACHE=str(cwd / "cache"))
    return subprocess.run([*CLI, *map(str, argv)], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


FOLDER_CASES = {
    "flash a folder": (("flash", "folder", "--port", "sim"), "folder is a folder, not a .bingo model file"),
    "predict --model a folder": (("predict", "--model", "folder", "--port", "sim"),
                                 "folder is a folder, not a .bingo model file"),
    "export a folder": (("export", "folder"), "folder is a folder, not a model file"),
    "export -o a folder": (("export", "model.pt", "-o", "folder"), "folder is a folder: name a file to write"),
    "export -o into no folder": (("export", "model.pt", "-o", "nowhere/model.bingo"), "There is no folder nowhere"),
    "train -o a folder": (("train", "-o", "folder"), "folder is a folder: name a file to write the model"),
    "train --scores a folder": (("train", "--scores", "folder"), "name a file to write the scores"),
    "race --json a folder": (("race", "--json", "folder"), "name a file to write the results"),
    "simulate --eeprom a folder": (("simulate", "--eeprom", "folder"), "name a file to write the simulated"),
    "export a file that is no model": (("export", "model.pt", "-o", "model.bingo"),
                                       "model.pt is not a model file written by bingo-kit"),
}


@pytest.mark.parametrize("case", FOLDER_CASES)
def test_a_folder_where_a_file_belongs_is_one_sentence(case, tmp_path):
    argv, expected = FOLDER_CASES[case]
    (tmp_path / "folder").mkdir()
    (tmp_path / "model.pt").write_bytes(b"not read: the output path is checked first")
    result = run(*argv, cwd=tmp_path, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


# --- B7: a .bingo file carries its own check (PROTOCOL.md §7) ------------------------------------------------

@pytest.fixture(scope="module")
def exported(trained_mlp, digits):
    """What `bingo-kit export` writes: an ExportReport of the pruned default model."""
    import copy

    from bingo_kit.export import export_model
    from bingo_kit.pruning import prune_fraction

    model = copy.deepcopy(trained_mlp)
    prune_fraction(model, 0.6, method="magnitude")
    return export_model(model, calibration_x=digits.x_train)


def test_an_exported_file_reads_back_checked(exported, tmp_path):
    from bingo_kit.export import read_model_file

    path = exported.save(tmp_path / "model.bingo")
    assert path.read_bytes()[:4] == b"BNGF" and path.stat().st_size == len(exported.blob) + 11
    model_file = read_model_file(path)
    assert model_file.blob == exported.blob and model_file.checked and model_file.note(path) is None


def _damaged_copies(good: bytes) -> dict[str, tuple[bytes, str]]:
    flipped = bytearray(good)
    flipped[-1] ^= 0x01          # the last byte of a .bingo file is a weight of the last layer (§2.2)
    return {
        "one flipped weight bit": (bytes(flipped), "is damaged: its bytes no longer match the checksum"),
        "cut short": (good[:-7], "is cut short"),
        "bytes added": (good + b"\x00", "is longer than it says"),
        "header cut": (good[:6], "ends inside its header"),
        "not a model": (b"PK\x03\x04" + good[4:], "is not a .bingo model file"),
        "a newer file version": (good[:4] + b"\x02" + good[5:], "version 2; this bingo-kit reads version 1"),
    }


@pytest.mark.parametrize("damage", list(_damaged_copies(b"BNGF" + bytes(20))))
def test_a_damaged_file_is_refused_in_one_sentence(exported, tmp_path, damage):
    from bingo_kit.errors import KitError
    from bingo_kit.export import read_model_file

    good = exported.save(tmp_path / "model.bingo").read_bytes()
    data, expected = _damaged_copies(good)[damage]
    path = tmp_path / "damaged.bingo"
    path.write_bytes(data)
    with pytest.raises(KitError, match=expected) as caught:
        read_model_file(path)
    assert str(caught.value).count(". ") <= 2 and "\n" not in str(caught.value)


@pytest.mark.parametrize("command", ["flash", "predict"])
def test_flash_and_predict_refuse_a_flipped_weight_bit_before_the_board(exported, tmp_path, command):
    """The issue's case: one flipped weight byte flashed fine, and predict then agreed 1.0 with the same file."""
    good = exported.save(tmp_path / "model.bingo").read_bytes()
    damaged = bytearray(good)
    damaged[-1] ^= 0x01
    (tmp_path / "damaged.bingo").write_bytes(bytes(damaged))
    argv = ("flash", "damaged.bingo") if command == "flash" else ("predict", "--model", "damaged.bingo")
    result = run(*argv, "--port", "sim", "--quiet", cwd=tmp_path, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"bingo-kit {command}: damaged.bingo is damaged: its bytes no longer match the checksum written into it. "
        "Export the model again (bingo-kit export model.pt -o damaged.bingo)."]
    assert not (tmp_path / "cache" / "sim-eeprom.bin").exists(), "the simulated board was started anyway"


@pytest.mark.firmware
def test_an_old_file_without_a_checksum_is_flashed_with_a_note(exported, tmp_path):
    (tmp_path / "old.bingo").write_bytes(exported.blob)   # what bingo-kit export wrote before §7
    result = run("flash", "old.bingo", "--port", "sim", "--quiet", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        "note: old.bingo has no checksum (an older bingo-kit wrote it), so damage to it cannot be noticed: it is "
        "used as it is. Export the model again to give it one."]
    assert "done:" in result.stdout
