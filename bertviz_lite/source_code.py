"""The source of a function or class, found by name without importing its module: "Show the
code" on a page must not load torch into the web server just to print a few lines."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path


def source_of(target: str) -> str:
    """The source text of `target`, "package.module:Qualified.name" (a function, a method or a
    class), read from the module's file and located with `ast`; the module is not imported.

    Raises LookupError when the module or the name is not there.
    """
    module, _, qualname = target.partition(":")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not qualname:
        raise LookupError(f"{target!r}: expected 'package.module:Name' of an installed module")
    text = Path(spec.origin).read_text(encoding="utf-8")
    node: ast.AST = ast.parse(text)
    for part in qualname.split("."):
        node = _child(node, part, target)
    return _with_decorators(text, node)


def _child(node: ast.AST, name: str, target: str) -> ast.AST:
    """The function or class called `name` directly inside `node` (a module or a class)."""
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    for child in getattr(node, "body", []):
        if isinstance(child, kinds) and child.name == name:
            return child
    raise LookupError(f"{target!r}: no function or class {name!r} there")


def _with_decorators(text: str, node: ast.AST) -> str:
    """The lines of `node` from its first decorator to its end, indented as in the file (as
    `inspect.getsource` gives them)."""
    lines = text.splitlines(keepends=True)
    decorators = getattr(node, "decorator_list", [])
    first = min([node.lineno] + [d.lineno for d in decorators])  # type: ignore[attr-defined]
    return "".join(lines[first - 1:node.end_lineno])  # type: ignore[attr-defined]
