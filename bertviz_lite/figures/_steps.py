"""Reading step records whether they are StepRecord objects or the dicts a worker queue sends."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bertviz_lite.record.runs import RunRecord, StepRecord

StepLike = StepRecord | Mapping[str, Any]


def field(step: StepLike, name: str, default: Any = None) -> Any:
    """A field of a StepRecord/EvalRecord or of its dict form (from JSON or a queue)."""
    if isinstance(step, Mapping):
        return step.get(name, default)
    return getattr(step, name, default)


def norms_of(item: Any) -> Iterable[Any]:
    """Every gradient norm in a RunRecord, a step (object or dict) or a {group: norm} dict."""
    if isinstance(item, RunRecord):
        for s in item.steps:
            yield from norms_of(s)
    elif isinstance(item, Mapping) and "grad_norm" not in item:
        yield from item.values()  # already {group: norm}
    else:
        grad = field(item, "grad_norm") or {}
        yield from grad.values()


def frame_indices(n: int, max_frames: int | None) -> list[int]:
    """Indices of the steps to show: all of them, or `max_frames` spread evenly.

    n: number of recorded steps. The first and the last step are always included (the start
    and the end of training are what a student compares).
    """
    if n <= 0:
        return []
    if max_frames is None or max_frames >= n:
        return list(range(n))
    k = max(2, max_frames) if n > 1 else 1
    # Spacing >= 1 when k <= n, so the rounded positions are distinct and include 0 and n-1.
    return sorted({int(i * (n - 1) / (k - 1) + 0.5) for i in range(k)})
