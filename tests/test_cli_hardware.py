"""`bingo-kit ports|export|flash|predict|simulate|doctor`, run as real processes.

The flash/predict/simulate/doctor tests drive the real sketch in simavr (`--port sim`); each test gets
its own cache directory, so its simulated board's EEPROM is its own.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys

import pytest

from bingo_kit.data import load_dataset
from bingo_kit.board.board import connect
from bingo_kit.models import make_mlp, save_model
from bingo_kit.pruning import prune_fraction
from bingo_kit.training import train

CLI = [sys.executable, "-m", "bingo_kit.cli"]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """model.pt files as `bingo-kit train -o` writes them (models.save_model): dense, and pruned to 60 %."""
    folder = tmp_path_factory.mktemp("models")
    data = load_dataset("digits")
    model = make_mlp((64, 16, 10), seed=0)
    train(model, data, epochs=20, seed=0, progress=False)
    save_model(model, folder / "dense.pt")
    prune_fraction(model, 0.6, method="magnitude")
    train(model, data, epochs=5, seed=1, progress=False)
    save_model(model, folder / "pruned.pt")
    return folder


def run(*args, cache, timeout=120, check=True):
    env = dict(os.environ, BINGO_KIT_CACHE=str(cache))
    result = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def test_ports_lists_or_explains(cache):
    out = run("ports", cache=cache).stdout
    assert out.strip(), "prints either ports or how to use the simulator"


def test_export_prints_sizes_and_fit(model_files, tmp_path, cache):
    blob = tmp_path / "model.bingo"
    out = run("export", model_files / "pruned.pt", "--board", "uno", "-o", blob, cache=cache).stdout
    assert "float32 model: 4840 bytes; int8 dense: 1309 bytes" in out
    assert "fits on Arduino Uno" in out and "test accuracy" in out
    from bingo_kit.export import read_model_file

    model_file = read_model_file(blob)   # a checked .bingo file (PROTOCOL.md §7)
    assert model_file.checked and model_file.blob[:4] == b"BNGO"
    assert f"wrote {blob} ({len(model_file.blob)}-byte model and its checksum)" in out


def test_export_refuses_a_model_that_does_not_fit(model_files, tmp_path, cache):
    blob = tmp_path / "model.bingo"
    result = run("export", model_files / "dense.pt", "--board", "uno", "-o", blob, cache=cache, check=False)
    assert result.returncode == 1 and not blob.exists()
    assert "289 bytes too many" in result.stderr and "prune more weights" in result.stderr
    assert "Traceback" not in result.stderr
    run("export", model_files / "dense.pt", "--board", "mega", "-o", blob, cache=cache)
    assert blob.stat().st_size == 1309 + 11   # the blob behind the .bingo file's header (PROTOCOL.md §7)


def test_flash_rejects_a_damaged_file(tmp_path, cache):
    bad = tmp_path / "bad.bingo"
    bad.write_bytes(b"BNGO\x01\x02\x40")
    result = run("flash", bad, "--port", "sim", cache=cache, check=False)
    assert result.returncode == 1 and "cut short" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.firmware
def test_flash_then_predict_in_separate_commands_share_the_simulated_board(model_files, tmp_path, cache):
    blob = tmp_path / "model.bingo"
    run("export", model_files / "pruned.pt", "-o", blob, cache=cache)
    out = run("flash", blob, "--port", "sim", "--quiet", cache=cache).stdout
    assert f"flashing {blob.stat().st_size - 11} bytes (model 64-16-10) to the simulated Uno" in out
    assert "done:" in out and "CRC 0x" in out
    # A new process, a new simulator run: the model comes back from the EEPROM file, as after a power cycle.
    summary = json.loads(run("predict", "--port", "sim", "--dataset", "digits", "--json", cache=cache,
                             timeout=300).stdout)
    assert set(summary) == {"n", "agreement", "accuracy", "mean_inference_us"}
    assert summary["n"] == len(load_dataset("digits").y_test)   # the whole test split
    assert summary["agreement"] == 1.0                           # every logit bit-exact with the host reference
    assert summary["accuracy"] > 0.85 and summary["mean_inference_us"] > 0


@pytest.mark.firmware
def test_flash_refuses_a_model_too_big_for_the_simulated_uno(model_files, tmp_path, cache):
    blob = tmp_path / "dense.bingo"
    run("export", model_files / "dense.pt", "--board", "mega", "-o", blob, cache=cache)
    result = run("flash", blob, "--port", "sim", "--quiet", cache=cache, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "1309 bytes but Arduino Uno holds at most 1020: 289 bytes too many. Prune more" in result.stderr


@pytest.mark.firmware
def test_predict_on_an_empty_board_says_flash_first(cache):
    result = run("predict", "--port", "sim", "--n", "3", cache=cache, check=False)
    assert result.returncode == 1 and "flash one first" in result.stderr


@pytest.mark.firmware
def test_doctor_reports_the_simulator(cache):
    out = run("doctor", cache=cache, timeout=180).stdout
    assert "ok  python" in out and "ok  pyserial" in out
    line = next(line for line in out.splitlines() if "simulated Uno" in line)
    assert line.startswith("ok ") and "capacity 1020 bytes" in line


def _processes_in_session(session_id: int) -> list[int]:
    """Pids still alive in a session (field 6 of /proc/PID/stat), zombies excluded."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == session_id:
            alive.append(int(entry))
    return alive


@pytest.mark.firmware
def test_simulate_prints_a_port_that_answers_and_stops_on_ctrl_c(cache):
    env = dict(os.environ, BINGO_KIT_CACHE=str(cache))
    process = subprocess.Popen([*CLI, "simulate"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, start_new_session=True)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 120)   # never hang the suite on a stuck start
        assert ready, "bingo-kit simulate printed nothing within 120 s"
        first = process.stdout.readline()
        assert first.startswith("simulated Arduino Uno running at "), first + process.stderr.read()
        port = first.split(" at ")[1].split()[0]
        with connect(port) as board:
            assert board.info.capacity == 1020 and board.simulator is None   # we did not start this one
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 130
        assert _processes_in_session(process.pid) == [], "Ctrl-C stops the simavr runner too"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
