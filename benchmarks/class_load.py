"""How many students one server holds: N students doing lesson 7 at the same moment, on one machine.

  python benchmarks/class_load.py --students 1 4 8          # one run per class size, a table each
  python benchmarks/class_load.py --students 8 --json       # the same figures as JSON
  python benchmarks/class_load.py --table benchmarks/class_load_results.json   # tables of a saved run

Each student is a real Jupyter kernel (ipykernel, started by jupyter_client, as a JupyterHub user's server
starts it) that runs lesson 7's student copy top to bottom with nbclient: train with the wobbled copies,
prune, export, flash the Simulated Uno, test 50 digits on it, draw on the pad. All N start together, as
when a teacher says "Run All". Each kernel has JUPYTERHUB_USER set, so each flashes its own Simulated Uno
(bingo_kit.paths.board_dir), all in one BINGO_KIT_CACHE as on a hub; firmware is built once beforehand, as
the hub recipe in lessons/README.md does at install time.

Measured per student, for the kernel and everything it started (its simavr runner):
- CPU seconds (user + system), read from the processes at the end of the lesson: the kernel's and its
  Simulated Uno's apart. The simulator runs the board's 16 MHz in real time for as long as it is open (the
  flash button keeps it open until the kernel stops), so after the lesson it is measured once more, idle,
  for 10 s: its share of a core is a steady cost per student, on top of the lesson's burst;
- peak memory, sampled every second: RSS (resident), PSS (shared pages such as torch's libraries divided
  between the processes that map them, so the class's PSS adds up to what it takes) and USS (pages only this
  student has: what one more student costs). PSS also divides with any other program that uses the same
  Python environment, so measure in an environment nothing else is using;
- wall time of the lesson; the slowest student's is the one a class waits for.
Once per run, the same for one JupyterLab server (what each hub user has besides their kernel): idle, after
its page was loaded. Nothing is mocked. CPU seconds and memory hardly depend on what else the machine runs;
wall times do (the load average before the run is printed with them).

PyTorch matters: the CUDA build that PyPI serves on Linux x86-64 maps about 550 MB on import, the CPU-only
build that `make setup` installs (bingo_kit/install_torch.py) about 220 MB. Run this with the build the
server will have.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import psutil
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

LESSON = "07_flash_it.ipynb"
SAMPLE_SECONDS = 1.0
IDLE_SECONDS = 10.0
MB = 1024 * 1024

# Appended to each student's copy: proves the lesson flashed and tested that student's own Simulated Uno.
CHECK_CELL = """import json as _json
_board = flasher.connected_board()
print("CLASS_LOAD", _json.dumps({"port": flasher.port.value, "bytes": flasher.last_upload.bytes,
      "agree": flasher.last_test["agree"], "count": flasher.last_test["count"],
      "eeprom": str(_board.simulator.eeprom_path)}))"""


def _tree(pid: int) -> list[psutil.Process]:
    try:
        kernel = psutil.Process(pid)
        return [kernel, *kernel.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _memory(processes: list[psutil.Process]) -> tuple[int, int, int]:
    """(RSS, PSS, USS) in bytes, summed over the processes that are still there."""
    rss = pss = uss = 0
    for process in processes:
        try:
            info = process.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss, pss, uss = rss + info.rss, pss + info.pss, uss + info.uss
    return rss, pss, uss


def _cpu_seconds(processes: list[psutil.Process], *, finished_children: bool = True) -> float:
    """User + system CPU of the processes, plus (for the first, the kernel) what its finished children used."""
    total = 0.0
    for number, process in enumerate(processes):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
        if number == 0 and finished_children:
            total += times.children_user + times.children_system
    return total


class Student:
    def __init__(self, number: int, root: Path, cache: Path):
        from bingo_kit.classroom import make_workspace

        self.name = f"student-{number:02d}"
        self.workspace = root / self.name / "bingo-lessons"
        make_workspace(self.workspace)
        self.env = dict(os.environ, JUPYTERHUB_USER=self.name, BINGO_KIT_CACHE=str(cache))
        self.km = AsyncKernelManager(kernel_name="python3")
        self.peak_rss = self.peak_pss = self.peak_uss = 0
        self.cpu = self.wall = self.kernel_cpu = self.simulator_cpu = self.idle_simulator_share = None
        self.check: dict | None = None
        self.error: str | None = None

    @property
    def pid(self) -> int | None:
        return getattr(self.km.provisioner, "pid", None) if self.km.provisioner else None

    async def start(self) -> None:
        await self.km.start_kernel(env=self.env, cwd=str(self.workspace))

    async def run(self, go: asyncio.Event) -> None:
        notebook = nbformat.read(str(self.workspace / LESSON), as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell(CHECK_CELL))
        client = NotebookClient(notebook, km=self.km, timeout=1800, kernel_name="python3",
                                resources={"metadata": {"path": str(self.workspace)}})
        await go.wait()
        started = time.monotonic()
        try:
            await client.async_execute()
        except Exception as error:  # noqa: BLE001 - reported in the results, the other students go on
            self.error = f"{type(error).__name__}: {str(error).strip().splitlines()[-1] if str(error).strip() else ''}"
        self.wall = time.monotonic() - started
        processes = _tree(self.pid)
        self.cpu = _cpu_seconds(processes)
        self.kernel_cpu = _cpu_seconds(processes[:1])
        self.simulator_cpu = self.cpu - self.kernel_cpu
        for output in notebook.cells[-1].get("outputs", []):
            match = re.search(r"CLASS_LOAD (\{.*\})", output.get("text", ""))
            if match:
                self.check = json.loads(match.group(1))

    def sample(self) -> None:
        rss, pss, uss = _memory(_tree(self.pid))
        self.peak_rss, self.peak_pss, self.peak_uss = max(self.peak_rss, rss), max(self.peak_pss, pss), max(self.peak_uss, uss)

    def simulator_cpu_now(self) -> float:
        return _cpu_seconds(_tree(self.pid)[1:], finished_children=False)

    async def stop(self) -> None:
        processes = _tree(self.pid)
        try:
            await self.km.shutdown_kernel(now=False)
        finally:  # the kernel stops its simulator; anything left over is stopped by PID
            _, alive = psutil.wait_procs(processes, timeout=5)
            for process in alive:
                process.kill()


async def _sample_until(students: list[Student], done: asyncio.Event, totals: list[int]) -> None:
    while not done.is_set():
        for student in students:
            student.sample()
        totals.append([sum(m) for m in zip(*(_memory(_tree(s.pid)) for s in students))])
        try:
            await asyncio.wait_for(done.wait(), SAMPLE_SECONDS)
        except asyncio.TimeoutError:
            pass


async def _class(count: int, root: Path, cache: Path) -> dict:
    students = [Student(number, root, cache) for number in range(1, count + 1)]
    try:
        await asyncio.gather(*(student.start() for student in students))
        go, done, totals = asyncio.Event(), asyncio.Event(), []
        sampler = asyncio.create_task(_sample_until(students, done, totals))
        load = os.getloadavg()[0]
        started = time.monotonic()
        go.set()
        await asyncio.gather(*(student.run(go) for student in students))
        wall = time.monotonic() - started
        done.set()
        await sampler
        # the lesson is over but the board stays connected (as in class, until the kernel is shut down):
        # what does each open Simulated Uno cost while nobody uses it?
        before, idle_started = [s.simulator_cpu_now() for s in students], time.monotonic()
        await asyncio.sleep(IDLE_SECONDS)
        idle = time.monotonic() - idle_started
        for student, cpu in zip(students, before):
            student.idle_simulator_share = (student.simulator_cpu_now() - cpu) / idle
    finally:
        await asyncio.gather(*(student.stop() for student in students), return_exceptions=True)
    eeproms = [s.check["eeprom"] for s in students if s.check]
    return {
        "students": count, "cores": os.cpu_count(), "load_average_before": round(load, 2),
        "torch": importlib.metadata.version("torch"), "python": sys.version.split()[0],
        "class_wall_s": round(wall, 1),
        "peak_class_rss_mb": round(max((t[0] for t in totals), default=0) / MB),
        "peak_class_pss_mb": round(max((t[1] for t in totals), default=0) / MB),
        "peak_class_uss_mb": round(max((t[2] for t in totals), default=0) / MB),
        "own_boards": len(set(eeproms)) == count,
        "per_student": [{
            "name": s.name, "cpu_s": round(s.cpu or 0, 1), "kernel_cpu_s": round(s.kernel_cpu or 0, 1),
            "simulator_cpu_s": round(s.simulator_cpu or 0, 1), "wall_s": round(s.wall or 0, 1),
            "idle_simulator_core_share": round(s.idle_simulator_share or 0, 3),
            "peak_rss_mb": round(s.peak_rss / MB), "peak_pss_mb": round(s.peak_pss / MB),
            "peak_uss_mb": round(s.peak_uss / MB),
            "flashed_and_tested": bool(s.check and s.check["agree"] == s.check["count"] and s.check["port"] == "sim"),
            "check": s.check, "error": s.error} for s in students],
    }


def measure_server(scratch: Path) -> dict:
    """One JupyterLab server, idle after its page was served: a hub user's server without its kernel."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = scratch / "server"
    root.mkdir()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(scratch / "jupyter-config"),
               JUPYTER_RUNTIME_DIR=str(scratch / "jupyter-runtime"))
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                for path in ("lab", "api/kernelspecs", "lab/api/settings"):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=10).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("JupyterLab did not start") from None
                time.sleep(0.5)
        time.sleep(3)
        rss, pss, uss = _memory(_tree(server.pid))
        cpu = _cpu_seconds(_tree(server.pid))
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return {"rss_mb": round(rss / MB), "pss_mb": round(pss / MB), "uss_mb": round(uss / MB),
            "startup_cpu_s": round(cpu, 1)}


