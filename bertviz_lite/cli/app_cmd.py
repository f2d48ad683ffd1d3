"""`bertviz-lite app`: start the app in the browser, from this installed copy.

    bertviz-lite app                          # http://127.0.0.1:8501
    bertviz-lite app --port 8600 --host 0.0.0.0 --server.maxUploadSize 20

Options the command does not know are passed on to `streamlit run`. It prints the
instructor's link first (as Jupyter prints its token): on a class server only the holder of
that link sees the class controls.
"""

from __future__ import annotations

import argparse

from bertviz_lite.app import launch


def add_app_parser(sub: argparse._SubParsersAction) -> None:
    """The `app` subcommand's options (any other option goes to `streamlit run`)."""
    p = sub.add_parser(
        "app", help="start the app (streamlit) from the installed package; other options "
                    "(e.g. --server.maxUploadSize 20) are passed to `streamlit run`")
    p.add_argument("--port", type=int, default=launch.DEFAULT_PORT,
                   help=f"port to serve on (default {launch.DEFAULT_PORT})")
    p.add_argument("--host", default=launch.DEFAULT_HOST,
                   help=f"address to listen on (default {launch.DEFAULT_HOST}, this computer "
                        "only; 0.0.0.0 for a class on the network)")
    p.set_defaults(func=cmd_app, streamlit_args=[])


def instructor_line(host: str, port: int) -> str:
    """The line that gives the instructor's link (the token made or read here: the app's
    processes read the same one)."""
    import socket

    from bertviz_lite.serve.instructor import instructor_link, server_token
    from bertviz_lite.serve.settings import load_settings

    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    link = instructor_link(f"http://{shown}:{port}", server_token(load_settings()))
    return f"Instructor's link (the class controls; keep it to yourself): {link}"


def cmd_app(args: argparse.Namespace) -> int:
    """Print the instructor's link, then serve the app until it stops; streamlit's exit
    status."""
    from bertviz_lite.cli.args import echo
    from bertviz_lite.serve.settings import SettingsError

    try:
        echo(instructor_line(args.host, args.port))
    except (SettingsError, OSError) as err:
        echo(f"No instructor's link: {err}")
    return launch.run(args.port, args.host, args.streamlit_args)
