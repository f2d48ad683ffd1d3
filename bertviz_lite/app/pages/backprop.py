"""Backprop: train live and watch the gradient stop at the head or flow through every layer."""

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.figures import grad_flow_bars
from bertviz_lite.ui import lesson as lesson_ui

ui.page_header(
    "Backprop: train live",
    "" if lesson_ui.stage() else
    "Pick what learns, press **Train**, and watch the gradient norm of every layer group after "
    "each step. Frozen layers sit behind a *no gradient* wall: backprop stops at the head. "
    "Fine-tuned, the gradient reaches the embeddings.")
lesson_ui.stage_frame()  # presenter mode: Train, Stop and frozen/fine-tune on top, the rest folded

form, view = st.columns([1, 2], gap="large")
with form:
    buttons = st.container()
    if lesson_ui.stage():
        lesson_ui.stage_mode_buttons()
    with lesson_ui.folded("All settings"):
        config, data, problem = ui.training_form()
    job = ui.job_state("bp_job")
    running = job is not None and job.snapshot().state in ui.ACTIVE
    c1, c2 = (buttons if lesson_ui.stage() else st).columns(2)
    train = c1.button("Train", type="primary", key="bp_train", disabled=running or config is None,
                      width="stretch")
    c2.button("Stop", key="bp_stop", on_click=ui.stop_job, args=("bp_job",),
              disabled=not running, width="stretch")
    if problem:
        st.warning(ui.safe(problem))
if train and config is not None:
    ui.start_job("bp_job", config, data)
    st.rerun()

with view:
    job = ui.job_state("bp_job")
    if job is None:
        st.info("No run yet. Press **Train**, or replay a recorded lecture run below.")
        for n, cut in enumerate(ui.interrupted_runs()):  # a server restart cut these short
            st.warning(ui.safe(cut.reason))
            ui.results(cut, f"bp_cut_{n}")
    else:
        ui.live_view("bp_job")

job = ui.job_state("bp_job")
record = job.snapshot().record if job is not None else None
if record is not None and record.steps:
    st.header("The whole run")
    ui.results(record, "bp_result")

st.header("Replay a recorded run")
recorded = ui.recorded_runs()
name = st.selectbox("Recorded run (made with the CLI, no training needed)", list(recorded),
                    index=None, key="bp_recorded", placeholder="Choose a recorded run")
if name:
    st.caption(ui.safe(ui.run_origin(recorded[name], "recorded")))
    ui.results(recorded[name], f"bp_rec_{name}")
elif not recorded:
    st.caption("No recorded runs found in the recorded-runs folder.")

ui.show_code("bertviz_lite.engine.training:Trainer.events",
             "bertviz_lite.engine.gradflow:GradFlow.grad_norms", grad_flow_bars)
