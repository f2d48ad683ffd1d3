"""The result of a "what changed inside BERT?" analysis: a dataclass that saves to JSON, and
the per-layer table the CLI prints and the README shows."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHANGES_VERSION = 1


def engine_name() -> str:
    """What computed the numbers: this package and the libraries it used, with versions."""
    import sklearn
    import torch
    import transformers

    from bertviz_lite import __version__

    return (f"bertviz-lite {__version__} (torch {torch.__version__}, transformers "
            f"{transformers.__version__}, scikit-learn {sklearn.__version__})")


@dataclass
class GroupChange:
    """One layer group: how much its output and its weights moved, and what a probe reads.

    cka: linear CKA of this hidden state, pretrained vs tuned (1 = unchanged);
    weight_change: ||W_t - W_p|| / ||W_p|| of the group's weights (0 = unchanged);
    probe_pretrained / probe_tuned: a linear probe's validation score in the task's metric;
    update_ratio_sum: the group's update ratios summed over the steps where the run measured
    them (None: not recorded); a sample of the run, not its net change (that is weight_change).
    """

    group: str
    cka: float
    weight_change: float | None
    probe_pretrained: float
    probe_tuned: float
    update_ratio_sum: float | None = None
    trainable: bool = False


@dataclass
class ChangesResult:
    """Everything one analysis measured, with the setup that made it (see DESIGN.md)."""

    setup: dict[str, Any]
    groups: list[GroupChange]
    cka_matrix: list[list[float]]  # [pretrained state i][tuned state j]
    run_final: dict[str, Any] = field(default_factory=dict)  # the run's own validation score
    baseline: dict[str, Any] = field(default_factory=dict)  # the no-learning baseline
    # [step, running sum of the ratios measured so far], at the measured steps only
    update_ratios: dict[str, list[list[float]]] = field(default_factory=dict)
    forgetting: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    version: int = CHANGES_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None)."""
        return _finite(dataclasses.asdict(self))

    def save(self, path: str | Path) -> Path:
        """Write the JSON file (parent folders created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n",
                        encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChangesResult:
        """Inverse of to_dict (unknown fields ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        d["groups"] = [GroupChange(**_nan(g)) for g in d.get("groups", [])]
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> ChangesResult:
        """Read a saved analysis."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def group(self, name: str) -> GroupChange:
        """The entry of one group."""
        return next(g for g in self.groups if g.group == name)


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def _nan(g: dict[str, Any]) -> dict[str, Any]:
    out = dict(g)
    for k in ("probe_pretrained", "probe_tuned", "cka"):
        if out.get(k) is None:
            out[k] = float("nan")
    return out


def _num(v: float | None, digits: int = 3) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def step_ratios(points: list[list[float]]) -> list[list[float]]:
    """[[step, running sum], ...] -> [[step, that step's own update ratio], ...]."""
    out, before = [], 0.0
    for step, total in points:
        out.append([step, total - before])
        before = total
    return out


def measured_steps_text(r: ChangesResult) -> str:
    """On which steps the run measured its update ratios: "steps 1, 51, 90 of 90" or "all 90
    steps" (the last step is always measured, so it is the run's length)."""
    points = next((p for p in r.update_ratios.values() if p), [])
    if not points:
        return "no steps"
    steps = [int(p[0]) for p in points]
    if len(steps) == steps[-1]:
        return f"all {steps[-1]} steps"
    if len(steps) <= 6:
        return f"steps {', '.join(map(str, steps))} of {steps[-1]}"
    return f"{len(steps)} of {steps[-1]} steps"


def seconds_text(r: ChangesResult) -> str:
    """Where the time went, phase by phase: "models 0.2 s, pretrained side 2.6 s, ..."."""
    return ", ".join(f"{k} {v:.1f} s" for k, v in r.seconds.items() if k not in ("total", "cpu"))


def table_lines(r: ChangesResult) -> list[str]:
    """The per-layer table: CKA, net weight change, probes before and after."""
    metric = str(r.baseline.get("metric") or r.run_final.get("metric") or "score")
    head = ["group", "CKA", "weight change", f"probe pre ({metric})", f"probe tuned ({metric})"]
    rows = [[g.group + ("" if g.trainable else " (frozen)"), _num(g.cka, 4),
             _num(g.weight_change, 4), _num(g.probe_pretrained), _num(g.probe_tuned)]
            for g in r.groups]
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    out = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(x, widths)))
           for x in [head, *rows]]
    for f in r.forgetting:
        out.append(f"zero-shot similarity on {f['set']} ({f['pairs']} pairs), Pearson / "
                   f"Spearman: pretrained {_num(f['pretrained']['pearson'])} / "
                   f"{_num(f['pretrained']['spearman'])}, tuned {_num(f['tuned']['pearson'])} / "
                   f"{_num(f['tuned']['spearman'])}")
    return out
