"""Which word pieces made the model decide: layer integrated gradients on the word embeddings.

Integrated gradients (Sundararajan et al., 2017) walks in `n_steps` from a baseline input to
the real one and adds up the gradient of the output along the way. Its attributions sum to
F(input) - F(baseline) (completeness); captum's convergence delta is how far they miss.

What is explained, F: for a class (or an NER tag) its log-odds against the other classes,
log p / (1 - p) = logit[c] - logsumexp(logits of the others), which for two classes is the
difference of the two logits. A token with a positive attribution makes the model more sure
of the class; the raw logit alone is not that (it can fall while p rises). For similarity,
F is the predicted 0-5 score.
Baseline: the same word pieces with every non-special token replaced by [PAD] ([CLS], [SEP]
kept), the neutral reference of captum's BERT tutorials.

Shapes: T word pieces, H hidden size, C classes, n interpolation steps in one model call.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import LayerIntegratedGradients
from torch import nn

from bertviz_lite.engine.encoding import Batch
from bertviz_lite.engine.heads import TaskModel
from bertviz_lite.inspect._common import (
    OneInput,
    device_of,
    encode_one,
    eval_mode,
    flat_tokens,
    kept_grad_flags,
    locked,
    segments_of,
)
from bertviz_lite.inspect.predict import SCORE_SCALE, decode, label_names_for

INTERNAL_BATCH = 16  # interpolation steps per model call: bounds memory on a laptop

ForwardFn = Callable[..., torch.Tensor]


@dataclass
class Attribution:
    """Integrated-gradients attributions of one prediction, read by name.

    tokens: the T word pieces ([CLS]/[SEP] included); for a separately encoded pair, sentence
      A's then sentence B's.
    segments: 0 (sentence A) or 1 (sentence B) per token.
    attributions: (T,) each token's attribution (summed over the hidden dimension), in units
      of the explained number: they sum to output - baseline_output, up to delta; positive
      raises it (towards the class, or a higher score).
    scores: (T,) attributions / max |attribution|: the colour scale of the page only (the
      largest is +-1), not a share of anything.
    target: the explained class (or NER tag) index; None for similarity (the score itself).
    target_name: its name ("score" for similarity).
    probability: softmax probability of the target at the input (None for similarity).
    score: the predicted similarity on the 0-5 scale (None for classes).
    output, baseline_output: the explained number F at the input and at the baseline: the
      target's log-odds against the other classes, or the 0-5 score.
    delta: captum's convergence delta, sum(attributions) - (output - baseline_output).
    n_steps: interpolation steps used.
    word_index, word: NER only: the word whose tag is explained.
    note: what exactly is explained, in words for the page.
    """

    tokens: list[str]
    segments: list[int]
    scores: np.ndarray
    attributions: np.ndarray
    target: int | None
    target_name: str
    probability: float | None
    score: float | None
    output: float
    baseline_output: float
    delta: float
    n_steps: int
    word_index: int | None = None
    word: str | None = None
    note: str = ""

    @property
    def total(self) -> float:
        """Sum of the attributions (completeness: output - baseline_output + ... - delta)."""
        return float(self.attributions.sum())

    @property
    def relative_delta(self) -> float:
        """|delta| / |output - baseline_output|: below a few percent, the steps were enough."""
        change = abs(self.output - self.baseline_output)
        return abs(self.delta) / change if change > 0 else float("inf") if self.delta else 0.0


def _select(model: TaskModel, out: torch.Tensor, word_index: int | None) -> torch.Tensor:
    """Head output -> what is explained: logits (n, C), one word's logits (n, C) for NER, or the
    0-5 score (n,) for similarity."""
    if model.task == "similarity":
        return out * SCORE_SCALE
    if model.task == "ner":
        return out[:, word_index]  # (n, W, C) -> (n, C)
    return out


def log_odds(logits: torch.Tensor, target: int) -> torch.Tensor:
    """(n, C) logits -> (n,) log-odds of class `target` against the others:
    logit[target] - logsumexp(other logits) = log p / (1 - p); two classes: a logit difference."""
    others = torch.cat([logits[:, :target], logits[:, target + 1:]], dim=1)
    return logits[:, target] - torch.logsumexp(others, dim=1)


def _explained(forward_fn: ForwardFn, target: int | None) -> ForwardFn:
    """forward_fn -> the number explained, (n,): the target's log-odds, or the score as is."""
    if target is None:
        return forward_fn

    def explained(*args: torch.Tensor) -> torch.Tensor:
        return log_odds(forward_fn(*args), target)

    return explained


