"""The receiver ships prebuilt (hardware/firmware/, one .hex per board): the files match the sketch they were
built from, a rebuild with the pinned toolchain gives the very same bytes, and the Simulated Uno runs them with no
AVR compiler on the computer."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap

import pytest


def test_manifest_matches_the_sketch_and_the_files():
    """Fails the moment the sketch (or hardware/Makefile) is edited without `--refresh`: no compiler needed."""
    from bingo_kit.board.firmware import REFRESH_COMMAND, SHIPPED_DIR, hex_image, shipped_manifest, sources_digest

    manifest = shipped_manifest()
    assert manifest["sources"] == sources_digest(), f"the sketch changed: run {REFRESH_COMMAND}"
    assert set(manifest["boards"]) == {"uno", "nano", "mega"}
    for key, entry in manifest["boards"].items():
        path = SHIPPED_DIR / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], path
        image = hex_image(path)
        assert len(image) == entry["flash_bytes"] and image[:2] == b"\x0c\x94"  # a jmp: the reset vector
        print(f"\n{key}: {path.stat().st_size} bytes of .hex, {len(image)} bytes of flash")


def test_shipped_hex_is_one_plain_file_per_board():
    from bingo_kit.board.firmware import shipped_hex
    from bingo_kit.errors import KitError

    text = shipped_hex("uno").read_text()
    assert text.startswith(":") and text.rstrip().endswith(":00000001FF")  # Intel HEX, end-of-file record
    assert shipped_hex("Arduino Mega 2560").name == "bingo_receiver-mega.hex"
    with pytest.raises(KitError, match="Unknown board"):
        shipped_hex("esp32")


@pytest.mark.firmware
def test_a_rebuild_with_the_pinned_toolchain_is_byte_identical(tmp_path, monkeypatch):
    """A fresh build in an empty build folder (another path than the one the files were made in) must give the
    committed bytes: the .hex is reproducible and current."""
    from bingo_kit.board import firmware

    monkeypatch.setenv("BINGO_KIT_BUILD_DIR", str(tmp_path / "build"))
    try:
        stale = firmware.stale_boards()
    except firmware.ToolsMissingError as error:
        pytest.skip(str(error))
    assert stale == [], f"stale: {stale}; run {firmware.REFRESH_COMMAND}"


@pytest.mark.firmware
def test_an_edited_sketch_is_refused_until_refreshed(tmp_path, monkeypatch):
    """In a checkout whose sketch changed after the last refresh, the kit will not run yesterday's .hex; an edit
    that changes no byte of the program (a comment) is no obstacle."""
    from bingo_kit.board import firmware

    try:
        firmware.check_firmware_tools()
    except firmware.ToolsMissingError as error:
        pytest.skip(str(error))
    hardware = tmp_path / "hardware"
    shutil.copytree(firmware.HARDWARE_DIR, hardware)
    monkeypatch.setenv("BINGO_KIT_BUILD_DIR", str(tmp_path / "build"))
    for name, value in (("HARDWARE_DIR", hardware), ("SKETCH_DIR", hardware / "bingo_receiver"),
                        ("SHIPPED_DIR", hardware / "firmware"), ("SHIPPED_MANIFEST", hardware / "firmware" / "manifest.json")):
        monkeypatch.setattr(firmware, name, value)
    monkeypatch.setattr(firmware, "_CURRENT", set())
    sketch = hardware / "bingo_receiver" / "bingo_receiver.ino"

    sketch.write_text(sketch.read_text() + "\n// a comment changes no byte of the program\n")
    assert firmware.shipped_hex("uno") == hardware / "firmware" / "bingo_receiver-uno.hex"

    firmware._CURRENT.clear()
    sketch.write_text(sketch.read_text() + "\nvolatile unsigned char bingo_test_marker[3] = {1, 2, 3};\n"
                      "__attribute__((used)) unsigned char bingo_read_marker() { return bingo_test_marker[1]; }\n")
    with pytest.raises(firmware.StaleFirmwareError, match="--refresh"):
        firmware.shipped_hex("uno")


@pytest.mark.firmware
def test_the_simulated_uno_runs_the_shipped_hex_without_avr_gcc(tmp_path):
    """No avr-gcc and no Arduino core on PATH: the Simulated Uno still starts, from the shipped .hex."""
    from bingo_kit.board.simavr import SimulatorUnavailableError, build_runner

    try:
        build_runner()  # (needs simavr and a C compiler, not avr-gcc; built once, before hiding anything)
    except SimulatorUnavailableError as error:
        pytest.skip(str(error))
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("cc", "gcc", "make"):
        if shutil.which(tool):
            (tools / tool).symlink_to(shutil.which(tool))
    env = dict(os.environ, PATH=str(tools), ARDUINO_AVR=str(tmp_path / "no-arduino-core"))
    code = textwrap.dedent("""
        import shutil
        from bingo_kit.board.board import connect
        assert shutil.which("avr-gcc") is None
        with connect("sim", sim_eeprom="eeprom.bin") as board:
            print(board.simulator.process.args[1], board.info.firmware_version)
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    program, version = done.stdout.split()
    assert program.endswith("firmware/bingo_receiver-uno.hex") and version
