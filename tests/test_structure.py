"""The house rules a newcomer relies on: no import cycles, and docs/ARCHITECTURE.md draws the
tree as it is (every package, and every module of engine/ and serve/)."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO


def _structure():
    spec = importlib.util.spec_from_file_location("structure", REPO / "scripts" / "structure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles():
    assert _structure().report()["import_cycles"] == []


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _structure().cycles(graph) == [["a", "b", "c"]]


def test_architecture_page_lists_every_package_and_engine_and_serve_module():
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    root = REPO / "bertviz_lite"
    for pkg in sorted(p for p in root.iterdir() if (p / "__init__.py").is_file()):
        assert f"  {pkg.name}/" in text, pkg.name
    for sub in ("engine", "serve"):
        for mod in sorted((root / sub).glob("*.py")):
            if mod.name != "__init__.py":
                assert f"    {mod.name} " in text, f"{sub}/{mod.name}"
