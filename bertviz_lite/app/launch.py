"""`bertviz-lite app`: the app from an installed package, on any system, without bash.

Runs `python -m bertviz_lite.app.run <this package>/asgi.py` (`streamlit run` with the
libraries preloaded: app/run.py) in a child process with the project's
Streamlit settings: streamlit.toml here is a copy of the checkout's .streamlit/config.toml
(tests/test_launch.py keeps them equal). Streamlit reads its config files from the working
folder only, so the settings are passed as flags, and options given after ours win.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

APP_DIR = Path(__file__).resolve().parent
MAIN = APP_DIR / "main.py"  # the app's script, run at every page view
SERVER = APP_DIR / "asgi.py"  # what `streamlit run` is given: the server, serving MAIN
SETTINGS = APP_DIR / "streamlit.toml"
DEFAULT_PORT = 8501
DEFAULT_HOST = "127.0.0.1"  # this computer only; a class server passes --host 0.0.0.0


def _flag_value(value: Any) -> str:
    """A TOML value as a command-line value (true/false for booleans)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def settings_flags(path: Path = SETTINGS) -> list[str]:
    """The settings of a Streamlit config file as `streamlit run` flags, e.g.
    `--server.headless=true`."""
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    return [f"--{section}.{key}={_flag_value(value)}"
            for section, options in config.items() for key, value in options.items()]


def command(port: int = DEFAULT_PORT, host: str = DEFAULT_HOST,
            extra: Sequence[str] = ()) -> list[str]:
    """The streamlit command line that serves the packaged app at http://host:port; `extra`
    (any `streamlit run` option) comes last, so it overrides the project's settings."""
    return [sys.executable, "-m", "bertviz_lite.app.run", str(SERVER), *settings_flags(),
            f"--server.port={port}", f"--server.address={host}", *extra]


def run(port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, extra: Sequence[str] = ()) -> int:
    """Serve the app until it stops or is interrupted; streamlit's exit status.

    A termination signal is passed on to streamlit (which stops its workers); Ctrl+C reaches
    both processes, and streamlit is given 15 s to shut down before it is terminated."""
    from bertviz_lite.serve.settings import SettingsError, load_settings

    try:  # a settings file that cannot be used stops here, not on every page
        load_settings()
    except SettingsError as err:
        log.error("%s", err)
        return 2
    cmd = command(port, host, extra)
    log.info("starting the app at http://%s:%d", host, port)
    log.debug("%s", " ".join(cmd))
    proc = subprocess.Popen(cmd)
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: proc.send_signal(signum))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        try:
            return proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.terminate()
            return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
