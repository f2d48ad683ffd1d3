"""bertviz-lite: watch backprop stop at the head (frozen BERT) or flow through every layer
(fine-tuned BERT).

The public API is re-exported here, lazily (`import bertviz_lite` imports no torch):

- configure and train: `RunConfig` (or `config(**fields)`), `train(cfg, live=None)` -> the
  `RunRecord` (live chart and progress bar in a notebook; see `bertviz_lite.notebook`),
  `train_events(cfg)` -> the engine's event iterator, `run_to_record(cfg)`, `compare(records)`;
- draw from a record: `flow`, `replay`, `heatmap`, `sweep`, `update_ratios`, `curves`,
  `compare_figures`, and every function of `bertviz_lite.figures` (plus the inside-BERT and
  learning-curve figures of `figures.changes` and `figures.learning_curves` where present);
- `describe_*`: the charts' text alternatives (`bertviz_lite.figures.describe`).
"""

from __future__ import annotations

import importlib
from typing import Any

from bertviz_lite.engine.config import ConfigError, RunConfig, config_hash
from bertviz_lite.record.runs import EvalRecord, Progress, RunRecord, StepRecord
from bertviz_lite.version import __version__ as __version__

# name -> module that defines it, imported on first use.
_LAZY: dict[str, str] = {
    "train_events": "bertviz_lite.engine.training:train",
    "run_to_record": "bertviz_lite.engine.training",
    "train": "bertviz_lite.notebook",
    "config": "bertviz_lite.notebook",
    "compare": "bertviz_lite.notebook",
    "compare_figures": "bertviz_lite.notebook",
    "use_offline_plotly": "bertviz_lite.notebook",
    "LiveFlow": "bertviz_lite.notebook",
    "flow": "bertviz_lite.figures.records",
    "replay": "bertviz_lite.figures.records",
    "heatmap": "bertviz_lite.figures.records",
    "sweep": "bertviz_lite.figures.records",
    "update_ratios": "bertviz_lite.figures.records",
    "curves": "bertviz_lite.figures.records",
}
# Searched in order for any other name (figures being written elsewhere are optional).
_FIGURE_MODULES = ("bertviz_lite.figures", "bertviz_lite.figures.describe",
                   "bertviz_lite.figures.changes", "bertviz_lite.figures.learning_curves")

__all__ = [
    "ConfigError",
    "EvalRecord",
    "Progress",
    "RunConfig",
    "RunRecord",
    "StepRecord",
    "config_hash",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import the engine and figures lazily: `import bertviz_lite` stays fast until used."""
    if name in _LAZY:
        module, _, attr = _LAZY[name].partition(":")
        return getattr(importlib.import_module(module), attr or name)
    if name.startswith("_"):
        raise AttributeError(name)
    for module in _FIGURE_MODULES:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            continue
        if hasattr(mod, name):
            return getattr(mod, name)
    raise AttributeError(f"module 'bertviz_lite' has no attribute {name!r}")
