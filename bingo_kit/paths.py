"""Where the kit keeps files between runs (unpacked datasets, the simulated boards' memories, flashed models,
compiled firmware)."""
from __future__ import annotations

import os
import re
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """$BINGO_KIT_CACHE, else $XDG_CACHE_HOME/bingo-kit, else ~/.cache/bingo-kit — joined with `parts`, created."""
    root = os.environ.get("BINGO_KIT_CACHE")
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bingo-kit"
    path = Path(root).joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def board_dir() -> Path:
    """Where the Simulated Uno keeps its memory (EEPROM, and the blank Uno's flash): the cache, or on a
    JupyterHub the cache's hub-users/<name>/ ($JUPYTERHUB_USER, which the hub sets for each student's server and
    so for their kernels and terminals). A student's board is their own even when the hub runs every student
    as one Unix user with one home or one $BINGO_KIT_CACHE; datasets and builds stay shared."""
    hub_user = os.environ.get("JUPYTERHUB_USER")
    if not hub_user:
        return cache_dir()
    return cache_dir("hub-users", re.sub(r"[^\w.@+-]|^\.+$", "_", hub_user))  # a name, never a path


def build_dir() -> Path:
    """Where the sketch, the simulator's runner and the bootloader are compiled: $BINGO_KIT_BUILD_DIR, else
    the cache's build/ (never the package's own folder, which may be read-only once installed)."""
    root = os.environ.get("BINGO_KIT_BUILD_DIR")
    if root:
        Path(root).mkdir(parents=True, exist_ok=True)
        return Path(root)
    return cache_dir("build")
