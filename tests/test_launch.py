"""`bertviz-lite app` without starting anything: the command line it runs, the Streamlit
settings it applies (the checkout's, kept equal), the options it passes on, and the packaging
config that puts every asset folder into a wheel. The real install: tests/test_wheel.py."""

from __future__ import annotations

import fnmatch
import sys
import tomllib

import pytest

from bertviz_lite.app import launch
from bertviz_lite.cli.main import main as cli_main
from bertviz_lite.paths import assets_dir
from tests.conftest import REPO


def test_packaged_settings_are_the_checkouts() -> None:
    checkout = (REPO / ".streamlit" / "config.toml").read_bytes()
    assert launch.SETTINGS.read_bytes() == checkout, (
        "bertviz_lite/app/streamlit.toml is the copy `bertviz-lite app` applies: copy "
        ".streamlit/config.toml over it")


def test_settings_become_flags() -> None:
    flags = launch.settings_flags()
    for flag in ("--server.headless=true", "--server.fileWatcherType=none",
                 "--server.maxUploadSize=10", "--runner.postScriptGC=false",
                 "--client.showErrorDetails=none", "--browser.gatherUsageStats=false"):
        assert flag in flags
    config = tomllib.loads(launch.SETTINGS.read_text(encoding="utf-8"))
    assert len(flags) == sum(len(options) for options in config.values())


def test_command_runs_the_packaged_entry_script() -> None:
    cmd = launch.command(8600, "0.0.0.0", ["--server.maxUploadSize=20"])
    assert cmd[:4] == [sys.executable, "-m", "bertviz_lite.app.run", str(launch.SERVER)]
    assert launch.MAIN.is_file() and launch.MAIN.parent == launch.APP_DIR
    assert launch.SERVER.is_file() and launch.SERVER.parent == launch.APP_DIR
    assert "--server.port=8600" in cmd and "--server.address=0.0.0.0" in cmd
    assert cmd[-1] == "--server.maxUploadSize=20", "the user's options come last and win"
    assert cmd.index("--server.maxUploadSize=10") < cmd.index("--server.maxUploadSize=20")


def test_cli_app_passes_other_options_to_streamlit(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(launch, "run", lambda *args: calls.append(args) or 0)
    assert cli_main(["app", "--port", "8600", "--server.maxUploadSize", "20"]) == 0
    assert cli_main(["app"]) == 0
    assert calls == [(8600, "127.0.0.1", ["--server.maxUploadSize", "20"]),
                     (launch.DEFAULT_PORT, launch.DEFAULT_HOST, [])]


def test_other_commands_still_refuse_unknown_options(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli_main(["sweep", "--task", "sentiment", "--out", "x.json", "--bogus"])
    assert exit_.value.code == 2 and "--bogus" in capsys.readouterr().err


def test_every_asset_folder_goes_into_the_wheel() -> None:
    """pyproject's data files list every folder of assets/ the app reads (not the data sets'
    _src/), and their patterns take every file in it."""
    data_files = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"]["setuptools"]["data-files"]
    files = [p for p in (REPO / "assets").rglob("*") if p.is_file()
             and not {"_src", "__pycache__"} & set(p.relative_to(REPO).parts)]
    assert files
    for path in files:
        folder = path.parent.relative_to(REPO / "assets").as_posix()
        key = f"share/bertviz-lite/assets/{folder}"
        assert key in data_files, f"{folder}/ is not in [tool.setuptools.data-files]"
        patterns = [p.rsplit("/", 1)[-1] for p in data_files[key]]
        assert any(fnmatch.fnmatch(path.name, p) for p in patterns), path


def test_a_checkout_reads_its_own_assets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BERTVIZ_ASSETS", raising=False)
    assert assets_dir() == REPO / "assets"


def test_the_server_preloads_libraries_and_hands_its_arguments_to_streamlit() -> None:
    """`python -m bertviz_lite.app.run` imports pandas and plotly before any session (they cost
    the first visitor about 2 s), never the app's own modules (their st.cache_data must see the
    running server) nor torch, and passes its arguments on to `streamlit run`."""
    import subprocess

    probe = ("import sys; from bertviz_lite.app import run; run.preload(); "
             "print(sorted({m.split('.')[0] for m in sys.modules} & "
             "{'pandas', 'plotly', 'torch', 'transformers', 'streamlit'})); "
             "print([m for m in sys.modules if m.startswith(('bertviz_lite.ui', "
             "'bertviz_lite.app.pages', 'bertviz_lite.app.main'))])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, cwd=REPO).stdout.splitlines()
    assert out[0] == "['pandas', 'plotly']", out
    assert out[1] == "[]", out  # no st.cache_data decorated before the server runs
    helped = subprocess.run([sys.executable, "-m", "bertviz_lite.app.run", "--help"],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert helped.returncode == 0 and "Usage: streamlit run" in helped.stdout, helped
