"""The browser side ships built: bingo_kit/page/dist/page.js is what the wheel carries and what every classroom runs.
It must be exactly what its sources and the pinned npm packages build today, and it must need no network."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "bingo_kit" / "page"
BUNDLE = PAGE / "dist" / "page.js"


def test_the_committed_bundle_is_what_the_sources_build(tmp_path):
    if not shutil.which("node") or not (PAGE / "node_modules" / "esbuild").is_dir():
        pytest.skip("needs Node.js and the page's npm packages: make page-packages")
    fresh = tmp_path / "page.js"
    subprocess.run(["node", str(PAGE / "build.mjs"), str(fresh)], check=True, capture_output=True, text=True)
    assert fresh.read_bytes() == BUNDLE.read_bytes(), (
        "bingo_kit/page/dist/page.js is stale: run `make page` and commit the result")


def test_the_bundle_loads_nothing_from_the_network():
    """One self-contained ES module: no import of another file or URL (a classroom may be offline)."""
    text = BUNDLE.read_text()
    assert not re.search(r"""\bimport\s*\(?\s*["'`]""", text), "the bundle imports another module"
    assert not re.search(r"""\bfrom\s*["'`]""", text), "the bundle imports another module"
    assert not re.search(r"https?://(?!www\.w3\.org/)[\w-]+\.", text.split("/*! Bundled license information")[0]), (
        "the bundle names a URL outside its license notes")
