"""Attribution: which tokens drove the prediction, frozen and fine-tuned side by side."""

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.engine.tasks import readable_labels
from bertviz_lite.figures import token_attribution_html
from bertviz_lite.inspect import attribute

ui.page_header(
    "Attribution",
    "Layer Integrated Gradients (captum) on the word embeddings: how much each token pushed "
    "the prediction, green for towards it, red for against. The convergence delta says how "
    "well the attributions add up to the change in output (closer to 0 is better).")

task = ui.task_picker()
text, text_b = ui.example_inputs(task, "attr")
steps = st.select_slider("Integration steps", [16, 32, 50, 100], 50, key="attr_steps")
if not text.strip():
    st.stop()
columns = st.columns(2)
for col, mode in zip(columns, ["frozen", "finetune"]):
    with col:
        st.subheader("Frozen BERT + trained head" if mode == "frozen" else "Fine-tuned BERT")
        trained = ui.model_for(task, mode)
        if trained is None:
            ui.finetune_offer(task, "attr")
            continue
        model, lock = trained
        try:
            labels = readable_labels(task, model.label_names)
            with lock:
                att = attribute(model.model, ui.backbone(model.config.model).tokenizer, text,
                                text_b, n_steps=int(steps), label_names=labels)
        except Exception as err:
            ui.friendly_error(err, "compute attributions")
            continue
        st.html(token_attribution_html(att.tokens, list(att.scores),
                                       title=f"explaining: {att.target_name}"))
        st.caption(f"{att.note} Convergence delta {att.delta:+.4f} "
                   f"(output {att.output:.3f}, baseline {att.baseline_output:.3f}).")
ui.show_code(attribute)
