"""The README's table of pages, generated from the page registry (never typed in).

    python -m bertviz_lite.app.readme            # rewrite the table in README.md
    python -m bertviz_lite.app.readme --check    # exit 1 when README.md disagrees

The table lives between `<!-- BEGIN pages -->` and `<!-- END pages -->` in README.md.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

from bertviz_lite.app import registry
from bertviz_lite.record.generated import write_or_check

log = logging.getLogger(__name__)

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"(<!-- BEGIN pages -->\n)(.*?)(<!-- END pages -->)", re.S)


def _address(page: registry.Page) -> str:
    """Where the page is served, with its aliases: "`/` or `/home`"."""
    urls = ["/" if page.default else f"/{page.url_path}"]
    urls += [f"/{url}" for url, name in registry.ALIASES.items() if name == page.name]
    return " or ".join(f"`{u}`" for u in urls)


def pages_table() -> str:
    """The markdown table of the pages the navigation lists, then the ones on the stage."""
    lines = ["| page | address | what it shows |", "|---|---|---|"]
    for page in registry.visible_pages():
        lines.append(f"| {page.link_label} | {_address(page)} | {page.summary} |")
    stage = [p.link_label for p in registry.visible_pages() if p.stage]
    if stage:
        lines += ["", f"Made for the stage (presenter mode on a projector): {', '.join(stage)}."]
    return "\n".join(lines)


def render(text: str) -> str:
    """`text` (the README) with its pages block replaced by the generated table."""
    if not BLOCK.search(text):
        raise ValueError("no <!-- BEGIN pages --> ... <!-- END pages --> block")
    table = pages_table()
    return BLOCK.sub(lambda m: m.group(1) + table + "\n" + m.group(3), text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with --check, compare) the pages table of the README; the exit status."""
    ap = argparse.ArgumentParser(prog="python -m bertviz_lite.app.readme")
    ap.add_argument("--check", action="store_true", help="exit 1 if the table is out of date")
    ap.add_argument("--readme", type=Path, default=README, help="default: README.md")
    args = ap.parse_args(argv)
    new = render(args.readme.read_text(encoding="utf-8"))
    return write_or_check(args.readme, new, args.check, "python -m bertviz_lite.app.readme")


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(format="%(message)s")
    sys.exit(main())
