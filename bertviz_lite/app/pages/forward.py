"""Forward pass: tokens, every layer's hidden states, the sentence vector, the prediction."""

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.engine.tasks import readable_labels
from bertviz_lite.figures import hidden_norm_animation, hidden_norm_heatmap, probability_bars
from bertviz_lite.figures.describe import describe_probabilities
from bertviz_lite.inspect import trace_forward

ui.page_header(
    "Forward pass",
    "Type a sentence and follow it through BERT: word pieces, then each layer's hidden states "
    "(one vector per token), the sentence vector the head reads, and the prediction.")

task = ui.task_picker()
text, text_b = ui.example_inputs(task, "fw")
model_choice = ui.model_source(task, "fw")
if model_choice is None or not text.strip():
    st.stop()
trained, lock = model_choice
try:
    with lock:
        labels = readable_labels(task, trained.label_names)
        trace = trace_forward(trained.model, ui.backbone(trained.config.model).tokenizer, text,
                              text_b, label_names=labels)
except Exception as err:  # a too-long input, an odd character...: a message, not a crash
    ui.friendly_error(err, "run the forward pass")
    st.stop()

st.subheader("1. Tokens and tensor shapes")
ui.token_chips(trace.tokens, trace.segments)
st.dataframe([{"tensor": k, "shape": " x ".join(map(str, v))} for k, v in trace.shapes.items()],
             hide_index=True)
if trace.note:
    st.caption(trace.note)
st.subheader("2. Hidden states, layer by layer")
st.caption("Each cell is the length (L2 norm) of one token's vector after one layer.")
ui.plot(hidden_norm_heatmap(trace.tokens, trace.hidden_norms, theme=ui.theme()), key="fw_heat")
ui.plot(hidden_norm_animation(trace.tokens, trace.hidden_norms, theme=ui.theme()), key="fw_anim")
st.subheader("3. Into the head: the prediction")
ui.prediction_view(trace)
if trace.probabilities:
    ui.plot(probability_bars(trace.label_names, trace.probabilities, theme=ui.theme()),
            key="fw_probs", alt=describe_probabilities(trace.label_names, trace.probabilities))
ui.show_code(trace_forward)
