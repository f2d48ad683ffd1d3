"""bertviz-lite: watch backprop stop at the head (frozen BERT) or flow through every layer
(fine-tuned BERT).

The public API, every name listed in `_API` below, is re-exported here lazily (`import
bertviz_lite` imports no torch):

- configure and train: `RunConfig` (or `config(**fields)`), `train(cfg, live=None)` -> the
  `RunRecord` (live chart and progress bar in a notebook; see `bertviz_lite.notebook`),
  `train_events(cfg)` -> the engine's event iterator, `run_to_record(cfg)`, `compare(records)`;
- the animated stack of runs side by side: `stack(*records)` (HTML; the app's main view);
- draw from a record: `flow`, `replay`, `heatmap`, `sweep`, `update_ratios`, `curves`,
  `compare_figures`, and every figure of `bertviz_lite.figures` (the inside-BERT and
  learning-curve figures included);
- `describe_*`: the charts' text alternatives (`bertviz_lite.figures.describe`).
"""

from __future__ import annotations

import importlib
from typing import Any

from bertviz_lite.engine.config import ConfigError, RunConfig, config_hash
from bertviz_lite.record.runs import EvalRecord, Progress, RunRecord, StepRecord
from bertviz_lite.version import __version__ as __version__

_NOTEBOOK = "bertviz_lite.notebook"
_RECORDS = "bertviz_lite.figures.records"
_FIGURES = "bertviz_lite.figures"
_DESCRIBE = "bertviz_lite.figures.describe"

# Every public name imported on first use -> "module" or "module:attribute".
_API: dict[str, str] = {
    # training
    "train_events": "bertviz_lite.engine.training:train",
    "run_to_record": "bertviz_lite.engine.training",
    # the notebook's helpers
    "train": _NOTEBOOK, "config": _NOTEBOOK, "compare": _NOTEBOOK, "modes": _NOTEBOOK,
    "compare_figures": _NOTEBOOK, "use_offline_plotly": _NOTEBOOK, "LiveFlow": _NOTEBOOK,
    "stack": _NOTEBOOK,
    # figures of one record
    "flow": _RECORDS, "replay": _RECORDS, "heatmap": _RECORDS, "sweep": _RECORDS,
    "update_ratios": _RECORDS, "curves": _RECORDS,
    # every figure of bertviz_lite.figures
    "DEFAULT_THEME": _FIGURES, "PRESENTER_THEME": _FIGURES, "STATS": _FIGURES,
    "Theme": _FIGURES, "attention_diff_heatmap": _FIGURES, "attention_heatmap": _FIGURES,
    "attribution_bars": _FIGURES, "backward_sweep": _FIGURES, "bert_diagram": _FIGURES,
    "bert_diagram_svg": _FIGURES, "diagram_words": _FIGURES, "paper_table_markdown": _FIGURES,
    "change_bars": _FIGURES, "cka_heatmap": _FIGURES, "compare_bars": _FIGURES,
    "compare_curves": _FIGURES, "cost_figure": _FIGURES, "figure_html": _FIGURES,
    "forgetting_bars": _FIGURES, "grad_flow_bars": _FIGURES, "grad_flow_replay": _FIGURES,
    "grad_heatmap": _FIGURES, "head_grid": _FIGURES, "head_summary": _FIGURES,
    "hidden_norm_animation": _FIGURES, "hidden_norm_heatmap": _FIGURES,
    "layer_labels": _FIGURES, "learning_curve_figure": _FIGURES, "live_progress": _FIGURES,
    "loss_curve": _FIGURES, "measured_updates": _FIGURES, "metric_curves": _FIGURES,
    "mode_colour": _FIGURES, "moving_average": _FIGURES, "norm_range": _FIGURES,
    "ours_name": _FIGURES, "paper_table": _FIGURES, "probability_bars": _FIGURES,
    "probe_lines": _FIGURES, "safe_text": _FIGURES, "score_colour": _FIGURES,
    "score_gauge": _FIGURES, "steps_table": _FIGURES, "style": _FIGURES,
    "sweep_frames_count": _FIGURES, "sweep_reach": _FIGURES,
    "token_attribution_html": _FIGURES, "token_chips_html": _FIGURES,
    "update_ratio_chart": _FIGURES,
    "setup_line": "bertviz_lite.figures.inside_bert",
    # the charts' text alternatives
    "describe_grad_flow": _DESCRIBE, "describe_replay": _DESCRIBE, "describe_sweep": _DESCRIBE,
    "describe_update_ratios": _DESCRIBE, "describe_loss": _DESCRIBE,
    "describe_metrics": _DESCRIBE, "describe_compare": _DESCRIBE, "describe_cost": _DESCRIBE,
    "describe_probabilities": _DESCRIBE, "describe_figure": _DESCRIBE,
}

__all__ = [
    "ConfigError",
    "EvalRecord",
    "Progress",
    "RunConfig",
    "RunRecord",
    "StepRecord",
    "config_hash",
    *_API,
]


def __getattr__(name: str) -> Any:
    """Import the engine and figures lazily: `import bertviz_lite` stays fast until used."""
    if name not in _API:
        raise AttributeError(f"module 'bertviz_lite' has no attribute {name!r}")
    module, _, attr = _API[name].partition(":")
    return getattr(importlib.import_module(module), attr or name)


def __dir__() -> list[str]:
    """The public API (what an editor offers after `bertviz_lite.`)."""
    return sorted(set(globals()) | set(__all__))
