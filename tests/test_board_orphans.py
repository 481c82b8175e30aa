"""A killed kernel or `bingo-kit` process leaves nothing running behind it (issue 18, B1).

Each test starts a real parent process (a Python process standing in for a notebook kernel, or a `bingo-kit`
command), lets it start the simavr runner (or avrdude), SIGKILLs the parent -- no clean-up code runs -- and
checks that the child is gone within a few seconds.
"""
from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time

import psutil
import pytest

pytestmark = pytest.mark.firmware

CLI = [sys.executable, "-m", "bingo_kit.cli"]
GONE_WITHIN = 3.0  # seconds


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # exited; only the reaping is left
    except psutil.NoSuchProcess:
        return True


def _wait_until_gone(pid: int, seconds: float = GONE_WITHIN) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.05)
    return _gone(pid)


def _child_named(parent: subprocess.Popen, name: str, seconds: float = 120.0) -> int:
    """The pid of `parent`'s child process called `name`, once it exists."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert parent.poll() is None, f"the parent ended first: {parent.stderr.read() if parent.stderr else ''}"
        for child in psutil.Process(parent.pid).children():
            try:
                if child.name() == name:
                    return child.pid
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.02)
    raise AssertionError(f"no {name} started within {seconds} s")


def _kill_everything(*pids: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, TypeError):
            pass


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, BINGO_KIT_CACHE=str(tmp_path / "cache"))


def test_a_killed_kernel_takes_its_simulator_with_it(tmp_path, env):
    kernel_code = ("import sys, time\n"
                   "from bingo_kit.board.board import connect\n"
                   "board = connect('sim', sim_eeprom=sys.argv[1])\n"
                   "print(board.simulator.process.pid, flush=True)\n"
                   "time.sleep(600)\n")
    kernel = subprocess.Popen([sys.executable, "-c", kernel_code, str(tmp_path / "eeprom.bin")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    runner = None
    try:
        runner = int(kernel.stdout.readline() or 0)
        assert runner, kernel.stderr.read()
        assert not _gone(runner)
        kernel.kill()   # SIGKILL: no finaliser, no atexit, no stop()
        kernel.wait()
        assert _wait_until_gone(runner), "the simulator outlived the kernel that started it"
    finally:
        _kill_everything(kernel.pid, runner)
        kernel.wait()


def test_a_killed_bingo_kit_command_takes_its_simulator_with_it(env):
    command = subprocess.Popen([*CLI, "simulate"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    runner = None
    try:
        runner = _child_named(command, "bingo_sim")
        assert command.stdout.readline().startswith("simulated Arduino Uno running at ")
        command.kill()
        command.wait()
        assert _wait_until_gone(runner), "the simulator outlived the bingo-kit command that started it"
    finally:
        _kill_everything(command.pid, runner)
        command.wait()


def test_a_runner_whose_parent_died_before_it_started_does_not_run(tmp_path):
    """The race the watch must close: the parent dies between fork and the runner's first look at it."""
    from bingo_kit.board.simavr import build_firmware, build_runner

    runner, elf = build_runner(), build_firmware("uno")
    # A shell starts the runner in the background, names itself as the parent and exits at once: however soon
    # the runner first looks, its parent is (or is about to be) gone.
    shell = subprocess.run(["sh", "-c", '"$0" "$1" --parent $$ --eeprom "$2" >"$3" 2>&1 & echo $!',
                            str(runner), str(elf), str(tmp_path / "eeprom.bin"), str(tmp_path / "log")],
                           capture_output=True, text=True, check=True)
    pid = int(shell.stdout)
    try:
        assert _wait_until_gone(pid), "a runner whose parent had already gone kept running"
        assert "has gone" in (tmp_path / "log").read_text()
    finally:
        _kill_everything(pid)


def test_a_killed_install_firmware_takes_avrdude_and_the_simulator_with_it(env):
    command = subprocess.Popen([*CLI, "install-firmware", "--port", "sim-blank", "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    runner = avrdude = None
    try:
        runner = _child_named(command, "bingo_sim")
        avrdude = _child_named(command, "avrdude")
        command.kill()
        command.wait()
        assert _wait_until_gone(avrdude, 1.0), "avrdude outlived the bingo-kit command that started it"
        assert _wait_until_gone(runner), "the simulator outlived the bingo-kit command that started it"
    finally:
        _kill_everything(command.pid, runner, avrdude)
        command.wait()


def test_a_killed_install_firmware_takes_a_silent_avrdude_with_it(env):
    """avrdude waits ~6 s without a word for a bootloader that never answers: that is when it outlives its parent
    (while it writes, a dead parent's closed stderr pipe ends it at its next write)."""
    board_side, port_side = pty.openpty()   # a port where nothing answers
    command = subprocess.Popen([*CLI, "install-firmware", "--port", os.ttyname(port_side), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    avrdude = None
    try:
        avrdude = _child_named(command, "avrdude")
        time.sleep(0.5)  # past its first words: it now waits silently for the bootloader
        command.kill()
        command.wait()
        assert _wait_until_gone(avrdude, 1.0), "avrdude outlived the bingo-kit command that started it"
    finally:
        _kill_everything(command.pid, avrdude)
        command.wait()
        os.close(board_side)
        os.close(port_side)
