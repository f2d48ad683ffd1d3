"""`bertviz-lite app`: start the app in the browser, from this installed copy.

    bertviz-lite app                          # http://127.0.0.1:8501
    bertviz-lite app --port 8600 --host 0.0.0.0 --server.maxUploadSize 20

Options the command does not know are passed on to `streamlit run`.
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


def cmd_app(args: argparse.Namespace) -> int:
    """Serve the app until it stops; streamlit's exit status."""
    return launch.run(args.port, args.host, args.streamlit_args)
