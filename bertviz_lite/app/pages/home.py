"""Home: the lesson in one screen."""

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.engine.facts import human_count, linear_head_params
from bertviz_lite.figures import bert_diagram_svg, diagram_words, paper_table_markdown
from bertviz_lite.record.paper import PAPER_CITATION

ui.page_header(
    "To tune or not to tune?",
    "A pretrained BERT can be used two ways. **Frozen**: its weights stay fixed and only a "
    "small task head learns, so backprop stops at the head. **Fine-tuned**: the gradient flows "
    "back through every layer and all of BERT adapts to the task.")

facts = ui.facts()
groups = tuple(facts.groups)
head = linear_head_params(facts.hidden, 2)  # a linear head for two classes (sentiment)
left, right = st.columns(2)
with left:
    st.subheader("Frozen: only the head learns")
    ui.svg_figure(ui.built_once(bert_diagram_svg, groups, groups[:-1], theme=ui.theme()),
                  diagram_words(groups, groups[:-1]))
    st.markdown("- cheap: BERT runs **once** per example, its outputs are reused every epoch\n"
                f"- {head:,} trainable weights: a linear head for two classes "
                f"({facts.hidden} x 2 + 2)\n"
                "- competitive when pretraining already fits the task")
with right:
    st.subheader("Fine-tuned: every layer learns")
    ui.svg_figure(ui.built_once(bert_diagram_svg, groups, (), theme=ui.theme()),
                  diagram_words(groups, ()))
    st.markdown("- forward **and** backward through all layers, every step, every epoch\n"
                f"- all {human_count(facts.trained_params + head)} weights change\n"
                "- usually scores higher, and can overfit a small dataset")

st.subheader("What the paper found")
st.markdown(ui.built_once(paper_table_markdown))
st.caption(f"Their numbers: {PAPER_CITATION}, as on the course slide. The frozen model fed a "
           "scalar mix of all layers into a task model; fine-tuning used a softmax layer. "
           f"Our own numbers ({ui.safe(facts.summary)}, on small data) are on the Compare page.")

st.subheader("Explore")
ui.explore_links()
