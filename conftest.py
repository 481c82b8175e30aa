"""Suite-wide rules (applies to tests/ and the lesson notebooks).

Each pytest process works in a private kit cache (see below).
Under CI=true nothing may be silently skipped: a test that skips because a tool is
missing (simavr, avr-gcc, Chromium, a dataset) turns the whole run red.
"""
import atexit
import os
import shutil
import tempfile

import pytest

# Each pytest process (each xdist worker) gets its own kit cache: the Simulated Uno's EEPROM lives there and is
# locked by the program running it, and two notebooks that flash port "sim" (lesson 7's teacher and student
# copies) may run at once on the two workers — or while someone uses the kit by hand. Set at import, before any notebook
# kernel starts: nbval's kernels inherit this process's environment.
# Compiled firmware is the exception: it is keyed by a hash of its sources, so every run and worker can share the
# user's build cache instead of compiling the Arduino core again each time.
from bingo_kit.paths import build_dir  # (read before BINGO_KIT_CACHE changes where it is)

os.environ.setdefault("BINGO_KIT_BUILD_DIR", str(build_dir()))
_WORKER_CACHE = tempfile.mkdtemp(prefix="bingo-kit-test-cache-")
os.environ["BINGO_KIT_CACHE"] = _WORKER_CACHE
atexit.register(shutil.rmtree, _WORKER_CACHE, True)


# Lesson sources have no outputs to check; their teacher copies (lessons/*.ipynb) are what nbval runs.
collect_ignore_glob = ["lessons/source/*"]


def pytest_addoption(parser):
    parser.addoption("--lesson-summary", action="store_true",
                     help="end with one line per lesson notebook: passed or failed, and its time")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The teacher's morning check: one line per notebook, readable without scrolling through pytest's output."""
    if not config.getoption("--lesson-summary"):
        return
    lessons: dict[str, list] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            path = getattr(report, "nodeid", "").split("::")[0]
            if path.endswith(".ipynb") and getattr(report, "when", None) in ("setup", "call", "teardown"):
                lessons.setdefault(path, []).append(report)
    if not lessons:
        return
    terminalreporter.section("lessons")
    for path in sorted(lessons):
        reports = lessons[path]
        failed = sum(1 for r in reports if r.failed)
        seconds = sum(r.duration for r in reports)
        verdict = "FAILED" if failed else "passed"
        terminalreporter.write_line(f"{verdict:7} {seconds:6.1f} s  {path}" + (f"  ({failed} cell(s) failed)" if failed
                                                                           else ""), red=bool(failed),
                                    green=not failed)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if not _in_ci():
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = reporter.stats.get("skipped", [])
    if skipped:
        reporter.write_line(
            f"CI=true: {len(skipped)} test(s) were skipped; under CI every tool must be present.",
            red=True,
        )
        for report in skipped:
            reporter.write_line(f"  skipped: {report.nodeid}: {report.longrepr}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
