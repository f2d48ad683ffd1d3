"""Scoring a run's model on the validation split and the fixed training subset.

`score_batch` is the one place an evaluation's forward pass (from features to outputs) runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from bertviz_lite.engine.batches import RunInputs
from bertviz_lite.engine.cost import Stopwatch
from bertviz_lite.engine.encoding import Batch, Encoded, bucket_batches
from bertviz_lite.engine.heads import SCORE_SCALE, TaskModel
from bertviz_lite.engine.precision import autocast
from bertviz_lite.engine.prepare import PreparedRun
from bertviz_lite.engine.tasks import TaskSpec, evaluate
from bertviz_lite.record.runs import EvalRecord

EVAL_BATCH = 64  # examples per evaluation / feature-caching batch


def score_batch(model: TaskModel, inputs: RunInputs, split: str, enc: Sequence[Encoded],
                ids: list[int], batch: Batch) -> tuple[torch.Tensor, float]:
    """An evaluation batch's whole forward pass (no_grad is the caller's): features (the
    encoder, or cached frozen features), the head's outputs and the batch's mean loss.
    Outputs: (B, C) logits, (B,) scores or (B, W, C) tag logits."""
    run = inputs.run
    with autocast(run.precision, run.device):
        feats = inputs.eval_features(split, enc, ids, batch)
        out = model.predict(feats).float()
    return out, float(model.loss(out, batch))


def decode(spec: TaskSpec, out: torch.Tensor, batch: Batch, enc: Sequence[Encoded],
           model: TaskModel | None = None) -> list[object]:
    """Model outputs -> class ids, scores on the 0-5 scale, or tag ids per word (NER: the
    model's `tag_paths`, the CRF's Viterbi path for the task model; argmax without a model)."""
    if spec.regression:
        return (out * SCORE_SCALE).tolist()
    if not spec.tokens:
        return out.argmax(-1).tolist()
    if model is not None:
        tags = model.tag_paths(out, batch)
    else:
        tags = out.argmax(-1).tolist()  # (B, W)
    result = []
    for row, i in enumerate(batch.index):
        kept = len(enc[i].word_pos)
        result.append(enc[i].per_word(tags[row][:kept], 0))  # no word piece: O
    return result


class Evaluator:
    """Evaluations of one run, as EvalRecords (the trainer writes them into the run record
    through `engine.events`).

    stopped: polled between batches; a stop midway drops the evaluation (half an evaluation
    would be a misleading number).
    """

    def __init__(self, run: PreparedRun, inputs: RunInputs, watch: Stopwatch,
                 stopped: Callable[[], bool]) -> None:
        self.run = run
        self.inputs = inputs
        self.watch = watch
        self.stopped = stopped

    def evaluate(self, step: int, epoch: float) -> Iterator[EvalRecord]:
        """Score the validation split, then the fixed training subset."""
        run = self.run
        with self.watch.time("eval"):
            for split, enc, idx in (("val", run.enc_val, list(range(len(run.enc_val)))),
                                    ("train", run.enc_train, run.train_eval_idx)):
                if not idx or self.stopped():
                    return
                rec = self.score(split, enc, idx, step, epoch)
                if rec is None:
                    return
                yield rec

    def score(self, split: str, enc: list[Encoded], idx: list[int], step: int, epoch: float
              ) -> EvalRecord | None:
        """Predict a split in length-sorted batches; metrics from tasks.evaluate. None when a
        stop arrives midway."""
        run = self.run
        run.model.eval()
        preds: dict[int, object] = {}
        loss_sum, n = 0.0, 0
        sub = [enc[i] for i in idx]
        with torch.no_grad():
            for pos in bucket_batches([e.length for e in sub], EVAL_BATCH, None):
                if self.stopped():
                    return None
                ids = [idx[p] for p in pos]
                batch = run.collate(enc, ids)
                out, loss = score_batch(run.model, self.inputs, split, enc, ids, batch)
                loss_sum += loss * len(ids)
                n += len(ids)
                preds.update(zip(ids, decode(run.spec, out, batch, enc, run.model)))
        examples = run.data.val if split == "val" else run.data.train
        scores = evaluate(run.config.task, [preds[i] for i in idx], [examples[i] for i in idx],
                          run.data.label_names)
        metric = run.spec.metric
        return EvalRecord(step, round(epoch, 4), split, metric, scores[metric],
                          loss_sum / max(1, n), scores)
