"""The sketch builds with Debian's AVR toolchain and Arduino core, fits an Uno, and the build is cached (in the
user cache, never in the source tree); the Simulated blank Uno's Optiboot fits its boot section."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.firmware


def _build(board):
    from bingo_kit.board.firmware import ToolsMissingError, build_firmware

    try:
        return build_firmware(board)
    except ToolsMissingError as error:
        pytest.skip(str(error))


def test_fits_an_uno():
    from bingo_kit.board.firmware import firmware_size

    size = firmware_size(_build("uno"))
    print(f"\nUno: {size['flash']} bytes of flash, {size['ram']} bytes of static RAM")
    assert size["flash"] <= 8 * 1024
    assert size["ram"] <= 2048 - 150  # the rest is stack; IDENTIFY reports the exact free amount


@pytest.mark.parametrize("board", ["nano", "mega"])
def test_compiles_for_other_boards(board):
    elf = _build(board)
    assert elf.exists() and elf.stat().st_size > 0


def test_build_is_cached_by_source_hash():
    first = _build("uno")
    built_at = first.stat().st_mtime_ns
    assert _build("uno") == first
    assert first.stat().st_mtime_ns == built_at  # the same ELF, not rebuilt (make was not run again)


def test_parallel_builds_share_one_result(tmp_path):
    """Two processes (two pytest workers) asking at once: one builds, both get the same ELF."""
    _build("uno")  # tools present (else skip)
    # builds left by earlier versions of the sources: the new Uno build replaces the old Uno one only
    old_uno, old_mega = tmp_path / "build" / "fw-uno-0123456789abcdef", tmp_path / "build" / "fw-mega-0123456789abcdef"
    for old in (old_uno, old_mega):
        old.mkdir(parents=True)
        (old / "bingo_receiver.elf").write_bytes(b"old")
    env = dict(os.environ, BINGO_KIT_BUILD_DIR=str(tmp_path / "build"))
    code = "from bingo_kit.board.firmware import build_firmware; print(build_firmware('uno'))"
    workers = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    results = [worker.communicate(timeout=300) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), results
    paths = {out.strip() for out, _ in results}
    assert len(paths) == 1 and str(tmp_path) in paths.pop()
    assert not old_uno.exists() and old_mega.exists()


def test_build_key_includes_the_toolchain_versions():
    from bingo_kit.board.firmware import toolchain_versions

    _build("uno")
    versions = toolchain_versions()
    gcc = subprocess.run(["avr-gcc", "-dumpversion"], capture_output=True, text=True).stdout.strip()
    assert f"avr-gcc {gcc}" in versions and "arduino core unknown" not in versions


def test_builds_go_to_the_cache_not_the_source_tree():
    from bingo_kit.board.firmware import HARDWARE_DIR
    from bingo_kit.paths import build_dir

    elf = _build("uno")
    assert elf.is_relative_to(build_dir()) and not elf.is_relative_to(HARDWARE_DIR.parent)


def test_optiboot_fits_the_unos_boot_section():
    """Built from Debian's Optiboot source: its code must lie within 0x7E00-0x7FFF (512 bytes, BOOTSZ=11), where
    a real Uno's fuses put it (Debian's own prebuilt .hex runs 20 bytes past the end of flash)."""
    from bingo_kit.board.firmware import ToolsMissingError, board_fuses, build_bootloader

    try:
        hex_path = build_bootloader()
    except ToolsMissingError as error:
        pytest.skip(str(error))
    addresses, base = [], 0
    for line in hex_path.read_text().split():
        count, address, kind = int(line[1:3], 16), int(line[3:7], 16), int(line[7:9], 16)
        if kind == 4:
            base = int(line[9:13], 16) << 16
        elif kind == 0:
            addresses += [base + address, base + address + count - 1]
    assert 0x7E00 <= min(addresses) and max(addresses) <= 0x7FFF
    high = int(board_fuses("uno").split(",")[1], 16)
    assert high & 0x01 == 0 and (high >> 1) & 0x03 == 0x03  # BOOTRST programmed, 256-word boot section
