"""bingo_kit.doctor: the one setup check behind `bingo-kit doctor` and lesson 0."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bingo_kit import doctor
from bingo_kit.doctor import SetupItem, SetupReport

ROOT = Path(__file__).resolve().parent.parent


def test_report_marks_missing_essentials():
    report = SetupReport([SetupItem("thing", True, "fine"), SetupItem("extra", False, "not here", essential=False)])
    assert report.ready and "Ready for the lessons!" in repr(report)
    report.items.append(SetupItem("torch", False, "not installed"))
    assert not report.ready
    # each mark has its word: without an emoji font ✅ and ❌ look alike
    assert repr(report).splitlines()[:3] == ["✅ ok        thing  fine", "➖ optional  extra  not here",
                                             "❌ missing   torch  not installed"]


def test_a_failing_probe_is_a_line_not_a_crash():
    item = doctor.check("boom", lambda: (_ for _ in ()).throw(RuntimeError("install foo\nmore")))
    assert (item.ok, item.detail) == (False, "install foo")
    item = doctor.check("needs", lambda: __import__("no_such_module_xyz"), essential=False)
    assert (item.ok, item.detail) == (False, "needs the missing package no_such_module_xyz")


def test_a_missing_package_says_how_to_install_it():
    item = doctor.check_package("no-such-package-xyz", "testing")
    assert not item.ok and "pip install no-such-package-xyz" in item.detail and "testing" in item.detail


@pytest.mark.parametrize("name", [name for name, _ in doctor.PACKAGES])
def test_every_listed_package_is_installed_here(name):
    assert doctor.check_package(name, "x").ok


def test_report_without_the_simulator_is_ready_here():
    report = doctor.setup_report(check_simulator=False)
    assert report.ready, repr(report)
    names = [item.name for item in report.items]
    assert names[:1 + len(doctor.PACKAGES)] == ["python"] + [name for name, _ in doctor.PACKAGES]
    assert "simulated Uno" not in names and report.item("8×8 digits").ok


def test_runs_and_reports_on_a_laptop_without_torch_numpy_or_pyserial():
    """Lesson 0 must load the check and say what is missing, not fail with an ImportError."""
    script = textwrap.dedent("""
        import sys

        class Missing:  # a laptop where these packages were never installed
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"torch", "numpy", "serial", "tqdm", "sklearn"}:
                    raise ImportError(f"No module named {name!r}", name=name)

        sys.meta_path.insert(0, Missing())
        from bingo_kit.doctor import setup_report
        report = setup_report(check_simulator=False)
        print(report.item("ports").detail)
        print(report.item("8×8 digits").ok, report.ready)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    ports, digits = result.stdout.splitlines()
    assert ports.startswith("needs the missing package ") and digits == "False False"
