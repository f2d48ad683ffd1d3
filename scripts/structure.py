"""Sizes and import cycles of the package: `python scripts/structure.py [--json]`.

Counts every `import` inside bertviz_lite (top level, inside functions and under
TYPE_CHECKING alike) as an edge between modules, and reports the strongly connected groups
(import cycles), the largest modules, classes and functions, and the median function length.
"""

from __future__ import annotations

import ast
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "bertviz_lite"


def module_name(path: Path) -> str:
    """bertviz_lite/serve/pool.py -> bertviz_lite.serve.pool (a package is its __init__)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Modules of the package this file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for t in targets:
            while t and t not in known:  # `from pkg import name`: name may be a symbol
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith(PACKAGE):
                out.add(t)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def sizes(files: list[Path]) -> dict[str, object]:
    """Largest module (lines), largest class and function (lines), median function length."""
    mods, classes, funcs = [], [], []
    for path in files:
        text = path.read_text(encoding="utf-8")
        rel = str(path.relative_to(ROOT))
        mods.append((len(text.splitlines()), rel))
        for node in ast.walk(ast.parse(text)):
            n = node.end_lineno - node.lineno + 1 if hasattr(node, "end_lineno") else 0
            if isinstance(node, ast.ClassDef):
                classes.append((n, f"{rel}:{node.name}"))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                funcs.append((n, f"{rel}:{node.name}"))
    mods.sort(reverse=True)
    classes.sort(reverse=True)
    funcs.sort(reverse=True)
    return {"modules": len(mods), "largest_modules": mods[:5], "largest_classes": classes[:5],
            "largest_functions": funcs[:5], "functions": len(funcs),
            "median_function_lines": statistics.median(n for n, _ in funcs) if funcs else 0}


def report(paths: list[str] | None = None) -> dict[str, object]:
    """The whole report for the package, its pages included (and app.py for the sizes)."""
    files = sorted((ROOT / PACKAGE).rglob("*.py"))
    known = {module_name(p) for p in files}
    graph = {module_name(p): imports(p, module_name(p), known) for p in files}
    extra = [ROOT / "app.py"]
    out = sizes(files + [p for p in extra if p.is_file()])
    out["import_cycles"] = cycles(graph)
    return out


if __name__ == "__main__":
    result = report()
    if "--json" in sys.argv:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
