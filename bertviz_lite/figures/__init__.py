"""Figures: pure functions from run records and arrays to plotly figures (or HTML strings).

Nothing here imports streamlit, calls st.*, or loads a model; live pages and replays draw
from the same functions. Every string from user data goes through `safe_text`.
"""

from bertviz_lite.figures.attention import (
    STATS,
    attention_diff_heatmap,
    attention_heatmap,
    head_grid,
    head_summary,
)
from bertviz_lite.figures.attribution import (
    attribution_bars,
    score_colour,
    token_attribution_html,
)
from bertviz_lite.figures.compare import (
    compare_bars,
    cost_figure,
    ours_name,
    paper_table,
    paper_table_markdown,
)
from bertviz_lite.figures.curves import (
    compare_curves,
    live_progress,
    loss_curve,
    metric_curves,
    moving_average,
)
from bertviz_lite.figures.diagram import bert_diagram
from bertviz_lite.figures.diagram_svg import bert_diagram_svg, diagram_words
from bertviz_lite.figures.export import figure_html, steps_table
from bertviz_lite.figures.forward import (
    hidden_norm_animation,
    hidden_norm_heatmap,
    layer_labels,
    probability_bars,
    score_gauge,
)
from bertviz_lite.figures.gradflow import (
    grad_flow_bars,
    grad_flow_replay,
    grad_heatmap,
    norm_range,
    update_ratio_chart,
)
from bertviz_lite.figures.inside_bert import (
    change_bars,
    cka_heatmap,
    forgetting_bars,
    measured_updates,
    probe_lines,
)
from bertviz_lite.figures.learning_curves import learning_curve_figure
from bertviz_lite.figures.sweep import backward_sweep, sweep_frames_count, sweep_reach
from bertviz_lite.figures.text import safe_text, token_chips_html
from bertviz_lite.figures.theme import (
    DEFAULT_THEME,
    PRESENTER_THEME,
    Theme,
    mode_colour,
    style,
)

__all__ = [
    "DEFAULT_THEME",
    "PRESENTER_THEME",
    "STATS",
    "Theme",
    "attention_diff_heatmap",
    "attention_heatmap",
    "attribution_bars",
    "backward_sweep",
    "bert_diagram",
    "bert_diagram_svg",
    "diagram_words",
    "change_bars",
    "cka_heatmap",
    "compare_bars",
    "compare_curves",
    "cost_figure",
    "figure_html",
    "forgetting_bars",
    "grad_flow_bars",
    "grad_flow_replay",
    "grad_heatmap",
    "head_grid",
    "head_summary",
    "hidden_norm_animation",
    "hidden_norm_heatmap",
    "layer_labels",
    "learning_curve_figure",
    "live_progress",
    "loss_curve",
    "metric_curves",
    "mode_colour",
    "moving_average",
    "norm_range",
    "ours_name",
    "paper_table",
    "paper_table_markdown",
    "probe_lines",
    "probability_bars",
    "safe_text",
    "token_chips_html",
    "score_colour",
    "score_gauge",
    "sweep_frames_count",
    "sweep_reach",
    "steps_table",
    "style",
    "token_attribution_html",
    "measured_updates",
    "update_ratio_chart",
]
