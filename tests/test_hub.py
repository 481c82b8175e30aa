"""The kit on a JupyterHub: every student their own Simulated Uno, and (below) a real hub with three students."""
from __future__ import annotations

import pytest


@pytest.mark.firmware
def test_two_hub_users_with_one_cache_each_run_their_own_simulated_uno(tmp_path, monkeypatch):
    """A hub that runs every student as one Unix user, with one $BINGO_KIT_CACHE: each student's `sim` board
    still has its own EEPROM, and two students can have theirs running at the same time."""
    from bingo_kit.board.simavr import SimulatedBoard, default_sim_eeprom

    monkeypatch.setenv("BINGO_KIT_CACHE", str(tmp_path / "one-cache"))
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    assert default_sim_eeprom() == tmp_path / "one-cache" / "sim-eeprom.bin"  # no hub: as before
    eeproms = {}
    for user in ("ada", "bob"):
        monkeypatch.setenv("JUPYTERHUB_USER", user)
        eeproms[user] = default_sim_eeprom()
    assert eeproms["ada"] != eeproms["bob"]
    with SimulatedBoard(eeproms["ada"]) as ada, SimulatedBoard(eeproms["bob"]) as bob:
        assert ada.running and bob.running


def test_a_hub_user_name_never_leaves_the_cache(tmp_path, monkeypatch):
    from bingo_kit.paths import board_dir

    monkeypatch.setenv("BINGO_KIT_CACHE", str(tmp_path / "cache"))
    for name in ("../../etc", "..", "a/b"):
        monkeypatch.setenv("JUPYTERHUB_USER", name)
        assert board_dir().parent == tmp_path / "cache" / "hub-users"
