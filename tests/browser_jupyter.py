"""Real-browser harness: a private JupyterLab server driven by Debian's Chromium through playwright.

Everything it starts it stops again by PID: the server, its kernels, and whatever those kernels started
(e.g. the simavr process behind the Simulated Uno). Nothing is downloaded: `playwright install` is never
run; playwright only speaks the DevTools protocol to /usr/bin/chromium.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil  # ships with ipykernel, which the kit needs anyway

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_lab_settings(settings: Path) -> Path:
    """JupyterLab user settings for a test: no "news" popup asking to fetch from the web, and every cell kept in
    the DOM (JupyterLab otherwise virtualises off-screen cells, hiding widgets from the test's selectors)."""
    overrides = {
        ("apputils-extension", "notification"): {"fetchNews": "false"},
        ("notebook-extension", "tracker"): {"windowingMode": "none"},
    }
    for (extension, plugin), values in overrides.items():
        folder = settings / "@jupyterlab" / extension
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{plugin}.jupyterlab-settings").write_text(json.dumps(values))
    return settings


def stop_process_tree(process: subprocess.Popen, *, before_terminate=None, grace: float = 20.0) -> None:
    """SIGTERM `process` and wait; then stop, by PID, every process it had started that is still there (psutil
    checks each PID is still the same process, so a recycled PID is never hit). `before_terminate()` runs first,
    e.g. to ask a server to shut its kernels down politely."""
    descendants = []
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        pass
    if before_terminate is not None:
        try:
            before_terminate()
        except OSError:
            pass  # the server is already gone; the PIDs below still get stopped
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for child in descendants:
        try:
            if child.is_running():
                child.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(descendants, timeout=5)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


class JupyterLab:
    """`with JupyterLab(root_dir, scratch) as lab: page.goto(lab.url("lab/tree/x.ipynb"))`."""

    def __init__(self, root_dir: Path, scratch: Path, start_timeout: float = 90.0, env: dict | None = None,
                 extra_args: tuple = ()):
        self.root_dir, self.scratch = Path(root_dir), Path(scratch)
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})  # for the server and its kernels (e.g. tools hidden from the kit)
        self.start_timeout = start_timeout
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = self.scratch / "jupyterlab.log"

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def start(self) -> "JupyterLab":
        settings = write_lab_settings(self.scratch / "lab-settings")
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
            "--IdentityProvider.token=", "--ServerApp.password=",
            f"--ServerApp.root_dir={self.root_dir}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={self.scratch / 'workspaces'}",
            # window.jupyterapp lets the test ask the kernel's state instead of guessing from pixels
            "--LabApp.expose_app_in_browser=True",
        ]
        if os.geteuid() == 0:
            command.append("--allow-root")
        command += self.extra_args
        import matplotlib

        env = dict(os.environ,
                   JUPYTER_CONFIG_DIR=str(self.scratch / "jupyter-config"),
                   JUPYTER_RUNTIME_DIR=str(self.scratch / "jupyter-runtime"),
                   IPYTHONDIR=str(self.scratch / "ipython"),
                   # a private Simulated Uno EEPROM (it lives under $BINGO_KIT_CACHE), so lessons running
                   # in parallel never share one
                   BINGO_KIT_CACHE=str(self.scratch / "cache"),
                   MPLCONFIGDIR=matplotlib.get_cachedir(),
                   PYTHONUNBUFFERED="1")
        env.update(self.extra_env)
        log = open(self.log_path, "w")
        # own session: the server's children can be found (and stopped) without touching anything else
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                        cwd=self.root_dir, start_new_session=True)
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2):
                    return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer within {self.start_timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _api(self, method: str, path: str):
        request = urllib.request.Request(self.url(path), method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def stop(self) -> None:
        """Shut kernels down politely (so they close serial ports), then stop every process we started."""
        if self.process is None:
            return
        server = self.process
        self.process = None

        def shut_kernels_down():
            for kernel in self._api("GET", "api/kernels") or []:
                self._api("DELETE", f"api/kernels/{kernel['id']}")

        stop_process_tree(server, before_terminate=shut_kernels_down)

    def __enter__(self) -> "JupyterLab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def write_notebook(folder: Path, name: str, cells: list[str]) -> str:
    """A notebook of these code cells for the Python 3 kernel (JupyterLab asks for a kernel without one); its name."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(cell) for cell in cells]
    Path(folder).mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, Path(folder) / name)
    return name


def launch_chromium(playwright, extra_args=()):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args])


# --- driving a notebook ----------------------------------------------------------------------------

_NOTEBOOK = "window.jupyterapp && window.jupyterapp.shell.currentWidget"

KERNEL_READY_JS = f"""() => {{
    const panel = {_NOTEBOOK};
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
                   && panel.sessionContext.session.kernel;
    return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}}"""

PROMPTS_JS = f"""() => {{
    const panel = {_NOTEBOOK};
    if (!panel || !panel.content) return null;
    return panel.content.widgets.filter(c => c.model.type === 'code')
        .map(c => String(c.model.executionCount) + (c.promptNode ? c.promptNode.textContent : ''));
}}"""

# Done: the kernel idle, no cell waiting ('*'), and every cell run -- or one raised, which makes JupyterLab drop
# the cells after it (so a failure is reported at once, not after the whole timeout).
ALL_DONE_JS = f"""() => {{
    const panel = {_NOTEBOOK};
    const kernel = panel.sessionContext.session.kernel;
    const cells = panel.content.widgets.filter(c => c.model.type === 'code');
    const waiting = cells.some(c => c.promptNode && c.promptNode.textContent.includes('*'));
    const raised = cells.some(c => c.model.outputs.toJSON().some(out => out.output_type === 'error'));
    return kernel.status === 'idle' && !waiting && (raised || cells.every(c => c.model.executionCount !== null));
}}"""

ERRORS_JS = f"""() => {{
    const panel = {_NOTEBOOK};
    const errors = [];
    for (const cell of panel.content.widgets) {{
        if (cell.model.type !== 'code') continue;
        for (const out of cell.model.outputs.toJSON()) {{
            if (out.output_type === 'error') errors.push(out.ename + ': ' + out.evalue);
        }}
    }}
    return errors;
}}"""


def run_all_cells(page, *, ready_timeout_ms=120_000, start_timeout_ms=20_000, finish_timeout_ms=600_000):
    """Wait until the kernel is idle and connected, Run All, retry once if no prompt moves, wait for the end."""
    start_run_all(page, ready_timeout_ms=ready_timeout_ms, start_timeout_ms=start_timeout_ms)
    wait_for_run_all(page, finish_timeout_ms=finish_timeout_ms)


def start_run_all(page, *, ready_timeout_ms=120_000, start_timeout_ms=20_000):
    """Wait until the kernel is idle and connected, Run All, and return once a cell runs (retried once if none
    does). Several pages can run at once: start each, then wait_for_run_all on each."""
    page.wait_for_function(KERNEL_READY_JS, timeout=ready_timeout_ms)
    for attempt in (1, 2):
        before = page.evaluate(PROMPTS_JS)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        try:
            page.wait_for_function(f"(before) => JSON.stringify(({PROMPTS_JS})()) !== JSON.stringify(before)",
                                   arg=before, timeout=start_timeout_ms)
            break
        except Exception:
            if attempt == 2:
                raise AssertionError("Run All did not start executing any cell, twice.") from None
            page.wait_for_function(KERNEL_READY_JS, timeout=ready_timeout_ms)


def wait_for_run_all(page, *, finish_timeout_ms=600_000):
    """Wait until every code cell of the page's notebook has run; fail if any raised."""
    page.wait_for_function(ALL_DONE_JS, timeout=finish_timeout_ms, polling=500)
    errors = page.evaluate(ERRORS_JS)
    if errors:
        raise AssertionError("cells raised: " + "; ".join(errors))


KERNEL_EXEC_JS = f"""async (code) => {{
    const kernel = ({_NOTEBOOK}).sessionContext.session.kernel;
    const future = kernel.requestExecute({{code, store_history: false}});
    let out = "", error = null;
    future.onIOPub = (msg) => {{
        const kind = msg.header.msg_type;
        if (kind === "stream") out += msg.content.text;
        if (kind === "execute_result") out += msg.content.data["text/plain"] + "\\n";
        if (kind === "error") error = msg.content.ename + ": " + msg.content.evalue;
    }};
    await future.done;
    return {{out, error}};
}}"""


def kernel_exec(page, code: str) -> str:
    """Run `code` in the open notebook's kernel (as a cell would, without adding one): its printed output."""
    result = page.evaluate(KERNEL_EXEC_JS, code)
    if result["error"]:
        raise AssertionError(f"kernel code raised {result['error']}:\n{code}")
    return result["out"]


class Screenshots:
    """Numbered screenshots in the test's output dir, copied to <repo>/test-output/browser for people."""

    def __init__(self, page, directory: Path, public: Path | None):
        self.page, self.directory, self.public = page, Path(directory), public
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.paths: list[Path] = []

    def take(self, name: str) -> Path:
        self.count += 1
        path = self.directory / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.paths.append(path)
        return path

    def publish(self) -> None:
        if self.public is None:
            return
        self.public.mkdir(parents=True, exist_ok=True)
        for stale in self.public.glob("*.png"):  # only this run's pictures, so none are mistaken for new
            stale.unlink()
        for path in self.paths:
            shutil.copy2(path, self.public / path.name)


@contextlib.contextmanager
def notebook_in_chromium(root: Path, scratch: Path, notebook: str, public: Path | None, env: dict | None = None,
                         init_script: str | None = None, host: str = "127.0.0.1"):
    """JupyterLab on `root`, Chromium on `notebook`: yields (page, shots). On a failure it saves a screenshot and
    prints the server's log; the screenshots are published either way."""
    import pytest

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: sudo apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="pip install playwright (never `playwright install`)")
    # a host name other than 127.0.0.1 must be let in (the server guards against DNS rebinding)
    extra = () if host == "127.0.0.1" else ("--ServerApp.allow_remote_access=True",)
    with JupyterLab(root, scratch, env=env, extra_args=extra) as lab, sync_api.sync_playwright() as playwright:
        # another host name than 127.0.0.1 (resolved to it) makes the page an insecure context, as a hub on http://
        browser = launch_chromium(playwright, [] if host == "127.0.0.1" else [f"--host-resolver-rules=MAP {host} 127.0.0.1"])
        # one context: a second tab of it (context.new_page) shares its storage, as a student's two tabs do
        context = browser.new_context(viewport={"width": 1300, "height": 1400})
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        shots = Screenshots(page, scratch / "screenshots", public)
        try:
            page.goto(lab.url(f"lab/tree/{notebook}").replace("127.0.0.1", host, 1))
            yield page, shots
        except Exception:
            try:
                shots.take("failure")
            except Exception:  # a crashed page must not hide the original failure
                pass
            print(lab.log_tail())
            raise
        finally:
            shots.publish()
            browser.close()
