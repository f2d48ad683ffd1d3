"""scripts/screenshots.sh works: it starts the app, drives Chromium and writes the PNGs and
their manifest (into a temporary folder here, so the committed ones stay as they are)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bertviz_lite.bench.browser import chromium_path
from tests.conftest import REPO
from tests.test_docs import png_size

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_script_regenerates_screenshots(tmp_path: Path) -> None:
    if not Path(chromium_path()).exists():
        pytest.skip(f"Chromium not found at {chromium_path()} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    env = {**os.environ, "BERTVIZ_NO_SETUP": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run(["bash", "scripts/screenshots.sh", "--only",
                          "home,lesson-stage-1280x720", "--out", str(tmp_path)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["screenshots"]) == {"home.png", "lesson-stage-1280x720.png"}
    for name, entry in manifest["screenshots"].items():
        assert png_size(tmp_path / name) == tuple(entry["viewport"]), name
        assert entry["app_version"] and entry["path"].startswith("/")


def test_an_unknown_name_is_refused(tmp_path: Path) -> None:
    from bertviz_lite.bench.screenshots import main

    if not Path(chromium_path()).exists():
        pytest.skip(f"Chromium not found at {chromium_path()}")
    assert main(["--only", "nope", "--out", str(tmp_path)]) == 2
    assert not list(tmp_path.iterdir())
