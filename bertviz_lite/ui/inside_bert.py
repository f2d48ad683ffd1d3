"""Streamlit helpers of the "What changed inside BERT?" page: recorded analyses, the session's
own tuned models, their analysis as a job in the pool with progress, and the four figures."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.experiments.inside_bert_result import ChangesResult
from bertviz_lite.figures import (
    change_bars,
    cka_heatmap,
    forgetting_bars,
    measured_updates,
    probe_lines,
)
from bertviz_lite.figures.inside_bert import setup_line
from bertviz_lite.record.runs import RunRecord
from bertviz_lite.serve.job import Job, JobSnapshot, QueueFull

MODES = ("frozen", "top-2", "finetune")
MODE_TITLES = {"frozen": "frozen", "top-2": "top-2 layers tuned", "finetune": "fine-tuned"}
JOB_KEYS = ("bp_job", "cmp_frozen", "cmp_finetune")  # pages whose finished runs we can analyse
POLL_SECONDS = 0.5


def changes_dir() -> Path:
    """assets/changes: the analyses recorded by scripts/record-changes.sh."""
    from bertviz_lite.paths import assets_dir

    return assets_dir() / "changes"


@st.cache_resource
def recorded_changes() -> dict[tuple[str, str], ChangesResult]:
    """(task, mode) -> the recorded analysis (read once per server, read-only)."""
    out = {}
    for path in sorted(changes_dir().glob("*-*.json")):
        r = ChangesResult.load(path)
        out[(str(r.setup["task"]), str(r.setup["mode"]))] = r
    return out


def session_runs() -> dict[str, tuple[RunRecord, str | None]]:
    """This session's finished runs that can be analysed: label -> (record, checkpoint)."""
    out = {}
    keys = [*JOB_KEYS, *(f"ft_{t}" for t in ("sentiment", "paraphrase", "similarity", "ner"))]
    for key in keys:
        job = ui.job_state(key)
        snap = job.snapshot() if job is not None else None
        if snap is None or snap.record is None or snap.state not in ("completed", "cached"):
            continue
        ckpt = getattr(job, "checkpoint", None)
        rec = snap.record
        if ckpt is None and rec.mode != "frozen":
            continue  # a tuned run whose weights were not kept
        label = f"{rec.task} {rec.mode}, validation {rec.final.get('metric')} " \
                f"{rec.final.get('value') or 0:.3f} ({rec.created or key})"
        out[label] = (rec, str(ckpt) if ckpt else None)
    return out


def start_analysis(key: str, record: RunRecord, checkpoint: str | None) -> None:
    """Queue an analysis of one run in the job pool; keep its job in this session."""
    try:
        job = ui.job_pool().submit_analysis(record, checkpoint, owner=ui.owner_id())
    except QueueFull as err:  # shown at the top of the page, after this rerun
        ui.flash(ui.safe(err), "warning")
        st.rerun()
    except Exception as err:  # a pool that is shut down, bad input: shown, logged
        ui.friendly_error(err, "start the analysis")
        return
    st.session_state[key] = job


def _job(key: str) -> Job | None:
    job = ui.job_state(key)
    return job if job is not None and job.kind == "analysis" else None


def progress_text(snap: JobSnapshot) -> tuple[float, str]:
    """The progress bar's fraction and line for an analysis job."""
    if snap.state == "queued":
        return 0.0, (f"Waiting for a worker: place {snap.queue_position or 1} in the queue "
                     "(analyses and training runs share the workers)")
    p = snap.progress
    if p is None or p.phase != "analyse":
        return 0.0, "Starting the analysis in a worker"
    if snap.stopping:
        return min(1.0, p.done / max(1, p.total)), "Stopping the analysis"
    return (min(1.0, p.done / max(1, p.total)),
            f"Analysing in a worker: {p.message} ({p.done} / {p.total})")


@st.fragment(run_every=POLL_SECONDS)
def _progress(key: str) -> None:
    """Twice a second while the worker analyses: what it does, how far it is; Stop."""
    job = _job(key)
    if job is None:
        return
    snap = job.snapshot()
    if snap.done:
        st.rerun(scope="app")
    fraction, text = progress_text(snap)
    st.progress(fraction, text=text)
    if st.button("Stop the analysis", key=f"{key}_stop"):
        job.stop()


def session_result(key: str) -> ChangesResult | None:
    """The finished analysis of this session, or the live progress while it runs."""
    job = _job(key)
    if job is None:
        return None
    snap = job.snapshot()
    if not snap.done:
        _progress(key)
        return None
    if snap.state == "completed" and snap.result is not None:
        return ChangesResult.from_dict(snap.result)
    if snap.state == "stopped":
        st.info("The analysis was stopped; start it again with the button above.")
    else:
        st.error(f"Could not analyse the run: {ui.safe(snap.error or snap.state)}")
    return None


def forgetting_rows(results: dict[str, ChangesResult], set_index: int = 0) -> list[dict]:
    """Bars of the forgetting figure: the pretrained model once, then each tuned model."""
    first = next(iter(results.values()))
    f0 = first.forgetting[set_index]
    rows = [{"label": "pretrained", "mode": "pretrained", **f0["pretrained"]}]
    for label, r in results.items():
        rows.append({"label": label, "mode": r.setup["mode"], **r.forgetting[set_index]["tuned"]})
    return rows


def draw(r: ChangesResult, prefix: str) -> None:
    """CKA and weight change side by side, the probe lines, the CKA matrix, the table."""
    theme = ui.theme()
    ui.plot(change_bars(r, theme), key=f"{prefix}_bars")
    left, right = st.columns(2)
    with left:
        ui.plot(probe_lines(r, theme), key=f"{prefix}_probe")
    with right:
        ui.plot(cka_heatmap(r, theme), key=f"{prefix}_matrix")
    if any(r.update_ratios.values()):
        with st.expander("Update size at the steps the run measured (the recorded update ratios)"):
            ui.plot(measured_updates(r, theme), key=f"{prefix}_growth")
    st.caption(f"{setup_line(r)}; engine: {ui.safe(r.setup.get('engine'))}; analysis took "
               f"{r.seconds.get('total', 0):.1f} s.")


def draw_forgetting(results: dict[str, ChangesResult], prefix: str) -> None:
    """The forgetting bars for one or more analyses of the same task."""
    first = next(iter(results.values()))
    for i, f in enumerate(first.forgetting):
        ui.plot(forgetting_bars(forgetting_rows(results, i), f["set"],
                                f"ours: {first.setup.get('model')}, {f['pairs']} pairs",
                                ui.theme()), key=f"{prefix}_forget_{i}")
