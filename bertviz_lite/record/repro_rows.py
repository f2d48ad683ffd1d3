"""The rows of a reproduce.json (`bertviz-lite reproduce`), read without torch: which frozen
heads a result holds and each head's numbers, for files written before and after a row kept
several frozen heads (`frozen_heads`)."""

from __future__ import annotations

from typing import Any

from bertviz_lite.record.paper import paper_cell


def row_heads(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """head -> {"value", "wall_s", "trainable", "cost_ratio", "paper_setup"} of one row (a
    file from before `frozen_heads`: its one head, from the row's own columns)."""
    heads = row.get("frozen_heads")
    if isinstance(heads, dict) and heads:
        return heads
    head = str(row.get("frozen_head") or "linear")
    return {head: {"value": row.get("ours_frozen"), "wall_s": row.get("frozen_wall_s"),
                   "trainable": row.get("frozen_trainable"),
                   "cost_ratio": row.get("cost_ratio"),
                   "paper_setup": paper_cell(str(row.get("task")), "frozen", head).matches}}


def setup_heads(setup: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """The frozen heads of a result, in the order they were asked for."""
    heads = setup.get("frozen_heads")
    if isinstance(heads, list) and heads:
        return [str(h) for h in heads]
    return list(dict.fromkeys(h for r in rows for h in row_heads(r)))
