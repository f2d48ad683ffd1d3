"""The app from a built wheel: `pip install` it, then `bertviz-lite app` from a folder outside
the checkout serves the start page and the lesson, with the pages, the Streamlit settings and
the assets (recorded runs, lessons, data) all from the installed copy.

Which copy runs. The project's environment has bertviz-lite installed in editable mode (a
.pth file that installs a finder pointing at a checkout), and the tests run with PYTHONPATH
at this checkout: either would shadow the wheel. So the wheel goes into a fresh virtual
environment *without* system site packages, installed before anything else is on its path.
Only then does one extra .pth file name the project environment's site-packages, so that
torch, streamlit and the other dependencies import from there (nothing is downloaded or
reinstalled). Python appends a directory named in a .pth file to sys.path after the new
environment's own site-packages and does not run the .pth files inside it, so the editable
finder is never installed and the wheel's bertviz_lite (and its metadata) is found first.
PYTHONPATH and BERTVIZ_* are removed from the environment, the working folder is outside the
checkout, and the test checks that bertviz_lite, its pages and the assets folder are inside
the new environment before it starts the app.
"""

from __future__ import annotations

import os
import shutil
import signal
import site
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from bertviz_lite.bench.browser import CHROMIUM_ARGS, chromium_path, free_port, settle, wait_healthy
from bertviz_lite.lesson import load_lesson
from tests.conftest import REPO

pytestmark = pytest.mark.slow

BIN = "Scripts" if os.name == "nt" else "bin"
PROBE = """import sys, bertviz_lite, bertviz_lite.app.registry as r, bertviz_lite.paths as p
print(bertviz_lite.__file__); print(r.PAGES_DIR); print(p.assets_dir())
print(any('editable' in repr(f) for f in sys.meta_path))"""


def clean_env(home: Path) -> dict[str, str]:
    """This environment without PYTHONPATH and the BERTVIZ_* settings of the test session."""
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONPATH" and not k.startswith("BERTVIZ_")}
    return {**env, "BERTVIZ_HOME": str(home), "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def build_wheel(tmp: Path) -> Path:
    """The wheel, built from a copy of what it is made of (no build/ or egg-info left in the
    checkout, and no stale build/ folder can leak into it)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for name in ("bertviz_lite", "assets"):
        shutil.copytree(REPO / name, src / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(out), str(src)], check=True, timeout=300)
    return next(out.glob("bertviz_lite-*.whl"))


def install(wheel: Path, venv: Path) -> Path:
    """A fresh environment with the wheel, then the dependencies' folder on its path; its
    Python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / BIN / ("python.exe" if os.name == "nt" else "python")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, timeout=300)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                              "'purelib'))"], capture_output=True, text=True, check=True)
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib.stdout.strip(), "project-deps.pth").write_text("\n".join(deps) + "\n")
    return python


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to `bertviz-lite app` (passed on to streamlit); then its process group (itself,
    streamlit, the workers) is killed if anything is left."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    if os.name != "nt":
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    proc.wait(timeout=10)


def open_in_chromium(url: str) -> None:
    """The start page's title, then the lesson's first step (read from the installed
    assets/lessons), with no error on either."""
    if not Path(chromium_path()).exists():
        pytest.skip(f"Chromium not found at {chromium_path()}: only the HTTP check ran")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.get_by_role("heading", name="To tune or not to tune?").first.wait_for(
                timeout=180_000)
            settle(page, timeout_ms=180_000)
            assert page.get_by_text("Explore", exact=True).count()
            page.goto(f"{url}/lesson?step=1")
            first = load_lesson(REPO / "assets" / "lessons" / "9.3-fine-tuning.toml").steps[0]
            page.get_by_role("heading", name=f"1. {first.title}").wait_for(timeout=180_000)
            settle(page, timeout_ms=180_000)
            assert not page.locator("[data-testid='stException']").count()
            assert not page.get_by_text("No usable lesson").count()
        finally:
            browser.close()


def test_the_wheel_serves_the_app_from_outside_the_checkout(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = install(build_wheel(tmp_path), venv)
    elsewhere = tmp_path / "elsewhere"  # no app.py, no .streamlit/, no assets/ here
    elsewhere.mkdir()
    env = clean_env(tmp_path / "home")

    probe = subprocess.run([str(python), "-c", PROBE], cwd=elsewhere, env=env,
                           capture_output=True, text=True, check=True)
    package, pages, assets, editable = probe.stdout.split()
    root = venv.resolve()
    assert Path(package).resolve().is_relative_to(root), f"not the wheel's copy: {package}"
    assert Path(pages).resolve().is_relative_to(root) and (Path(pages) / "home.py").is_file()
    assert Path(assets).resolve().is_relative_to(root), assets
    assert (Path(assets) / "lessons" / "9.3-fine-tuning.toml").is_file()
    assert list((Path(assets) / "runs").glob("*.json")), "the recorded runs"
    assert editable == "False", "the editable install's finder was loaded"

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "app.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(venv / BIN / "bertviz-lite"), "app", "--port", str(port)],
                                cwd=elsewhere, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        try:
            wait_healthy(url, proc, timeout=120)
        except (RuntimeError, TimeoutError) as err:
            pytest.fail(f"{err}\n{log.read_text(errors='replace')[-3000:]}")
        shell = urllib.request.urlopen(url, timeout=10).read().decode()
        assert "<title>" in shell and 'id="root"' in shell, shell[:500]
        open_in_chromium(url)
    finally:
        stop(proc)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
