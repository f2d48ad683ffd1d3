"""Batch prediction with probabilities: what the trained model says about some examples.

Used by the forward page, and by attribution to pick the class to explain.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bertviz_lite.data.examples import Example
from bertviz_lite.engine.encoding import Encoded, bucket_batches, collate, encode_examples
from bertviz_lite.engine.heads import (
    SCORE_SCALE,  # the similarity head predicts score / 5
    TaskModel,
)
from bertviz_lite.inspect._common import device_of, eval_mode, locked, unlabelled


@dataclass
class Prediction:
    """One example's prediction, read by name.

    label: the class name (sentiment, paraphrase), the score on the 0-5 scale (similarity) or
      one tag per word (NER; words cut off by max_length get the first tag, `O`).
    index: the class id, one tag id per word (NER), or None (similarity).
    probabilities: softmax over the classes, (C,) as a list; for NER one (C,) list per word
      that the model saw, (W', C); None for similarity.
    """

    label: str | float | list[str]
    index: int | list[int] | None
    probabilities: list[float] | list[list[float]] | None


def label_names_for(model: TaskModel, label_names: Sequence[str] | None) -> list[str]:
    """The given names, or "0", "1", ... for every output of a classification head."""
    if model.task == "similarity":
        return []
    if label_names:
        return list(label_names)
    return [str(i) for i in range(model.head.linear.out_features)]


def decode(task: str, out: torch.Tensor, encoded: Encoded, label_names: Sequence[str],
           path: Sequence[int] | None = None) -> Prediction:
    """One example's head output -> Prediction.

    out: logits (C,), per-word logits (W, C) for NER (W >= words kept), or a scalar score / 5.
    path: NER, the tags the model decoded (the task model's CRF Viterbi path; then the
    probabilities are the softmax of its per-word emissions); None: the argmax of each word.
    """
    if task == "similarity":
        return Prediction(float(out) * SCORE_SCALE, None, None)
    probs = torch.softmax(out.float(), dim=-1)
    if task == "ner":
        kept = len(encoded.word_pos)
        best = list(path)[:kept] if path is not None else probs[:kept].argmax(-1).tolist()
        ids = encoded.per_word(best, 0)
        return Prediction([label_names[i] for i in ids], ids, probs[:kept].tolist())
    idx = int(probs.argmax())
    return Prediction(label_names[idx], idx, probs.tolist())


def predict_texts(model: TaskModel, tokenizer: object, examples: Sequence[Example],
                  label_names: Sequence[str] | None, *, max_length: int = 128,
                  batch_size: int = 32, lock: threading.Lock | None = None) -> list[Prediction]:
    """Predict every example (labels ignored), in the order given.

    model: a TaskModel; run in eval mode (no dropout), its modes restored afterwards.
    examples: SentenceExample, PairExample or TokenExample, matching model.task.
    label_names: class or tag names in head order (None: "0", "1", ...).
    lock: held while tokenising (fast tokenizers are not thread-safe).
    Batches of `batch_size` similar lengths: input_ids (S, T) -> logits (B, C) / (B, W, C) /
    scores (B,).
    """
    if not examples:
        return []
    names = label_names_for(model, label_names)
    with locked(lock):
        enc, _ = encode_examples([unlabelled(ex) for ex in examples], tokenizer, max_length,
                                 model.pair_separate)
        pad_id = int(getattr(tokenizer, "pad_token_id", None) or 0)
    device = device_of(model)
    out: list[Prediction | None] = [None] * len(enc)
    with eval_mode(model), torch.no_grad():
        for idx in bucket_batches([e.length for e in enc], batch_size, None):
            batch = collate([enc[i] for i in idx], idx, pad_id, model.task == "ner",
                            model.task == "similarity").to(device)
            outputs = model.predict(model.features(batch))  # (B, C), (B, W, C) or (B,)
            paths = model.tag_paths(outputs, batch) if model.task == "ner" else None
            outputs = outputs.cpu()
            for row, i in enumerate(idx):
                out[i] = decode(model.task, outputs[row], enc[i], names,
                                paths[row] if paths is not None else None)
    return [p for p in out if p is not None]
