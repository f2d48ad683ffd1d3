"""The result of `bertviz-lite reproduce` as a value: `ReproduceResult`, what reproduce.json
holds (the setup and one row per task), read back and checked. No torch: the app, the lesson
and the tables read it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bertviz_lite.data.validate import parse_json
from bertviz_lite.record.repro_rows import setup_heads

ROW_KEYS = ("task", "dataset", "metric", "ours_frozen", "ours_finetune", "paper_frozen",
            "paper_finetune", "ours_gap", "paper_gap", "frozen_wall_s", "finetune_wall_s",
            "cost_ratio")


@dataclass
class ReproduceResult:
    """Our numbers per task and mode beside the paper's, with the setup that produced them."""

    setup: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per task
    problems: list[str] = field(default_factory=list)  # saves that went to a fallback (not saved)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d.pop("problems")
        return d

    @classmethod
    def from_dict(cls, d: Any) -> ReproduceResult:
        """Inverse of to_dict; refuses, in one line, something that is not a reproduce result."""
        if not isinstance(d, dict) or "setup" not in d or "rows" not in d:
            raise ValueError("not a reproduce.json: it needs 'setup' and 'rows'")
        if not isinstance(d["setup"], dict):
            raise ValueError("not a reproduce.json: 'setup' must be an object of settings, got "
                             f"{type(d['setup']).__name__}")
        rows = d["rows"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError("not a reproduce.json: 'rows' must be a list of table rows (objects), "
                             f"got {type(rows).__name__}")
        missing = sorted({k for r in rows for k in ROW_KEYS if k not in r})
        if missing:
            raise ValueError(f"not a reproduce.json: rows lack {missing}")
        return cls(dict(d["setup"]), [dict(r) for r in rows])

    @classmethod
    def from_json(cls, text: str, name: str = "reproduce.json") -> ReproduceResult:
        """Parse the JSON text of a reproduce.json (an upload); every problem is a ValueError."""
        return cls.from_dict(parse_json(text, name))

    @classmethod
    def load(cls, path: str | Path) -> ReproduceResult:
        """Read a reproduce.json."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"), str(path))


def result_heads(result: ReproduceResult) -> list[str]:
    """The frozen heads of a result, in the order they were asked for."""
    return setup_heads(result.setup, result.rows)
