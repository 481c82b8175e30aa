"""Unit tests of the kit's STK500v1 code and of choosing an installer, with stand-in ports (the conversation with a
real bootloader is tested in tests/test_first_hour.py, on the Simulated blank Uno's Optiboot)."""
from __future__ import annotations

import time
import types

import pytest

from bingo_kit.board import stk500


class SilentPort:
    """Nothing ever answers; records what the kit does with DTR and what it writes."""

    def __init__(self):
        self.baudrate, self._dtr, self.dtr_changes, self.written = 115200, True, [], b""

    @property
    def dtr(self):
        return self._dtr

    @dtr.setter
    def dtr(self, value):
        self._dtr = value
        self.dtr_changes.append(value)

    def read(self, n=1):
        time.sleep(0.01)  # a port's short read timeout
        return b""

    def write(self, data):
        self.written += bytes(data)

    def reset_input_buffer(self):
        pass


def test_a_silent_port_gives_up_within_its_deadline_after_resetting_through_dtr():
    port = SilentPort()
    started = time.monotonic()
    with pytest.raises(stk500.NoBootloaderError) as error:
        stk500.Stk500v1(port).sync()
    seconds = time.monotonic() - started
    assert not error.value.heard_something
    assert port.dtr_changes == [False, True] * stk500.SYNC_RESETS  # the reset pulse goes through the port object
    assert port.written.startswith(bytes([stk500.GET_SYNC, stk500.CRC_EOP]))
    assert seconds < stk500.SYNC_RESETS * (stk500.RESET_LOW_SECONDS + 1.0 + stk500.SYNC_ANSWER_SECONDS) + 0.5


class UnpluggedMidway(SilentPort):
    """Answers GET_SYNC, then the cable is pulled: every read raises, as pyserial's does."""

    def __init__(self):
        super().__init__()
        self.pending = b""

    def write(self, data):
        super().write(data)
        if bytes(data) == bytes([stk500.GET_SYNC, stk500.CRC_EOP]):
            self.pending += bytes([stk500.INSYNC, stk500.OK])
        elif self.written.count(bytes([stk500.GET_SYNC, stk500.CRC_EOP])) >= 2:
            self.pending = None

    def read(self, n=1):
        if self.pending is None:
            raise OSError("device reports readiness to read but returned no data")
        answer, self.pending = self.pending[:n], self.pending[n:]
        return answer


def test_an_unplugged_board_is_one_sentence():
    with pytest.raises(stk500.LostContactError, match="stopped answering during the install") as error:
        stk500.Stk500v1(UnpluggedMidway()).install(b"\x0c\x94" * 100)
    assert "\n" not in str(error.value)


def test_a_program_too_big_for_the_chip_is_refused_before_anything_is_sent():
    port = SilentPort()
    with pytest.raises(stk500.Stk500Error, match="holds"):
        stk500.Stk500v1(port).install(bytes(40 * 1024))
    assert port.written == b"" and port.dtr_changes == []


def test_avrdude_is_found_on_the_path_or_in_avrdude_windows(monkeypatch, tmp_path):
    """PyPI's avrdude-windows keeps avrdude.exe inside its package and says where with get_avrdude_path()."""
    import sys

    from bingo_kit.board import firmware, install

    monkeypatch.setattr(firmware.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "avrdude_windows", None)  # not installed
    assert firmware.avrdude_path() is None
    with pytest.raises(firmware.ToolsMissingError, match="pip install avrdude-windows"):
        firmware.check_upload_tools()
    exe = tmp_path / "avrdude.exe"
    exe.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "avrdude_windows", types.SimpleNamespace(get_avrdude_path=lambda: str(exe)))
    assert firmware.avrdude_path() == str(exe)


def test_the_installer_is_avrdude_where_found_else_the_kits(monkeypatch):
    from bingo_kit.board import install
    from bingo_kit.boards import get_board

    monkeypatch.setattr(install, "avrdude_path", lambda: "/usr/bin/avrdude")
    assert install.choose_installer(None, get_board("uno")) == "avrdude"
    assert install.choose_installer("kit", get_board("uno")) == "kit"
    monkeypatch.setattr(install, "avrdude_path", lambda: None)
    assert install.choose_installer(None, get_board("uno")) == "kit"
    with pytest.raises(install.InstallError, match="Choose one of: avrdude, kit"):
        install.choose_installer("esptool", get_board("uno"))
