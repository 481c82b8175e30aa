"""The sketch builds with Debian's AVR toolchain and Arduino core, fits an Uno, and the build is cached."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.firmware


def _build(board):
    from bingo_kit.simulator import SimulatorUnavailableError, build_firmware

    try:
        return build_firmware(board)
    except SimulatorUnavailableError as error:
        pytest.skip(str(error))


def test_fits_an_uno():
    from bingo_kit.simulator import firmware_size

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
    code = "from bingo_kit.simulator import build_firmware; print(build_firmware('uno'))"
    workers = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    results = [worker.communicate(timeout=300) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), results
    paths = {out.strip() for out, _ in results}
    assert len(paths) == 1 and str(tmp_path) in paths.pop()
    assert not old_uno.exists() and old_mega.exists()


def test_build_key_includes_the_toolchain_versions():
    from bingo_kit.simulator import toolchain_versions

    _build("uno")
    versions = toolchain_versions()
    gcc = subprocess.run(["avr-gcc", "-dumpversion"], capture_output=True, text=True).stdout.strip()
    assert f"avr-gcc {gcc}" in versions and "arduino core unknown" not in versions
