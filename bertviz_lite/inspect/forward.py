"""The forward pass of one example, made visible: word pieces, how large each token's hidden
state is after every layer, the sentence vector the head reads, and the prediction.

Shapes: L layers, T word pieces, H hidden size, C classes, W words (NER), S sequences (1, or 2
for a pair whose sentences are encoded separately).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from bertviz_lite.engine.heads import TaskModel, encoder_inputs
from bertviz_lite.inspect._common import (
    OneInput,
    device_of,
    encode_one,
    eval_mode,
    flat_tokens,
    segments_of,
    unpad,
)
from bertviz_lite.inspect.predict import decode, label_names_for

SEPARATE_NOTE = (
    "This model encodes the two sentences separately: each is its own sequence (input_ids has "
    "2 rows), so no token of one sentence sees the other. Tokens and norms are listed sentence "
    "A (segment 0) then sentence B (segment 1); the head combines the two sentence vectors u "
    "and v as [u, v, |u - v|, u * v].")
JOINT_NOTE = (
    "Both sentences are encoded together as one sequence, [CLS] A [SEP] B [SEP]: every token "
    "can attend to the other sentence; the segment ids (0 for A, 1 for B) tell them apart.")


@dataclass
class ForwardTrace:
    """What one forward pass computed, read by name.

    tokens: word pieces incl. [CLS]/[SEP], padding left out (T of them); for a separately
      encoded pair, sentence A's then sentence B's.
    segments: 0 (sentence A) or 1 (sentence B) per token; all 0 for one sentence.
    hidden_norms: (L+1, T) L2 norm of each token's hidden state, row 0 at the embeddings'
      output, row i after layer i.
    shapes: the tensors' shapes for a "what shape is each tensor" table, keys in data-flow
      order: input_ids (S, T); hidden_states (L+1, S, T, H), i.e. L+1 tensors of (S, T, H);
      features, the head's input ((1, H), (1, 2, H) for a separately encoded pair, (1, W, H)
      for NER, with an extra L+1 axis before H for a scalar-mix head); logits (1, C) or
      (1, W, C), or score (1,) for similarity.
    sentence_vector: (H,), or (2, H) for a separately encoded pair: what the head's linear
      layer reads (after the scalar mix, if any). None for NER and for trace_encoder.
    word_vectors: (W, H) NER only: the first word piece's vector of each word the model saw.
    probabilities: softmax over the classes (sentiment, paraphrase), else None.
    label_names: class or tag names in head order ([] for similarity).
    prediction: the class name, the similarity score (0-5 scale) or one tag per word (NER).
    word_tags: NER only: (word, tag) for every whitespace-split word.
    note: how a pair was encoded, in words for the page.
    """

    tokens: list[str]
    segments: list[int]
    hidden_norms: np.ndarray
    shapes: dict[str, tuple[int, ...]]
    task: str | None = None
    sentence_vector: np.ndarray | None = None
    word_vectors: np.ndarray | None = None
    probabilities: list[float] | None = None
    label_names: list[str] = field(default_factory=list)
    prediction: str | float | list[str] | None = None
    word_tags: list[tuple[str, str]] | None = None
    note: str = ""

    @property
    def num_layers(self) -> int:
        """L: transformer layers (hidden_norms has L+1 rows)."""
        return int(self.hidden_norms.shape[0]) - 1


def _hidden_states(encoder: nn.Module, inp: OneInput) -> torch.Tensor:
    """Every hidden state of the encoder: (L+1, S, T, H), embeddings output first."""
    out = encoder(**encoder_inputs(encoder, inp.batch), output_hidden_states=True)
    return torch.stack(out.hidden_states)  # (L+1, S, T, H)


def _encoder_trace(encoder: nn.Module, inp: OneInput, sep_id: int | None) -> ForwardTrace:
    """Tokens, segments, hidden-state norms and the first shapes (no head involved)."""
    states = _hidden_states(encoder, inp)  # (L+1, S, T, H)
    norms = unpad(states.norm(dim=-1), inp.lengths)  # (L+1, T_total)
    shapes = {"input_ids": tuple(inp.batch.input_ids.shape), "hidden_states": tuple(states.shape)}
    segments = segments_of(inp, sep_id)
    note = SEPARATE_NOTE if len(inp.tokens) == 2 else JOINT_NOTE if 1 in segments else ""
    return ForwardTrace(flat_tokens(inp), segments, norms.cpu().numpy(), shapes, note=note)


def trace_encoder(encoder: nn.Module, tokenizer: object, text: str, text_b: str | None = None,
                  *, separate_pairs: bool = False, max_length: int = 128,
                  lock: threading.Lock | None = None) -> ForwardTrace:
    """Forward pass of a pretrained encoder alone (no trained head): tokens, segments and
    hidden_norms (L+1, T); the prediction fields stay None.

    encoder: a BERT-family encoder (a Backbone's, or a TaskModel's .encoder); not modified,
      run in eval mode, its modes restored.
    text_b: the second sentence of a pair; encoded jointly unless `separate_pairs`.
    lock: held while tokenising (fast tokenizers are not thread-safe).
    """
    task = "sentiment" if text_b is None else "paraphrase"
    inp = encode_one(tokenizer, task, text, text_b, max_length=max_length,
                     separate_pairs=separate_pairs, device=device_of(encoder), lock=lock)
    with eval_mode(encoder), torch.no_grad():
        return _encoder_trace(encoder, inp, getattr(tokenizer, "sep_token_id", None))


def _head_input(model: TaskModel, features: torch.Tensor) -> torch.Tensor:
    """Features -> what the head's linear layer sees per sentence or word: the scalar mix
    applied, if the head has one. (1, H), (1, 2, H) or (1, W, H); for the task model, what its
    output layers read: the pooled BiLSTM vector (1, 4h), u and v (1, 2, 4h), or the BiLSTM
    state of each word (1, W, 2h)."""
    if model.token_features:
        return model.head.represent(features)  # type: ignore[operator]
    mix = model.head.mix
    return mix(features) if mix is not None else features


def trace_forward(model: TaskModel, tokenizer: object, text: str, text_b: str | None = None, *,
                  max_length: int = 128, lock: threading.Lock | None = None,
                  label_names: list[str] | None = None) -> ForwardTrace:
    """Forward pass of a task model on one example, every stage recorded (see ForwardTrace).

    model: a TaskModel of any task; run in eval mode (no dropout), its modes restored; the
      pair encoding (joint or separate) is the model's own.
    text: the sentence; for NER, words are split on whitespace. text_b: the second sentence
      (paraphrase, similarity).
    label_names: class or tag names in head order (None: "0", "1", ...).
    lock: held while tokenising (fast tokenizers are not thread-safe).
    The encoder runs twice, once for every hidden state and once through the model's own
    features() (milliseconds for one sentence): the prediction is exactly the model's.
    """
    inp = encode_one(tokenizer, model.task, text, text_b, max_length=max_length,
                     separate_pairs=model.pair_separate, device=device_of(model), lock=lock)
    names = label_names_for(model, label_names)
    with eval_mode(model), torch.no_grad():
        trace = _encoder_trace(model.encoder, inp, getattr(tokenizer, "sep_token_id", None))
        features = model.features(inp.batch)  # (1, H), (1, 2, H), (1, W, H) (+ L+1 axis)
        out = model.predict(features)  # (1, C), (1, W, C) or (1,)
        vectors = _head_input(model, features)[0].cpu().numpy()  # (H,), (2, H) or (W, H)
    paths = model.tag_paths(out, inp.batch) if model.task == "ner" else None
    pred = decode(model.task, out[0].cpu(), inp.encoded, names, paths[0] if paths else None)
    trace.task = model.task
    trace.shapes["features"] = tuple(features.shape)
    trace.shapes["score" if model.task == "similarity" else "logits"] = tuple(out.shape)
    trace.label_names = names
    trace.prediction = pred.label
    if model.task == "ner":
        trace.word_vectors = vectors
        trace.word_tags = list(zip(inp.words, pred.label))  # type: ignore[arg-type]
    else:
        trace.sentence_vector = vectors
        trace.probabilities = pred.probabilities  # type: ignore[assignment]
    return trace
