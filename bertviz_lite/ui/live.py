"""The live training view: polling fragments, progress, the gradient-flow and curve charts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import streamlit as st

from bertviz_lite.record.runs import RunRecord
from bertviz_lite.serve.pool import Job
from bertviz_lite.serve.settings import Settings, SettingsError, load_settings
from bertviz_lite.ui.layout import plot, presenter, theme
from bertviz_lite.ui.state import job_state, redact, safe, train_anyway

# -- live training view ----------------------------------------------------------------------
ACTIVE = ("queued", "starting", "running")
# How often the live gradient chart refreshes while a job runs (fragment intervals are fixed
# when this module is imported, so this reads the settings once, here).
def _live_seconds() -> float:
    """The live chart's refresh interval from the settings; the default while the settings
    cannot be read (every page then shows the settings' one-line error and stops)."""
    try:
        return load_settings().live_refresh_s
    except SettingsError:
        return Settings().live_refresh_s


LIVE_SECONDS = _live_seconds()
CURVE_SECONDS = 2.0  # how often the exact numbers (bars) and the curves refresh
QUEUED_SECONDS = 2.0  # how often a queued job checks whether its turn has come


GRADIENTS_DIFFER = ("Two different gradients: the live chart shows each group's weight gradient "
                    "‖∂L/∂W‖ (what the optimizer steps with); the backward sweep shows the "
                    "gradient passed down at each group's output ‖∂L/∂(output)‖, a different, "
                    "usually smaller number.")


def live_record(job: Job) -> RunRecord | None:
    """The job's run so far as a (partial) RunRecord, or the final one."""
    snap = job.snapshot()
    if snap.record is not None:
        return snap.record
    if not snap.ready:
        return None
    return RunRecord.partial(job.config.to_dict(), snap.ready, snap.steps, snap.evals)


def _step_clock(job: Job, step: int) -> tuple[float, float]:
    """(seconds from the first step to the newest, seconds since the newest arrived), as
    this page saw them: the model loading and feature caching before step 1 left out."""
    now = time.time()
    seen = st.session_state.setdefault("_step_clock", {}).setdefault(job.id, {})
    if step and "first" not in seen:
        seen["first"] = now
    if step and seen.get("step") != step:
        seen["step"], seen["at"] = step, now
    if not step:
        return 0.0, 0.0
    return seen["at"] - seen["first"], now - seen["at"]


def _progress_text(job: Job, record: RunRecord | None, done: int, total: int) -> dict[str, Any]:
    """Training or evaluating, with one time estimate covering both."""
    from bertviz_lite.figures.curves import eval_points, run_progress

    steps = record.steps if record is not None else []
    evals = {e.step for e in record.evals} if record is not None else set()
    per_epoch = max(1, -(-total // max(1, int(job.config.epochs))))
    points = eval_points(total, per_epoch, int(getattr(job.config, "evals_per_epoch", 1)))
    evaluating = done in points and done not in evals
    span, since = _step_clock(job, done)
    train_s = sum(s.seconds for s in steps)
    first = steps[0].seconds if steps else 0.0
    return run_progress(done, total, span + first, train_s, len([p for p in points
                        if p in evals]), len(points), evaluating, since)


def job_status(job: Job) -> None:
    """Queue position, progress bar with ETA, or how the run ended."""
    snap = job.snapshot()
    if snap.state == "queued":
        from bertviz_lite.serve.core import minutes_text

        eta = job.eta_seconds()
        wait = f", about {minutes_text(eta)}" if eta else ""
        st.info(f"Waiting for a free trainer: position {snap.queue_position} in the queue{wait}.")
    elif snap.state in ("starting", "running"):
        total = int(snap.total_steps or (snap.ready or {}).get("steps_total") or 0)
        done = snap.last_step
        p = snap.progress
        if p is not None and p.phase == "cache" and not done:
            st.progress(p.done / max(1, p.total), text=f"Computing frozen features once: "
                        f"{p.done} / {p.total} examples")
        elif not total:
            st.progress(0.0, text="Preparing: copying the model, reading and tokenising data")
        else:
            info = _progress_text(job, live_record(job), done, total)
            st.progress(min(1.0, info["fraction"]), text=info["text"])
    elif snap.state == "failed":
        st.error("Training failed: " + safe(redact(snap.error or "unknown error")))
    elif snap.state == "diverged":
        st.warning(safe(snap.record.reason if snap.record else "The loss became NaN."))
    elif snap.state == "stopped":
        st.info(safe(snap.record.reason if snap.record and snap.record.reason else
                     snap.error or "Stopped."))
    elif snap.state == "cached":
        st.info("**Replay**: this exact configuration was trained before on this server, so "
                "its record plays back at its recorded pace. Press **Train anyway** to train "
                "it again now.")
    notes = snap.record.notes if snap.record is not None else snap.ready.get("notes", [])
    for note in notes:  # inputs truncated to max_length, a subsample, ...
        st.caption("Note: " + safe(note))


def _memo_figure(key: str, signature: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """Rebuild a live figure only when its data changed (the live fragments rerun several times a second;
    building plotly figures is the costly part, re-sending one is cheap)."""
    memo = st.session_state.setdefault("_live_figs", {})
    hit = memo.get(key)
    if hit is not None and hit[0] == signature:
        return hit[1]
    fig = build()
    memo[key] = (signature, fig)
    return fig


def companions(record: RunRecord) -> list[RunRecord]:
    """Recorded lecture runs of the same task and model to stand beside a run: frozen,
    top-2 and fine-tuned with the linear head (the bundled model's; none for another model)."""
    from bertviz_lite.ui.resources import recorded_runs

    runs = recorded_runs()
    found = [runs[f"{record.task}-{m}"] for m in ("frozen", "top-2", "finetune")
             if f"{record.task}-{m}" in runs]
    return [r for r in found if r.groups == record.groups and r.mode != record.mode]


EXPANDER_REM = 3.8  # one closed expander on the stage (header and gap), in rem


def _waiting_stack(job: Job, key: str) -> None:
    """The recorded runs of the job's task as a stack, until its own first step."""
    from bertviz_lite.ui.resources import recorded_runs
    from bertviz_lite.ui.stack import recorded_stack

    task = job.config.task
    runs = [r for name, r in recorded_runs().items()
            if name in {f"{task}-frozen", f"{task}-top-2", f"{task}-finetune"}]
    if runs:
        recorded_stack(runs, f"{key}_stack", theme(), autoplay=False,
                       note="Recorded runs, while yours starts.",
                       reserve_rem=EXPANDER_REM if presenter() else 0.0)


def flow_chart(record: RunRecord, key: str, run_id: str = "", *, live: bool = False) -> None:
    """The gradient flow: the animated stack (the run beside recorded runs of the other
    modes), then the exact numbers of the newest step as bars (folded on the stage, with the
    curves, after the run).

    run_id: the job that drew it, so a new run never reuses the previous run's figure.
    """
    from bertviz_lite.ui.stack import live_stack

    th = theme()
    job = job_state(key)
    replay = job is not None and job.snapshot().state == "cached"
    # on the stage, what follows the stack is folded: "More" (the page), and after the run
    # "Exact numbers" (bars and curves)
    below = EXPANDER_REM * (1 if live else 2) + (2.6 if replay else 0.0)
    live_stack(record, companions(record), f"{key}_stack", th, live=live,
               source="replay" if replay else "live", instance=run_id,
               reserve_rem=below if presenter() else 0.0)
    if replay:
        st.button("Train anyway", key=f"{key}_anyway", on_click=train_anyway, args=(key,),
                  help="Train this configuration again now, instead of replaying its record")
    if live:
        # while it trains the stack is the live view; the exact numbers follow once a second
        # (`_live_curves`; the stage shows them after the run): rebuilding the bars for every
        # step cost the server about 70 ms a step and the browser a plotly redraw a step
        return
    if presenter():
        with st.expander("Exact numbers: the gradient per group, the loss and the metric"):
            bars_chart(record, key, run_id)
            curve_charts(record, key, run_id)
    else:
        bars_chart(record, key, run_id)


def bars_chart(record: RunRecord, key: str, run_id: str = "") -> None:
    """The exact numbers: the newest step's gradient norm per group as bars (frozen groups
    empty rows behind a drawn wall)."""
    from bertviz_lite.figures import describe, grad_flow_bars

    th = theme()
    last = record.steps[-1] if record.steps else None
    sig = (run_id, last.step if last else 0, th, tuple(record.groups))
    plot(_memo_figure(f"{key}_flow", sig, lambda: grad_flow_bars(
        record.groups, last.grad_norm if last else {}, record.frozen_groups,
        step=last.step if last else None, x_range=(-5.0, 2.0), theme=th)),
        key=f"{key}_flow", alt=describe.describe_grad_flow(
            record.groups, last.grad_norm if last else {}, record.frozen_groups,
            last.step if last else None))
    st.caption(GRADIENTS_DIFFER)


def curve_charts(record: RunRecord, key: str, run_id: str = "") -> None:
    """Loss and validation/training metric curves of a run so far, one under the other:
    side by side in the Backprop page's result column, each was 316 px of a 1400-px window
    (under the third the audit asks for)."""
    from bertviz_lite.figures import loss_curve, metric_curves
    from bertviz_lite.figures.describe import describe_loss, describe_metrics

    th = theme()
    sig = (run_id, len(record.steps), len(record.evals), th)
    if record.steps:
        plot(_memo_figure(f"{key}_loss", sig, lambda: loss_curve(record, theme=th)),
             key=f"{key}_loss", alt=describe_loss(record))
    if record.evals:
        plot(_memo_figure(f"{key}_metric", sig, lambda: metric_curves(record, theme=th)),
             key=f"{key}_metric", alt=describe_metrics(record))


@st.fragment(run_every=LIVE_SECONDS)
def _live_flow(job_key: str) -> None:
    """Every `live_refresh_s` (0.5 s): status, progress and the animated stack up to the
    newest step."""
    job = job_state(job_key)
    if job is None:
        return
    job_status(job)
    record = live_record(job)
    if record is not None:
        flow_chart(record, job_key, job.id, live=True)
    else:  # the worker is still preparing: the recorded runs keep the stage alive meanwhile
        _waiting_stack(job, job_key)
    if job.snapshot().state not in ACTIVE:
        st.rerun(scope="app")  # the run ended: redraw the whole page with the results


@st.fragment(run_every=QUEUED_SECONDS)
def _live_queued(job_key: str) -> None:
    """Every two seconds while the job waits for a free trainer: its place in the queue.
    (Waiting sessions poll slowly, so a full class queueing costs the server little.)"""
    job = job_state(job_key)
    if job is None:
        return
    job_status(job)
    if job.snapshot().state != "queued":
        st.rerun(scope="app")  # its turn: switch to the fast live view


@st.fragment(run_every=CURVE_SECONDS)
def _live_curves(job_key: str) -> None:
    """Once a second: the exact numbers of the newest step (bars) and the loss and metric
    curves (each redraw costs the browser and the server CPU that the training worker would
    rather have; the animated stack above shows every step as it arrives)."""
    job = job_state(job_key)
    record = live_record(job) if job is not None else None
    if record is not None:
        bars_chart(record, job_key, job.id)  # type: ignore[union-attr]
        curve_charts(record, job_key, job.id)  # type: ignore[union-attr]


def live_view(job_key: str) -> None:
    """While the job runs: the polling fragments; afterwards: a static status and charts.

    The gradient flow takes the full width (it is the lesson); the curves sit below it.
    """
    job = job_state(job_key)
    if job is None:
        return
    state = job.snapshot().state
    if state == "queued":
        _live_queued(job_key)
        return
    if state in ACTIVE:
        _live_flow(job_key)
        if not presenter():  # the stage: the stack alone fills the screen
            _live_curves(job_key)
        return
    job_status(job)
    record = live_record(job)
    if record is not None:
        flow_chart(record, job_key, job.id)  # on the stage the curves are folded in it
        if not presenter():
            curve_charts(record, job_key, job.id)


def stop_job(job_key: str) -> None:
    """on_click of the Stop button: ask the worker to stop between two steps."""
    job = job_state(job_key)
    if job is not None:
        job.stop()
