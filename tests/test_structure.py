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


# Layers from the bottom up: a module may import its own layer and the layers below, never one
# above (names.py, paths.py and version.py sit under everything).
LOWER_LAYERS = {
    "bertviz_lite.data": ("bertviz_lite.data", "bertviz_lite.names", "bertviz_lite.paths",
                          "bertviz_lite.version"),
    "bertviz_lite.record": ("bertviz_lite.record", "bertviz_lite.names", "bertviz_lite.paths",
                            "bertviz_lite.version", "bertviz_lite.data"),
    "bertviz_lite.names": (),
}


def _import_graph():
    s = _structure()
    files = sorted((s.ROOT / s.PACKAGE).rglob("*.py"))
    known = {s.module_name(p) for p in files}
    return {s.module_name(p): s.imports(p, s.module_name(p), known) for p in files}


def _upward_imports(graph, layer, allowed):
    return sorted(f"{mod} -> {dep}" for mod, deps in graph.items()
                  if mod == layer or mod.startswith(layer + ".")
                  for dep in deps if not any(dep == a or dep.startswith(a + ".") for a in allowed))


def test_lower_layers_never_import_upwards():
    """record/ never imports the engine (what both need, such as the heads' titles, lives in
    bertviz_lite.names), data/ never imports record/ or the engine, names imports nothing."""
    graph = _import_graph()
    for layer, allowed in LOWER_LAYERS.items():
        assert _upward_imports(graph, layer, allowed) == [], layer


def test_layer_check_finds_an_upward_import():
    graph = {"bertviz_lite.record.runs": {"bertviz_lite.engine.config", "bertviz_lite.names"}}
    assert _upward_imports(graph, "bertviz_lite.record", LOWER_LAYERS["bertviz_lite.record"]) \
        == ["bertviz_lite.record.runs -> bertviz_lite.engine.config"]
