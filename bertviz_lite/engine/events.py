"""The events of one training run, and the one place they are written into its run record.

`train()` yields Progress, StepRecord and EvalRecord events and, last, the RunRecord. The
step runner and the evaluator only make records; the trainer hands each one to `add_step` or
`add_eval` here as it yields it, and `finish_record` writes the final metric, status and costs.
Every consumer (the CLI, the experiments, the worker, the benchmark, `run_to_record`) goes
through `drain`, passing a callback for what it shows or sends on the way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bertviz_lite.record.runs import EvalRecord, Progress, RunRecord, StepRecord

Event = Progress | StepRecord | EvalRecord | RunRecord


@dataclass(frozen=True)
class StepResult:
    """What one optimizer step made: its record, and the backward sweep measured on it
    ({"step": n, "signal": {group: value}}; None on the steps without one)."""

    step: StepRecord
    sweep: dict[str, Any] | None = None


def add_step(record: RunRecord, result: StepResult) -> StepRecord:
    """Write one step (and its sweep) into the record; returns the step's event."""
    if result.sweep is not None:
        record.sweeps.append(result.sweep)
    record.steps.append(result.step)
    return result.step


def add_eval(record: RunRecord, evaluation: EvalRecord) -> EvalRecord:
    """Write one evaluation into the record; returns it (the event)."""
    record.evals.append(evaluation)
    return evaluation


def finish_record(record: RunRecord, metric: str, status: str, reason: str,
                  cost: dict[str, float]) -> RunRecord:
    """Write the end of a run: the final metric (the last validation score), status, costs."""
    vals = record.eval_curve("val")
    last = vals[-1] if vals else None
    record.final = {"metric": metric, "value": last.value if last else math.nan,
                    "step": last.step if last else 0, "metrics": last.metrics if last else {}}
    record.status, record.reason = status, reason
    record.cost = cost
    return record


def drain(events: Iterable[Event], on_event: Callable[[Event], None] | None = None
          ) -> RunRecord:
    """Consume a run's events, hand each to `on_event` (the RunRecord too), return the
    RunRecord. Raises RuntimeError when the events end without one."""
    record: RunRecord | None = None
    for event in events:
        if on_event is not None:
            on_event(event)
        if isinstance(event, RunRecord):
            record = event
    if record is None:
        raise RuntimeError("the training run ended without a run record")
    return record
