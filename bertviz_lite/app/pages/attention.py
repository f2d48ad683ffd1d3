"""Attention: what each head looks at, pretrained and after tuning (fine-tuned, or LoRA)."""

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.figures import attention_diff_heatmap, attention_heatmap, head_grid
from bertviz_lite.inspect import attention_maps

ui.page_header(
    "Attention",
    "Every layer has several attention heads; each row of a map shows how much one token "
    "attends to every other token. Compare the pretrained BERT with a tuned one: fine-tuned "
    "on this server (trained once, shared by every session), or LoRA-tuned (shipped: ready at "
    "once; LoRA changes the query and value projections, so the maps move too).")
task = ui.task_picker()
tuned = ui.tuned_choice(task, "att")
label = ui.TUNED_TITLES[tuned].removesuffix(" BERT")
name = ui.finetuned_model_name(task, tuned) or ui.default_model()  # the tuned one's start
facts = ui.facts(name)
st.caption(f"Pretrained model: {ui.safe(facts.title)}, {facts.layers} layers with "
           f"{facts.heads} attention heads each.")
text, text_b = ui.example_inputs(task, "att")
if not text.strip():
    st.stop()
pretrained = ui.backbone(name)
try:
    with ui.tokenizer_lock(name):
        before = attention_maps(pretrained.encoder, pretrained.tokenizer, text, text_b)
except Exception as err:
    ui.friendly_error(err, "compute attention")
    st.stop()
n_layers, n_heads = before.attn.shape[:2]
ui.clamp_state("att_layer", n_layers - 1)
ui.clamp_state("att_head", n_heads - 1)
c1, c2 = st.columns(2)
layer = c1.slider("Layer", 0, n_layers - 1, n_layers - 1, key="att_layer")
head = c2.slider("Head", 0, n_heads - 1, 0, key="att_head")
after = ui.tuned_attention(task, tuned, text, text_b)

left, right = st.columns(2)
with left:
    ui.plot(attention_heatmap(before.tokens, before.attn[layer, head], segments=before.segments,
                              title=f"Pretrained: layer {layer}, head {head}", theme=ui.theme()),
            key="att_before")
with right:
    if after is not None:
        ui.plot(attention_heatmap(after.tokens, after.attn[layer, head], segments=after.segments,
                                  title=f"{label}: layer {layer}, head {head}",
                                  theme=ui.theme()), key="att_after")
        st.caption(ui.tuned_note(task, tuned))
    else:
        ui.finetune_offer(task, "att")
if after is not None:
    ui.plot(attention_diff_heatmap(before.tokens, after.attn[layer, head],
                                   before.attn[layer, head],
                                   title=f"{label} minus pretrained"), key="att_diff")
st.subheader("All heads at a glance")
stat = st.segmented_control("Summary", ["entropy", "to_cls", "to_sep", "diagonal", "previous"],
                            default="entropy", required=True, key="att_stat")
ui.plot(head_grid(before.attn, before.tokens, stat=str(stat), theme=ui.theme()), key="att_grid")
ui.show_code(attention_maps)
