"""Tokenising examples once, and batching them with dynamic padding and length bucketing.

Shapes used throughout: B examples in a batch, T word pieces (padded to the longest in the
batch), W words per sentence for NER (padded likewise), S = B sequences, or 2B when the two
sentences of a pair are encoded separately.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from bertviz_lite.data.examples import Example, PairExample, TokenExample

IGNORE = -100  # label of word pieces and padding that the loss skips


@dataclass
class Encoded:
    """One tokenised example.

    `seqs` holds one id list (a sentence, or a pair encoded jointly) or two (a pair encoded
    separately); `types` the matching token-type ids; `word_pos` the index of each word's first
    word piece (NER; words cut off by truncation are missing).
    """

    seqs: list[list[int]]
    types: list[list[int]]
    label: float | list[int]
    word_pos: list[int] = field(default_factory=list)
    n_words: int = 0  # words in the original sentence (NER), including truncated ones
    words: list[int] = field(default_factory=list)  # NER: the word of each word_pos entry

    def per_word(self, values: Sequence[object], fill: object = 0) -> list[object]:
        """Values of the kept words (one per `word_pos`) -> one per original word; a word
        without a word piece (cut off by truncation, or made of characters the tokenizer drops,
        like an emoji's variation selector) gets `fill`."""
        out = [fill] * max(self.n_words, len(values))
        for w, v in zip(self.words or range(len(values)), values):
            out[w] = v
        return out[: self.n_words] if self.n_words else out

    @property
    def length(self) -> int:
        """Longest sequence (for bucketing)."""
        return max(len(s) for s in self.seqs)


@dataclass
class Batch:
    """A padded batch, ready for the encoder.

    input_ids, attention_mask, token_type_ids: (S, T). labels: (B,) or (B, W) for NER.
    word_pos, word_mask: (B, W) for NER, else None.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    labels: torch.Tensor
    index: list[int]  # positions of the examples in their split
    word_pos: torch.Tensor | None = None
    word_mask: torch.Tensor | None = None

    @property
    def size(self) -> int:
        """Number of examples B."""
        return len(self.index)

    def padded_tokens(self) -> int:
        """S * T: word pieces the encoder computes, padding included."""
        return int(self.input_ids.numel())

    def real_tokens(self) -> int:
        """Word pieces that are not padding."""
        return int(self.attention_mask.sum())

    def to(self, device: torch.device) -> Batch:
        """The same batch on another device."""
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return Batch(move(self.input_ids), move(self.attention_mask), move(self.token_type_ids),
                     move(self.labels), self.index, move(self.word_pos), move(self.word_mask))


def encode_examples(
    examples: Sequence[Example], tokenizer: object, max_length: int, separate_pairs: bool
) -> tuple[list[Encoded], int]:
    """Tokenise every example (one fast-tokenizer call per field); returns (encoded, n_truncated)."""
    if not examples:
        return [], 0
    first = examples[0]
    if isinstance(first, TokenExample):
        return _encode_tokens(examples, tokenizer, max_length)  # type: ignore[arg-type]
    if isinstance(first, PairExample):
        a = [ex.text_a for ex in examples]  # type: ignore[union-attr]
        b = [ex.text_b for ex in examples]  # type: ignore[union-attr]
        labels = [float(ex.label) for ex in examples]
        if separate_pairs:
            ea, ta = _ids(tokenizer, a, None, max_length)
            eb, tb = _ids(tokenizer, b, None, max_length)
            enc = [Encoded([x, y], [[0] * len(x), [0] * len(y)], lab)
                   for x, y, lab in zip(ea["input_ids"], eb["input_ids"], labels)]
            return enc, ta + tb
        e, t = _ids(tokenizer, a, b, max_length)
        types = e.get("token_type_ids") or [[0] * len(x) for x in e["input_ids"]]
        return [Encoded([x], [y], lab) for x, y, lab in zip(e["input_ids"], types, labels)], t
    texts = [ex.text for ex in examples]  # type: ignore[union-attr]
    e, t = _ids(tokenizer, texts, None, max_length)
    return [Encoded([x], [[0] * len(x)], float(ex.label))
            for x, ex in zip(e["input_ids"], examples)], t


def _ids(tokenizer: object, a: list[str], b: list[str] | None, max_length: int
         ) -> tuple[dict, int]:
    """Tokenise with truncation; count how many inputs were cut."""
    full = tokenizer(a, b, truncation=False, add_special_tokens=True)  # type: ignore[operator]
    n_cut = sum(len(x) > max_length for x in full["input_ids"])
    if n_cut == 0:
        return full, 0
    cut = tokenizer(a, b, truncation=True, max_length=max_length)  # type: ignore[operator]
    return cut, n_cut


def _encode_tokens(examples: Sequence[TokenExample], tokenizer: object, max_length: int
                   ) -> tuple[list[Encoded], int]:
    """Word-level NER examples -> word pieces with the position of each word's first piece."""
    words = [list(ex.tokens) for ex in examples]
    enc = tokenizer(words, is_split_into_words=True, truncation=True,  # type: ignore[operator]
                    max_length=max_length)
    out: list[Encoded] = []
    n_cut = 0
    for i, ex in enumerate(examples):
        word_ids = enc.word_ids(i)
        first: dict[int, int] = {}
        for pos, w in enumerate(word_ids):
            if w is not None and w not in first:
                first[w] = pos
        n_cut += bool(ex.tokens) and len(ex.tokens) - 1 not in first  # the end was cut off
        ids = enc["input_ids"][i]
        words = [w for w in range(len(ex.tokens)) if w in first]
        out.append(Encoded([ids], [[0] * len(ids)], [ex.tags[w] for w in words],
                           [first[w] for w in words], len(ex.tokens), words))
    return out, n_cut


def bucket_batches(lengths: Sequence[int], batch_size: int, rng: random.Random | None,
                   bucket: int = 50) -> list[list[int]]:
    """Batches of example indices, grouping similar lengths to cut padding.

    With an `rng` (training): shuffle, sort within windows of `bucket` batches by length, then
    shuffle the batch order. Without (evaluation): sort everything by length.
    """
    idx = list(range(len(lengths)))
    if rng is None:
        idx.sort(key=lambda i: lengths[i])
        return [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
    rng.shuffle(idx)
    window = batch_size * bucket
    batches: list[list[int]] = []
    for start in range(0, len(idx), window):
        chunk = sorted(idx[start:start + window], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(items: Sequence[Encoded], index: list[int], pad_id: int, task_is_ner: bool,
            regression: bool) -> Batch:
    """Pad a list of encoded examples into one Batch (see Batch for shapes)."""
    n_seq = len(items[0].seqs)
    seqs = [it.seqs[k] for k in range(n_seq) for it in items]  # all first seqs, then all second
    types = [it.types[k] for k in range(n_seq) for it in items]
    t_max = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), t_max), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), t_max), dtype=torch.long)
    tt = torch.zeros((len(seqs), t_max), dtype=torch.long)
    for r, (s, t) in enumerate(zip(seqs, types)):
        ids[r, : len(s)] = torch.tensor(s)
        mask[r, : len(s)] = 1
        tt[r, : len(t)] = torch.tensor(t)
    if not task_is_ner:
        dtype = torch.float32 if regression else torch.long
        labels = torch.tensor([it.label for it in items], dtype=dtype)
        return Batch(ids, mask, tt, labels, list(index))
    w_max = max(1, max(len(it.word_pos) for it in items))
    pos = torch.zeros((len(items), w_max), dtype=torch.long)
    wmask = torch.zeros((len(items), w_max), dtype=torch.bool)
    labels = torch.full((len(items), w_max), IGNORE, dtype=torch.long)
    for r, it in enumerate(items):
        n = len(it.word_pos)
        pos[r, :n] = torch.tensor(it.word_pos, dtype=torch.long)
        wmask[r, :n] = True
        labels[r, :n] = torch.tensor(it.label, dtype=torch.long)
    return Batch(ids, mask, tt, labels, list(index), pos, wmask)
