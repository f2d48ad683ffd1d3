"""Attribution: which tokens drove the prediction, frozen and tuned (fine-tuned or LoRA)
side by side."""

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.engine.tasks import readable_labels
from bertviz_lite.figures import token_attribution_html
from bertviz_lite.inspect import attribute
from bertviz_lite.inspect.attribution import attribution_sums

ui.page_header(
    "Attribution",
    "Layer Integrated Gradients (captum) on the word embeddings: how much each token moved the "
    "explained number F from the baseline (every word piece replaced by [PAD]) to the input. "
    "For a class F is its log-odds against the other classes, log p/(1-p): green tokens make "
    "the class more likely, red less. For similarity F is the predicted score. The "
    "attributions add up to F(input) - F(baseline), missing it by the convergence delta.")

task = ui.task_picker()
tuned = ui.tuned_choice(task, "attr")
text, text_b = ui.example_inputs(task, "attr")
steps = st.select_slider("Integration steps", [16, 32, 50, 100], 50, key="attr_steps")
if not text.strip():
    st.stop()
columns = st.columns(2)
for col, mode in zip(columns, ["frozen", tuned]):
    with col:
        st.subheader("Frozen BERT + trained head" if mode == "frozen" else ui.TUNED_TITLES[mode])
        trained = ui.model_for(task, mode)
        if trained is None:
            ui.finetune_offer(task, "attr")
            continue
        st.caption(ui.tuned_note(task, mode))
        model, lock = trained
        try:
            labels = readable_labels(task, model.label_names)
            with lock:
                att = attribute(model.model, ui.backbone(model.config.model).tokenizer, text,
                                text_b, n_steps=int(steps), label_names=labels)
        except Exception as err:
            ui.friendly_error(err, "compute attributions")
            continue
        score = att.target is None
        title = "explaining: the predicted score" if score else (
            f"explaining: {att.target_name} (p = {att.probability:.3f})")
        others = [n for n in labels if n != att.target_name] if not score and labels else []
        st.html(token_attribution_html(att.tokens, list(att.attributions), title=title,
                                       towards="a higher score" if score else
                                       f"{att.target_name!r}",
                                       away="a lower score" if score else
                                       repr(others[0]) if len(others) == 1 else None))
        st.caption(ui.safe(att.note))
        st.caption(ui.safe(attribution_sums(att)))
ui.show_code(attribute)
