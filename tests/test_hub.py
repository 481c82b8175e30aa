"""The kit on a JupyterHub: every student their own Simulated Uno, and (below) a real hub with three students."""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from bingo_kit.board.protocol import crc16
from bingo_kit.classroom import RESET_NOTEBOOK, STUDENT_LESSONS
from browser_jupyter import (CHROMIUM, free_port, launch_chromium, run_all_cells, start_run_all, stop_process_tree,
                             wait_for_run_all, write_lab_settings)


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


# --- a real hub: three students log in, each runs lesson 7 and flashes their own Simulated Uno ----------------

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "lessons" / "hub" / "bingo-kit.py"
GUIDE = REPO / "lessons" / "README.md"
PROXY = REPO / "tests" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
PUBLIC_SCREENSHOTS = REPO / "test-output" / "hub"
STUDENTS = ("ada", "bob", "cy")
LESSON = "07_flash_it.ipynb"


def test_the_guide_gives_the_recipe_the_hub_test_runs():
    guide = GUIDE.read_text()
    setting = re.compile(r"^c\.\w+\.\w+ = .*?(?=\n\S|\n\n|\Z)", re.MULTILINE | re.DOTALL)
    lines = setting.findall(RECIPE.read_text())
    assert len(lines) >= 2
    for line in lines:
        assert line in guide, f"lessons/README.md should quote {RECIPE.name}'s setting:\n{line}"


class Hub:
    """A JupyterHub on 127.0.0.1 with the recipe's settings, a dummy authenticator (any password) and local
    processes (SimpleLocalProcessSpawner: every student runs as this Unix user, with HOME=<scratch>/home/<name>).
    Test-only on top of the recipe: all students share ONE BINGO_KIT_CACHE, the worst case for whose board is
    whose. Everything it starts is stopped by PID at the end."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.port = free_port()
        self.homes = scratch / "home"
        self.cache = scratch / "one-cache-for-everyone"
        self.log_path = scratch / "jupyterhub.log"
        self.process: subprocess.Popen | None = None

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def _config(self) -> Path:
        import matplotlib

        settings = write_lab_settings(self.scratch / "lab-settings")
        args = ["--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={settings}"]
        if os.geteuid() == 0:
            args.append("--allow-root")  # a CI machine runs the tests, and so this hub's students, as root
        environment = {"BINGO_KIT_CACHE": str(self.cache),
                       "BINGO_KIT_BUILD_DIR": os.environ.get("BINGO_KIT_BUILD_DIR", str(self.scratch / "build")),
                       "MPLCONFIGDIR": matplotlib.get_cachedir(), "PYTHONUNBUFFERED": "1"}
        config = self.scratch / "jupyterhub_config.py"
        config.write_text(f"""
