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
