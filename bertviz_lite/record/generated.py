"""Pages with generated blocks (README.md, docs/results.md): write the new text, or with
`check` say whether the committed page is out of date. One place for every generator's CLI."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def write_or_check(page: Path, new: str, check: bool, command: str) -> int:
    """Write `new` into `page`, or (check) compare it with the page; the exit status.

    command: the command that regenerates the page, named in the out-of-date message.
    """
    text = page.read_text(encoding="utf-8")
    if check:
        if new != text:
            log.error("%s is out of date: run %s", page, command)
            return 1
        return 0
    if new != text:
        page.write_text(new, encoding="utf-8")
    return 0
