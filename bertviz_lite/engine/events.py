"""The events of one training run, and the one place that drains them into its run record.

`train()` yields Progress, StepRecord and EvalRecord events and, last, the RunRecord. Every
consumer (the CLI, the experiments, the worker, the benchmark, `run_to_record`) goes through
`drain`, passing a callback for what it shows or sends on the way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bertviz_lite.record.runs import EvalRecord, Progress, RunRecord, StepRecord

Event = Progress | StepRecord | EvalRecord | RunRecord


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
