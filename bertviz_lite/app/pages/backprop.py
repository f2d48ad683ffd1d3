"""Backprop: train live and watch the gradient stop at the head or flow through every layer."""

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.figures import grad_flow_bars
from bertviz_lite.figures.stack import stack_data
from bertviz_lite.ui import lesson as lesson_ui
from bertviz_lite.ui.live import EXPANDER_REM
from bertviz_lite.ui.stack import recorded_stack

ui.page_header(
    "Backprop: train live",
    "" if lesson_ui.stage() else
    "Pick what learns, press **Train**, and watch the gradient travel down BERT after each "
    "step: a frozen model's pulse hits a wall above the frozen layers and stops at the head; "
    "fine-tuned, it reaches the embeddings.")
lesson_ui.stage_frame(hide_title=True)  # the stage: mode, Train, Stop on top, the stack below

if lesson_ui.stage():  # one row of controls, then the stack over the whole width
    modes, actions = st.columns([3, 2], vertical_alignment="bottom")
    with modes:
        lesson_ui.stage_mode_buttons()
    buttons = actions
    with lesson_ui.folded("All settings"):
        config, data, problem = ui.training_form()
    view = st.container()
else:
    form, view = st.columns([1, 2], gap="large")
    with form:
        config, data, problem = ui.training_form()
    buttons = form
job = ui.job_state("bp_job")
running = job is not None and job.snapshot().state in ui.ACTIVE
c1, c2 = buttons.columns(2)
train = c1.button("Train", type="primary", key="bp_train", disabled=running or config is None,
                  width="stretch")
c2.button("Stop", key="bp_stop", on_click=ui.stop_job, args=("bp_job",),
          disabled=not running, width="stretch")
if problem:
    buttons.warning(ui.safe(problem))
if train and config is not None:  # on the stage Train trains (a rehearsal's cached run
    ui.start_job("bp_job", config, data, fresh=lesson_ui.stage())  # must not spoil the demo)
    st.rerun()

with view:
    job = ui.job_state("bp_job")
    if job is None:
        task = config.task if config is not None else str(st.session_state.get("task", ""))
        recorded = [r for name, r in ui.recorded_runs().items()
                    if r.task == task and name in {f"{task}-frozen", f"{task}-top-2",
                                                   f"{task}-finetune"}]
        if recorded:
            recorded_stack(recorded, "bp_recorded_stack", ui.theme(),
                           note="" if lesson_ui.stage() else
                           "Recorded lecture runs: press Train to run your own.",
                           reserve_rem=EXPANDER_REM if lesson_ui.stage() else 0.0)
        else:
            st.info("No run yet. Press **Train**.")
        for n, cut in enumerate(ui.interrupted_runs()):  # a server restart cut these short
            st.warning(ui.safe(cut.reason))
            ui.results(cut, f"bp_cut_{n}")
    else:
        ui.live_view("bp_job")


def the_rest() -> None:
    """The whole run and the recorded runs (folded into "More" on the stage)."""
    job = ui.job_state("bp_job")
    record = job.snapshot().record if job is not None else None
    if record is not None and record.steps:
        st.header("The whole run")
        ui.results(record, "bp_result")
    st.header("Replay a recorded run")
    recorded_all = ui.recorded_runs()
    name = st.selectbox("Recorded run (made with the CLI, no training needed)",
                        list(recorded_all), index=None, key="bp_recorded",
                        placeholder="Choose a recorded run")
    if name:
        st.caption(ui.safe(ui.run_origin(recorded_all[name], "recorded")))
        ui.results(recorded_all[name], f"bp_rec_{name}")
    elif not recorded_all:
        st.caption("No recorded runs found in the recorded-runs folder.")


CODE = ("bertviz_lite.engine.training:Trainer.events",  # by name: no torch in the web server
        "bertviz_lite.engine.gradflow:GradFlow.grad_norms", stack_data, grad_flow_bars)
if lesson_ui.stage():  # one fold under the stack: everything else
    with st.expander("More: the whole run, the recorded runs, the code"):
        the_rest()
        ui.show_code(*CODE, folded=False)
else:
    the_rest()
    ui.show_code(*CODE)
