"""The page registry is the one list of pages: every page script is in it, its entries are
consistent, the README's table is generated from it, and the lessons' "Run it yourself" links
name registered pages. Cheap: no streamlit, no model (the AppTest of a page added to the
registry is in tests/test_app.py)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from bertviz_lite.app import readme, registry
from tests.conftest import REPO, page_names


def test_every_page_script_is_registered_and_every_entry_has_its_script() -> None:
    on_disk = {p.stem for p in registry.PAGES_DIR.glob("*.py") if p.stem != "__init__"}
    assert on_disk == {p.name for p in registry.pages()}, "a page without an entry, or no file"
    for page in registry.pages():
        assert page.script.is_file(), page.script


def test_entries_are_consistent() -> None:
    pages = registry.pages()
    names = [p.name for p in pages]
    urls = [p.url_path for p in pages]
    assert len(set(names)) == len(names) and len(set(urls)) == len(urls)
    assert [p.name for p in pages if p.default] == ["home"], "exactly one start page"
    assert registry.page("home").url_path == "start"  # "/" serves it; see registry.ALIASES
    for url, name in registry.ALIASES.items():
        assert url not in urls and registry.page(name)
    assert registry.by_url("home") == registry.by_url("/start") == registry.page("home")
    assert registry.by_url("lesson").title.startswith("Lesson")
    assert all(p.summary and p.title for p in pages)
    assert {p.name for p in registry.explore_pages()} >= {"lesson", "backprop", "compare"}
    with pytest.raises(KeyError, match="no page 'nope'"):
        registry.page("nope")


def test_the_tests_list_of_pages_is_the_registry() -> None:
    assert page_names() == [p.name for p in registry.pages()]
    assert "lesson" in page_names(visible_only=True) and "changes" in page_names()


def test_lesson_links_name_registered_pages() -> None:
    from bertviz_lite import lesson as L

    for path in sorted(L.lessons_dir().glob("*.toml")):
        for step in L.load_lesson(path).steps:
            if step.try_it:
                registry.by_url(step.try_it.partition("?")[0])  # KeyError when unknown


def test_readme_pages_table_is_generated_from_the_registry() -> None:
    text = readme.README.read_text(encoding="utf-8")
    assert readme.README == REPO / "README.md"
    assert readme.render(text) == text, "run python -m bertviz_lite.app.readme"
    assert readme.main(["--check"]) == 0
    table = readme.pages_table()
    for page in registry.visible_pages():
        assert f"| {page.link_label} |" in table
    assert "| `/` or `/home` |" in table and "`/lesson`" in table


def test_a_changed_registry_makes_the_check_fail(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "README.md"
    out.write_text(readme.README.read_text(encoding="utf-8"), encoding="utf-8")
    first = dataclasses.replace(registry.PAGES[1], summary="something else entirely")
    monkeypatch.setattr(registry, "PAGES", (registry.PAGES[0], first, *registry.PAGES[2:]))
    assert readme.main(["--check", "--readme", str(out)]) == 1
    assert readme.main(["--readme", str(out)]) == 0
    assert "something else entirely" in out.read_text(encoding="utf-8")
    assert readme.main(["--check", "--readme", str(out)]) == 0


def test_registry_readme_and_launcher_import_no_streamlit() -> None:
    code = ("import sys, bertviz_lite.app.registry, bertviz_lite.app.readme, "
            "bertviz_lite.app.launch, bertviz_lite.cli.app_cmd; print('streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True)
    assert out.stdout.strip() == "False"
