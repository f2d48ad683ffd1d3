"""bertviz-lite: watch backprop stop at the head (frozen BERT) or flow through every layer
(fine-tuned BERT).

The public engine API is re-exported here; the app, the CLI and the tests all use it.
"""

from bertviz_lite.engine.config import ConfigError, RunConfig, config_hash
from bertviz_lite.record.runs import EvalRecord, Progress, RunRecord, StepRecord

__all__ = [
    "ConfigError",
    "EvalRecord",
    "Progress",
    "RunConfig",
    "RunRecord",
    "StepRecord",
    "config_hash",
    "run_to_record",
    "train",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """Import the engine lazily: `import bertviz_lite` stays fast (no torch) until used."""
    if name in ("train", "run_to_record"):
        from bertviz_lite.engine import training

        return getattr(training, name)
    raise AttributeError(name)
