"""What changed inside BERT? The pretrained and the tuned model compared, layer by layer."""

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.ui import inside_bert as changes_ui

ui.page_header(
    "What changed inside BERT?",
    "Fine-tuning *may overwrite information in the BERT layers, or emphasise what pretraining "
    "learned*. Measured here, layer by layer: how much each layer's representation (CKA) and "
    "weights moved, whether a linear probe could already read the task before tuning, and how "
    "much of the model's pretraining skill (sentence similarity) is left.")

source = st.segmented_control("Analysis", ["recorded", "session"], default="recorded",
                              required=True, key="chg_source",
                              format_func={"recorded": "Recorded lecture analyses (instant)",
                                           "session": "My tuned model from this session"}.get)
if source == "recorded":
    task = ui.task_picker()
    recorded = {m: r for (t, m), r in changes_ui.recorded_changes().items() if t == task}
    if not recorded:
        st.warning("No recorded analyses found: run scripts/record-changes.sh.")
        st.stop()
    modes = [m for m in changes_ui.MODES if m in recorded]
    mode = st.segmented_control("Run", modes, default=modes[-1], required=True,
                                key="chg_mode", format_func=changes_ui.MODE_TITLES.get)
    changes_ui.draw(recorded[str(mode)], f"chg_rec_{task}")
    changes_ui.draw_forgetting({changes_ui.MODE_TITLES[m]: recorded[m] for m in modes}, f"chg_rec_{task}")
else:
    runs = changes_ui.session_runs()
    if not runs:
        st.info("No finished run in this session yet: train one on the **Backprop** page "
                "(it keeps the tuned weights), then come back.")
        st.stop()
    label = st.selectbox("Run to analyse", list(runs), key="chg_run")
    if st.button("Analyse this run", type="primary", key="chg_go"):
        changes_ui.start_analysis("chg_job", *runs[label])
    result = changes_ui.session_result("chg_job")
    if result is not None:
        changes_ui.draw(result, "chg_sess")
        changes_ui.draw_forgetting({changes_ui.MODE_TITLES.get(result.setup["mode"], result.setup["mode"]):
                            result}, "chg_sess")

ui.show_code("bertviz_lite.experiments.inside_bert:analyse_changes",
             "bertviz_lite.experiments.cka:linear_cka")
