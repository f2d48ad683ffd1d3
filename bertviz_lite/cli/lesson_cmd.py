"""`bertviz-lite lesson export --out DIR`: the lesson as a static folder (index.html and its
assets) that runs from file:// or any static web host, with no server and no network.

    bertviz-lite lesson export --out lesson-9.3/
    bertviz-lite lesson export --out site/lesson --lesson 9.3
"""

from __future__ import annotations

import argparse

from bertviz_lite.cli.args import echo


def add_lesson_parser(sub: argparse._SubParsersAction) -> None:
    """The `lesson` subcommand and its `export` action."""
    p = sub.add_parser("lesson", help="the guided lesson outside the app (export)")
    actions = p.add_subparsers(dest="action", required=True)
    e = actions.add_parser("export", help="write the lesson as a static folder that runs "
                                          "from file:// (no server, no network)")
    e.add_argument("--out", required=True, help="a new (or empty) folder for index.html and "
                                                "its assets")
    e.add_argument("--lesson", default=None, help="the lesson's id (default: the first one)")
    e.set_defaults(func=cmd_lesson_export)


def cmd_lesson_export(args: argparse.Namespace) -> int:
    """Write the export; say where, how big, and how to open it."""
    from bertviz_lite.lesson.export import export_lesson
    from bertviz_lite.lesson.format import LessonError

    try:
        report = export_lesson(args.out, args.lesson)
    except OSError as err:  # the disk, once writing began: the reason without Python's [Errno]
        echo(f"Could not export the lesson to {args.out}: {err.strerror or err}")
        return 2
    except (ValueError, LessonError) as err:
        echo(f"Could not export the lesson: {err}")
        return 2
    echo(f"Wrote {report.steps} steps to {report.out}/index.html "
         f"({report.bytes / 1e6:.1f} MB in {len(report.files)} files, "
         f"{report.sizes.get('assets/plotly.min.js', 0) / 1e6:.1f} MB of it plotly.js).")
    echo(f"Open it in a browser (file://{report.out.resolve()}/index.html) or copy the folder "
         "to any static web host.")
    return 0
