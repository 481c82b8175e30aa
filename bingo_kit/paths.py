"""Where the kit keeps files between runs (unpacked datasets, the simulated Uno's EEPROM, flashed models)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """$BINGO_KIT_CACHE, else $XDG_CACHE_HOME/bingo-kit, else ~/.cache/bingo-kit — joined with `parts`, created."""
    root = os.environ.get("BINGO_KIT_CACHE")
    if not root:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bingo-kit"
    path = Path(root).joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
