"""The README stays a short guide whose links resolve, the generated tables live in
docs/results.md, and every screenshot the README and docs/ show is one that
scripts/screenshots.sh takes and lists in docs/screenshots/manifest.json. Cheap: no browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bertviz_lite.bench.screenshots import MANIFEST, SCREENSHOTS, SHOTS
from tests.conftest import REPO

README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [README, *DOCS]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
GENERATED = ("lecture-runs", "reproduction", "task-model", "bench", "learning-curves",
             "recipe", "changes")


def links(page: Path) -> list[str]:
    """The relative link targets of a markdown page (no web addresses, no in-page anchors),
    outside code blocks."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    out = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        out.append(target.split("#", 1)[0])
    return out


def images(page: Path) -> list[Path]:
    text = page.read_text(encoding="utf-8")
    return [(page.parent / t).resolve() for t in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)]


def test_readme_is_a_short_guide() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 260, "README.md grew past 260 lines: move detail to docs/"
    for command in ("    bash scripts/app.sh\n", "    bash scripts/test.sh\n"):
        assert command in text
    for section in ("## The lesson", "## The pages", "## Run it for a class",
                    "## Run it for a department"):
        assert section in text
    assert 4 <= len(images(README)) <= 6, "keep the README's screenshots few"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    missing = [t for t in links(page) if not (page.parent / t).exists()]
    assert not missing, f"{page.relative_to(REPO)} links to missing files: {missing}"


def test_the_readme_links_every_doc() -> None:
    linked = {(README.parent / t).resolve() for t in links(README)}
    assert not [d.name for d in DOCS if d.resolve() not in linked]


def test_generated_tables_live_in_the_results_page() -> None:
    results = (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    readme = README.read_text(encoding="utf-8")
    for name in GENERATED:
        assert results.count(f"<!-- BEGIN {name} -->") == 1, name
        assert results.count(f"<!-- END {name} -->") == 1, name
        assert f"<!-- BEGIN {name} -->" not in readme, name


def test_every_screenshot_shown_is_taken_and_listed() -> None:
    """Each PNG the README or docs/ show exists, is one scripts/screenshots.sh takes, and is in
    the manifest with the commit, app version and viewport that made it."""
    manifest = json.loads((SCREENSHOTS / MANIFEST).read_text(encoding="utf-8"))
    listed = manifest["screenshots"]
    taken = {f"{s.name}.png" for s in SHOTS}
    shown = {p for page in PAGES for p in images(page)}
    assert shown
    for path in shown:
        assert path.parent == SCREENSHOTS.resolve(), f"{path}: not in docs/screenshots"
        assert path.is_file(), f"{path.name} is shown but missing"
        assert path.name in taken, f"{path.name}: scripts/screenshots.sh does not take it"
        entry = listed.get(path.name)
        assert entry, f"{path.name} is not in {MANIFEST}"
        assert re.fullmatch(r"[0-9a-f]{40}", entry["commit"] or ""), entry
        assert entry["app_version"] and len(entry["viewport"]) == 2
        width, height = png_size(path)
        if not entry.get("element"):  # a viewport shot is the viewport's size
            assert [width, height] == entry["viewport"], (path.name, width, height)
    unused = {p.name for p in SCREENSHOTS.glob("*.png")} - {p.name for p in shown}
    assert not unused, f"screenshots nothing shows: {sorted(unused)}"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