def run(count: int) -> dict:
    from bingo_kit.board.simavr import build_firmware, build_runner

    build_firmware("uno"), build_runner()   # once, before the class: as the hub recipe does at install time
    scratch = Path(tempfile.mkdtemp(prefix="class-load-"))
    try:
        result = asyncio.run(_class(count, scratch / "homes", scratch / "cache"))
        result["jupyterlab_server"] = measure_server(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    students = result["per_student"]
    result["summary"] = {
        "cpu_s_per_student": _spread([s["cpu_s"] for s in students]),
        "kernel_cpu_s_per_student": _spread([s["kernel_cpu_s"] for s in students]),
        "simulator_cpu_s_per_student": _spread([s["simulator_cpu_s"] for s in students]),
        "idle_simulator_core_share_per_student": _spread([s["idle_simulator_core_share"] for s in students], 3),
        "peak_rss_mb_per_student": _spread([s["peak_rss_mb"] for s in students]),
        "peak_pss_mb_per_student": _spread([s["peak_pss_mb"] for s in students]),
        "peak_uss_mb_per_student": _spread([s["peak_uss_mb"] for s in students]),
        "slowest_student_wall_s": max(s["wall_s"] for s in students),
        "all_flashed_and_tested": all(s["flashed_and_tested"] for s in students),
    }
    return result


def _spread(values: list[float], digits: int = 1) -> dict:
    return {"mean": round(statistics.fmean(values), digits), "max": round(max(values), digits)}


def table(result: dict) -> str:
    summary, server = result["summary"], result["jupyterlab_server"]
    mean = {key: summary[f"{key}_per_student"]["mean"] for key in
            ("cpu_s", "kernel_cpu_s", "simulator_cpu_s", "peak_rss_mb", "peak_pss_mb", "peak_uss_mb",
             "idle_simulator_core_share")}
    lines = [f"{result['students']} student(s) running lesson 7 at once on {result['cores']} cores, torch "
             f"{result['torch']} (load average before: {result['load_average_before']})",
             f"  {'student':<12} {'CPU s':>6} {'kernel':>7} {'sim':>5} {'wall s':>7} {'RSS MB':>7} {'PSS MB':>7} "
             f"{'USS MB':>7} {'idle sim':>9}  flashed + tested its own sim"]
    for s in result["per_student"]:
        lines.append(f"  {s['name']:<12} {s['cpu_s']:>6.1f} {s['kernel_cpu_s']:>7.1f} {s['simulator_cpu_s']:>5.1f} "
                     f"{s['wall_s']:>7.1f} {s['peak_rss_mb']:>7} {s['peak_pss_mb']:>7} {s['peak_uss_mb']:>7} "
                     f"{s['idle_simulator_core_share']:>8.0%}  "
                     f"{'yes' if s['flashed_and_tested'] else 'NO ' + str(s['error'])}")
    lines += [
        f"  per student (mean): CPU {mean['cpu_s']} s (kernel {mean['kernel_cpu_s']} s + Simulated Uno "
        f"{mean['simulator_cpu_s']} s; max {summary['cpu_s_per_student']['max']} s), peak RSS "
        f"{mean['peak_rss_mb']:.0f} MB, PSS {mean['peak_pss_mb']:.0f} MB, USS {mean['peak_uss_mb']:.0f} MB;  "
        f"slowest student {summary['slowest_student_wall_s']} s wall",
        f"  an open Simulated Uno nobody uses: {mean['idle_simulator_core_share']:.0%} of a core each "
        f"(measured over {IDLE_SECONDS:.0f} s with all {result['students']} open)",
        f"  the class's kernels together at their peak: {result['peak_class_pss_mb']} MB PSS "
        f"({result['peak_class_uss_mb']} MB USS, {result['peak_class_rss_mb']} MB RSS);  "
        f"each student on their own board: {'yes' if result['own_boards'] else 'NO'}",
        f"  one idle JupyterLab server (each hub user has one): {server['pss_mb']} MB PSS, {server['uss_mb']} MB USS, "
        f"{server['rss_mb']} MB RSS, {server['startup_cpu_s']} CPU s to start"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[1, 4, 8], help="class sizes to run, one by one")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--table", metavar="JSON", help="print the tables of a saved --json run, and run nothing")
    args = parser.parse_args(argv)
    if args.table:
        saved = json.loads(Path(args.table).read_text())
        print("\n".join(table(result) for result in (saved if isinstance(saved, list) else [saved])))
        return 0
    results = []
    for count in args.students:
        results.append(run(count))
        if not args.json:
            print(table(results[-1]), flush=True)
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0], indent=1))
    return 0 if all(r["summary"]["all_flashed_and_tested"] and r["own_boards"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
