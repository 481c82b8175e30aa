"""The package works when installed normally (not editable, not from the source tree).

Builds the wheel from a copy of the repository's tracked files, installs it with --no-deps into a fresh venv
whose only link to this environment is a .pth line naming its site-packages (for torch, numpy, ...: a .pth
inside a directory added that way is not run, so this environment's editable bingo_kit stays invisible), and
from a folder outside the repository builds the runner from the packaged source into a fresh build cache, flashes
the Simulated Uno (running the packaged, prebuilt receiver .hex) and predicts.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = [pytest.mark.firmware, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]


def _run(command, **options) -> str:
    result = subprocess.run(command, capture_output=True, text=True, **options)
    assert result.returncode == 0, f"{command}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if not shutil.which("git") or not (REPO / ".git").exists():
        pytest.skip("needs the git checkout to know which files are the package's sources")
    source = tmp_path_factory.mktemp("source")
    for name in _run(["git", "ls-files", "-z"], cwd=REPO).split("\0"):
        if name and (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(dist),
          str(source)])
    (built,) = dist.glob("bingo_kit-*.whl")
    return built


def test_wheel_ships_the_hardware_sources(wheel):
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = _run(["git", "ls-files", "hardware/bingo_receiver", "hardware/sim", "hardware/PROTOCOL.md",
                    "hardware/Makefile", "hardware/firmware"], cwd=REPO).split()
    shipped = {f"bingo_kit/_hardware/firmware/bingo_receiver-{key}.hex" for key in ("uno", "nano", "mega")}
    assert shipped | {"bingo_kit/_hardware/firmware/manifest.json"} <= names  # the prebuilt receiver, per board
    assert tracked and {"bingo_kit/_hardware/" + name.removeprefix("hardware/") for name in tracked} <= names
    print(f"\nwheel {wheel.name}: {wheel.stat().st_size} bytes, {len(names)} files")


def test_wheel_ships_the_page_and_stays_small(wheel):
    """Issue 19: a classroom needs no CDN and no npm: the browser side travels in the wheel, built; the wheel as a
    whole (three .hex files, the page's bundle, the lessons) stays under 2 MB."""
    import zipfile

    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    assert "bingo_kit/page/dist/page.js" in names
    assert archive.read("bingo_kit/page/dist/page.js") == (REPO / "bingo_kit" / "page" / "dist" / "page.js").read_bytes()
    assert not any("node_modules" in name or name.startswith("bingo_kit/page/src/") for name in names)
    assert wheel.stat().st_size < 2 * 1024 * 1024, f"{wheel.stat().st_size} bytes"
    print(f"\nwheel {wheel.name}: {wheel.stat().st_size} bytes; page bundle "
          f"{archive.getinfo('bingo_kit/page/dist/page.js').file_size} bytes")


def test_installed_wheel_flashes_and_predicts_outside_the_repository(wheel, tmp_path, pruned_blob):
    from bingo_kit.board.simavr import (
        SimulatorUnavailableError,
        check_firmware_tools,
        check_runner_tools,
    )

    try:
        check_firmware_tools()
        check_runner_tools()
    except SimulatorUnavailableError as error:
        pytest.skip(str(error))
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)])
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).strip())
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    classroom = tmp_path / "classroom"          # outside the repository, nothing of it on any path
    classroom.mkdir()
    (classroom / "model.bingo").write_bytes(pruned_blob)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(BINGO_KIT_CACHE=str(tmp_path / "cache"), BINGO_KIT_BUILD_DIR=str(tmp_path / "build"))
    where = _run([str(python), "-c", "import bingo_kit.board.firmware as f; print(f.__file__); print(f.HARDWARE_DIR)"],
                 cwd=classroom, env=env).split()
    assert all(Path(path).is_relative_to(site) for path in where), where

    bingo_kit = venv / ("Scripts/bingo-kit.exe" if os.name == "nt" else "bin/bingo-kit")
    _run([str(bingo_kit), "flash", "model.bingo", "--port", "sim", "--quiet"], cwd=classroom, env=env)
    summary = json.loads(_run([str(bingo_kit), "predict", "--port", "sim", "--json", "--quiet", "--n", "100"],
                              cwd=classroom, env=env))
    assert summary["n"] == 100 and summary["agreement"] == 1.0
    built = {path.parent.name.rsplit("-", 1)[0] for path in (tmp_path / "build").glob("*/*") if path.is_file()}
    assert built == {"sim"}   # the runner compiled here from the packaged source; the receiver is the shipped .hex

    # a teacher who installed the wheel without the repository gets the student lessons too
    out = _run([str(bingo_kit), "lessons", "my lessons", "--no-start"], cwd=classroom, env=env)
    lessons = sorted(path.name for path in (classroom / "my lessons").glob("*.ipynb"))
    assert len(lessons) >= 9 and lessons[0] == "00_setup_check.ipynb" and "lesson(s) ready" in out
