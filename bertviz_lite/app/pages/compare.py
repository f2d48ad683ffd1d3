"""Compare: frozen and fine-tuned side by side, the way the lecture does, with our own numbers."""

import streamlit as st

from bertviz_lite import ui
from bertviz_lite.engine.tasks import TASK_SPECS
from bertviz_lite.experiments.compare import Comparison, comparison_table
from bertviz_lite.figures import compare_bars, compare_curves, cost_figure
from bertviz_lite.figures.describe import describe_compare, describe_cost
from bertviz_lite.record.paper import PAPER_CITATION, SLIDE_COST_RATIO
from bertviz_lite.ui.learning_curves import learning_curves_section

ui.page_header(
    "Compare: frozen vs fine-tuned",
    "Same data, same seed, only the freeze policy differs. Metric, training cost, trainable "
    "parameters and the train/validation gap that shows overfitting on small data.")

task = ui.task_picker()
source = st.segmented_control("Runs", ["recorded", "session", "run"], default="recorded",
                              required=True, key="cmp_source",
                              format_func={"recorded": "Recorded lecture runs (instant)",
                                           "session": "My runs in this session",
                                           "run": "Run the comparison now"}.get)
records = ui.comparison_records(task, str(source))

if len(records) < 2:
    st.info("Needs at least two runs of this task: pick recorded runs, train on the Backprop "
            "page, or run the comparison now.")
else:
    cmp = Comparison(records)
    rows = cmp.rows()
    spec = TASK_SPECS[task]
    first = next(iter(records.values()))
    model = f"{first.model.get('name')}, {first.model.get('layers')} layers"
    setup = f"{first.data.get('source')} data, {first.data.get('train')} examples"
    st.subheader(f"{spec.metric_title}: ours beside the paper's")
    ui.plot(compare_bars(rows, spec.metric_title, theme=ui.theme(), setup=setup, model=model),
            key="cmp_bars", alt=describe_compare(rows, spec.metric_title))
    st.caption(f"Ours: {ui.safe(model)} model, {ui.safe(setup)}, seed "
               f"{first.config.get('seed')}; {ui.safe(ui.run_origin(first, str(source)))}. "
               f"Paper: {PAPER_CITATION} (BERT-base on the full {spec.paper_dataset}).")
    ratio = cmp.cost_ratio()
    if ratio:
        st.metric("Cost ratio of these runs, fine-tuned / frozen (wall time)", f"{ratio:.1f}x",
                  f"course slide: about {SLIDE_COST_RATIO:.0f}x", delta_color="off")
    ui.plot(cost_figure(rows, theme=ui.theme()), key="cmp_cost", alt=describe_cost(rows))
    st.subheader("Train vs validation: overfitting on small data")
    ui.plot(compare_curves(records, theme=ui.theme()), key="cmp_curves")
    st.dataframe(comparison_table(rows), hide_index=True)

learning_curves_section(task)

st.header("Reproduce the paper's table on real data")
ui.reproduce_view()
