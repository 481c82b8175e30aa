"""The CLI starts without torch (issue 18, B4): building the argument list, `bingo-kit ports`, `--help` and the
one-sentence errors of the board commands import torch nowhere, so they answer in a fraction of a second
instead of the ~2-3 s torch takes to load. Commands that train or load data import it when they run.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _imports(*argv: str, tmp_path) -> tuple[str, set[str]]:
    """(stdout + stderr, the modules imported) of `bingo-kit ARGV` in a fresh interpreter (python -X importtime)."""
    env = dict(os.environ, BINGO_KIT_CACHE=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "bingo_kit.cli", *argv], capture_output=True,
                            text=True, env=env, timeout=120)
    modules, other = set(), []
    for line in result.stderr.splitlines():
        if line.startswith("import time:"):
            modules.add(line.rsplit("|", 1)[1].strip())
        else:
            other.append(line)
    return result.stdout + "\n".join(other), modules


@pytest.mark.parametrize("argv", [
    ("--help",), ("ports",), ("flash", "--help"), ("flash", "no-such-file.bingo"),
    ("predict", "--model", "no-such-file.bingo"), ("export", "no-such-model.pt", "--board", "esp32"),
], ids=" ".join)
def test_no_torch_to_start(argv, tmp_path):
    output, modules = _imports(*argv, tmp_path=tmp_path)
    assert "torch" not in modules, f"`bingo-kit {' '.join(argv)}` imported torch:\n{output}"
    assert "Traceback" not in output


def test_train_help_still_lists_the_methods(tmp_path):
    from bingo_kit.methods import method_ids

    output, _ = _imports("train", "--help", tmp_path=tmp_path)
    for method in (*method_ids(ranks_trained_model=True), "gradual"):
        assert method in output


def test_a_wrong_method_is_still_refused_with_the_choices(tmp_path):
    env = dict(os.environ, BINGO_KIT_CACHE=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-m", "bingo_kit.cli", "train", "--method", "biggest"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2 and "choose one of magnitude" in result.stderr and "gradual" in result.stderr
