"""What the pool and its worker processes say to each other: small frozen, picklable dataclasses.

main -> worker, over the worker's job queue: `JobRequest` (one run, or with `analysis` one
"what changed inside BERT?" analysis of a finished run), or None (exit).
worker -> main, over the worker's pipe, in this order:
    Hello, then Warm / WarmError per warm model, Models, Ready; then per job:
    Begin, StepEvent / EvalEvent / ProgressEvent ..., and Done or Failed (Models again when
    the job loaded a backbone that was not warm); an analysis: Begin, ProgressEvent ...
    (phase "analyse"), and Analysed or Failed.

`seq` names the run a message belongs to, so a late message of a finished run is ignored.
Nothing here imports torch: the main process unpickles these without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bertviz_lite.data.examples import TaskData
from bertviz_lite.data.source import Upload
from bertviz_lite.data.text import Limits
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.record.runs import EvalRecord, Progress, StepRecord


@dataclass(frozen=True)
class AnalysisSpec:
    """What to analyse instead of training: a finished run and its saved model.

    record: RunRecord.to_dict() of the run; checkpoint: the folder `save_model` wrote (None for
    a frozen run); max_examples: cap on training and validation examples (None: all).
    """

    record: dict[str, Any]
    checkpoint: str | None
    max_examples: int | None = None


@dataclass(frozen=True)
class JobRequest:
    """Train `config` as run `seq` (data: examples already loaded, an upload's bytes that the
    worker parses, or None: the worker reads what the config names); with
    `analysis`, analyse that finished run instead (config: the run's own)."""

    seq: int
    config: RunConfig
    data: TaskData | Upload | None
    limits: Limits
    save_to: str | None  # folder for the trained model, or None
    analysis: AnalysisSpec | None = None


@dataclass(frozen=True)
class Hello:
    """The worker process is up."""

    pid: int


@dataclass(frozen=True)
class Warm:
    """A warm backbone loaded in `seconds`."""

    model: str
    seconds: float


@dataclass(frozen=True)
class WarmError:
    """A warm backbone could not be loaded (a job for it will try again and say why)."""

    model: str
    error: str


@dataclass(frozen=True)
class Models:
    """The backbones this worker holds now."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Ready:
    """Warm-up is over: the worker takes jobs."""


@dataclass(frozen=True)
class Begin:
    """The worker took run `seq` (wall clock `at`)."""

    seq: int
    at: float


@dataclass(frozen=True)
class StepEvent:
    """One optimizer step of run `seq`; `sent`: wall clock when sent (for the latency)."""

    seq: int
    step: StepRecord
    sent: float


@dataclass(frozen=True)
class EvalEvent:
    """One evaluation of run `seq`."""

    seq: int
    eval: EvalRecord
    sent: float


@dataclass(frozen=True)
class ProgressEvent:
    """A phase of run `seq` that is not a step (loading, tokenising, ready, training)."""

    seq: int
    progress: Progress
    sent: float


@dataclass(frozen=True)
class Done:
    """Run `seq` ended with a run record (completed, stopped or diverged).

    record: RunRecord.to_dict(); checkpoint: the saved model's folder, or None; note: why the
    model could not be saved, else "".
    """

    seq: int
    record: dict[str, Any]
    checkpoint: str | None
    note: str


@dataclass(frozen=True)
class Failed:
    """Run `seq` raised. message: for the student ("" when unexpected: then `traceback` is
    logged and the student sees a generic line naming `exc_type`)."""

    seq: int
    message: str
    exc_type: str
    traceback: str


@dataclass(frozen=True)
class Analysed:
    """Analysis `seq` ended. status: "completed" (result: ChangesResult.to_dict()) or
    "stopped" (result None)."""

    seq: int
    status: str
    result: dict[str, Any] | None


TrainingEvent = StepEvent | EvalEvent | ProgressEvent
WorkerMessage = (Hello | Warm | WarmError | Models | Ready | Begin | TrainingEvent | Done
                 | Analysed | Failed)


def training_event(seq: int, event: StepRecord | EvalRecord | Progress,
                   sent: float) -> TrainingEvent:
    """The message that carries one engine event of run `seq`."""
    if isinstance(event, StepRecord):
        return StepEvent(seq, event, sent)
    if isinstance(event, EvalRecord):
        return EvalEvent(seq, event, sent)
    return ProgressEvent(seq, event, sent)


def event_of(msg: TrainingEvent) -> StepRecord | EvalRecord | Progress:
    """The engine event a training message carries."""
    if isinstance(msg, StepEvent):
        return msg.step
    if isinstance(msg, EvalEvent):
        return msg.eval
    return msg.progress
