"""Looking inside one example: the forward pass, attention, attributions, predictions.

(The backward sweep is recorded by training: engine.gradflow.SignalProbe, record.sweeps.)

Pure library code (no streamlit, no plotting): functions take a model, a tokenizer and text,
and return dataclasses of numpy arrays that the figures draw. Every function that tokenises
takes `lock` (a threading.Lock or None) and holds it while tokenising; every function leaves
the model's train/eval modes and requires_grad flags as it found them.
"""

from bertviz_lite.inspect.attention import (
    AttentionMaps,
    AttentionUnavailableError,
    attention_maps,
    head_change,
)
from bertviz_lite.inspect.attribution import Attribution, attribute
from bertviz_lite.inspect.forward import ForwardTrace, trace_encoder, trace_forward
from bertviz_lite.inspect.predict import Prediction, predict_texts

__all__ = [
    "AttentionMaps",
    "AttentionUnavailableError",
    "Attribution",
    "ForwardTrace",
    "Prediction",
    "attention_maps",
    "attribute",
    "head_change",
    "predict_texts",
    "trace_encoder",
    "trace_forward",
]
