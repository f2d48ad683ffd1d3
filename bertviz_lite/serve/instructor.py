"""The instructor's credential on a class server: a token made once (as Jupyter does) and
given in the instructor's link, and the rule for a single-user laptop (its user is its
instructor).

The token is the `instructor_token` setting, or a random one kept in `instructor-token` beside
the class poll (mode 0600), so every app process behind one proxy shares it and a restart
keeps it. Who is an instructor is checked in `lesson.classroom`, not by hiding buttons.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlencode

from bertviz_lite.serve.settings import Settings

log = logging.getLogger(__name__)

TOKEN_FILE = "instructor-token"
TOKEN_BYTES = 24  # 32 URL-safe characters


def token_path(settings: Settings) -> Path:
    """Where the generated token is kept: beside the class poll's database."""
    return settings.poll_path().parent / TOKEN_FILE


def server_token(settings: Settings) -> str:
    """The instructor's token: the setting, else the one kept on disk (made on first use;
    the file is created exclusively, so two processes starting together agree)."""
    if settings.instructor_token:
        return settings.instructor_token
    path = token_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
        raise OSError(f"{path} is empty: delete it and restart the app for a new "
                      "instructor token") from None
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    log.info("new instructor token kept in %s", path)
    return token


def instructor_link(base_url: str, token: str) -> str:
    """The instructor's link: the class page with the token, e.g.
    http://host:8501/instructor?token=..."""
    return f"{base_url.rstrip('/')}/instructor?{urlencode({'token': token})}"


def is_loopback(host: str | None) -> bool:
    """Whether an address is this computer only (127.x, ::1, localhost)."""
    if not host:
        return False
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def class_settings(settings: Settings) -> bool:
    """Whether the settings configure a class (sign-in, instructors or a token)."""
    return bool(settings.require_login or settings.instructors or settings.instructor_token)


def single_user(settings: Settings, server_address: str | None, client_ip: str | None) -> bool:
    """A laptop whose user is its own instructor: no class settings, and the app serves this
    computer only (bound to loopback), or it was started without an address and this visitor
    comes from this computer (Streamlit reports no IP address for a local visitor). A server
    bound to 0.0.0.0 (Docker, `--host 0.0.0.0`) is a class server: instructors need the token.
    """
    if class_settings(settings):
        return False
    if server_address:
        return is_loopback(server_address)
    return client_ip is None or is_loopback(client_ip)