load_subconfig({str(RECIPE)!r})
c.JupyterHub.bind_url = {self.url()!r}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {free_port()}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.command = [{str(PROXY)!r}]
c.ConfigurableHTTPProxy.pid_file = {str(self.scratch / 'proxy.pid')!r}
c.JupyterHub.db_url = "sqlite:///{self.scratch / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = {str(self.scratch / 'cookie_secret')!r}
c.JupyterHub.pid_file = {str(self.scratch / 'jupyterhub.pid')!r}
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(self.homes / '{username}')!r}
c.Spawner.args = {args!r}
c.Spawner.environment = {environment!r}
c.Spawner.start_timeout = c.Spawner.http_timeout = 300
""")
        return config

    def start(self) -> "Hub":
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        env.pop("JUPYTERHUB_USER", None)
        env.pop("BINGO_KIT_CACHE", None)  # the students' cache is the recipe's business, not this process's
        log = open(self.log_path, "w")
        self.process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(self._config())],
                                        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.scratch,
                                        start_new_session=True)
        log.close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterHub exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("hub/api/"), timeout=2):
                    return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterHub did not answer within 120 s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def processes(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        """The hub stops the students' servers (which stop their kernels, which stop their simulators) and its
        proxy; whatever outlives that is stopped by PID."""
        if self.process is not None:
            stop_process_tree(self.process, grace=60)
            self.process = None

    def __enter__(self) -> "Hub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _log_in(browser, hub: Hub, name: str):
    """A student logs in through the hub's login page; the hub starts their server (the recipe's command
    makes the lessons folder first) and sends them to it."""
    page = browser.new_context(viewport={"width": 1300, "height": 1400}).new_page()
    page.goto(hub.url("hub/login"))
    page.fill("#username_input", name)
    page.fill("#password_input", "any password: the test's dummy authenticator takes it")
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf"/user/{name}/lab"), timeout=300_000)
    return page


def _flash_and_test_the_simulated_uno(page, digits: int) -> str:
    """By hand, as a student would after Run All: pick the Simulated Uno, Flash, then Test on board."""
    flash = page.locator(".bingo-flash").first
    flash.scroll_into_view_if_needed()
    flash.locator(".bingo-flash-port select").select_option(label="Simulated Uno")
    flash.locator(".bingo-flash-button").click()
    # a flash empties the test result first, so an empty result + a "Flashed" status is this click's
    page.wait_for_function(
        """() => {
            const flash = document.querySelector('.bingo-flash');
            const status = flash.querySelector('.bingo-flash-status');
            return /Flashed \\d+ bytes to the Simulated Uno/.test(status.innerText)
                && !status.querySelector('.bingo-status-info')
                && flash.querySelector('.bingo-flash-test-result').innerText.trim() === '';
        }""", timeout=180_000)
    status = flash.locator(".bingo-flash-status").inner_text()
    flash.locator(".bingo-flash-count input").fill(str(digits))
    flash.locator(".bingo-flash-count input").press("Enter")
    flash.locator(".bingo-flash-test").click()
    page.wait_for_function(
        """(digits) => new RegExp('agree on \\\\d+/' + digits + ' digits')
                .test(document.querySelector('.bingo-flash .bingo-flash-test-result').innerText)""",
        arg=digits, timeout=180_000)
    return status + " | " + flash.locator(".bingo-flash-test-result").inner_text()


def _reset_from_jupyterlab(page, hub: Hub, name: str) -> str:
    """The student's changed lesson 7 stays; 'Reset a lesson.ipynb' puts a fresh copy beside it."""
    page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
    lesson = hub.homes / name / "bingo-lessons" / LESSON
    deadline = time.monotonic() + 60
    while '"output_type"' not in lesson.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)  # saved with its outputs: now it differs from the kit's copy
    path = f"bingo-lessons/{RESET_NOTEBOOK}"
    page.evaluate("(path) => window.jupyterapp.commands.execute('docmanager:open', {path}).then(() => true)", path)
    page.wait_for_function("""(path) => { const panel = window.jupyterapp.shell.currentWidget;
                                          return !!panel && !!panel.context && panel.context.path === path; }""",
                           arg=path, timeout=60_000)
    run_all_cells(page)
    reset = page.locator(".bingo-reset").first
    lessons = sorted(STUDENT_LESSONS.glob("[0-9][0-9]_*.ipynb"))  # the list's order (its labels are titles)
    reset.locator(".bingo-reset-lesson select").select_option(index=lessons.index(STUDENT_LESSONS / LESSON))
    reset.locator(".bingo-reset-button").click()
    page.wait_for_function(
        "() => /fresh copy/.test(document.querySelector('.bingo-reset-status').innerText)", timeout=60_000)
    # and the student finds it in JupyterLab's file list (which looks at the folder again every few seconds)
    page.locator(".jp-DirListing-itemText", has_text="(fresh copy)").wait_for(timeout=60_000)
    return reset.locator(".bingo-reset-status").inner_text()