def _joint_forward(model: TaskModel, word_index: int | None) -> ForwardFn:
    """forward_fn for one sequence per example (a sentence, a joint pair, NER).

    input_ids, attention_mask, token_type_ids: (n, T); word_pos: (n, W) for NER.
    """
    def forward_fn(input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   token_type_ids: torch.Tensor, word_pos: torch.Tensor | None = None
                   ) -> torch.Tensor:
        n = input_ids.shape[0]
        labels = torch.zeros(n, device=input_ids.device)  # unused: features() reads no labels
        batch = Batch(input_ids, attention_mask, token_type_ids, labels, list(range(n)), word_pos)
        return _select(model, model.predict(model.features(batch)), word_index)

    return forward_fn


class _GivenEmbeddings(nn.Module):
    """Stands in for the word-embedding lookup for one call: returns embeddings computed
    beforehand, (S, T, H), whatever ids it is given (they must have shape (S, T))."""

    def __init__(self, embeds: torch.Tensor) -> None:
        super().__init__()
        self.embeds = embeds

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        assert input_ids.shape == self.embeds.shape[:2], "ids and given embeddings disagree"
        return self.embeds


def word_embeddings(encoder: nn.Module) -> nn.Module:
    """The encoder's word-embedding lookup, input_ids (S, T) -> (S, T, H): the layer whose
    output integrated gradients interpolates."""
    return encoder.get_input_embeddings()  # type: ignore[operator,no-any-return]


@contextlib.contextmanager
def _embeddings_given(encoder: nn.Module, embeds: torch.Tensor) -> Iterator[None]:
    """Inside: the encoder's word-embedding lookup returns `embeds`; restored on the way out."""
    original = word_embeddings(encoder)
    encoder.set_input_embeddings(_GivenEmbeddings(embeds))  # type: ignore[operator]
    try:
        yield
    finally:
        encoder.set_input_embeddings(original)  # type: ignore[operator]


