"""Shared plumbing of the inspect views: one example in, one padded Batch out, and context
managers that put a model back exactly as the caller had it.

Shapes: S sequences (1, or 2 for a pair encoded separately), T word pieces (padded to the longer
sequence), H hidden size, W words (NER).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from bertviz_lite.data.examples import Example, PairExample, SentenceExample, TokenExample
from bertviz_lite.data.validate import text_problem, visible_words
from bertviz_lite.engine.encoding import Batch, Encoded, collate, encode_examples


@contextlib.contextmanager
def locked(lock: threading.Lock | None) -> Iterator[None]:
    """Hold `lock` (a threading.Lock, or None for no locking) while tokenising."""
    if lock is None:
        yield
        return
    with lock:
        yield


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Switch every submodule to eval (no dropout); afterwards restore each one's own flag.

    Restoring per submodule matters for a TaskModel, whose frozen groups stay in eval mode
    while the rest trains.
    """
    modes = [(m, m.training) for m in module.modules()]
    try:
        module.eval()
        yield
    finally:
        for m, mode in modes:
            m.training = mode


@contextlib.contextmanager
def kept_grad_flags(module: nn.Module) -> Iterator[None]:
    """Restore every parameter's requires_grad flag on the way out."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def device_of(module: nn.Module) -> torch.device:
    """The device of a module's first parameter (cpu for a module without parameters)."""
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def make_example(task: str, text: str, text_b: str | None) -> Example:
    """One unlabelled example of a task (the label is a placeholder; nothing reads it).

    NER takes the whitespace-split words of `text`.
    """
    if not text or not text.strip():
        raise ValueError("type a sentence first: the text is empty")
    pair = task in ("paraphrase", "similarity")
    if pair and (text_b is None or not text_b.strip()):
        raise ValueError(f"the {task} task compares two sentences: give the second one too")
    if not pair and text_b is not None:
        raise ValueError(f"the {task} task reads one sentence; leave the second one out")
    for which, value in (("the text", text), ("the second sentence", text_b)):
        problem = text_problem(value) if value is not None else None
        if problem:
            raise ValueError(f"{which} {problem}; type a sentence with words")
    if task == "ner":
        words = tuple(visible_words(text))  # a zero-width-only "word" has no word piece
        return TokenExample(words, (0,) * len(words))
    if pair:
        return PairExample(text, text_b or "", 0.0)
    return SentenceExample(text, 0)


def unlabelled(ex: Example) -> Example:
    """The same example with a placeholder label of the right length (NER needs one tag per
    word for collate)."""
    if isinstance(ex, TokenExample) and len(ex.tags) != len(ex.tokens):
        return TokenExample(ex.tokens, (0,) * len(ex.tokens))
    return ex


@dataclass
class OneInput:
    """One example, tokenised and padded, with the word pieces of each sequence.

    batch.input_ids: (S, T). tokens[s]: the word pieces of sequence s, without padding.
    words: the whitespace-split words (NER), else empty.
    """

    batch: Batch
    encoded: Encoded
    tokens: list[list[str]]
    words: list[str]

    @property
    def lengths(self) -> list[int]:
        """Real (unpadded) length of each sequence."""
        return [len(t) for t in self.tokens]


def encode_one(tokenizer: object, task: str, text: str, text_b: str | None, *,
               max_length: int, separate_pairs: bool, device: torch.device,
               lock: threading.Lock | None) -> OneInput:
    """Tokenise one example the way training does (encode_examples + collate)."""
    example = make_example(task, text, text_b)
    with locked(lock):
        enc, _ = encode_examples([example], tokenizer, max_length, separate_pairs)
        tokens = [list(tokenizer.convert_ids_to_tokens(s)) for s in enc[0].seqs]  # type: ignore[attr-defined]
        pad_id = int(getattr(tokenizer, "pad_token_id", None) or 0)
    batch = collate(enc, [0], pad_id, task == "ner", task == "similarity").to(device)
    words = list(example.tokens) if isinstance(example, TokenExample) else []
    return OneInput(batch, enc[0], tokens, words)


def joint_segments(ids: list[int], sep_id: int | None) -> list[int]:
    """0 for sentence A, 1 for sentence B of a jointly encoded pair (or all 0 for one sentence).

    B starts after the first run of separator tokens: `[CLS] A [SEP] | B [SEP]` (BERT) and
    `<s> A </s></s> | B </s>` (RoBERTa). Read from the ids because RoBERTa has no token types.
    """
    if sep_id is None or sep_id not in ids:
        return [0] * len(ids)
    i = ids.index(sep_id)
    while i < len(ids) and ids[i] == sep_id:
        i += 1
    if i >= len(ids):  # a single sentence: its only separator is the last token
        return [0] * len(ids)
    return [0] * i + [1] * (len(ids) - i)


def segments_of(inp: OneInput, sep_id: int | None) -> list[int]:
    """Segment of every token listed in inp.tokens (flattened over sequences)."""
    if len(inp.tokens) == 2:  # separately encoded pair: one sequence per sentence
        return [0] * inp.lengths[0] + [1] * inp.lengths[1]
    return joint_segments(inp.encoded.seqs[0], sep_id)


def flat_tokens(inp: OneInput) -> list[str]:
    """All word pieces, sequence after sequence, padding left out."""
    return [t for seq in inp.tokens for t in seq]


def unpad(per_seq: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """(..., S, T) -> (..., sum of lengths): drop each sequence's padding and concatenate."""
    return torch.cat([per_seq[..., s, :n] for s, n in enumerate(lengths)], dim=-1)