@pytest.mark.browser
@pytest.mark.firmware
@pytest.mark.slow
def test_three_students_on_one_hub_each_flash_their_own_simulated_uno(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: sudo apt-get install chromium")
    if not PROXY.exists():
        pytest.skip("JupyterHub's proxy is not installed: make test installs it (npm ci --prefix tests/hub)")
    pytest.importorskip("jupyterhub", reason="pip install jupyterhub (requirements.txt)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (never `playwright install`)")
    from bingo_kit.board.simavr import build_firmware, build_runner

    build_firmware("uno"), build_runner()  # built once here, not three times at once by the students' kernels
    kit_lesson = (STUDENT_LESSONS / LESSON).read_bytes()
    shots = []
    with Hub(tmp_path) as hub, sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        pages = {}
        try:
            for name in STUDENTS:  # one after another, as a class arrives; each in its own browser session
                pages[name] = _log_in(browser, hub, name)
                workspace = hub.homes / name / "bingo-lessons"
                assert (workspace / LESSON).read_bytes() == kit_lesson  # made by the recipe's command
                assert (workspace / RESET_NOTEBOOK).exists()
                pages[name].goto(hub.url(f"user/{name}/lab/tree/bingo-lessons/{LESSON}"))
            for page in pages.values():  # the whole class presses Run All
                start_run_all(page, ready_timeout_ms=300_000)
            for page in pages.values():
                wait_for_run_all(page, finish_timeout_ms=900_000)
            results = {name: _flash_and_test_the_simulated_uno(page, digits=20) for name, page in pages.items()}
            for name, page in pages.items():
                shots.append(tmp_path / f"{name}-flashed-and-tested.png")
                page.screenshot(path=str(shots[-1]), full_page=False)

            # every board open at once: three simulators, each on its own student's EEPROM
            runners = {}
            for process in hub.processes():
                try:
                    command = process.cmdline()
                except psutil.NoSuchProcess:
                    continue
                if "--eeprom" in command:
                    runners[process.pid] = Path(command[command.index("--eeprom") + 1])
            expected = {hub.cache / "hub-users" / name / "sim-eeprom.bin" for name in STUDENTS}
            assert sorted(runners.values()) == sorted(expected), (runners, results)
            for name, result in results.items():
                assert "agree on 20/20 digits" in result, (name, result)
                # the model the student's page reported flashing is in that student's EEPROM (PROTOCOL.md §3)
                crc = int(re.search(r"checksum (0x[0-9a-f]{4}) confirmed", result).group(1), 16)
                record = (hub.cache / "hub-users" / name / "sim-eeprom.bin").read_bytes()
                length, stored_crc = struct.unpack_from("<HH", record)
                blob = record[4:4 + length]
                assert blob.startswith(b"BNGO") and stored_crc == crc16(blob) == crc, (name, result)

            message = _reset_from_jupyterlab(pages["ada"], hub, "ada")
            workspace = hub.homes / "ada" / "bingo-lessons"
            assert "07_flash_it (fresh copy).ipynb" in message, message
            assert (workspace / "07_flash_it (fresh copy).ipynb").read_bytes() == kit_lesson
            assert '"output_type"' in (workspace / LESSON).read_text()  # ada's own lesson 7, as she left it
            shots.append(tmp_path / "ada-reset-a-lesson.png")
            pages["ada"].screenshot(path=str(shots[-1]), full_page=False)
        except Exception:
            for name, page in pages.items():
                try:
                    shots.append(tmp_path / f"{name}-failure.png")
                    page.screenshot(path=str(shots[-1]), full_page=True)
                except Exception:  # a crashed page must not hide the original failure
                    pass
            print(hub.log_tail())
            raise
        finally:
            browser.close()
            PUBLIC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            for stale in PUBLIC_SCREENSHOTS.glob("*.png"):
                stale.unlink()
            for shot in shots:
                if shot.exists():
                    shutil.copy2(shot, PUBLIC_SCREENSHOTS / shot.name)
    left = [p for p in psutil.pids() if _started_by(p, tmp_path)]
    assert not left, f"processes of the hub still running: {left}"


def _started_by(pid: int, scratch: Path) -> bool:
    """Is this process one of the hub's (its command line or working directory is in the test's scratch)?"""
    try:
        process = psutil.Process(pid)
        return str(scratch) in " ".join(process.cmdline()) or str(scratch) in process.cwd()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