def _separate_forward(model: TaskModel, inp: OneInput, pad_id: int) -> ForwardFn:
    """forward_fn for a pair encoded separately, taking both sentences as ONE row.

    Input: ids_cat (n, T_a + T_b), sentence A's word pieces followed by sentence B's. The word
    embeddings embed that row once: this is the call captum's layer integrated gradients
    interpolates, so both sentences move from the baseline to the input together, with the
    same step alpha. The embedded row is then split back into the two sequences (padded with
    the [PAD] embedding to T), stacked as the model's features() expects (all A rows, then all
    B rows: (2n, T, H)), and fed to features() through a stand-in for the embedding lookup,
    so the rest of the model runs exactly as in training.
    """
    emb_layer = word_embeddings(model.encoder)
    pad_vector = emb_layer.weight[pad_id].detach()  # type: ignore[index]  # (H,)
    t_a, t_b = inp.lengths
    b = inp.batch  # input_ids (2, T): sentence A, sentence B, padded to T
    t = b.input_ids.shape[1]

    def split(x: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        """(n, T_a + T_b, ...) -> (2n, T, ...): A rows then B rows, padded with `fill`."""
        n = x.shape[0]
        out = fill.expand(2 * n, t, *x.shape[2:]).clone()
        out[:n, :t_a] = x[:, :t_a]
        out[n:, :t_b] = x[:, t_a:]
        return out

    def forward_fn(ids_cat: torch.Tensor) -> torch.Tensor:
        n = ids_cat.shape[0]
        embeds = split(emb_layer(ids_cat), pad_vector)  # (2n, T, H)
        ids = split(ids_cat, torch.tensor(pad_id, device=ids_cat.device))  # (2n, T)
        mask = b.attention_mask.repeat_interleave(n, dim=0)  # (2n, T), A rows then B rows
        batch = Batch(ids, mask, torch.zeros_like(ids), torch.zeros(n, device=ids.device),
                      list(range(n)))
        with _embeddings_given(model.encoder, embeds):
            out = model.predict(model.features(batch))
        return _select(model, out, None)

    return forward_fn


def _baseline(ids: torch.Tensor, special: set[int], pad_id: int) -> torch.Tensor:
    """Same shape as ids; special tokens kept, every other token replaced by pad_id."""
    keep = torch.tensor([[i in special for i in row] for row in ids.tolist()], device=ids.device)
    return torch.where(keep, ids, torch.full_like(ids, pad_id))


def _inputs(model: TaskModel, inp: OneInput, word_index: int | None, pad_id: int
            ) -> tuple[ForwardFn, torch.Tensor, tuple[torch.Tensor, ...]]:
    """(forward_fn, input ids (1, T), additional forward args) for the model's encoding."""
    b = inp.batch
    if model.pair_separate:
        ids_cat = torch.cat([b.input_ids[0, :inp.lengths[0]], b.input_ids[1, :inp.lengths[1]]])
        return _separate_forward(model, inp, pad_id), ids_cat[None], ()
    extra: tuple[torch.Tensor, ...] = (b.attention_mask, b.token_type_ids)
    if model.task == "ner":
        assert b.word_pos is not None
        extra += (b.word_pos,)
    return _joint_forward(model, word_index), b.input_ids, extra


def _pick_word(pred_tags: list[int], n_kept: int, word_index: int | None) -> int:
    """The NER word to explain: the one asked for, else the first tagged as an entity, else 0."""
    if word_index is None:
        return next((i for i, tag in enumerate(pred_tags[:n_kept]) if tag != 0), 0)
    if not 0 <= word_index < n_kept:
        raise ValueError(f"word_index {word_index} is out of range: the model saw {n_kept} "
                         f"words (0 ... {n_kept - 1})")
    return word_index


def _note(model: TaskModel, target_name: str, word: str | None) -> str:
    """What is explained, for the page."""
    if model.task == "similarity":
        what = "the predicted similarity score (0-5): positive tokens push the score up"
    elif model.task == "ner":
        what = (f"the log-odds of tag {target_name!r} against the other tags at the word "
                f"{word!r} (its first word piece), log p/(1-p) = its logit minus the logsumexp "
                "of the other tags' logits; every word piece gets an attribution, since context "
                "decides the tag")
    else:
        what = (f"the log-odds of class {target_name!r} against the other classes, log p/(1-p) "
                "= its logit minus the logsumexp of the other logits (two classes: the "
                "difference of the two logits): positive tokens make it more likely")
    note = f"Explains {what}. Baseline: every word piece replaced by [PAD], [CLS]/[SEP] kept."
    if model.pair_separate:
        note += (" The model encodes the two sentences separately; both are moved from the "
                 "baseline to the input together, as one row A + B, so the scores of both "
                 "sentences add up to the change of the output.")
    return note


@dataclass
class _Choice:
    """What to explain: the target class or tag (None: the similarity score), the NER word,
    and the model's output for it at the input: logits (C,) or the score / 5, ()."""

    target: int | None
    word_index: int | None
    word: str | None
    output: torch.Tensor


def _choose(model: TaskModel, inp: OneInput, names: list[str], target: int | None,
            word_index: int | None) -> _Choice:
    """Run the model once on the input and settle what is explained (default: its prediction)."""
    with torch.no_grad():
        raw = model.predict(model.features(inp.batch))
        path = model.tag_paths(raw, inp.batch)[0] if model.task == "ner" else None
        out = raw[0].cpu()  # (C,), (W, C) or ()
    if model.task == "similarity":
        return _Choice(None, None, None, out)
    word = None
    if model.task == "ner":
        tags = decode(model.task, out, inp.encoded, names, path).index  # CRF: Viterbi
        word_index = _pick_word(tags, len(inp.encoded.word_pos), word_index)  # type: ignore[arg-type]
        if not inp.encoded.word_pos:
            raise ValueError("no word of the input has a word piece the model can read")
        kept = inp.encoded.words or list(range(len(inp.encoded.word_pos)))
        word, out = inp.words[kept[word_index]], out[word_index]  # (W, C) -> (C,)
    else:
        word_index = None
    if target is None:
        target = int(out.argmax())
    elif not 0 <= target < len(names):
        raise ValueError(f"target {target} is not a class index (0 ... {len(names) - 1})")
    return _Choice(target, word_index, word, out)


def _integrate(model: TaskModel, inp: OneInput, choice: _Choice, special: set[int], pad_id: int,
               n_steps: int) -> tuple[torch.Tensor, float, torch.Tensor]:
    """Run captum: (per-token attributions (T,), convergence delta, the explained number at
    the input and at the baseline (2,))."""
    forward_fn, ids, extra = _inputs(model, inp, choice.word_index, pad_id)
    explained = _explained(forward_fn, choice.target)  # (n,): log-odds, or the score
    base = _baseline(ids, special, pad_id)  # (1, T)
    lig = LayerIntegratedGradients(explained, word_embeddings(model.encoder))
    attr, delta = lig.attribute(ids, baselines=base, additional_forward_args=extra,
                                n_steps=n_steps, internal_batch_size=INTERNAL_BATCH,
                                return_convergence_delta=True)  # attr: (1, T, H)
    with torch.no_grad():
        ends = explained(torch.cat([ids, base]), *(torch.cat([e, e]) for e in extra))  # (2,)
    per_token = attr.sum(dim=-1)[0].detach().float().cpu()  # (T,)
    return per_token, float(delta.sum()), ends.detach().float().cpu()


def attribute(model: TaskModel, tokenizer: object, text: str, text_b: str | None = None, *,
              target: int | None = None, word_index: int | None = None, n_steps: int = 50,
              max_length: int = 128, lock: threading.Lock | None = None,
              label_names: list[str] | None = None) -> Attribution:
    """Layer integrated gradients of one prediction w.r.t. the word embeddings.

    model: a TaskModel (frozen or fine-tuned: the same function for both). Run in eval mode,
      with gradients enabled even inside a caller's no_grad; its modes and requires_grad flags
      are restored and no parameter's .grad is touched. Never call it on a model that another
      thread is training.
    text, text_b: the sentence (NER: whitespace-split words) and the pair's second sentence.
    target: the class (or NER tag) to explain; default the predicted one. Ignored for
      similarity, where the explained number is the 0-5 score.
    word_index: NER only: which word's tag to explain (default: the first word predicted as an
      entity, else word 0).
    n_steps: interpolation steps (50 is captum's default; more = smaller delta, slower).
    lock: held while tokenising (fast tokenizers are not thread-safe).
    Returns scores (T,) over the word pieces; see Attribution.
    """
    inp = encode_one(tokenizer, model.task, text, text_b, max_length=max_length,
                     separate_pairs=model.pair_separate, device=device_of(model), lock=lock)
    with locked(lock):
        special = set(tokenizer.all_special_ids)  # type: ignore[attr-defined]
        pad_id = int(getattr(tokenizer, "pad_token_id", None) or 0)
    names = label_names_for(model, label_names)
    with eval_mode(model), kept_grad_flags(model), torch.enable_grad():
        choice = _choose(model, inp, names, target, word_index)
        raw, delta, ends = _integrate(model, inp, choice, special, pad_id, n_steps)
    top = raw.abs().max()
    t = choice.target
    name = "score" if t is None else names[t]
    return Attribution(
        tokens=flat_tokens(inp),
        segments=segments_of(inp, getattr(tokenizer, "sep_token_id", None)),
        scores=(raw / top if top > 0 else raw).numpy(), attributions=raw.numpy(),
        target=t, target_name=name,
        probability=None if t is None else float(torch.softmax(choice.output, -1)[t]),
        score=float(ends[0]) if t is None else None,
        output=float(ends[0]), baseline_output=float(ends[1]), delta=delta, n_steps=n_steps,
        word_index=choice.word_index, word=choice.word, note=_note(model, name, choice.word))


def attribution_sums(att: Attribution) -> str:
    """The completeness check in one line, raw numbers: "sum of attributions +1.234 =
    F(input) - F(baseline) = 2.100 - 0.860 = +1.240, convergence delta -0.0060"."""
    what = "score" if att.target is None else f"log-odds of {att.target_name!r}"
    change = att.output - att.baseline_output
    return (f"Sum of the attributions {att.total:+.3f}; F = {what}: F(input) - F(baseline) = "
            f"{att.output:.3f} - {att.baseline_output:.3f} = {change:+.3f}; convergence delta "
            f"{att.delta:+.4f} ({100 * att.relative_delta:.1f}% of the change).")
